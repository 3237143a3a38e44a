"""The two passes of batch scoring: pass 2 re-reads exactly the rows pass 1 scored (CSV and
Parquet, rejects interleaved), a file changed between the passes is refused with nothing
written, reasons for red and yellow, and chunking never shows in the outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from features.sources import Sources
from riskmodel import api
from riskmodel.cli import app
from riskmodel.errors import ContractError
from riskmodel.model import RiskModel
from riskmodel.scoring.batch import _risk_order
from riskmodel.scoring.corridors import corridor_table

OUTPUTS = ("scores.parquet", "flagged.parquet", "corridors.parquet", "rejects.parquet")


def _with_rejects(future: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` future declarations with bad rows spread over them (and over chunk borders)."""
    batch = future.head(n).copy()
    batch.loc[0, "gross_weight_kg"] = -5.0
    batch.loc[13, "declared_value_usd"] = -1.0
    batch.loc[14, "declaration_id"] = batch.loc[2, "declaration_id"]  # duplicate
    batch.loc[n - 1, "declaration_id"] = batch.loc[40, "declaration_id"]  # duplicate, last row
    batch.loc[63, "gross_weight_kg"] = -1.0
    # a third and fourth occurrence side by side, in one chunk of 7 (rows 51 and 52): both
    # name the first row in the file, not the first row of their chunk
    batch.loc[[50, 51], "declaration_id"] = batch.loc[5, "declaration_id"]
    return batch


@pytest.mark.parametrize("csv", [False, True], ids=["parquet", "csv"])
def test_pass_two_takes_the_rows_pass_one_scored(
    scoring_setup, batch_writer, tmp_path: Path, csv: bool
) -> None:  # type: ignore[no-untyped-def]
    batch = _with_rejects(scoring_setup.future, 300)
    data = batch_writer(tmp_path / "data", batch, csv=csv)
    out = tmp_path / "out"
    api.score(
        str(scoring_setup.model_dir),
        data,
        out=out,
        chunk_rows=16,
        budget=0.3,
        yellow_budget=0.3,
        reasons_for=("red", "yellow"),
    )
    rejects = pd.read_parquet(out / "rejects.parquet")
    assert rejects["row"].tolist() == [1, 14, 15, 51, 52, 64, 300]
    scores = pd.read_parquet(out / "scores.parquet")
    flagged = pd.read_parquet(out / "flagged.parquet")
    # flagged holds the red and yellow rows of scores, in input order
    expected_ids = scores.loc[scores["channel"] != "green", "declaration_id"].tolist()
    assert flagged["declaration_id"].tolist() == expected_ids
    assert len(flagged) > 100
    # each flagged row is its own input row (the first occurrence of a repeated id)
    first = batch.drop(index=[0, 13, 14, 50, 51, 63, 299]).set_index("declaration_id")
    mine = first.loc[flagged["declaration_id"]]
    for column in ("importer_id", "hs_code", "origin_country", "port_of_entry"):
        assert flagged[column].tolist() == mine[column].astype(str).tolist(), column
    assert np.allclose(flagged["gross_weight_kg"], mine["gross_weight_kg"], rtol=0, atol=1e-9)
    # their features are the model's own for those rows, and the margins match scores
    model = RiskModel.load(scoring_setup.model_dir)
    rows = mine.reset_index()[list(batch.columns)]
    features = model.features(Sources(declarations=rows))
    for name in model.feature_names:
        got, want = flagged[f"feature:{name}"], features[name].reset_index(drop=True)
        if name in model.categorical_features:
            assert got.tolist() == want.astype(object).where(want.notna(), None).tolist(), name
        else:
            assert np.array_equal(got.to_numpy(float), want.to_numpy(float), equal_nan=True), name
    explained = scores["reason_1_feature"].notna()
    assert explained.tolist() == (scores["channel"] != "green").tolist()


def _rewrite_on_channels(path: Path, change: str) -> object:
    """A progress hook that changes the input file once the channels are assigned, i.e.
    between pass 1 and pass 2."""

    def hook(message: str) -> None:
        if not message.startswith("channels:"):
            return
        before = path.stat()
        header, *lines = path.read_bytes().splitlines(keepends=True)
        if change == "appended":
            path.write_bytes(header + b"".join(lines) + lines[0])
        else:  # same bytes count, rows in another order, times put back
            path.write_bytes(header + b"".join(reversed(lines)))
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
            assert path.stat().st_size == before.st_size

    return hook


@pytest.mark.parametrize("change", ["appended", "reordered-same-size-and-mtime"])
def test_a_file_changed_between_the_passes_is_refused(
    scoring_setup, batch_writer, tmp_path: Path, change: str
) -> None:  # type: ignore[no-untyped-def]
    batch = scoring_setup.future.head(200).copy()
    batch["declaration_id"] = [f"X{i:07d}" for i in range(len(batch))]  # same length ids
    data = batch_writer(tmp_path / "data", batch, csv=True)
    path = data / "declarations.csv"
    out = tmp_path / "out"
    with pytest.raises(ContractError, match="changed while it was being scored") as caught:
        api.score(
            str(scoring_setup.model_dir),
            data,
            out=out,
            chunk_rows=50,
            progress=_rewrite_on_channels(path, change),  # type: ignore[arg-type]
        )
    assert caught.value.exit_code == 3
    assert str(path) in str(caught.value)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]


def test_reasons_for_red_and_yellow_from_the_cli(scoring_setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model, data = str(scoring_setup.model_dir), str(scoring_setup.future_dir)
    both, red = tmp_path / "both", tmp_path / "red"
    runner = CliRunner()
    for out, extra in ((both, ["--reasons-for", "red,yellow"]), (red, [])):
        done = runner.invoke(
            app, ["score", data, "--model", model, "--out", str(out), "--quiet", *extra]
        )
        assert done.exit_code == 0, done.output
    a = pd.read_parquet(both / "scores.parquet")
    b = pd.read_parquet(red / "scores.parquet")
    assert json.loads((both / "manifest.json").read_text())["parameters"]["reasons_for"] == [
        "red",
        "yellow",
    ]
    for channel, explained in (("red", True), ("yellow", True), ("green", False)):
        rows = a["channel"] == channel
        assert rows.any()
        assert a.loc[rows, "reason_1_feature"].notna().all() == explained, channel
        assert a.loc[rows, "reason_3_text"].notna().all() == explained, channel
    assert b.loc[b["channel"] == "yellow", "reason_1_feature"].isna().all()
    # a row's reasons do not depend on which other channels are explained
    reds = a["channel"] == "red"
    reason_columns = [c for c in a.columns if c.startswith("reason_")]
    pd.testing.assert_frame_equal(a.loc[reds, reason_columns], b.loc[reds, reason_columns])


def test_chunk_sizes_one_and_seven_write_the_bytes_of_one_big_chunk(
    scoring_setup, batch_writer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    data = batch_writer(tmp_path / "data", _with_rejects(scoring_setup.future, 120))
    runs = {}
    for chunk in (1, 7, 1_000_000):
        out = tmp_path / f"out-{chunk}"
        api.score(
            str(scoring_setup.model_dir),
            data,
            out=out,
            chunk_rows=chunk,
            budget=0.2,
            yellow_budget=0.2,
            seed=4,
        )
        runs[chunk] = out
    manifests = {}
    for chunk, out in runs.items():
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["parameters"].pop("chunk_rows") == chunk
        for key in ("created_at", "timings"):
            manifest.pop(key)
        manifests[chunk] = manifest
    big = runs[1_000_000]
    for chunk in (1, 7):
        for name in OUTPUTS:
            assert (runs[chunk] / name).read_bytes() == (big / name).read_bytes(), (chunk, name)
        assert manifests[chunk] == manifests[1_000_000], chunk
    assert manifests[1]["counts"]["rejected"] == 7
    rejects = pd.read_parquet(big / "rejects.parquet").set_index("row")
    assert rejects.loc[52, "reason"].endswith("first seen at row 6")


def test_risk_order_breaks_ties_by_id_like_a_sort_of_both() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    risk = rng.choice([0.1, 0.2, 0.25, 0.9], size=n) + rng.choice([0.0, 1e-3], size=n)
    risk[::7] = rng.random(len(risk[::7]))
    ids = [f"D{v:06d}" for v in rng.permutation(n)]
    chunked = pa.chunked_array([pa.array(ids[:1234]), pa.array(ids[1234:])])
    want = pc.sort_indices(
        pa.table({"risk": risk, "id": ids}),
        sort_keys=[("risk", "descending"), ("id", "ascending")],
    )
    assert _risk_order(risk, chunked).tolist() == want.to_pylist()
    for block in (1, 7, 600):  # ties sorted a few runs at a time
        assert _risk_order(risk, chunked, block=block).tolist() == want.to_pylist()
    assert _risk_order(np.zeros(0), pa.chunked_array([], pa.string())).tolist() == []


def test_corridor_table_is_the_same_from_text_or_dictionary_codes() -> None:
    rng = np.random.default_rng(5)
    names = np.array(["A>B", "C>D", "E>F>G", None], dtype=object)
    values = names[rng.integers(0, 4, size=400)]
    risk = rng.random(400)
    red = rng.random(400) < 0.1
    text = pa.chunked_array([pa.array(values[:150]), pa.array(values[150:])], pa.string())
    codes = pa.chunked_array([pc.dictionary_encode(chunk) for chunk in text.chunks])
    a = corridor_table(text, risk, red)
    b = corridor_table(codes, risk, red)
    pd.testing.assert_frame_equal(a, b)
    assert a["declarations"].sum() == int(pd.notna(values).sum())
    first = a.iloc[0]
    assert first["expected_seizures"] == pytest.approx(risk[values == first["corridor_id"]].sum())
