"""Metric functions against hand-worked answers on tiny arrays."""

from __future__ import annotations

import numpy as np
import pytest

from riskmodel.evaluate import (
    budget_name,
    label_metrics,
    oracle_precision_at,
    precision_at,
    recall_at,
    seized_kg_share_at,
    top_share,
    truth_metrics,
    truth_precision_at,
)

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
