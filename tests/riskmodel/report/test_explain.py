"""`riskmodel explain` on a real model and scoring folder: content, additivity, safety."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from typer.testing import CliRunner

from riskmodel.cli import app

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"
NETWORK = re.compile(
    r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|url\(\s*["']?\s*(?:https?:)?//|@import|https?://""",
    re.IGNORECASE,
)


def _explain(scored, scores: Path, out: Path, *options: str) -> Result:  # type: ignore[no-untyped-def]
    """``riskmodel explain`` through the CLI on ``scores`` with ``scored``'s model."""
    return CliRunner().invoke(
        app,
        [
            "explain",
            "--model",
            scored.model_uri,
            "--scores",
            str(scores),
            "--out",
            str(out),
            *options,
            "--tracking-uri",
            scored.tracking_uri,
        ],
    )


@pytest.fixture(scope="module")
def report(scored, tmp_path_factory: pytest.TempPathFactory, monkeypatch_module) -> Path:  # type: ignore[no-untyped-def]
    """One report of every red shipment, made through the CLI."""
    out = tmp_path_factory.mktemp("report") / "r"
    result = _explain(scored, scored.scores_dir, out, "--top", str(scored.red))
    assert result.exit_code == 0, result.output + str(result.exception)
    return out


@pytest.fixture(scope="module")
def monkeypatch_module():  # type: ignore[no-untyped-def]
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("RISKMODEL_SIGNING_KEY", raising=False)
        patch.delenv("RISKMODEL_PSEUDONYM_KEY", raising=False)
        yield patch


def _load(report: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((report / "report.json").read_text(encoding="utf-8"))


def test_additivity_and_margins_match_the_scoring_run(report: Path, scored) -> None:  # type: ignore[no-untyped-def]
    doc = _load(report)
    scores = pd.read_parquet(scored.scores_dir / "scores.parquet").set_index("declaration_id")
    assert len(doc["shipments"]) == scored.red > 0
    for s in doc["shipments"]:
        total = s["base_value"] + sum(s["contributions"].values())
        assert abs(total - s["raw_margin"]) <= 1e-6
        assert abs(s["raw_margin"] - scores.loc[s["declaration_id"], "raw_margin"]) <= 1e-6
        assert abs(s["risk_score"] - scores.loc[s["declaration_id"], "risk_score"]) <= 1e-12
    ranks = [s["risk_rank"] for s in doc["shipments"]]
    assert ranks == sorted(ranks)


def test_reasons_are_the_largest_contributions_as_in_the_scores(report: Path, scored) -> None:  # type: ignore[no-untyped-def]
    doc = _load(report)
    scores = pd.read_parquet(scored.scores_dir / "scores.parquet").set_index("declaration_id")
    for s in doc["shipments"]:
        largest = sorted(s["contributions"].values(), key=abs, reverse=True)[:3]
        assert [r["contribution"] for r in s["reasons"]] == pytest.approx(largest, abs=1e-12)
        row = scores.loc[s["declaration_id"]]
        for i, reason in enumerate(s["reasons"], start=1):
            assert reason["feature"] == row[f"reason_{i}_feature"]
            value = row[f"reason_{i}_value"]
            assert reason["value"] == (None if pd.isna(value) else value)
            assert reason["text"] == row[f"reason_{i}_text"] and reason["text"]
            assert reason["contribution"] == pytest.approx(row[f"reason_{i}_contribution"])


def test_selection_reasons_are_explained(report: Path, scored) -> None:  # type: ignore[no-untyped-def]
    doc = _load(report)
    by = {s["selected_by"]: s["selection"] for s in doc["shipments"]}
    assert set(by) == {"model", "exploration", "rule:precursor_chapter"}
    assert "random" in by["exploration"]
    assert "'precursor_chapter'" in by["rule:precursor_chapter"]
    assert "budget" in by["model"]
    manifest = json.loads((scored.scores_dir / "manifest.json").read_text(encoding="utf-8"))
    assert doc["batch"]["selected_by"] == manifest["counts"]["selected_by"]
    scores = pd.read_parquet(scored.scores_dir / "scores.parquet")
    red = scores.loc[scores["channel"] == "red", "selected_by"].value_counts().to_dict()
    assert doc["batch"]["red_selected_by"] == red
    assert doc["batch"]["channels"] == manifest["counts"]["channels"]


def test_exactly_one_waterfall_per_requested_shipment(report: Path, scored, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    html = (report / "report.html").read_text(encoding="utf-8")
    assert html.count('<svg class="waterfall"') == scored.red
    assert html.count('class="shipment"') == scored.red
    from riskmodel import api

    small = api.explain(
        scored.model_uri,
        scored.scores_dir,
        tmp_path / "five",
        top=5,
        tracking_uri=scored.tracking_uri,
    )
    page = small.html.read_text(encoding="utf-8")
    assert page.count('<svg class="waterfall"') == 5 == small.shipments
    assert "log-odds" in page


def test_hostile_goods_description_appears_only_escaped(report: Path, scored) -> None:  # type: ignore[no-untyped-def]
    html = (report / "report.html").read_text(encoding="utf-8")
    doc = _load(report)
    hostile = [s for s in doc["shipments"] if s["declaration_id"] == scored.hostile_id]
    assert hostile and hostile[0]["fields"]["goods_description"] == scored.hostile
    assert scored.hostile not in html
    assert ESCAPED in html
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "onerror=" not in re.sub(r"&lt;img[^<]*?&gt;", "", html)


def test_no_network_reference_and_one_file(report: Path) -> None:
    html = (report / "report.html").read_text(encoding="utf-8")
    assert NETWORK.search(html) is None, NETWORK.search(html)
    assert "<link" not in html.lower() and "<iframe" not in html.lower()
    assert sorted(p.name for p in report.iterdir()) == [
        "manifest.json",
        "report.html",
        "report.json",
    ]
    # the detector itself finds each kind of reference it guards against
    for bad in ('<img src="https://x.org/a.png">', "url(//cdn.x/f.woff)", '<a href="http://x">'):
        assert NETWORK.search(bad)


def test_batch_section_and_model_card_first(report: Path, scored) -> None:  # type: ignore[no-untyped-def]
    html = (report / "report.html").read_text(encoding="utf-8")
    sections = re.findall(r'<section[^>]*id="([^"]+)"', html)
    assert sections[:3] == ["model-card", "batch", "shipments"]
    doc = _load(report)
    batch = doc["batch"]
    manifest = json.loads((scored.scores_dir / "manifest.json").read_text(encoding="utf-8"))
    assert sum(batch["channels"].values()) == batch["scored"] == manifest["counts"]["scored"]
    assert sum(b["count"] for b in batch["risk_distribution"]) == batch["scored"]
    assert batch["global_importance"][0]["mean_abs_contribution"] > 0
    assert batch["drift"] == manifest["drift"] and batch["burden"] == manifest["burden"]
    assert 'id="corridor-map"' in html and "Drift warnings" in html
    assert doc["corridors"] and doc["corridors"][0]["rank"] == 1
    routes = [s["route"] for s in doc["shipments"] if s["route"]]
    assert routes and all(">" in r for r in routes)
    assert routes[0].replace(">", " \u2192 ") in html
    card = doc["model"]["card"]
    assert doc["model"]["name"] == "seizure-risk" and doc["model"]["version"] is not None
    assert card["figures"]["rows"][0]["scorer"] == "model"
    assert {r["scorer"] for r in card["figures"]["rows"]} >= {"model", "random", "rules"}
    assert card["burden"]["declarations"] > 0
    assert {"origin_country", "transport_mode", "importer_size_band"} <= set(card["burden"])
    for rows in (card["burden"][k] for k in ("origin_country", "transport_mode")):
        assert sum(r["share_of_opened"] for r in rows) <= 1 + 1e-4  # shares rounded to 1e-6
    assert card["markdown"].startswith("# Model card: seizure-risk version")
    # a "few seizures" limit (under 30) names the seizures and the inspections they rest on,
    # as counted in the card's data rows; with 30 or more there is none
    rows = card["data"]["rows"]
    few = [limit for limit in card["limits"] if "seizure(s) among" in limit]
    if rows["test_seizures"] < 30:
        expected = f"only {rows['test_seizures']} seizure(s) among {rows['test_inspected']} "
        assert len(few) == 1 and expected in few[0], (few, rows)
    else:
        assert few == [], few


def test_drift_warnings_are_shown(scored, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from riskmodel import api

    copy = tmp_path / "scores"
    shutil.copytree(scored.scores_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["drift"] = {
        "threshold": 0.25,
        "psi": {"value_per_kg": 0.4},
        "drifting": ["value_per_kg"],
    }
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    done = api.explain(
        scored.model_uri, copy, tmp_path / "r", top=1, tracking_uri=scored.tracking_uri
    )
    html = done.html.read_text(encoding="utf-8")
    assert 'class="warn"' in html and "value_per_kg" in html.split("Drift warnings")[1]


def test_model_card_logged_with_the_registered_version(scored) -> None:  # type: ignore[no-untyped-def]
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=scored.tracking_uri, registry_uri=scored.tracking_uri)
    name, version = scored.model_uri.removeprefix("models:/").split("/")
    found = client.get_model_version(name, version)
    assert found.description.startswith(f"# Model card: {name} version {version}")
    for heading in (
        "## Intended use",
        "## Training data",
        "## Features by group",
        "## Figures on the test period",
        "## Calibration",
        "## Known limits",
        "## Inspection burden on the test period",
        "### origin country",
        "### transport mode",
        "### importer size band",
    ):
        assert heading in found.description
    path = mlflow.artifacts.download_artifacts(
        run_id=found.run_id, artifact_path="model_card.md", tracking_uri=scored.tracking_uri
    )
    assert Path(path).read_text(encoding="utf-8") == found.description


def test_pseudonymisation_is_keyed_consistent_and_refused_without_key(
    report: Path, scored, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from riskmodel import api

    monkeypatch.delenv("RISKMODEL_PSEUDONYM_KEY", raising=False)
    refused = _explain(scored, scored.scores_dir, tmp_path / "no-key", "--pseudonymise")
    assert refused.exit_code == 2
    assert "RISKMODEL_PSEUDONYM_KEY" in refused.output
    assert not (tmp_path / "no-key").exists()

    plain = _load(report)
    runs = {}
    for name, key in (("a1", "key-A"), ("a2", "key-A"), ("b", "key-B")):
        monkeypatch.setenv("RISKMODEL_PSEUDONYM_KEY", key)
        done = api.explain(
            scored.model_uri,
            scored.scores_dir,
            tmp_path / name,
            top=scored.red,
            pseudonymise=True,
            tracking_uri=scored.tracking_uri,
        )
        runs[name] = (done.report, done.html.read_text(encoding="utf-8"))
    doc_a, html_a = runs["a1"]
    assert doc_a["pseudonymised"] is True
    entity = ("importer_id", "declarant_id", "exporter_id")
    raw_ids = {s["declaration_id"] for s in plain["shipments"]} | {
        s["fields"][f] for s in plain["shipments"] for f in entity if s["fields"].get(f)
    }
    for raw in raw_ids:
        assert raw not in html_a and raw not in json.dumps(doc_a)
    mapping: dict[str, str] = {}
    for p, s in zip(plain["shipments"], doc_a["shipments"], strict=True):
        pairs = [(p["declaration_id"], s["declaration_id"])]
        pairs += [(p["fields"][f], s["fields"][f]) for f in entity if p["fields"].get(f)]
        for raw, pseudo in pairs:
            assert re.fullmatch(r"P-[0-9a-f]{16}", pseudo)
            assert mapping.setdefault(raw, pseudo) == pseudo  # one id, one pseudonym
            assert pseudo in html_a
    assert len(set(mapping.values())) == len(mapping)  # distinct ids stay distinct
    assert runs["a2"][0]["shipments"] == doc_a["shipments"]
    doc_b = runs["b"][0]
    for s_a, s_b in zip(doc_a["shipments"], doc_b["shipments"], strict=True):
        assert s_a["declaration_id"] != s_b["declaration_id"]
        assert s_a["fields"]["importer_id"] != s_b["fields"]["importer_id"]
        assert s_a["raw_margin"] == s_b["raw_margin"]


def test_another_model_is_refused(scored, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "scores"
    shutil.copytree(scored.scores_dir, copy)
    scores = pd.read_parquet(copy / "scores.parquet")
    scores["raw_margin"] = scores["raw_margin"] + np.where(scores["risk_rank"] == 3, 0.01, 0.0)
    scores.to_parquet(copy / "scores.parquet", index=False)
    result = _explain(scored, copy, tmp_path / "r")
    assert result.exit_code == 4
    assert "not the one that scored" in result.output
    assert not (tmp_path / "r").exists()


def test_incomplete_scoring_folder_is_a_contract_error(scored, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "scores"
    shutil.copytree(scored.scores_dir, copy)
    (copy / "flagged.parquet").unlink()
    result = _explain(scored, copy, tmp_path / "r")
    assert result.exit_code == 3
    assert "flagged.parquet" in result.output


def test_a_csv_scoring_run_gives_the_same_shipments(report: Path, scored, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from riskmodel import api

    copy = tmp_path / "scores"
    shutil.copytree(scored.scores_dir, copy)
    for name in ("scores", "corridors"):
        pd.read_parquet(copy / f"{name}.parquet").to_csv(copy / f"{name}.csv", index=False)
        (copy / f"{name}.parquet").unlink()
    done = api.explain(
        scored.model_uri, copy, tmp_path / "r", top=scored.red, tracking_uri=scored.tracking_uri
    )
    parquet = _load(report)["shipments"]
    for a, b in zip(parquet, done.report["shipments"], strict=True):
        assert a["declaration_id"] == b["declaration_id"]
        assert a["raw_margin"] == b["raw_margin"] and a["reasons"] == b["reasons"]
