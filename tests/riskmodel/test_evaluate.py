"""Metric functions against hand-worked answers on tiny arrays, and evaluation by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskmodel.evaluate import (
    budget_name,
    evaluate_model,
    label_metrics,
    oracle_precision_at,
    precision_at,
    recall_at,
    seized_kg_share_at,
    simple_rule_scores,
    top_share,
    truth_metrics,
    truth_precision_at,
)
from riskmodel.model import RiskModel
from riskmodel.split import TimeSplit

# 10 rows; scores rank them 0..9 best-first; seizures at ranks 0, 2, 5.
SCORE = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
Y = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 0])
KG = np.array([10.0, np.nan, 30.0, np.nan, np.nan, 60.0, np.nan, np.nan, np.nan, np.nan])


def test_budget_names() -> None:
    assert [budget_name(b) for b in (0.01, 0.05, 0.10, 0.025)] == [
        "1pct",
        "5pct",
        "10pct",
        "2.5pct",
    ]


def test_precision_recall_kg_at_budgets() -> None:
    # 10 % of 10 rows = 1 row (rank 0, a seizure); 30 % = ranks 0-2 (2 seizures).
    assert precision_at(Y, SCORE, 0.10) == 1.0
    assert recall_at(Y, SCORE, 0.10) == pytest.approx(1 / 3)
    assert precision_at(Y, SCORE, 0.30) == pytest.approx(2 / 3)
    assert recall_at(Y, SCORE, 0.30) == pytest.approx(2 / 3)
    assert seized_kg_share_at(KG, SCORE, 0.30) == pytest.approx(40 / 100)
    # 1 % of 10 rows still selects one row.
    assert precision_at(Y, SCORE, 0.01) == 1.0


def test_ties_share_the_boundary_fractionally() -> None:
    # Scores: one clear top, then 4 rows tied; budget 30 % = 3 rows = top + 2 of the 4 tied.
    score = np.array([5.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    y = np.array([0, 1, 1, 0, 0, 0, 0, 0, 0, 1])
    weights = top_share(score, 0.30)
    assert weights.tolist() == [1, 0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0, 0]
    # expected hits = 0 + 0.5 * 2 = 1 of 3 selected
    assert precision_at(y, score, 0.30) == pytest.approx(1 / 3)
    # constant score = random selection: its expected value, the base rate
    assert precision_at(y, np.zeros(10), 0.30) == pytest.approx(0.3)


def test_truth_and_oracle() -> None:
    p = np.array([0.5, 0.1, 0.4, 0.0, 0.2])
    score = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    # 40 % of 5 = 2 rows: model picks p 0.5, 0.1 -> 0.3; oracle picks 0.5, 0.4 -> 0.45
    assert truth_precision_at(p, score, 0.40) == pytest.approx(0.3)
    assert oracle_precision_at(p, 0.40) == pytest.approx(0.45)
    metrics = truth_metrics(p, score, budgets=(0.40,))
    assert metrics["oracle_ratio_at_40pct"] == pytest.approx(0.3 / 0.45)


def test_label_metrics_names_and_auc() -> None:
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.6, 0.4, 0.1])
    metrics = label_metrics(y, p, seized_kg=np.array([1.0, 0, 3.0, 0]), budgets=(0.25,))
    assert set(metrics) == {
        "precision_at_25pct",
        "recall_at_25pct",
        "seized_kg_share_at_25pct",
        "pr_auc",
        "roc_auc",
        "brier",
    }
    # positive/negative pairs ordered right: (0.9>0.6), (0.9>0.1), (0.4<0.6), (0.4>0.1) -> 3/4
    assert metrics["roc_auc"] == pytest.approx(0.75)
    # average precision: recall 1/2 at precision 1, recall 1 at precision 2/3 -> (1 + 2/3) / 2
    assert metrics["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)
    assert metrics["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)
    assert "brier" not in label_metrics(y, p, probability=False)


# ----------------------------------------------------------------------------- by construction
# A table whose periods disagree on purpose: in the training and test periods the highest
# decile of ``x`` is seized (10 %); in the validation period the two *lowest* are (20 %). A
# real LightGBM model fitted on ``x`` therefore ranks the test period perfectly, and any
# validation row that leaks into the test figures shows up as a high-scored miss.

DAY0 = pd.Timestamp("2024-01-01")
PER_DAY = 10
VALID_DAY, TEST_DAY, END_DAY = 100, 150, 200


def _constructed() -> tuple[pd.DataFrame, TimeSplit]:
    rng = np.random.default_rng(5)
    n = END_DAY * PER_DAY
    day = np.repeat(np.arange(END_DAY), PER_DAY)
    declared = (
        DAY0
        + pd.to_timedelta(day, unit="D")
        + pd.to_timedelta(np.tile(np.arange(PER_DAY), END_DAY), unit="h")
    )
    # every day holds each decile of x once, in a random order
    x = np.concatenate([rng.permutation(PER_DAY) for _ in range(END_DAY)]) / PER_DAY
    in_valid = (day >= VALID_DAY) & (day < TEST_DAY)
    seized = np.where(in_valid, x <= 0.1, x >= 0.9)
    table = pd.DataFrame(
        {
            "declaration_id": [f"D{i:05d}" for i in range(n)],
            "declared_at": declared.astype("datetime64[us]"),
            "inspected": pd.array(np.ones(n, dtype=bool), dtype="boolean"),
            "seized": pd.array(seized, dtype="boolean"),
            "inspected_at": (declared + pd.Timedelta(hours=12)).astype("datetime64[us]"),
            "x": x,
        }
    )
    split = TimeSplit(
        valid_start=DAY0 + pd.Timedelta(days=VALID_DAY),
        test_start=DAY0 + pd.Timedelta(days=TEST_DAY),
        label_delay=pd.Timedelta(days=1),
    )
    return table, split


def _model_on_x(table: pd.DataFrame, split: TimeSplit) -> RiskModel:
    """A real LightGBM model on the one feature ``x``, Platt-calibrated on its training rows."""
    import lightgbm as lgb

    from features.table import FeaturePipeline
    from riskmodel.calibrate import Calibrator

    train = split.train_mask(table)
    x = table.loc[train, ["x"]]
    y = table.loc[train, "seized"].to_numpy(dtype=float)
    params = {"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 5, "verbose": -1}
    booster = lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=20)
    calibrator = Calibrator(method="platt").fit(booster.predict(x, raw_score=True), y)
    meta = {"feature_names": ["x"], "categorical_features": []}
    return RiskModel(pipeline=FeaturePipeline(), booster=booster, calibrator=calibrator, meta=meta)


def test_test_figures_rest_on_the_test_period_only() -> None:
    table, split = _constructed()
    evaluation = evaluate_model(
        _model_on_x(table, split), table, split=split, periods=("test",), baselines=("random",)
    )
    test_rows = (END_DAY - TEST_DAY) * PER_DAY  # 500, of which 50 seizures
    # perfect ranking on the test period: any leaked validation row would be a high-scored miss
    assert evaluation.metrics["test_precision_at_5pct"] == 1.0
    assert evaluation.metrics["test_precision_at_10pct"] == 1.0
    assert evaluation.metrics["test_recall_at_10pct"] == 1.0
    # random selection's expected hit rate is the test base rate, 10 % (20 % in validation)
    assert evaluation.baselines["random"]["test_precision_at_5pct"] == pytest.approx(0.1)
    assert evaluation.counts["test_inspected"] == test_rows
    assert evaluation.counts["test_seizures"] == test_rows // 10


def test_the_rules_baseline_is_scored_on_the_same_rows_as_the_model() -> None:
    """Rules score the raw declarations matched by id, whatever their order or extra rows."""
    from riskmodel.rules import rules_from_dict

    table, split = _constructed()
    seized = table["seized"].to_numpy(dtype=bool)
    declarations = pd.DataFrame(
        {
            "declaration_id": table["declaration_id"],
            "origin_country": np.where(seized, "CO", "NL"),
        }
    )
    extra = pd.DataFrame(
        {"declaration_id": [f"X{i:03d}" for i in range(300)], "origin_country": "CO"}
    )
    shuffled = pd.concat([declarations, extra]).sample(frac=1.0, random_state=3)
    rules = rules_from_dict({"rule": [{"name": "co", "points": 1.0, "origin_country": ["CO"]}]})
    evaluation = evaluate_model(
        _model_on_x(table, split),
        table,
        split=split,
        rules=rules,
        declarations=shuffled.reset_index(drop=True),
        periods=("test",),
        baselines=("random", "rules"),
    )
    aligned = evaluation.baselines["rules"]
    assert aligned["test_precision_at_5pct"] == 1.0
    assert aligned["test_precision_at_10pct"] == 1.0
    assert aligned["test_recall_at_10pct"] == 1.0
    assert aligned["test_precision_at_10pct"] == evaluation.metrics["test_precision_at_10pct"]


def test_printed_tables_say_what_their_figures_rest_on() -> None:
    from riskmodel.cli._app import rests_on

    metrics = {"test_rows": 35253, "test_inspected": 3523, "test_seizures": 179}
    assert rests_on(metrics, prefix="test_") == (
        "test period: label figures on 3,523 inspected declarations (179 seizures) "
        "of 35,253 declared"
    )
    with_truth = {**metrics, "test_truth_rows": 35253}
    assert rests_on(with_truth, prefix="test_") == (
        "test period: label figures on 3,523 inspected declarations (179 seizures); "
        "oracle ratios on 35,253 declarations with a truth"
    )
    assert rests_on(metrics, prefix="valid_") is None


def _rule_table(seed: int) -> tuple[pd.DataFrame, TimeSplit]:
    """400 days, one row a day; seizures follow high ``a`` and low ``b`` (``c`` is noise)."""
    rng = np.random.default_rng(seed)
    n = 400
    a, b, c = rng.random(n), rng.random(n), rng.random(n)
    declared = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n), unit="D")
    table = pd.DataFrame(
        {
            "declaration_id": [f"D{i:04d}" for i in range(n)],
            "declared_at": declared,
            "inspected_at": declared + pd.Timedelta(days=1),
            "inspected": pd.array(np.ones(n, dtype=bool), dtype="boolean"),
            "seized": pd.array((a - b) > 0.45, dtype="boolean"),
            "a": a,
            "b": b,
            "c": c,
        }
    )
    split = TimeSplit(
        valid_start=pd.Timestamp("2024-07-01"),
        test_start=pd.Timestamp("2024-10-01"),
        label_delay=pd.Timedelta(days=2),
    )
    return table, split


def test_simple_rule_is_chosen_on_validation_labels_only() -> None:
    table, split = _rule_table(0)
    rows = np.ones(len(table), dtype=bool)
    scored = simple_rule_scores(table, split, rows, features=["a", "b", "c"])
    assert scored is not None
    score, rule = scored
    assert rule in {"+a + -b", "-b + +a"}
    # the rule ranks the validation seizures first
    valid = split.valid_mask(table)
    y = table.loc[valid, "seized"].to_numpy(dtype=bool)
    assert score[valid][y].min() > np.median(score[valid][~y])
    # test-period outcomes play no part in the choice
    flipped = table.copy()
    test = split.period_mask(table, "test")
    flipped.loc[test, "seized"] = ~flipped.loc[test, "seized"].to_numpy(dtype=bool)
    again = simple_rule_scores(flipped, split, rows, features=["a", "b", "c"])
    assert again is not None and again[1] == rule
    np.testing.assert_array_equal(again[0], score)


def test_simple_rule_needs_validation_positives_and_negatives() -> None:
    table, split = _rule_table(1)
    table["seized"] = pd.array(np.zeros(len(table), dtype=bool), dtype="boolean")
    rows = np.ones(len(table), dtype=bool)
    assert simple_rule_scores(table, split, rows, features=["a", "b"]) is None
