"""`riskmodel score` refusals that must name the fault: a CSV row with the wrong number of
fields (which data row, its fields, the header's), a legacy rules file given as officer rules."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from typer.testing import CliRunner

from riskmodel.cli import app

runner = CliRunner()


def _score(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["score", *args])
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


def test_csv_row_with_the_wrong_field_count_names_its_data_row(
    scoring_setup, batch_writer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    batch = scoring_setup.future.head(40).copy()
    # a quoted newline in an earlier row: rows are records, not lines
    batch.loc[1, "goods_description"] = "bananas\nand more bananas"
    data = batch_writer(tmp_path / "d", batch, csv=True)
    path = data / "declarations.csv"
    records = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    header = len(records[0])
    bad = 30  # 1-based data row (the header is not counted)
    records[bad] = [*records[bad], "extra", "more"]
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerows(records)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    out = tmp_path / "out"
    code, text = _score(str(data), "--model", str(scoring_setup.model_dir), "--out", str(out))
    assert code == 3, text
    assert f"row {bad} has {header + 2} fields, expected {header}" in text, text
    assert batch.loc[bad - 1, "declaration_id"] in text  # the row's own text is quoted
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]


def test_legacy_rules_file_as_officer_rules_says_what_it_is(scoring_setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from riskmodel.rules import rules_to_toml
    from riskmodel.world.legacy import legacy_rules

    # the legacy rule set as `riskmodel sample` writes it (points, hs_code_prefix, bounds)
    legacy = tmp_path / "rules.toml"
    legacy.write_text(rules_to_toml(legacy_rules()), encoding="utf-8")
    out = tmp_path / "out"
    code, text = _score(
        str(scoring_setup.future_dir),
        "--model",
        str(scoring_setup.model_dir),
        "--out",
        str(out),
        "--rules",
        str(legacy),
    )
    assert code == 2, text
    error = sorted({line for line in text.splitlines() if line.startswith("error:")})
    assert len(error) == 1, text
    assert "legacy targeting rules" in error[0] and "points" in error[0]
    assert "--rules wants officer rules" in error[0]
    assert "README" in error[0] and "Scoring a batch" in error[0]
    assert "unknown key" not in error[0]
    assert not out.exists()
