"""features.lookup: isin agrees with pandas' isin, on Arrow text and on anything else;
text_hashes depends on the text and the seed only."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features.lookup import isin


def test_text_membership_matches_pandas_including_nulls() -> None:
    column = pd.Series(["IMP1", None, "IMP2", "imp1", "IMP3 "], dtype="str")
    values = pd.Series(["IMP3", "IMP1", None], dtype="str")
    got = isin(column, values)
    assert got.dtype == bool
    assert got.tolist() == column.isin(values).tolist() == [True, True, False, False, False]
    assert isin(column, pd.Series([], dtype="str")).tolist() == [False] * 5


def test_other_dtypes_and_plain_collections_go_to_pandas() -> None:
    numbers = pd.Series([1, 2, 3, np.nan])
    assert isin(numbers, {2.0, 3.0}).tolist() == [False, True, True, False]
    text = pd.Series(["a", "b"], dtype="str")
    assert isin(text, ["b"]).tolist() == [False, True]
    assert isin(text, pd.Index(["a"], dtype="str")).tolist() == [True, False]


@settings(max_examples=60)
@given(st.lists(st.text(max_size=12), max_size=30), st.integers(0, 5), st.integers(0, 3))
def test_text_hashes_depend_on_the_text_and_seed_only(
    values: list[str], cut: int, seed: int
) -> None:
    import pyarrow as pa

    from features.lookup import text_hashes

    sliced = pa.array(["pad"] * cut + values, pa.string()).slice(cut)  # with an offset
    chunked = pa.chunked_array(
        [pa.array(values[:3], pa.string()), pa.array(values[3:], pa.string())]
    )
    alone = [int(text_hashes(pa.array([v]), seed=seed)[0]) for v in values]
    assert [int(h) for h in text_hashes(sliced, seed=seed)] == alone
    assert [int(h) for h in text_hashes(chunked, seed=seed)] == alone
    assert [int(h) for h in text_hashes(sliced.cast(pa.large_string()), seed=seed)] == alone


def test_text_hashes_spread_ids_and_change_with_the_seed() -> None:
    import pyarrow as pa

    from features.lookup import text_hashes

    ids = pa.array([f"B{i:09d}" for i in range(20_000)])
    assert len(np.unique(text_hashes(ids))) == 20_000
    first, other = text_hashes(ids, seed=1), text_hashes(ids, seed=2)
    assert (first != other).all()
    # a different seed orders the ids differently (the exploration draw depends on it)
    assert np.corrcoef(np.argsort(first), np.argsort(other))[0, 1] < 0.05
