"""Calibration: hand-worked reliability/Brier, and calibrated probabilities on generated data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from riskmodel.calibrate import Calibrator, brier, reliability_table
from riskmodel.errors import ModelError


def test_brier_hand_worked() -> None:
    # (0.1-0)^2 + (0.8-1)^2 + (0.5-1)^2 + (0-0)^2 = 0.01 + 0.04 + 0.25 + 0 = 0.30 -> /4
    assert brier(np.array([0, 1, 1, 0]), np.array([0.1, 0.8, 0.5, 0.0])) == pytest.approx(0.075)


def test_reliability_table_hand_worked() -> None:
    y = np.array([0, 0, 1, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8])
    table = reliability_table(y, p, n_bins=2)
    assert table["count"].tolist() == [3, 3]
    assert table["mean_predicted"].tolist() == pytest.approx([0.2, 0.7])
    assert table["observed_rate"].tolist() == pytest.approx([1 / 3, 2 / 3])


def generated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Margins that are a distorted (shifted, stretched) log-odds of the true probability."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(-3.5, 1.2, n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-true_logit))).astype(float)
    margin = 2.0 * true_logit + 3.0
    return margin, y, 1 / (1 + np.exp(-true_logit))


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibrated_on_generated_data(method: str) -> None:
    """Tolerance: each of 10 quantile bins within 0.02 absolute of the observed rate on
    50k fresh rows (binomial s.d. of a bin's rate is <= 0.01 here), and Brier better than
    the uncalibrated sigmoid of the margin."""
    margin, y, _ = generated(50_000, 1)
    cal = Calibrator(method=method).fit(margin, y)
    test_margin, test_y, _ = generated(50_000, 2)
    p = cal.transform(test_margin)
    table = reliability_table(test_y, p, n_bins=10)
    assert np.abs(table["mean_predicted"] - table["observed_rate"]).max() < 0.02
    raw = 1 / (1 + np.exp(-test_margin))
    assert brier(test_y, p) < brier(test_y, raw)


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_monotone_and_json_round_trip(method: str) -> None:
    margin, y, _ = generated(5_000, 3)
    cal = Calibrator(method=method).fit(margin, y)
    grid = np.linspace(-10, 10, 201)
    assert np.all(np.diff(cal.transform(grid)) >= 0)
    again = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert np.array_equal(again.transform(grid), cal.transform(grid))


def test_platt_keeps_ranking_strictly() -> None:
    margin, y, _ = generated(5_000, 4)
    p = Calibrator().fit(margin, y).transform(np.array([5.0, 5.001, 9.0]))
    assert p[0] < p[1] < p[2]


def test_unfitted_and_corrupt_state_are_model_errors() -> None:
    with pytest.raises(ModelError, match="not fitted"):
        Calibrator().transform(np.zeros(2))
    with pytest.raises(ModelError, match="invalid"):
        Calibrator.from_dict({"method": "platt"})
    with pytest.raises(ModelError, match="invalid"):
        Calibrator.from_dict({"method": "isotonic", "centres": [1.0], "values": []})
