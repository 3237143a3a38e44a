"""`riskmodel score` through the CLI: exit codes 0/2/3/4, nothing written on failure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from riskmodel.cli import app

runner = CliRunner()


def _score(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["score", *args])
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


def test_score_succeeds_and_prints_counts(scoring_setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    code, text = _score(
        str(scoring_setup.future_dir), "--model", str(scoring_setup.model_dir), "--out", str(out)
    )
    assert code == 0, text
    assert "scored" in text and "red" in text
    assert (out / "manifest.json").is_file()


def test_exit_codes(scoring_setup, batch_writer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = str(scoring_setup.model_dir)
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    good = (scoring_setup.future_dir / "declarations.parquet").read_bytes()
    (truncated / "declarations.parquet").write_bytes(good[:-200])
    no_column = batch_writer(
        tmp_path / "no-column", scoring_setup.future.head(20).drop(columns=["importer_id"])
    )
    lacking = batch_writer(
        tmp_path / "lacking", scoring_setup.future.head(20).drop(columns=["transport_mode"])
    )
    cases = [
        (truncated, model, [], 3),
        (no_column, model, [], 3),
        (lacking, model, [], 4),
        (scoring_setup.future_dir, str(tmp_path / "nowhere"), [], 4),
        (scoring_setup.future_dir, model, ["--reasons-for", "green"], 2),
        (scoring_setup.future_dir, model, ["--format", "xlsx"], 2),
        (scoring_setup.future_dir, model, ["--budget", "0.7", "--yellow-budget", "0.6"], 2),
    ]
    for i, (data, model_arg, extra, expected) in enumerate(cases):
        out = tmp_path / f"out-{i}"
        code, text = _score(str(data), "--model", model_arg, "--out", str(out), *extra)
        assert code == expected, (i, text)
        assert "error:" in text, (i, text)
        assert not out.exists(), i


def test_bad_rules_file_is_a_usage_error(scoring_setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "x"\nimporter = "A"\n', encoding="utf-8")
    out = tmp_path / "out"
    code, text = _score(
        str(scoring_setup.future_dir),
        "--model",
        str(scoring_setup.model_dir),
        "--out",
        str(out),
        "--rules",
        str(rules),
    )
    assert code == 2 and "importer" in text
    assert not out.exists()


def test_rejected_rows_are_not_a_failure(scoring_setup, batch_writer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    batch = scoring_setup.future.head(30).copy()
    batch.loc[2, "declared_value_usd"] = -1.0
    data = batch_writer(tmp_path / "d", batch)
    out = tmp_path / "out"
    code, text = _score(str(data), "--model", str(scoring_setup.model_dir), "--out", str(out))
    assert code == 0, text
    assert len(pd.read_parquet(out / "rejects.parquet")) == 1
