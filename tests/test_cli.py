"""End to end through the command line on the committed sample, plus the exit-code contract.

The run happens in a temporary working directory, so the embedded MLflow store (./mlflow.db,
./mlartifacts) is created there exactly as a new user's first run would create it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from riskmodel.cli import app

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
BASELINE = REPO / "experiments" / "baseline.toml"

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


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

    code, output = _run(
        "train", "--config", BASELINE, "--data", SAMPLE, "--metrics-out", tmp_path / "m.json"
    )
    assert code == 0, output
    assert "run_id:" in output and "version 1" in output
    assert (tmp_path / "mlflow.db").exists()
    metrics = json.loads((tmp_path / "m.json").read_text())
    for name in ("test_precision_at_5pct", "test_recall_at_5pct", "test_pr_auc", "test_brier"):
        assert 0.0 <= metrics[name] <= 1.0, name
    assert "test_oracle_ratio_at_5pct" in metrics

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
