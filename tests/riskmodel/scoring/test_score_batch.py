"""Batch scoring end to end through the notebook API on a local model folder: the output
contract, nothing lost, rejects, determinism, chunking, drift, burden, corridors, atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.sources import Sources
from riskmodel import api
from riskmodel.errors import ContractError, ModelError
from riskmodel.model import RiskModel

SCORE_COLUMNS = [
    "declaration_id",
    "declared_at",
    "risk_score",
    "raw_margin",
    "risk_rank",
    "channel",
    "selected_by",
    "corridor_id",
]


@pytest.fixture(scope="module")
def scored(scoring_setup, tmp_path_factory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("scored") / "out"
    result = api.score(str(scoring_setup.model_dir), scoring_setup.future_dir, out=out, seed=5)
    return result, out


def test_outputs_follow_the_contract(scoring_setup, scored) -> None:  # type: ignore[no-untyped-def]
    _, out = scored
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "corridors.parquet",
        "flagged.parquet",
        "manifest.json",
        "rejects.parquet",
        "scores.parquet",
    ]
    scores = pq.read_table(out / "scores.parquet")
    reason_columns = [
        f"reason_{i}_{p}" for i in (1, 2, 3) for p in ("feature", "value", "contribution", "text")
    ]
    assert scores.column_names == [*SCORE_COLUMNS, *reason_columns, "model_uri", "model_version"]
    assert str(scores.schema.field("declared_at").type) == "timestamp[us]"
    assert str(scores.schema.field("risk_rank").type) == "int64"
    frame = scores.to_pandas()
    n = len(scoring_setup.future)
    assert len(frame) == n
    assert frame["declaration_id"].tolist() == scoring_setup.future["declaration_id"].tolist()
    assert sorted(frame["risk_rank"]) == list(range(1, n + 1))
    top = frame.sort_values("risk_rank").head(2)
    assert top["risk_score"].iloc[0] >= top["risk_score"].iloc[1]
    red = frame["channel"] == "red"
    assert red.sum() == round(0.05 * n)
    assert set(frame.loc[red, "selected_by"]) <= {"model", "exploration"}
    assert (frame.loc[red, "selected_by"] == "exploration").sum() == round(0.1 * red.sum())
    assert frame.loc[red, "reason_1_feature"].notna().all()
    assert frame.loc[~red, "reason_1_feature"].isna().all()
    assert frame.loc[frame["channel"] == "green", "selected_by"].isna().all()
    assert (frame["model_uri"] == str(scoring_setup.model_dir)).all()
    assert frame["model_version"].isna().all()


def test_scores_are_the_models_own_predictions(scoring_setup, scored) -> None:  # type: ignore[no-untyped-def]
    _, out = scored
    model = RiskModel.load(scoring_setup.model_dir)
    expected = model.predict(Sources(declarations=scoring_setup.future))
    got = pd.read_parquet(out / "scores.parquet")
    assert np.array_equal(got["risk_score"].to_numpy(), expected["risk_score"].to_numpy())


def test_manifest_counts_hashes_and_parameters(scoring_setup, scored) -> None:  # type: ignore[no-untyped-def]
    result, out = scored
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == json.loads(json.dumps(result.manifest, default=str))
    assert manifest["format"] == "riskmodel-scoring-manifest"
    counts = manifest["counts"]
    assert (
        counts["scored"] + counts["rejected"] == counts["input_rows"] == len(scoring_setup.future)
    )
    assert sum(counts["channels"].values()) == counts["scored"]
    assert counts["selected_by"]["model"] + counts["selected_by"]["exploration"] == (
        counts["channels"]["red"] + counts["channels"]["yellow"]
    )
    import hashlib

    for item in manifest["outputs"]:
        assert hashlib.sha256((out / item["path"]).read_bytes()).hexdigest() == item["sha256"]
    decl = manifest["inputs"][0]
    assert decl["path"].endswith("declarations.parquet")
    assert decl["rows"] == len(scoring_setup.future)
    assert manifest["parameters"]["seed"] == 5
    assert manifest["model"]["feature_cutoff"] == scoring_setup.cutoff.isoformat()
    assert set(manifest["drift"]["psi"]) == set(
        RiskModel.load(scoring_setup.model_dir).feature_names
    )
    for key in ("origin_country", "transport_mode", "importer_size_band"):
        groups = manifest["burden"][key]
        assert sum(g["declarations"] for g in groups) == counts["scored"]
        assert sum(g["share_of_batch"] for g in groups) == pytest.approx(1.0, abs=1e-4)


def test_corridors_and_flagged(scoring_setup, scored) -> None:  # type: ignore[no-untyped-def]
    _, out = scored
    scores = pd.read_parquet(out / "scores.parquet")
    corridors = pd.read_parquet(out / "corridors.parquet")
    known = scores[scores["corridor_id"].notna()]
    assert corridors["declarations"].sum() == len(known)
    assert corridors["red"].sum() == int((known["channel"] == "red").sum())
    one = corridors.iloc[0]
    mine = known[known["corridor_id"] == one["corridor_id"]]
    assert one["expected_seizures"] == pytest.approx(mine["risk_score"].sum())
    assert list(corridors["rank"]) == list(range(1, len(corridors) + 1))
    assert corridors["expected_seizures"].is_monotonic_decreasing
    overall = scores["risk_score"].mean()
    lo = np.minimum(corridors["risk_rate"], overall) - 1e-12
    hi = np.maximum(corridors["risk_rate"], overall) + 1e-12
    assert ((corridors["shrunk_rate"] >= lo) & (corridors["shrunk_rate"] <= hi)).all()
    flagged = pd.read_parquet(out / "flagged.parquet")
    assert len(flagged) == int((scores["channel"] != "green").sum())
    model = RiskModel.load(scoring_setup.model_dir)
    assert [c for c in flagged.columns if c.startswith("feature:")] == [
        f"feature:{n}" for n in model.feature_names
    ]
    assert {"importer_id", "hs_code", "route"} <= set(flagged.columns)
    # explain can recompute exact SHAP from flagged alone
    from riskmodel.scoring.reasons import contributions

    frame = pd.DataFrame({n: flagged[f"feature:{n}"] for n in model.feature_names})
    got = contributions(model, frame)
    margin = scores.set_index("declaration_id").loc[flagged["declaration_id"], "raw_margin"]
    assert np.allclose(got.raw_margin, margin.to_numpy(), atol=1e-9)


def test_same_seed_same_outputs(scoring_setup, scored, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, out = scored
    again = tmp_path / "again"
    api.score(str(scoring_setup.model_dir), scoring_setup.future_dir, out=again, seed=5)
    for name in ("scores.parquet", "flagged.parquet", "corridors.parquet", "rejects.parquet"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name
    other = tmp_path / "other"
    api.score(str(scoring_setup.model_dir), scoring_setup.future_dir, out=other, seed=6)
    a = pd.read_parquet(out / "scores.parquet")
    b = pd.read_parquet(other / "scores.parquet")
    assert np.array_equal(a["risk_score"], b["risk_score"])
    assert not a["selected_by"].equals(b["selected_by"])  # only the exploration draw moved


def test_a_declaration_scores_the_same_alone_chunked_or_among_unseen_codes(
    scoring_setup, scored, batch_writer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _, out = scored
    full = pd.read_parquet(out / "scores.parquet").set_index("declaration_id")
    chunked = tmp_path / "chunked"
    api.score(str(scoring_setup.model_dir), scoring_setup.future_dir, out=chunked, chunk_rows=97)
    got = pd.read_parquet(chunked / "scores.parquet").set_index("declaration_id")
    assert np.array_equal(got["risk_score"], full["risk_score"])
    pick = scoring_setup.future.iloc[[5, 123, 400]]
    for _, row in pick.iterrows():
        alone = batch_writer(tmp_path / f"alone-{row['declaration_id']}", pick.loc[[row.name]])
        res = tmp_path / f"res-{row['declaration_id']}"
        api.score(str(scoring_setup.model_dir), alone, out=res, budget=1.0, yellow_budget=0.0)
        one = pd.read_parquet(res / "scores.parquet").iloc[0]
        assert one["risk_score"] == full.loc[row["declaration_id"], "risk_score"]
        assert one["reason_1_feature"] is not None
    strange = scoring_setup.future.head(50).copy()
    strange.loc[1:, "hs_code"] = "9999999999"
    strange.loc[1:, "port_of_entry"] = "ZZZZZ"
    strange.loc[1:, "origin_country"] = "ZZ"
    res = tmp_path / "strange"
    api.score(str(scoring_setup.model_dir), batch_writer(tmp_path / "s", strange), out=res)
    first = pd.read_parquet(res / "scores.parquet").iloc[0]
    assert first["risk_score"] == full.loc[strange["declaration_id"].iloc[0], "risk_score"]


def test_rejects_name_row_and_column_and_nothing_is_lost(
    scoring_setup, batch_writer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    batch = scoring_setup.future.head(400).copy()
    batch.loc[3, "gross_weight_kg"] = -5.0  # contract violation
    batch.loc[10, "declaration_id"] = batch.loc[9, "declaration_id"]  # duplicate
    batch.loc[250, "declaration_id"] = batch.loc[9, "declaration_id"]  # duplicate in a later chunk
    batch.loc[20, "declared_at"] = scoring_setup.cutoff - pd.Timedelta(days=3)  # before cutoff
    history = pd.read_parquet(scoring_setup.past / "declarations.parquet")
    batch.loc[30, "declaration_id"] = history["declaration_id"].iloc[0]  # already in history
    data = batch_writer(tmp_path / "data", batch)
    out = tmp_path / "out"
    result = api.score(str(scoring_setup.model_dir), data, out=out, chunk_rows=128)
    rejects = pd.read_parquet(out / "rejects.parquet")
    assert rejects["row"].tolist() == [4, 11, 21, 31, 251]
    assert set(rejects["source"]) == {"declarations.parquet"}
    by_row = rejects.set_index("row")
    assert by_row.loc[4, "column"] == "gross_weight_kg"
    assert by_row.loc[11, "column"] == "declaration_id"
    assert "first seen at row 10" in by_row.loc[11, "reason"]
    assert "first seen at row 10" in by_row.loc[251, "reason"]
    assert by_row.loc[21, "column"] == "declared_at" and "cutoff" in by_row.loc[21, "reason"]
    assert "history" in by_row.loc[31, "reason"]
    assert by_row.loc[11, "declaration_id"] == batch.loc[9, "declaration_id"]
    scores = pd.read_parquet(out / "scores.parquet")
    assert len(scores) + len(rejects) == len(batch)
    assert result.counts["rejected"] == 5
    assert batch.loc[9, "declaration_id"] in set(scores["declaration_id"])  # the first is scored


def test_csv_input_and_output_are_formula_safe(scoring_setup, batch_writer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    batch = scoring_setup.future.head(200).copy()
    batch["declaration_id"] = batch["declaration_id"].astype(object)
    batch.loc[0, "declaration_id"] = '=HYPERLINK("http://x")'
    batch.loc[1, "declaration_id"] = "+1"
    batch.loc[2, "declaration_id"] = "@SUM(A1)"
    batch.loc[3, "declaration_id"] = "-2"
    batch.loc[5, "gross_weight_kg"] = -1.0
    data = batch_writer(tmp_path / "data", batch, csv=True)
    out = tmp_path / "out"
    api.score(
        str(scoring_setup.model_dir), data, out=out, format="csv", budget=0.5, yellow_budget=0.2
    )
    assert {p.name for p in out.iterdir()} == {
        "scores.csv",
        "rejects.csv",
        "corridors.csv",
        "flagged.parquet",
        "manifest.json",
    }
    text = (out / "scores.csv").read_text()
    for bad in ('"=HYPERLINK', '"+1"', '"@SUM', '"-2"'):
        assert bad not in text
    scores = pd.read_csv(out / "scores.csv", dtype={"declaration_id": str})
    ids = scores["declaration_id"].tolist()
    assert ids[:4] == ['\'=HYPERLINK("http://x")', "'+1", "'@SUM(A1)", "'-2"]
    assert (scores["raw_margin"] < 0).any()  # numbers stay numbers
    rejects = pd.read_csv(out / "rejects.csv")
    assert rejects["row"].tolist() == [6]
    # CSV read as text gives the same scores as the Parquet batch
    parquet_out = tmp_path / "pq"
    api.score(
        str(scoring_setup.model_dir), batch_writer(tmp_path / "pqdata", batch), out=parquet_out
    )
    from_parquet = pd.read_parquet(parquet_out / "scores.parquet")
    assert np.allclose(scores["risk_score"], from_parquet["risk_score"], rtol=0, atol=1e-12)


def test_rules_force_red_and_reasons_for_yellow(scoring_setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    importer = scoring_setup.future["importer_id"].iloc[7]
    rules = tmp_path / "rules.toml"
    rules.write_text(f'[[rule]]\nname = "watch"\nimporter_id = ["{importer}"]\n', encoding="utf-8")
    out = tmp_path / "out"
    result = api.score(
        str(scoring_setup.model_dir),
        scoring_setup.future_dir,
        out=out,
        rules=rules,
        reasons_for=("red", "yellow"),
        reasons=2,
    )
    scores = pd.read_parquet(out / "scores.parquet")
    mine = scores[scoring_setup.future["importer_id"].to_numpy() == importer]
    assert (mine["channel"] == "red").all()
    assert (mine["selected_by"] == "rule:watch").all()
    assert (scores["channel"] == "red").sum() == max(round(0.05 * len(scores)), len(mine))
    flagged = scores["channel"] != "green"
    assert scores.loc[flagged, "reason_2_feature"].notna().all()
    assert "reason_3_feature" not in scores.columns
    assert result.manifest["parameters"]["rules"]["sha256"]


def test_drift_is_measured_against_the_training_reference(
    scoring_setup, batch_writer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    batch = scoring_setup.future.head(500).copy()
    batch["declared_value_usd"] = batch["declared_value_usd"] * 1000
    out = tmp_path / "out"
    result = api.score(str(scoring_setup.model_dir), batch_writer(tmp_path / "d", batch), out=out)
    assert "value_per_kg" in result.drifting
    assert result.manifest["drift"]["psi"]["value_per_kg"] > 0.25


def test_truncated_and_garbage_inputs_write_nothing(scoring_setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = (scoring_setup.future_dir / "declarations.parquet").read_bytes()
    head = scoring_setup.future.head(3)
    csv = head.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S").encode()
    header, first, *_ = csv.splitlines(keepends=True)
    no_importer = head.drop(columns=["importer_id"]).to_csv(index=False).encode()
    cases = {
        "truncated.parquet": good[: len(good) // 2],
        "garbage.csv": header + first + b"\xff\xfe\x00junk\n",
        "fields.csv": header + first.rstrip(b"\n") + b",extra,more\n",
        "missing.csv": no_importer,
        "empty.csv": header,
    }
    for name, content in cases.items():
        data = tmp_path / name.split(".")[0]
        data.mkdir()
        (data / f"declarations.{name.split('.')[1]}").write_bytes(content)
        out = tmp_path / f"out-{name}"
        with pytest.raises(ContractError):
            api.score(str(scoring_setup.model_dir), data, out=out)
        assert not out.exists(), name
        assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name], name


def test_an_existing_out_keeps_its_files_on_failure(scoring_setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    data = tmp_path / "data"
    data.mkdir()
    (data / "declarations.csv").write_text("nothing,here\n")
    with pytest.raises(ContractError):
        api.score(str(scoring_setup.model_dir), data, out=out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_model_needing_absent_columns_is_refused(
    scoring_setup, batch_writer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    batch = scoring_setup.future.head(50).drop(columns=["transport_mode", "gross_weight_kg"])
    out = tmp_path / "out"
    with pytest.raises(ModelError, match="transport_mode"):
        api.score(str(scoring_setup.model_dir), batch_writer(tmp_path / "d", batch), out=out)
    assert not out.exists()
    with pytest.raises(ModelError):
        api.score(str(tmp_path / "no-model"), scoring_setup.future_dir, out=out)
    assert not out.exists()


def test_drift_reference_is_saved_with_the_model_as_json(scoring_setup) -> None:  # type: ignore[no-untyped-def]
    document = json.loads((scoring_setup.model_dir / "drift_reference.json").read_text())
    model = RiskModel.load(scoring_setup.model_dir)
    assert model.drift_reference == document
    assert set(document["features"]) == set(model.feature_names)
    for name, entry in document["features"].items():
        if entry["kind"] == "numeric":
            assert len(entry["shares"]) == len(entry["edges"]) + 1, name
            total = sum(entry["shares"]) + entry["missing"]
        else:
            total = sum(entry["levels"].values()) + entry["other"] + entry["missing"]
        assert total == pytest.approx(1.0), name


def test_history_refreshes_the_state_before_scoring(
    scoring_setup, batch_writer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    future = scoring_setup.future
    half = len(future) // 2
    history = batch_writer(tmp_path / "history", future.iloc[:half])
    later = future.iloc[half:].reset_index(drop=True)
    data = batch_writer(tmp_path / "later", later)
    plain, refreshed = tmp_path / "plain", tmp_path / "refreshed"
    api.score(str(scoring_setup.model_dir), data, out=plain)
    result = api.score(str(scoring_setup.model_dir), data, out=refreshed, history=history)
    a = pd.read_parquet(plain / "flagged.parquet")
    b = pd.read_parquet(refreshed / "flagged.parquet")
    assert result.manifest["parameters"]["history"] == str(history)
    assert result.manifest["model"]["feature_cutoff"] > scoring_setup.cutoff.isoformat()
    counts_a = a["feature:importer_declarations_365d"].sum()
    counts_b = b["feature:importer_declarations_365d"].sum()
    assert counts_b > counts_a  # the newer declarations are history now
    # a declaration of the history is refused per row, the rest scored
    mixed = batch_writer(tmp_path / "mixed", future.iloc[half - 3 : half + 3])
    out = tmp_path / "mixed-out"
    got = api.score(str(scoring_setup.model_dir), mixed, out=out, history=history)
    assert got.counts["rejected"] == 3
    assert got.counts["scored"] == 3


def test_scoring_again_into_a_folder_leaves_no_output_of_the_earlier_run(
    scoring_setup, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    model, data = str(scoring_setup.model_dir), scoring_setup.future_dir
    api.score(model, data, out=out, format="csv")
    (out / "notes.txt").write_text("mine")
    api.score(model, data, out=out)
    assert {p.name for p in out.iterdir()} == {
        "scores.parquet",
        "rejects.parquet",
        "corridors.parquet",
        "flagged.parquet",
        "manifest.json",
        "notes.txt",  # not a scoring output: left alone
    }
    api.score(model, data, out=out, format="csv")
    assert not (out / "scores.parquet").exists()
    assert (out / "scores.csv").exists()
