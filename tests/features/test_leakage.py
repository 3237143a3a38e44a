"""Point-in-time rule: removing or changing the future changes no feature of the past.

For a cutoff T, "the future" is every declaration at or after T (with its legs), every flag
raised at or after T and every outcome that became known at or after T. The check builds the
table twice (full world, and world with the future removed or rewritten) and compares every
feature of every declaration before T bit for bit. A deliberately leaky feature shows that
the check can fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import at, read_world, typed, worlds

from features.sources import Sources
from features.table import build_table

Build = Callable[[Sources], pd.DataFrame]
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def remove_future(sources: Sources, cutoff: pd.Timestamp) -> Sources:
    """The world as known just before ``cutoff``."""
    decl = sources.declarations
    kept = decl[decl["declared_at"] < cutoff]
    ids = set(kept["declaration_id"])
    labels = legs = flags = None
    if sources.labels is not None:
        lab = sources.labels
        labels = lab[lab["declaration_id"].isin(ids) & (lab["inspected_at"] < cutoff)]
    if sources.route_legs is not None:
        legs = sources.route_legs[sources.route_legs["declaration_id"].isin(ids)]
    if sources.financial_flags is not None:
        fl = sources.financial_flags
        flags = fl[fl["flagged_at"] < cutoff]
    return replace(
        sources, declarations=kept, labels=labels, route_legs=legs, financial_flags=flags
    )


def change_future(sources: Sources, cutoff: pd.Timestamp) -> Sources:
    """The same world with every future fact rewritten (values, outcomes, routes, flags)."""
    decl = sources.declarations.copy()
    late = (decl["declared_at"] >= cutoff).to_numpy(dtype=bool)
    if "declared_value_usd" in decl.columns:
        decl.loc[late, "declared_value_usd"] = decl.loc[late, "declared_value_usd"] * 7 + 1
    decl.loc[late, "importer_id"] = decl["importer_id"].iloc[0]
    decl.loc[late, "hs_code"] = decl["hs_code"].iloc[0]
    late_ids = set(decl.loc[late, "declaration_id"])
    labels = sources.labels
    if labels is not None:
        labels = labels.copy()
        future = (labels["inspected_at"] >= cutoff).to_numpy(dtype=bool)
        labels.loc[future, "seized"] = ~labels.loc[future, "seized"].fillna(False)
        labels.loc[future, "inspected"] = True
    legs = sources.route_legs
    if legs is not None:
        legs = legs.copy()
        mine = legs["declaration_id"].isin(late_ids).to_numpy(dtype=bool)
        legs.loc[mine, "port_to"] = legs["port_from"].iloc[0] if len(legs) else None
        legs.loc[mine, "ais_gap_hours"] = 99.0
    flags = sources.financial_flags
    if flags is not None:
        flags = flags.copy()
        future = (flags["flagged_at"] >= cutoff).to_numpy(dtype=bool)
        flags.loc[future, "entity_id"] = decl["importer_id"].iloc[0]
        flags.loc[future, "amount_usd"] = 1e6
    return replace(
        sources, declarations=decl, labels=labels, route_legs=legs, financial_flags=flags
    )


def past_features(build: Build, sources: Sources, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Features of the declarations before ``cutoff`` as text-comparable columns by id."""
    table = build(sources)
    names = table.attrs["feature_names"]
    past = table[table["declared_at"] < cutoff].set_index("declaration_id")[names]
    return past.sort_index()


def leaking_features(build: Build, sources: Sources, cutoff: pd.Timestamp) -> list[str]:
    """Features of the past that differ once the future is removed or rewritten."""
    full = past_features(build, sources, cutoff)
    leaks: set[str] = set()
    for other in (remove_future(sources, cutoff), change_future(sources, cutoff)):
        seen = past_features(build, other, cutoff)
        assert list(seen.index) == list(full.index)
        for name in full.columns:
            a, b = full[name], seen[name]
            if isinstance(a.dtype, pd.CategoricalDtype):
                same = a.astype(str).tolist() == b.astype(str).tolist()
            else:
                same = np.array_equal(a.to_numpy(float), b.to_numpy(float), equal_nan=True)
            if not same:
                leaks.add(name)
    return sorted(leaks)


def leaky_build(sources: Sources) -> pd.DataFrame:
    """build_table plus a seizure rate that counts every label, known or not: a leak."""
    table = build_table(sources)
    labels = sources.labels
    assert labels is not None
    seized = labels.set_index("declaration_id")["seized"].fillna(False).astype(float)
    per_decl = table["declaration_id"].map(seized).fillna(0.0)
    rate = per_decl.groupby(sources.declarations["importer_id"].to_numpy()).transform("mean")
    table["importer_rate_all_labels"] = rate.to_numpy()
    table.attrs["feature_names"] = [*table.attrs["feature_names"], "importer_rate_all_labels"]
    return table


_SETTINGS = settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(data=st.data())
def test_future_never_changes_past_features(data: st.DataObject) -> None:
    sources = data.draw(worlds())
    cutoff = data.draw(
        st.one_of(
            st.sampled_from(list(sources.declarations["declared_at"])),
            st.integers(0, 60 * 24).map(at),
        )
    )
    assert leaking_features(build_table, sources, cutoff) == []


def _leaky_world() -> Sources:
    # I1 declares at hour 0 (past) and hour 100 (future); the future one is seized, known at 110
    decl = typed(
        "declarations",
        [
            {"declaration_id": i, "declared_at": at(h), "importer_id": "I1", "hs_code": "080390"}
            for i, h in (("D1", 0), ("D2", 100))
        ],
    )
    labels = typed(
        "labels",
        [{"declaration_id": "D2", "inspected": True, "seized": True, "inspected_at": at(110)}],
    )
    return Sources(declarations=decl, labels=labels)


def test_checker_catches_a_leaky_feature() -> None:
    sources = _leaky_world()
    assert leaking_features(build_table, sources, at(50)) == []
    assert leaking_features(leaky_build, sources, at(50)) == ["importer_rate_all_labels"]


@pytest.mark.skipif(not SAMPLE.joinpath("declarations.parquet").exists(), reason="no sample")
@pytest.mark.parametrize("cutoff", ["2023-09-15 12:00", "2024-07-01"])
def test_committed_sample_has_no_leak(cutoff: str) -> None:
    sources = read_world(SAMPLE)
    assert leaking_features(build_table, sources, pd.Timestamp(cutoff)) == []
