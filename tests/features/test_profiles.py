"""Risk profiles on tiny hand-made worlds; every expected value is worked out in comments.

BASE is 2024-01-01 00:00 (a month boundary), so nothing is known before the January
boundary and every January declaration uses the fixed ``smoothing`` (here m = 2).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from strategies import at, cell, typed

from features.catalogue import describe, feature_info
from features.profiles import (
    MAX_STRENGTH,
    credibility_strength,
    month_starts,
    profile_features,
)
from features.sources import Sources
from features.table import FeaturePipeline, _history_facts, build_table

DAY = 24.0
M = 2.0


def _decl(rows: list[tuple[str, float, str]]) -> pd.DataFrame:
    return typed(
        "declarations",
        [
            {"declaration_id": d, "declared_at": at(day * DAY), "importer_id": "I1", "hs_code": hs}
            for d, day, hs in rows
        ],
    )


def _labels(rows: list[tuple[str, bool, float]]) -> pd.DataFrame:
    return typed(
        "labels",
        [
            {"declaration_id": d, "inspected": True, "seized": s, "inspected_at": at(day * DAY)}
            for d, s, day in rows
        ],
    )


def _hs_world() -> Sources:
    decl = _decl(
        [
            ("D1", 0, "08039010"),
            ("D2", 1, "08039010"),
            ("D3", 2, "08031000"),
            ("D4", 3, "09011100"),
            ("D5", 3.5, "09011100"),
            ("D6", 4, "08039010"),
            ("D7", 30, "09011100"),
            ("Q1", 10, "08039010"),
            ("Q2", 10, "08031000"),
            ("Q3", 35, "08039010"),
            ("Q4", 35, "09011100"),
        ]
    )
    labels = _labels(
        [
            ("D1", True, 5),
            ("D2", False, 5),
            ("D3", False, 6),
            ("D4", False, 40),  # known after Q3/Q4 (day 35): never counted for them
            ("D5", False, 6),
            ("D6", True, 20),  # known after Q1/Q2 (day 10)
            ("D7", False, 33),  # known after the February boundary, before Q3/Q4
        ]
    )
    return Sources(declarations=decl, labels=labels)


def test_credibility_strength_by_hand() -> None:
    # A: 5 of 10 seized, B: 0 of 10; overall 5/20 = 0.25, N = 20, K = 2, P = 1
    # v = (5 * 0.5 + 0) / (20 - 2) = 5/36; between = 10 * 0.25^2 * 2 = 1.25
    # denominator = 20 - (100 + 100) / 20 = 10; a = (1.25 - 5/36) / 10 = 1/9; m = v / a = 1.25
    n, s = np.array([10, 10]), np.array([5, 0])
    got = credibility_strength(n, s, np.full(2, 20), np.full(2, 5), parents=1, fallback=M)
    assert got == pytest.approx(1.25, rel=1e-12)
    # same rates everywhere: no spread between values, so everything stays at the parent
    same = credibility_strength(n, np.array([1, 1]), np.full(2, 20), np.full(2, 2), parents=1,
                                fallback=M)  # fmt: skip
    assert same == MAX_STRENGTH
    # one value inspected, or every value its parent's only child: the fixed fallback
    one = credibility_strength(np.array([10, 0]), np.array([5, 0]), np.full(2, 10),
                               np.full(2, 5), parents=1, fallback=M)  # fmt: skip
    assert one == M
    only = credibility_strength(n, s, n, s, parents=2, fallback=M)
    assert only == M


def test_credibility_strength_ignores_input_order() -> None:
    rng = np.random.default_rng(3)
    n = rng.integers(1, 400, size=300)
    s = rng.binomial(n, rng.beta(2, 30, size=300))
    total_n, total_s = np.full(300, n.sum()), np.full(300, s.sum())
    first = credibility_strength(n, s, total_n, total_s, parents=1, fallback=M)
    perm = rng.permutation(300)
    again = credibility_strength(n[perm], s[perm], total_n, total_s, parents=1, fallback=M)
    assert first == again  # bit for bit
    assert 1.0 < first < MAX_STRENGTH
    # true rates drawn from Beta(2, 30): prior strength 32; the estimate lands near it
    assert 10 < first < 100


def test_month_starts() -> None:
    times = pd.to_datetime(
        ["2024-01-01 00:00", "2024-01-31 23:59", "2024-02-01 00:00", "2024-03-15 12:00"]
    )
    starts = month_starts(times.to_numpy("datetime64[us]").astype(np.int64))
    assert list(starts.astype("datetime64[us]").astype(str)) == [
        "2024-01-01T00:00:00.000000",
        "2024-01-01T00:00:00.000000",
        "2024-02-01T00:00:00.000000",
        "2024-03-01T00:00:00.000000",
    ]


def test_hierarchical_hs_rates_in_the_first_month() -> None:
    t = build_table(_hs_world(), smoothing=M).set_index("declaration_id")
    # Q1 (day 10): known D1 seized, D2, D3, D5 clean (D6 only on day 20): overall 1/4
    # chapter 08: 1 of 3 -> (1 + 2 * 0.25) / 5 = 0.3
    # heading 0803: 1 of 3 -> (1 + 2 * 0.3) / 5 = 0.32
    # subheading 080390: 1 of 2 (D1, D2) -> (1 + 2 * 0.32) / 4 = 0.41
    # code 08039010: 1 of 2 -> (1 + 2 * 0.41) / 4 = 0.455
    expected = {"hs_chapter": 0.3, "hs_heading": 0.32, "hs_subheading": 0.41, "hs_code": 0.455}
    for level, rate in expected.items():
        assert cell(t, "Q1", f"profile_{level}_seizure_rate") == pytest.approx(rate, rel=1e-12)
    assert cell(t, "Q1", "profile_hs_chapter_inspections") == 3
    assert cell(t, "Q1", "profile_hs_code_inspections") == 2
    # Q2, subheading 080310: 0 of 1 (D3) -> 2 * 0.32 / 3; code 08031000 -> 2 * that / 3
    assert cell(t, "Q2", "profile_hs_subheading_seizure_rate") == pytest.approx(0.64 / 3)
    assert cell(t, "Q2", "profile_hs_code_seizure_rate") == pytest.approx(2 * 0.64 / 9)
    # D1 (day 0): nothing known yet, no overall rate: NaN rate, zero inspections
    assert math.isnan(cell(t, "D1", "profile_hs_code_seizure_rate"))
    assert cell(t, "D1", "profile_hs_code_inspections") == 0


def test_strength_is_estimated_from_outcomes_known_before_the_month() -> None:
    t = build_table(_hs_world(), smoothing=M).set_index("declaration_id")
    # Q3 (day 35, February): counts use outcomes known before day 35 (D7 clean, day 33, in;
    # D4, day 40, out): overall 2 of 6 = 1/3; chapter 08: 2 of 4 (D1, D2, D3, D6).
    # The chapter strength uses only outcomes known before February 1: 08 has 2 of 4,
    # 09 has 0 of 1 (D5); p = 0.4, v = 1/3, between = 0.2, denominator = 1.6,
    # a = (0.2 - 1/3) / 1.6 < 0 -> MAX_STRENGTH. (Counting D7 would give m = 8.)
    assert cell(t, "Q3", "profile_hs_chapter_inspections") == 4
    expected = (2 + MAX_STRENGTH / 3) / (4 + MAX_STRENGTH)
    assert cell(t, "Q3", "profile_hs_chapter_seizure_rate") == pytest.approx(expected, rel=1e-12)
    # heading: 0803 and 0901 are each their chapter's only heading: fallback m = 2
    heading = (2 + M * expected) / (4 + M)
    assert cell(t, "Q3", "profile_hs_heading_seizure_rate") == pytest.approx(heading, rel=1e-12)
    # Q4 chapter 09: D5 and D7 (known day 33 < 35) counted, D4 (day 40) not
    assert cell(t, "Q4", "profile_hs_chapter_inspections") == 2


def _route_world() -> Sources:
    rows = [("E1", 0, "CO"), ("E3", 1, "CO"), ("E4", 2, None), ("E2", 40, "CO"),
            ("Q", 100, "CO"), ("QN", 100, None)]  # fmt: skip
    decl = typed(
        "declarations",
        [
            {
                "declaration_id": d,
                "declared_at": at(day * DAY),
                "importer_id": "I1",
                "hs_code": "090111",
                "origin_country": o,
                "office.id": "K1",
            }
            for d, day, o in rows
        ],
    )
    labels = _labels([("E1", True, 5), ("E3", False, 6), ("E4", False, 6), ("E2", False, 50)])
    return Sources(declarations=decl, labels=labels, extra_categorical=("office.id",))


def test_recent_window_shrinks_toward_the_long_run_rate() -> None:
    t = build_table(_route_world(), smoothing=M).set_index("declaration_id")
    # Q (day 100): overall 1 of 4 (E4 has no origin but counts overall) = 0.25
    # origin CO all time: 1 of 3 -> (1 + 2 * 0.25) / 5 = 0.3 (one origin: fallback m = 2)
    # last 90 days (outcomes known in [day 10, day 100)): E2 only, clean
    # -> (0 + 2 * 0.3) / 3 = 0.2
    assert cell(t, "Q", "profile_origin_country_seizure_rate") == pytest.approx(0.3)
    assert cell(t, "Q", "profile_origin_country_inspections") == 3
    assert cell(t, "Q", "profile_origin_country_inspections_90d") == 1
    assert cell(t, "Q", "profile_origin_country_seizure_rate_90d") == pytest.approx(0.2)
    # a null origin has no profile
    assert math.isnan(cell(t, "QN", "profile_origin_country_seizure_rate"))
    assert math.isnan(cell(t, "QN", "profile_origin_country_inspections_90d"))
    # the categorical extra is profiled too (office K1 = every declaration: 1 of 4)
    assert cell(t, "Q", "profile_extra_office_id_inspections") == 4
    assert cell(t, "Q", "profile_extra_office_id_seizure_rate") == pytest.approx(0.25)
    names = t.attrs["feature_names"]
    # absent columns give no profile; slow-moving attributes get no recent window
    assert not any(n.startswith(("profile_export_country", "profile_port_of")) for n in names)
    assert "profile_extra_office_id_seizure_rate_90d" not in names
    assert "profile_hs_code_seizure_rate_90d" not in names


def test_without_labels_the_profile_group_is_absent() -> None:
    world = _route_world()
    t = build_table(Sources(declarations=world.declarations))
    assert not any(n.startswith("profile_") for n in t.attrs["feature_names"])
    assert "labels" in t.attrs["groups_absent"]["profile"]
    facts = _history_facts(Sources(declarations=world.declarations), (30,), M)
    assert profile_features(facts) == {}


def test_profile_texts_read_in_plain_words() -> None:
    assert describe("profile_hs_code_seizure_rate", 0.125) == (
        "past seizure rate of this exact HS code is 12.5% (few inspections: pulled toward "
        "its subheading's rate)"
    )
    assert describe("profile_port_of_loading_inspections_90d", 3.0) == (
        "3 inspections of this port of loading with an outcome known in the last 90 days"
    )
    assert feature_info("profile_extra_office_id_inspections").group == "profile"
    assert describe("profile_extra_office_id_seizure_rate", 0.02).startswith(
        "past seizure rate of declarations with this office id is 2.0%"
    )


def test_scoring_reads_the_fitted_strength_table_and_matches_build_table() -> None:
    world = _hs_world()
    decl, labels = world.declarations, world.labels
    assert labels is not None
    cutoff = at(34 * DAY)  # February 4: Q3 and Q4 (day 35) use the February 1 boundary
    past = Sources(
        declarations=decl[decl["declared_at"] < cutoff],
        labels=labels[labels["inspected_at"] < cutoff],
    )
    late = typed(
        "declarations",
        [{"declaration_id": "QL", "declared_at": at(200 * DAY), "importer_id": "I1",
          "hs_code": "08039010"}],
    )  # fmt: skip
    batch = pd.concat([decl[decl["declared_at"] >= cutoff], late], ignore_index=True)
    pipeline = FeaturePipeline().fit(past, cutoff=cutoff)
    got = pipeline.transform(Sources(declarations=batch)).set_index("declaration_id")
    names = [n for n in pipeline.feature_names_ if n.startswith("profile_")]
    assert "profile_hs_chapter_seizure_rate" in names
    for i, row_id in enumerate(batch["declaration_id"]):
        one = Sources(
            declarations=pd.concat([past.declarations, batch.iloc[[i]]], ignore_index=True),
            labels=past.labels,
        )
        expected = build_table(one).set_index("declaration_id")
        for name in names:
            a, b = cell(expected, row_id, name), cell(got, row_id, name)
            assert a == b or (math.isnan(a) and math.isnan(b)), (row_id, name, a, b)
    # Q3 in February: the chapter strength from outcomes known before February 1 (the test
    # above: no spread, MAX_STRENGTH), although the fitted state knows D7 (day 33) too
    expected = (2 + MAX_STRENGTH / 3) / (4 + MAX_STRENGTH)
    assert cell(got, "Q3", "profile_hs_chapter_seizure_rate") == pytest.approx(expected)
    # the strength tables and outcome indexes are built once per fitted state and reused
    cache = pipeline.history_.cache  # type: ignore[union-attr]
    built = {k: v for k, v in cache.items() if k.startswith(("profile_strength:", "labels:"))}
    assert any(k.startswith("profile_strength:") for k in built)
    pipeline.transform(Sources(declarations=late))
    assert all(cache[k] is v for k, v in built.items())
