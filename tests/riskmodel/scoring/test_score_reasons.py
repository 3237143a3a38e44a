"""Exact SHAP contributions: additive to the raw margin, and blind to category order."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from features.sources import Sources
from riskmodel.model import RiskModel
from riskmodel.scoring.reasons import contributions, format_value, top_reasons


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
        assert isinstance(reasons["reason_1_text"].iloc[r], str)
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
