"""End to end through the command line on the committed sample, plus the exit-code contract.

The run happens in a temporary working directory, so the embedded MLflow store (./mlflow.db,
./mlartifacts) is created there exactly as a new user's first run would create it. Refusals
are tested through the commands themselves: the exit code, one readable line, and nothing
written (no table, no MLflow store, no metrics file).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import Result
from typer.testing import CliRunner

from riskmodel.cli import app

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
BASELINE = REPO / "experiments" / "baseline.toml"

runner = CliRunner()


def _run(*args: Any) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def _invoke(*args: Any) -> Result:
    """The whole result: ``stdout`` (results) and ``stderr`` (progress, errors) apart."""
    return runner.invoke(app, [str(a) for a in args])


PROGRESS_LINE = re.compile(r"^\[\s*\d+\.\ds\] ")


def test_end_to_end_on_the_committed_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    code, output = _run("validate", SAMPLE)
    assert code == 0, output

    code, output = _run("features", SAMPLE, "--out", tmp_path / "table.parquet")
    assert code == 0, output
    table = pd.read_parquet(tmp_path / "table.parquet")
    declarations = pd.read_parquet(SAMPLE / "declarations.parquet")
    assert len(table) == len(declarations)
    assert table["declaration_id"].is_unique

    trained = _invoke(
        "train", "--config", BASELINE, "--data", SAMPLE, "--metrics-out", tmp_path / "m.json"
    )
    assert trained.exit_code == 0, trained.output
    assert "run_id:" in trained.stdout and "version 1" in trained.stdout
    # off a terminal, training reports each step on stderr with its elapsed time
    steps = [line for line in trained.stderr.splitlines() if PROGRESS_LINE.match(line)]
    assert len(steps) >= 3 and steps[-1].endswith("training: done"), trained.stderr
    assert (tmp_path / "mlflow.db").exists()
    metrics = json.loads((tmp_path / "m.json").read_text())
    for name in ("test_precision_at_5pct", "test_recall_at_5pct", "test_pr_auc", "test_brier"):
        assert 0.0 <= metrics[name] <= 1.0, name

    # The README's headline, small and fast: on the committed 20k sample the model ranks all
    # test declarations better than random selection and the legacy rules at the 5 % budget
    # (oracle ratio: the truth over every test declaration; the sample's ~11 inspected test
    # seizures are too few for a label-precision claim). That it also beats logistic
    # regression holds on 200k worlds only, and is asserted by `make bench`.
    name = "test_oracle_ratio_at_5pct"
    assert metrics[name] > 1.3 * metrics[f"rules_{name}"], metrics
    assert metrics[name] > 2.0 * metrics[f"random_{name}"], metrics

    code, output = _run("promote", "--version", "1", "--alias", "champion")
    assert code == 0, output

    code, output = _run(
        "evaluate",
        "--model",
        "models:/seizure-risk@champion",
        SAMPLE,
        "--metrics-out",
        tmp_path / "e.json",
    )
    assert code == 0, output
    assert "test_precision_at_5pct" in json.loads((tmp_path / "e.json").read_text())


def test_file_level_contract_violation_exits_3_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    raw = (SAMPLE / "declarations.parquet").read_bytes()
    (data / "declarations.parquet").write_bytes(raw[: len(raw) // 2])
    code, output = _run("validate", data)
    assert code == 3, output
    assert "declarations.parquet" in output

    code, output = _run("features", data, "--out", tmp_path / "table.parquet")
    assert code == 3, output
    assert not (tmp_path / "table.parquet").exists()


def test_row_problems_make_validate_exit_1_naming_row_and_column(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("truth", "*.md"))
    frame = pd.read_parquet(data / "declarations.parquet")
    frame.loc[4, "gross_weight_kg"] = -5.0
    frame.to_parquet(data / "declarations.parquet", index=False)
    code, output = _run("validate", data)
    assert code == 1, output
    assert "row 5" in output and "gross_weight_kg" in output


def test_bad_config_key_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad2.toml"
    bad.write_text(BASELINE.read_text().replace("[tracking]", "[tracking]\nregister_ass = 'x'"))
    code, output = _run("train", "--config", bad, "--data", SAMPLE)
    assert code == 2, output
    assert "register_ass" in output


def test_unknown_model_exits_4(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, output = _run("evaluate", "--model", "models:/no-such-model@champion", SAMPLE)
    assert code == 4, output


@pytest.fixture()
def bad_rows(seeded_world_dir: Path, tmp_path: Path) -> Path:
    """The small seeded world with two declarations that violate the contract (rows 5 and 7)."""
    data = tmp_path / "bad"
    shutil.copytree(seeded_world_dir, data, ignore=shutil.ignore_patterns("truth"))
    frame = pd.read_parquet(data / "declarations.parquet")
    frame.loc[4, "gross_weight_kg"] = -5.0
    frame.loc[6, "origin_country"] = "Colombia, Republic of"
    frame.to_parquet(data / "declarations.parquet", index=False)
    return data


def test_features_refuses_rows_violating_the_contract_and_writes_nothing(
    bad_rows: Path, tmp_path: Path
) -> None:
    table = tmp_path / "out" / "table.parquet"
    result = _invoke("features", bad_rows, "--out", table)
    assert result.exit_code == 3, result.output
    assert "row 5" in result.stderr and "gross_weight_kg" in result.stderr
    assert "row 7" in result.stderr and "origin_country" in result.stderr
    assert not table.exists()
    assert not table.parent.exists() or not any(table.parent.iterdir())


def test_train_refuses_rows_violating_the_contract_and_logs_nothing(
    bad_rows: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    metrics = workdir / "m.json"
    result = _invoke("train", "--config", BASELINE, "--data", bad_rows, "--metrics-out", metrics)
    assert result.exit_code == 3, result.output
    assert "row 5" in result.stderr and "gross_weight_kg" in result.stderr
    # no MLflow store, run, artifact or registered version; no metrics file
    assert sorted(p.name for p in workdir.iterdir()) == []


def _failing_to_parquet(original: Any) -> Any:
    """``DataFrame.to_parquet`` that writes half the file, then fails as a full disk does."""

    def write(self: pd.DataFrame, path: Any, *args: Any, **kwargs: Any) -> None:
        buffer = io.BytesIO()
        original(self, buffer, *args, **kwargs)
        data = buffer.getvalue()
        Path(path).write_bytes(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    return write


def test_features_out_is_written_atomically(
    seeded_world_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails halfway keeps the previous table, or leaves no file at all."""
    folder = tmp_path / "tables"
    folder.mkdir()
    previous = folder / "table.parquet"
    previous.write_bytes(b"the previous table")
    monkeypatch.setattr(pd.DataFrame, "to_parquet", _failing_to_parquet(pd.DataFrame.to_parquet))

    result = _invoke("features", seeded_world_dir, "--out", previous, "--quiet")
    assert result.exit_code != 0
    assert previous.read_bytes() == b"the previous table"
    fresh = folder / "fresh.parquet"
    result = _invoke("features", seeded_world_dir, "--out", fresh, "--quiet")
    assert result.exit_code != 0
    assert sorted(p.name for p in folder.iterdir()) == ["table.parquet"]


def test_validate_never_wraps_problem_lines(bad_rows: Path) -> None:
    """Each problem is one line, however long, when the output is redirected (not a terminal)."""
    from riskmodel import api

    expected = [str(problem) for problem in api.validate(bad_rows).problems]
    assert max(len(line) for line in expected) > 120  # longer than any default console width
    result = _invoke("validate", bad_rows)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    for line in expected:
        assert line in lines
    assert len(lines) == len(expected) + len(api.validate(bad_rows).summary().splitlines())


def test_long_commands_print_one_timed_line_per_step_off_a_terminal(
    seeded_world_dir: Path, tmp_path: Path
) -> None:
    result = _invoke("features", seeded_world_dir, "--out", tmp_path / "t.parquet")
    assert result.exit_code == 0, result.output
    steps = result.stderr.splitlines()
    assert steps and all(PROGRESS_LINE.match(line) for line in steps), steps
    assert steps[0].endswith("] building features")
    assert any(
        line.endswith("building features: building the point-in-time table") for line in steps
    )
    assert steps[-1].endswith("] building features: done")
    elapsed = [float(line[1:].split("s]")[0]) for line in steps]
    assert elapsed == sorted(elapsed)

    quiet = _invoke("features", seeded_world_dir, "--out", tmp_path / "q.parquet", "--quiet")
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""
    assert "wrote" in quiet.stdout


@pytest.mark.parametrize("command", ["sample", "features", "train", "evaluate", "tune", "demo"])
def test_every_long_command_takes_quiet(command: str) -> None:
    result = _invoke(command, "--help")
    assert result.exit_code == 0, result.output
    assert "--quiet" in result.stdout


@pytest.mark.parametrize(
    "alias", ["latest", "LATEST", "v2", "V10", "bad alias", "", "champion!", "x" * 256]
)
def test_an_invalid_alias_is_a_one_line_usage_error(
    alias: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = _invoke("promote", "--version", "1", "--alias", alias)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --alias"), result.output
    assert list(tmp_path.iterdir()) == []  # refused before any store is touched


def test_a_valid_alias_on_a_missing_version_exits_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = _invoke("promote", "--version", "3", "--alias", "challenger-2")
    assert result.exit_code == 4, result.output
    assert "Traceback" not in result.output


def test_quiet_training_prints_nothing_on_stderr_not_even_mlflow(tmp_path: Path) -> None:
    """``--quiet`` is for machines: MLflow's own INFO lines and its registry's "Successfully
    registered model" (printed straight to stderr) must not leak through it either. A real
    process, because MLflow binds its log handler to the process's stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run(
        [sys.executable, "-c", "from riskmodel.cli import main; main()", "train",
         "--config", str(BASELINE), "--data", str(SAMPLE), "--quiet"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "run_id:" in done.stdout and "version 1" in done.stdout
