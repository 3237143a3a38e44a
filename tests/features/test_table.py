"""FeaturePipeline and build_table: fit/transform identity, save/load, refusals, metadata."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import at, read_world, typed, worlds

from features.errors import ContractError
from features.sources import Sources
from features.table import FeatureConfigError, FeaturePipeline, FutureLeakError, build_table

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def split_at(sources: Sources, cutoff: pd.Timestamp) -> tuple[Sources, Sources]:
    """(facts known before ``cutoff``, facts at/after it) as two DATA-like batches."""
    decl = sources.declarations
    early = decl["declared_at"] < cutoff
    past_ids, late_ids = (
        set(decl.loc[early, "declaration_id"]),
        set(decl.loc[~early, "declaration_id"]),
    )

    def part(frame: pd.DataFrame | None, mask: pd.Series | None) -> pd.DataFrame | None:
        return None if frame is None or mask is None else frame[mask.to_numpy(dtype=bool)]

    lab, legs, flags = sources.labels, sources.route_legs, sources.financial_flags
    past = replace(
        sources,
        declarations=decl[early],
        labels=part(lab, None if lab is None else lab["declaration_id"].isin(past_ids)
                    & (lab["inspected_at"] < cutoff)),
        route_legs=part(legs, None if legs is None else legs["declaration_id"].isin(past_ids)),
        financial_flags=part(flags, None if flags is None else flags["flagged_at"] < cutoff),
    )  # fmt: skip
    future = replace(
        sources,
        declarations=decl[~early],
        labels=part(lab, None if lab is None else lab["inspected_at"] >= cutoff),
        route_legs=part(legs, None if legs is None else legs["declaration_id"].isin(late_ids)),
        financial_flags=part(flags, None if flags is None else flags["flagged_at"] >= cutoff),
    )
    return past, future


def assert_same_features(expected: pd.DataFrame, got: pd.DataFrame, names: list[str]) -> None:
    """Same ids in the same order and bit-identical feature values (categoricals as text)."""
    assert expected["declaration_id"].tolist() == got["declaration_id"].tolist()
    for name in names:
        a, b = expected[name], got[name]
        if isinstance(a.dtype, pd.CategoricalDtype):
            assert a.astype(str).tolist() == b.astype(str).tolist(), name
        else:
            assert np.array_equal(a.to_numpy(float), b.to_numpy(float), equal_nan=True), name


def with_row(past: Sources, batch: Sources, i: int) -> Sources:
    """``past`` plus declaration ``i`` of ``batch`` and its own route legs."""
    row = batch.declarations.iloc[[i]]
    legs = past.route_legs
    if batch.route_legs is not None and legs is not None:
        own = batch.route_legs[batch.route_legs["declaration_id"].isin(row["declaration_id"])]
        legs = pd.concat([legs, own], ignore_index=True)
    return replace(
        past,
        declarations=pd.concat([past.declarations, row], ignore_index=True),
        route_legs=legs,
    )


def check_scoring_identity(
    past: Sources, batch: Sources, cutoff: pd.Timestamp, rows: Sequence[int]
) -> None:
    """transform(batch) row r == build_table(past + r) row r; chunking and order change nothing."""
    pipeline = FeaturePipeline().fit(past, cutoff=cutoff)
    got = pipeline.transform(batch)
    names = pipeline.feature_names_
    for i in rows:
        table = build_table(with_row(past, batch, i))
        assert table.attrs["feature_names"] == names
        assert_same_features(table.tail(1).reset_index(drop=True),
                             got.iloc[[i]].reset_index(drop=True), names)  # fmt: skip
    n = len(batch.declarations)
    if n == 0:  # an empty batch: nothing to chunk or shuffle
        assert got.empty
        return
    chunks = [
        pipeline.transform(replace(batch, declarations=batch.declarations.iloc[k : k + 3]))
        for k in range(0, n, 3)
    ]
    assert_same_features(got, pd.concat(chunks), names)
    order = np.random.default_rng(n).permutation(n)
    shuffled = pipeline.transform(replace(batch, declarations=batch.declarations.iloc[order]))
    assert_same_features(got, shuffled.loc[got.index], names)
    # a fresh pipeline (no cached indexes yet) and a reused one agree
    assert_same_features(got, FeaturePipeline().fit(past, cutoff=cutoff).transform(batch), names)


@settings(
    max_examples=15,
    deadline=timedelta(seconds=60),
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_transform_row_equals_build_table_of_history_plus_that_row(data: st.DataObject) -> None:
    sources = data.draw(worlds())
    cutoff = data.draw(
        st.one_of(
            st.sampled_from(list(sources.declarations["declared_at"])),
            st.integers(0, 60 * 24).map(at),
        )
    )
    past, batch = split_at(sources, cutoff)
    check_scoring_identity(past, batch, cutoff, range(len(batch.declarations)))


def test_build_table_is_unchanged_by_the_scoring_path() -> None:
    # the training table still lets every declaration see every earlier one: D2 sees D1
    decl = typed(
        "declarations",
        [
            {"declaration_id": "D1", "declared_at": at(0), "importer_id": "I1",
             "hs_code": "090111"},
            {"declaration_id": "D2", "declared_at": at(5), "importer_id": "I1",
             "hs_code": "090111"},
        ],
    )  # fmt: skip
    table = build_table(Sources(declarations=decl))
    assert table["importer_declarations_30d"].tolist() == [0.0, 1.0]
    # scoring both against an empty-ish history: D2 does not see D1, its batch neighbour
    history = typed(
        "declarations",
        [{"declaration_id": "D0", "declared_at": at(-50), "importer_id": "I9",
          "hs_code": "090111"}],
    )  # fmt: skip
    got = FeaturePipeline().fit(Sources(declarations=history)).transform(Sources(declarations=decl))
    assert got["importer_declarations_30d"].tolist() == [0.0, 0.0]
    assert got["importer_first_time"].tolist() == [1.0, 1.0]


@pytest.fixture(scope="module")
def sample() -> Sources:
    if not SAMPLE.joinpath("declarations.parquet").exists():
        pytest.skip("no committed sample")
    return read_world(SAMPLE)


def test_scoring_identity_on_the_committed_sample(sample: Sources) -> None:
    cutoff = pd.Timestamp("2024-06-01")
    past, future = split_at(sample, cutoff)
    batch = replace(future, declarations=future.declarations.head(60))
    check_scoring_identity(past, batch, cutoff, [0, 17, 59])


def test_save_load_round_trip_transforms_identically(sample: Sources, tmp_path: Path) -> None:
    cutoff = pd.Timestamp("2024-10-01")
    past, future = split_at(sample, cutoff)
    pipeline = FeaturePipeline(windows=(7, 60), smoothing=5.0).fit(past, cutoff=cutoff)
    pipeline.save(tmp_path / "state")
    files = {p.name for p in (tmp_path / "state").iterdir()}
    assert "pipeline.json" in files and "declarations.parquet" in files
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".joblib"))]
    loaded = FeaturePipeline.load(tmp_path / "state")
    assert (loaded.windows, loaded.smoothing) == ((7, 60), 5.0)
    pd.testing.assert_frame_equal(pipeline.transform(future), loaded.transform(future))


def test_transform_refuses_a_declaration_before_the_cutoff(sample: Sources) -> None:
    cutoff = pd.Timestamp("2024-06-01")
    pipeline = FeaturePipeline().fit(sample, cutoff=cutoff)
    batch = sample.declarations[sample.declarations["declared_at"] >= "2024-05-31"]
    first = batch.index[0]
    with pytest.raises(FutureLeakError, match=rf"row {first + 1}: column 'declared_at'") as err:
        pipeline.transform(replace(sample, declarations=batch))
    assert err.value.exit_code == 3
    assert str(batch["declaration_id"].iloc[0]) in str(err.value)


def test_default_cutoff_is_just_after_the_newest_fact(sample: Sources) -> None:
    pipeline = FeaturePipeline().fit(sample)
    newest = max(
        sample.declarations["declared_at"].max(),
        sample.labels["inspected_at"].max(),  # type: ignore[index]
        sample.financial_flags["flagged_at"].max(),  # type: ignore[index]
    )
    assert pipeline.cutoff_ == newest + pd.Timedelta(1, "us")


def test_table_layout_and_metadata(sample: Sources) -> None:
    table = build_table(sample)
    names = table.attrs["feature_names"]
    assert list(table.columns[:3]) == ["declaration_id", "declared_at", "corridor_id"]
    assert list(table.columns[3:9]) == [
        "inspected", "seized", "seized_kg", "drug_type", "inspected_at", "selected_by"
    ]  # fmt: skip
    assert list(table.columns[9:]) == names
    assert len(table) == len(sample.declarations)
    assert table["declaration_id"].tolist() == sample.declarations["declaration_id"].tolist()
    assert table.attrs["groups_absent"] == {"extra": "the mapping declares no extra columns"}
    for raw in ("importer_id", "declarant_id", "exporter_id", "container_id", "declaration_id"):
        assert raw not in names
    for name in names:  # valid LightGBM names: snake_case, no brackets, commas, colons, quotes
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
    for name in table.attrs["categorical_features"]:
        assert isinstance(table[name].dtype, pd.CategoricalDtype)
    assert table["corridor_id"].str.fullmatch(r"[A-Z?]{1,2}:[A-Z?]+(>[A-Z?]+)+").all()


def test_missing_sources_make_groups_absent_not_zero(sample: Sources) -> None:
    only = Sources(declarations=sample.declarations, labels=sample.labels)
    table = build_table(only)
    absent = table.attrs["groups_absent"]
    assert absent["financial"] == "financial_flags source absent"
    assert absent["route"] == "route_legs source absent"
    names = table.attrs["feature_names"]
    assert not [n for n in names if "flag" in n or n.startswith("route_")]
    # corridors still come from the declaration's own ports, without legs
    assert table["corridor_id"].str.fullmatch(r"[A-Z]{2}:[A-Z]{5}>[A-Z]{5}").all()


def test_mapped_declarations_only_layout_with_extras() -> None:
    # a foreign layout mapped onto a few contract columns, labels from the file, two extras
    decl = typed(
        "declarations",
        [
            {"declaration_id": "A", "declared_at": at(0), "importer_id": "I1",
             "hs_code": "090111", "office.id": "K1", "total.taxes": 10.0},
            {"declaration_id": "B", "declared_at": at(5), "importer_id": "I1",
             "hs_code": "090111", "office.id": "K2", "total.taxes": 20.0},
        ],
    )  # fmt: skip
    labels = typed(
        "labels",
        [
            {"declaration_id": "A", "inspected": True, "seized": True, "inspected_at": at(1)},
            {"declaration_id": "B", "inspected": True, "seized": False, "inspected_at": at(6)},
        ],
    )
    sources = Sources(
        declarations=decl,
        labels=labels,
        extra_categorical=("office.id",),
        extra_numeric=("total.taxes",),
    )
    table = build_table(sources)
    assert table["extra_office_id"].astype(str).tolist() == ["K1", "K2"]
    assert table["extra_total_taxes"].tolist() == [10.0, 20.0]
    assert "extra_office_id" in table.attrs["categorical_features"]
    assert "extra" not in table.attrs["groups_absent"]
    # B sees A's seizure (known at hour 1): 1 inspection, 1 seizure
    assert table["importer_seizures"].tolist() == [0.0, 1.0]
    assert "declarant_history" in table.attrs["groups_absent"]


def test_exclude_by_group_and_by_name(sample: Sources) -> None:
    small = replace(sample, declarations=sample.declarations.head(500))
    table = build_table(small, exclude=("financial", "route_km"))
    names = table.attrs["feature_names"]
    assert "route_km" not in names and not [n for n in names if "flag" in n]
    assert table.attrs["groups_absent"]["financial"] == "excluded"
    with pytest.raises(FeatureConfigError, match="route_kms"):
        build_table(small, exclude=("route_kms",))


def test_transform_needs_the_fitted_columns(sample: Sources) -> None:
    cutoff = pd.Timestamp("2024-12-01")
    past, future = split_at(sample, cutoff)
    pipeline = FeaturePipeline().fit(past, cutoff=cutoff)
    again = pipeline.transform(
        replace(future, declarations=future.declarations.drop(columns=["quantity"]))
    )
    # a column absent from the batch is unknown for the batch rows, never zero
    assert again["value_per_quantity"].isna().all()
    # each refusal on its own, with its exact type and exit code (3: nothing is scored)
    old = past.declarations.tail(1)
    with pytest.raises(FutureLeakError, match="before the feature state's cutoff") as leak:
        pipeline.transform(replace(future, declarations=old))
    assert leak.value.exit_code == 3
    again_later = old.assign(declared_at=cutoff + pd.Timedelta(days=1))
    with pytest.raises(ContractError, match="already in the fitted history") as seen:
        pipeline.transform(replace(future, declarations=again_later))
    assert type(seen.value) is ContractError and seen.value.exit_code == 3


def test_screen_reports_rows_the_state_cannot_score(sample: Sources) -> None:
    cutoff = pd.Timestamp("2024-06-01")
    past, future = split_at(sample, cutoff)
    pipeline = FeaturePipeline().fit(past, cutoff=cutoff)
    early = past.declarations.tail(2)  # dated before the cutoff and already in the history
    late = future.declarations.head(3)
    batch = pd.concat([late.iloc[:1], early, late.iloc[1:]])
    refused = pipeline.screen(batch)
    assert refused.index.tolist() == early.index.tolist()
    assert refused["row"].tolist() == [i + 1 for i in early.index]
    assert refused["column"].tolist() == ["declared_at", "declared_at"]
    assert refused["reason"].str.contains("before the feature state's cutoff").all()
    # an id already in the history, re-dated after the cutoff
    again = early.iloc[:1].assign(declared_at=cutoff)
    refused = pipeline.screen(pd.concat([late, again]))
    assert refused["column"].tolist() == ["declaration_id"]
    assert refused["reason"].tolist() == ["already in the fitted history"]
    assert pipeline.screen(late).empty
    # the strict path still refuses the whole batch, naming the first row
    with pytest.raises(FutureLeakError, match=rf"row {early.index[0] + 1}: column 'declared_at'"):
        pipeline.transform(replace(future, declarations=batch))
    ok = batch.drop(index=pipeline.screen(batch).index)
    assert pipeline.transform(replace(future, declarations=ok)).index.tolist() == ok.index.tolist()


def test_refresh_equals_fitting_on_the_longer_history(sample: Sources) -> None:
    first, second = pd.Timestamp("2024-06-01"), pd.Timestamp("2024-09-01")
    old = FeaturePipeline().fit(split_at(sample, first)[0], cutoff=first)
    longer, future = split_at(sample, second)
    fresh = old.refresh(longer, cutoff=second)
    assert (old.cutoff_, fresh.cutoff_) == (first, second)
    assert fresh.category_levels_ == old.category_levels_
    direct = FeaturePipeline().fit(longer, cutoff=second)
    assert len(fresh.state_.declarations) == len(direct.state_.declarations)
    assert len(fresh.state_.labels) == len(direct.state_.labels)  # type: ignore[arg-type]
    batch = replace(future, declarations=future.declarations.head(200))
    assert_same_features(direct.transform(batch), fresh.transform(batch), old.feature_names_)
    # the old pipeline is untouched: rows between the two cutoffs are still scorable by it,
    # and refused by the refreshed one (its history holds their future)
    between = longer.declarations.tail(5)
    assert old.screen(between).empty
    assert fresh.screen(between)["column"].tolist() == ["declared_at"] * 5
    with pytest.raises(FutureLeakError):
        fresh.transform(replace(sample, declarations=sample.declarations.iloc[:1]))


def test_categorical_inputs_do_not_depend_on_the_batch(sample: Sources) -> None:
    import lightgbm as lgb

    cutoff = pd.Timestamp("2024-09-01")
    past, future = split_at(sample, cutoff)
    table = build_table(past)
    names, cats = table.attrs["feature_names"], table.attrs["categorical_features"]
    target = table["hs_chapter"].astype(str).isin(["08", "09", "29"]) ^ (
        table["origin_country"].astype(str) == "CO"
    )
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_in_leaf": 5, "num_threads": 1},
        lgb.Dataset(table[names], label=target.astype(int), categorical_feature=cats),
        num_boost_round=10,
    )
    pipeline = FeaturePipeline().fit(past, cutoff=cutoff)
    row = future.declarations.iloc[[0]]
    alone = pipeline.transform(replace(future, declarations=row))
    strangers = future.declarations.iloc[1:4].assign(
        hs_code=["01011000", "97011000", "00000000"],
        origin_country=["ZZ", "AA", "QQ"],
        transport_mode=["rail", "post", "road"],
        port_of_entry=["ZZZZZ", "AAAAA", "QQQQQ"],
    )
    mixed = pipeline.transform(replace(future, declarations=pd.concat([strangers, row])))
    for name in cats:
        # the fitted levels come first, so a seen value keeps its code whatever the batch holds
        assert alone[name].cat.codes.iloc[0] == mixed[name].cat.codes.iloc[-1], name
        levels = pipeline.category_levels_[name]
        assert list(mixed[name].cat.categories[: len(levels)]) == levels
    # LightGBM maps pandas categoricals through the categories stored with the model, so the
    # categories' order in a frame does not matter either
    reordered = alone.copy()
    for name in cats:
        reordered[name] = reordered[name].cat.reorder_categories(
            list(reversed(reordered[name].cat.categories))
        )
    one = booster.predict(alone[names], raw_score=True)
    assert one[0] == booster.predict(mixed[names], raw_score=True)[-1]
    assert one[0] == booster.predict(reordered[names], raw_score=True)[0]
    assert np.isfinite(booster.predict(mixed[names], raw_score=True)).all()
