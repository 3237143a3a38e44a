"""features.lookup.isin agrees with pandas' isin, on Arrow text and on anything else."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
