"""Exact SHAP contributions: additive to the raw margin, and blind to category order."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.catalogue import describe
from features.sources import Sources
from riskmodel.model import RiskModel
from riskmodel.scoring.reasons import Contributions, contributions, format_value, top_reasons


def _features(setup) -> tuple[RiskModel, pd.DataFrame]:  # type: ignore[no-untyped-def]
    model = RiskModel.load(setup.model_dir)
    sources = Sources(declarations=setup.future.head(300))
    return model, model.features(sources)


def test_contributions_add_up_to_the_raw_margin(scoring_setup) -> None:  # type: ignore[no-untyped-def]
    model, features = _features(scoring_setup)
    got = contributions(model, features)
    assert got.values.shape == (len(features), len(model.feature_names))
    assert list(got.values.columns) == model.feature_names
    expected = model.raw_margin_table(features)
    assert np.allclose(got.raw_margin, expected, rtol=0, atol=1e-9)
    assert np.allclose(got.base_value + got.values.sum(axis=1).to_numpy(), expected, atol=1e-9)
    assert np.any(got.values.to_numpy() != 0)


def test_empty_frame_keeps_the_base_value(scoring_setup) -> None:  # type: ignore[no-untyped-def]
    model, features = _features(scoring_setup)
    full = contributions(model, features)
    empty = contributions(model, features.iloc[:0])
    assert len(empty.values) == 0
    assert empty.base_value == full.base_value


def test_category_order_and_strings_do_not_change_scores_or_reasons(scoring_setup) -> None:  # type: ignore[no-untyped-def]
    model, features = _features(scoring_setup)
    base = contributions(model, features)
    shuffled = features.copy()
    as_text = features.copy()
    rng = np.random.default_rng(0)
    for name in model.categorical_features:
        cats = list(features[name].cat.categories)
        shuffled[name] = features[name].cat.reorder_categories(
            [cats[i] for i in rng.permutation(len(cats))]
        )
        as_text[name] = features[name].astype(object)
    for other in (shuffled, as_text):
        got = contributions(model, other)
        assert np.array_equal(got.raw_margin, base.raw_margin)
        assert np.array_equal(got.values.to_numpy(), base.values.to_numpy())


def test_unseen_levels_of_other_rows_do_not_change_a_row(scoring_setup) -> None:  # type: ignore[no-untyped-def]
    model, features = _features(scoring_setup)
    alone = contributions(model, features.iloc[:1])
    noisy = features.iloc[:5].copy()
    for name in model.categorical_features:
        col = noisy[name].astype(object)
        col.iloc[1:] = "NEVER-SEEN"
        noisy[name] = col.astype("category")
    together = contributions(model, noisy)
    assert together.raw_margin[0] == alone.raw_margin[0]
    assert np.array_equal(together.values.iloc[0].to_numpy(), alone.values.iloc[0].to_numpy())


def test_top_reasons_are_the_largest_by_size(scoring_setup) -> None:  # type: ignore[no-untyped-def]
    model, features = _features(scoring_setup)
    sub = features.head(20)
    got = contributions(model, sub)
    reasons = top_reasons(got, sub, k=3)
    for r in range(len(sub)):
        row = got.values.iloc[r]
        top = row.abs().sort_values(ascending=False, kind="stable").index[:3].tolist()
        assert [reasons[f"reason_{i}_feature"].iloc[r] for i in (1, 2, 3)] == top
        assert reasons["reason_1_contribution"].iloc[r] == row[top[0]]
        name = top[0]
        value = sub[name].iloc[r]
        plain = value.item() if isinstance(value, np.generic) else value
        missing = format_value(value) is None
        assert reasons["reason_1_text"].iloc[r] == describe(name, None if missing else plain)
    assert abs(reasons["reason_1_contribution"]).ge(abs(reasons["reason_2_contribution"])).all()


def test_format_value() -> None:
    assert format_value(3.0) == "3"
    assert format_value(0.123456) == "0.1235"
    assert format_value(float("nan")) is None
    assert format_value("CO") == "CO"
    assert format_value(None) is None


def test_reasons_beyond_the_feature_count_are_null(scoring_setup) -> None:  # type: ignore[no-untyped-def]
    model, features = _features(scoring_setup)
    small = dataclasses.replace(
        contributions(model, features.head(2)),
    )
    values = small.values.iloc[:, :2]
    trimmed = dataclasses.replace(small, values=values)
    reasons = top_reasons(trimmed, features.head(2), k=3)
    assert reasons["reason_3_feature"].isna().all()
    assert reasons["reason_3_contribution"].isna().all()


def test_numba_engine_equals_lightgbm_engine(scoring_setup) -> None:  # type: ignore[no-untyped-def]
    model, features = _features(scoring_setup)
    fast = contributions(model, features)
    reference = contributions(model, features, engine="lightgbm")
    assert fast.values.index.equals(reference.values.index)
    assert list(fast.values.columns) == list(reference.values.columns)
    assert np.max(np.abs(fast.values.to_numpy() - reference.values.to_numpy())) <= 1e-9
    assert abs(fast.base_value - reference.base_value) <= 1e-12
    assert np.max(np.abs(fast.raw_margin - model.raw_margin_table(features))) <= 1e-9
    empty = contributions(model, features.iloc[:0], engine="lightgbm")
    assert abs(empty.base_value - contributions(model, features.iloc[:0]).base_value) <= 1e-12


def test_unknown_engine_is_refused(scoring_setup) -> None:  # type: ignore[no-untyped-def]
    model, features = _features(scoring_setup)
    with pytest.raises(ValueError, match="engine"):
        contributions(model, features, engine="shap")


def _reference_top_reasons(
    contrib: Contributions, feature_frame: pd.DataFrame, *, k: int
) -> pd.DataFrame:
    """The row-by-row implementation top_reasons replaced (kept to prove the same output)."""
    from riskmodel.scoring.reasons import _describer, _plain

    values = contrib.values
    n, width = values.shape
    arr = values.to_numpy()
    order = np.argsort(-np.abs(arr), axis=1, kind="stable")[:, :k] if n else np.zeros((0, k), int)
    names = [str(c) for c in values.columns]
    describe_ = _describer(names)
    raw = {name: feature_frame[name].to_numpy(dtype=object) for name in names}
    rows = np.arange(n)
    out: dict[str, Any] = {}
    for i in range(k):
        feature: list[str | None] = [None] * n
        shown: list[str | None] = [None] * n
        amount = np.full(n, np.nan)
        text: list[str | None] = [None] * n
        if i < width:
            idx = order[:, i]
            amount = arr[rows, idx]
            for r in range(n):
                name = names[idx[r]]
                value = raw[name][r]
                feature[r] = name
                shown[r] = format_value(value)
                text[r] = describe_(name, None if shown[r] is None else _plain(value))
        out[f"reason_{i + 1}_feature"] = pd.Series(feature, index=values.index, dtype="str")
        out[f"reason_{i + 1}_value"] = pd.Series(shown, index=values.index, dtype="str")
        out[f"reason_{i + 1}_contribution"] = pd.Series(amount, index=values.index, dtype=float)
        out[f"reason_{i + 1}_text"] = pd.Series(text, index=values.index, dtype="str")
    return pd.DataFrame(out, index=values.index)


def test_top_reasons_equal_the_row_by_row_implementation(scoring_setup) -> None:  # type: ignore[no-untyped-def]
    model, features = _features(scoring_setup)
    features = features.set_axis(np.arange(len(features))[::-1] * 7)  # not a RangeIndex
    got = contributions(model, features)
    for k in (1, 3, 5):
        pd.testing.assert_frame_equal(
            top_reasons(got, features, k=k), _reference_top_reasons(got, features, k=k)
        )
    # awkward values in the columns reasons name: signed zeros, NaN and pd.NA, nullable
    # numbers, near-equal floats that format alike but not in every template, categories
    # with missing values, strings
    names = model.feature_names
    numeric = [n for n in names if n not in model.categorical_features]
    odd = features.copy()
    rng = np.random.default_rng(5)
    pool = np.array([0.0, -0.0, np.nan, 1.0, 2.5, 1234.56, 1234.5600001, -3.0, 1e-7, 0.12345])
    for name in numeric:
        odd[name] = rng.choice(pool, size=len(odd))
    odd[numeric[0]] = pd.array(rng.choice([1.5, None, 0.0, -0.0], size=len(odd)), dtype="Float64")
    odd[numeric[1]] = pd.array(rng.choice([1, None, 0, 7], size=len(odd)), dtype="Int64")
    for name in model.categorical_features:
        col = odd[name].astype(object)
        col.iloc[::5] = np.nan
        odd[name] = col
    # contributions of uniform size so every feature is picked somewhere
    noisy = dataclasses.replace(
        got,
        values=pd.DataFrame(
            rng.normal(size=got.values.shape), index=odd.index, columns=got.values.columns
        ),
    )
    pd.testing.assert_frame_equal(
        top_reasons(noisy, odd, k=4), _reference_top_reasons(noisy, odd, k=4)
    )
    empty = dataclasses.replace(got, values=got.values.iloc[:0])
    pd.testing.assert_frame_equal(
        top_reasons(empty, features.iloc[:0], k=3),
        _reference_top_reasons(empty, features.iloc[:0], k=3),
    )


@settings(max_examples=80)
@given(
    shape=st.tuples(st.integers(0, 30), st.integers(1, 12)),
    k=st.integers(0, 14),
    seed=st.integers(0, 2**32 - 1),
)
def test_largest_is_the_stable_argsort_prefix(shape: tuple[int, int], k: int, seed: int) -> None:
    """Many ties (small integers, signed zeros) at and around the k-th size."""
    from riskmodel.scoring.reasons import _largest

    rng = np.random.default_rng(seed)
    arr = rng.integers(-2, 3, size=shape).astype(float)
    arr[rng.random(shape) < 0.2] = -0.0
    kk = min(k, shape[1])
    expected = np.argsort(-np.abs(arr), axis=1, kind="stable")[:, :kk]
    assert np.array_equal(_largest(arr, kk), expected)
