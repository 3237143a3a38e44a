"""`riskmodel verify`: an untouched report passes; any changed byte fails, naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskmodel.cli import app
from riskmodel.report.verify import verify_dir


@pytest.fixture
def made(scored, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # type: ignore[no-untyped-def]
    """A fresh unsigned report of 5 shipments, over a private copy of the scoring folder."""
    from riskmodel import api

    monkeypatch.delenv("RISKMODEL_SIGNING_KEY", raising=False)
    scores = tmp_path / "scores"
    shutil.copytree(scored.scores_dir, scores)
    api.explain(
        scored.model_uri, scores, tmp_path / "report", top=5, tracking_uri=scored.tracking_uri
    )
    return tmp_path / "report"


def _verify(folder: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["verify", str(folder)])
    return result.exit_code, result.output


def _flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def test_untouched_report_passes_and_chains_to_the_scoring_run(made: Path) -> None:
    code, output = _verify(made)
    assert code == 0, output
    assert "report verified" in output
    ok = [line for line in output.splitlines() if line.startswith("ok ")]
    for name in ("report.html", "report.json", "scores.parquet", "flagged.parquet"):
        assert any(line.endswith(name) for line in ok), (name, output)
    manifest = json.loads((made / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["chain"]["scoring_manifest"]["sha256"]
    assert "signature" not in manifest


@pytest.mark.parametrize("name", ["report.html", "report.json", "manifest.json"])
@pytest.mark.parametrize("where", [0.0, 0.5, 0.999])
def test_one_changed_byte_in_any_written_file_fails_naming_it(
    made: Path, name: str, where: float
) -> None:
    target = made / name
    _flip(target, int((target.stat().st_size - 1) * where))
    code, output = _verify(made)
    assert code == 3, output
    assert name in output.split("verification failed for")[-1]


def test_a_missing_file_fails_naming_it(made: Path) -> None:
    (made / "report.html").unlink()
    code, output = _verify(made)
    assert code == 3 and "missing" in output and "report.html" in output


def test_a_changed_scoring_output_fails_naming_it(made: Path) -> None:
    manifest = json.loads((made / "manifest.json").read_text(encoding="utf-8"))
    scores = Path(manifest["chain"]["scoring_manifest"]["path"]).parent
    _flip(scores / "scores.parquet", 100)
    code, output = _verify(made)
    assert code == 3
    assert "scores.parquet" in output.split("verification failed for")[-1]
    code, output = _verify(scores)  # the scoring folder on its own
    assert code == 3 and "scores.parquet" in output


def test_scoring_folder_verifies_on_its_own(scored) -> None:  # type: ignore[no-untyped-def]
    result = verify_dir(scored.scores_dir)
    assert result.kind == "scoring" and result.ok
    assert {c.item for c in result.checks} >= {"scores.parquet", "flagged.parquet"}


def test_signature_checked_with_the_key(
    scored, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from riskmodel import api
    from riskmodel.report.verify import digest

    monkeypatch.setenv("RISKMODEL_SIGNING_KEY", "agency-key")
    done = api.explain(
        scored.model_uri, scored.scores_dir, tmp_path / "r", top=2, tracking_uri=scored.tracking_uri
    )
    assert done.signed
    assert _verify(done.folder)[0] == 0
    monkeypatch.setenv("RISKMODEL_SIGNING_KEY", "someone-else")
    code, output = _verify(done.folder)
    assert code == 3 and "signature does not match" in output
    monkeypatch.delenv("RISKMODEL_SIGNING_KEY")
    code, output = _verify(done.folder)
    assert code == 0 and "unchecked" in output
    # a forger who edits the manifest and recomputes its digest still fails the signature
    monkeypatch.setenv("RISKMODEL_SIGNING_KEY", "agency-key")
    path = done.folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["parameters"]["top"] = 99
    manifest["digest"] = digest(manifest)
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    code, output = _verify(done.folder)
    assert code == 3 and "signature does not match" in output


def test_verify_of_a_folder_without_manifest(tmp_path: Path) -> None:
    code, output = _verify(tmp_path)
    assert code == 3 and "manifest.json" in output
    assert _verify(tmp_path / "absent")[0] == 2


def test_scoring_inputs_recorded_relative_are_checked_from_where_the_run_was(
    scored, past_and_future, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """`score batch --out s` then `verify s` in the same directory checks batch's files (they
    were skipped as unreachable: looked for under s/batch), and a changed input fails."""
    from riskmodel import api

    monkeypatch.chdir(tmp_path)
    shutil.copytree(past_and_future.future, tmp_path / "batch")
    api.score(scored.model_uri, Path("batch"), out=Path("s"), tracking_uri=scored.tracking_uri)
    inputs = [c for c in verify_dir(Path("s")).checks if c.item.startswith("input batch")]
    assert inputs and all(c.status == "ok" for c in inputs), inputs
    with (tmp_path / "batch" / "declarations.parquet").open("ab") as handle:
        handle.write(b"\0")
    assert not verify_dir(Path("s")).ok
