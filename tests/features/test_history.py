"""Entity history on a tiny hand-made world; every expected value is worked out in comments."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import at, cell, typed

from features.history import PriorIndex
from features.sources import Sources
from features.table import build_table

DAY = 24.0


def _world() -> Sources:
    decl = typed(
        "declarations",
        [
            {
                "declaration_id": "D1",
                "declared_at": at(0),
                "importer_id": "I1",
                "declarant_id": "B1",
                "exporter_id": "E1",
                "hs_code": "090111",
            },
            {
                "declaration_id": "D2",
                "declared_at": at(DAY),
                "importer_id": "I1",
                "declarant_id": "B1",
                "exporter_id": "E1",
                "hs_code": "090111",
            },
            {
                "declaration_id": "D4",
                "declared_at": at(2 * DAY),
                "importer_id": "I2",
                "declarant_id": "B1",
                "exporter_id": "E1",
                "hs_code": "090111",
            },
            {
                "declaration_id": "D3",
                "declared_at": at(40 * DAY),
                "importer_id": "I1",
                "declarant_id": "B2",
                "exporter_id": "E1",
                "hs_code": "090111",
            },
        ],
    )
    labels = typed(
        "labels",
        [
            # D1 seized, known after 12 hours; D4 clean, known on day 3; D2 clean, known day 50
            {"declaration_id": "D1", "inspected": True, "seized": True, "inspected_at": at(12)},
            {
                "declaration_id": "D4",
                "inspected": True,
                "seized": False,
                "inspected_at": at(3 * DAY),
            },
            {
                "declaration_id": "D2",
                "inspected": True,
                "seized": False,
                "inspected_at": at(50 * DAY),
            },
        ],
    )
    return Sources(declarations=decl, labels=labels)


def test_entity_history_by_hand() -> None:
    t = build_table(_world(), smoothing=20.0).set_index("declaration_id")
    # D1: first declaration of everyone; no outcome known yet, so no prior and no rate
    assert t.loc["D1", "importer_age_days"] == 0.0
    assert t.loc["D1", "importer_first_time"] == 1.0
    assert t.loc["D1", "importer_inspections"] == 0.0
    assert np.isnan(cell(t, "D1", "importer_seizure_rate"))
    # D2 (day 1): I1 declared once before (D1, 1 day ago); D1's seizure known at hour 12
    # prior = 1 seized / 1 inspected = 1.0; rate = (1 + 20 * 1.0) / (1 + 20) = 1.0
    assert t.loc["D2", "importer_age_days"] == 1.0
    assert t.loc["D2", "importer_declarations_30d"] == 1.0
    assert t.loc["D2", "importer_seizures"] == 1.0
    assert t.loc["D2", "importer_seizure_rate"] == 1.0
    # D3 (day 40): I1's earlier declarations D1 (day 0) and D2 (day 1) are outside 30 days
    # ([day 10, day 40)) but inside 90; D2's outcome is known only on day 50, so I1 has
    # 1 inspection, 1 seizure; overall known: D1 seized, D4 clean -> prior 1/2;
    # rate = (1 + 20 * 0.5) / (1 + 20) = 11/21
    assert t.loc["D3", "importer_declarations_30d"] == 0.0
    assert t.loc["D3", "importer_declarations_90d"] == 2.0
    assert t.loc["D3", "importer_inspections"] == 1.0
    assert np.isclose(cell(t, "D3", "importer_seizure_rate"), 11 / 21)
    assert t.loc["D3", "importer_age_days"] == 40.0
    # the importer x declarant pair I1 x B2 is new at D3
    assert t.loc["D3", "pair_first_time"] == 1.0
    assert t.loc["D3", "pair_age_days"] == 0.0
    assert t.loc["D2", "pair_first_time"] == 0.0
    # D4 (day 2): declarant B1 declared D1 and D2 before; D1's seizure is B1's;
    # prior = 1/1 (D4's own outcome comes on day 3) -> rate (1 + 20) / 21 = 1.0
    assert t.loc["D4", "declarant_declarations_30d"] == 2.0
    assert t.loc["D4", "declarant_age_days"] == 2.0
    assert t.loc["D4", "declarant_seizures"] == 1.0
    assert t.loc["D4", "importer_first_time"] == 1.0
    # exporter E1 at D3: D1, D2, D4 before; inspections known by day 40: D1 and D4 -> 2
    assert t.loc["D3", "exporter_declarations_90d"] == 3.0
    assert t.loc["D3", "exporter_inspections"] == 2.0
    # (1 seizure + 20 * 0.5) / (2 + 20) = 0.5
    assert t.loc["D3", "exporter_seizure_rate"] == 0.5


def test_prior_index_counts_strictly_before_and_within_windows() -> None:
    day = 86_400_000_000
    keys = np.array([0, 0, 0, 1, -1])
    times = np.array([0, 10, 20, 5, 0]) * day
    index = PriorIndex(keys, times, {"w": np.array([1.5, 2.0, 4.0, 8.0, 16.0])})
    look = index.at(np.array([0, 0, 1, 2, -1]), np.array([20, 21, 5, 3, 3]) * day, windows=(10,))
    # key 0 at day 20: facts at days 0 and 10 (day 20 itself is not before) -> 2, sum 3.5
    # key 0 at day 21: all three; window 10 -> [day 11, day 21) -> only day 20 -> 1, sum 4
    # key 1 at day 5: the fact at day 5 is not before -> 0; unknown key 2 -> 0; null -> NaN
    assert look.count().tolist()[:4] == [2.0, 3.0, 0.0, 0.0]
    assert np.isnan(look.count()[4])
    assert look.total("w").tolist()[:4] == [3.5, 7.5, 0.0, 0.0]
    assert look.count(window=10).tolist()[:2] == [1.0, 1.0]
    assert look.total("w", window=10).tolist()[:2] == [2.0, 4.0]
    assert (look.first()[:2] == [0.0, 0.0]).all()
    assert (look.last()[:2] / day).tolist() == [10.0, 20.0]


def test_history_is_independent_of_input_order() -> None:
    sources = _world()
    shuffled = Sources(
        declarations=sources.declarations.iloc[::-1],
        labels=sources.labels.iloc[::-1],  # type: ignore[union-attr]
    )
    a = build_table(sources).set_index("declaration_id").sort_index()
    b = build_table(shuffled).set_index("declaration_id").sort_index()
    names = a.attrs["feature_names"]
    pd.testing.assert_frame_equal(a[names], b[names], check_categorical=False)


def test_broker_young_client_share_by_hand() -> None:
    """Share of the broker's past-year declarations lodged for an importer under 90 days old."""
    rows = [
        # (id, day, importer, broker)
        ("A1", 0, "OLD", "B1"),  # OLD starts on day 0
        ("A2", 100, "OLD", "B1"),  # OLD is 100 days old: not young
        ("A3", 110, "NEW", "B1"),  # NEW's first declaration: age 0, young
        ("A4", 120, "NEW", "B1"),  # NEW is 10 days old: young
        ("A5", 130, "OLD", "B1"),
        ("A6", 600, "OLD", "B1"),  # everything above is more than 365 days before
        ("A7", 601, "OLD", "B2"),
    ]
    decl = typed(
        "declarations",
        [
            {
                "declaration_id": i,
                "declared_at": at(day * DAY),
                "importer_id": imp,
                "declarant_id": broker,
                "hs_code": "090111",
            }
            for i, day, imp, broker in rows
        ],
    )
    t = build_table(Sources(declarations=decl)).set_index("declaration_id")
    share = t["declarant_young_client_share_365d"]
    assert np.isnan(share["A1"])  # the broker has no past declarations
    assert share["A2"] == 1.0  # A1: OLD was 0 days old (its first declaration) -> young
    assert share["A3"] == 1 / 2  # A1 young, A2 not
    assert share["A4"] == 2 / 3  # A1, A3 young; A2 not
    assert share["A5"] == 3 / 4  # A1, A3, A4 young
    assert np.isnan(share["A6"])  # nothing in the 365 days before day 600
    assert np.isnan(share["A7"])  # B2's first declaration


def test_key_code_looks_rows_up_in_the_facts_dictionary() -> None:
    from features.history import KeyCode

    importer = pd.Series(["I1", "I2", None, "I1"], dtype="str")
    port = pd.Series(["P1", "P1", "P2", "P2"], dtype="str")
    code = KeyCode.of([importer, port])
    assert code.codes.tolist() == [0, 1, -1, 2]
    rows = code.lookup(
        [pd.Series(["I1", "I2", "I9", None, "I2"], dtype="str"),
         pd.Series(["P2", "P1", "P1", "P1", "P2"], dtype="str")]
    )  # fmt: skip
    # seen pair -> its code; unseen value or unseen pair of seen values -> no history; null -> -1
    assert rows.tolist() == [2, 1, 3, -1, 3]
    index = PriorIndex(code.codes, np.array([0, 1, 2, 3]) * 10)
    look = index.at(rows, np.full(5, 100))
    assert np.array_equal(look.count(), [1.0, 1.0, 0.0, np.nan, 0.0], equal_nan=True)


_VALUES = st.sampled_from(["a", "b", "c", "é", "", "a b", None])


@settings(max_examples=60)
@given(
    facts=st.lists(st.tuples(_VALUES, _VALUES), min_size=1, max_size=25),
    rows=st.lists(st.tuples(_VALUES | st.just("unseen"), _VALUES), max_size=25),
    parts=st.sampled_from([1, 2]),
)
def test_key_code_text_lookup_equals_the_object_lookup(
    facts: list[tuple[str | None, str | None]],
    rows: list[tuple[str | None, str | None]],
    parts: int,
) -> None:
    # text parts are hashed in Arrow, anything else through pandas' Index: same codes
    from features.history import KeyCode

    def columns(pairs: list[tuple[str | None, str | None]], dtype: str) -> list[pd.Series]:
        return [pd.Series([p[i] for p in pairs], dtype=dtype) for i in range(parts)]

    code = KeyCode.of(columns(facts, "str"))
    text = code.lookup(columns(rows, "str"))
    objects = code.lookup(columns(rows, "object"))
    assert text.tolist() == objects.tolist()
    # and each code is the fact code of an equal, non-null key (n_keys when unseen)
    fact_keys = {f[:parts]: c for f, c in zip(facts, code.codes, strict=True) if c >= 0}
    for row, got in zip(rows, text, strict=True):
        key = row[:parts]
        expected = -1 if None in key else fact_keys.get(key, code.n_keys)
        assert got == expected


@settings(max_examples=60)
@given(
    facts=st.lists(
        st.tuples(st.integers(-1, 4), st.integers(0, 40), st.integers(0, 3)), max_size=30
    ),
    queries=st.lists(st.tuples(st.integers(-1, 6), st.integers(0, 60)), min_size=1, max_size=30),
    extra=st.lists(st.integers(0, 80), max_size=10),
)
def test_prior_index_shared_grid_and_memo_read_what_a_count_by_hand_reads(
    facts: list[tuple[int, int, int]], queries: list[tuple[int, int]], extra: list[int]
) -> None:
    # a superset grid, a memo shared between indexes and the "later than every fact"
    # shortcut change no read: each equals counting the facts by hand
    from features.history import DAY_US, QueryMemo

    keys = np.array([f[0] for f in facts], dtype=np.int64)
    times = np.array([f[1] for f in facts], dtype=np.int64) * DAY_US
    weight = np.array([f[2] for f in facts], dtype=np.int64)
    grid = np.sort(np.concatenate([times, np.array(extra, dtype=np.int64) * DAY_US]))
    q_key = np.array([q[0] for q in queries], dtype=np.int64)
    q_time = np.array([q[1] for q in queries], dtype=np.int64) * DAY_US
    memo = QueryMemo(q_time)
    own = PriorIndex(keys, times, {"w": weight})
    for index in (own, PriorIndex(keys, times, {"w": weight}, grid=grid)):
        for look in (index.at(q_key, q_time, windows=(7,)),
                     index.at(q_key, q_time, windows=(7,), memo=memo)):  # fmt: skip
            for i, (k, t) in enumerate(zip(q_key, q_time, strict=True)):
                before = (keys == k) & (times < t)
                recent = before & (times >= t - 7 * DAY_US)
                if k < 0:
                    assert np.isnan(look.count()[i]) and np.isnan(look.total("w", window=7)[i])
                    continue
                assert look.count()[i] == before.sum()
                assert look.count(window=7)[i] == recent.sum()
                assert look.total("w")[i] == weight[before].sum()
                assert look.total("w", window=7)[i] == weight[recent].sum()
                first = look.first()[i]
                assert (np.isnan(first) and not before.any()) or first == times[before].min()
