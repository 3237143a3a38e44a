"""Exact SHAP contributions of the LightGBM model (native ``pred_contrib``), in log-odds.

Stand-in with the shared contract's signature until the scoring branch's module lands; the
report reuses this one function and has no SHAP path of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from riskmodel.model import RiskModel

__all__ = ["Contributions", "contributions"]


@dataclass(frozen=True)
class Contributions:
    """``base_value + values.sum(axis=1) == raw_margin`` (log-odds), one row per input row."""

    base_value: float
    values: pd.DataFrame
    raw_margin: np.ndarray


def contributions(model: RiskModel, feature_frame: pd.DataFrame) -> Contributions:
    """SHAP values of ``feature_frame`` (rows x the model's features) from ``pred_contrib``."""
    names = model.feature_names
    if len(feature_frame) == 0:
        empty = pd.DataFrame(np.zeros((0, len(names))), columns=names, index=feature_frame.index)
        expected = 0.0
        return Contributions(base_value=expected, values=empty, raw_margin=np.zeros(0))
    raw = np.asarray(model.booster.predict(model.matrix(feature_frame), pred_contrib=True), float)
    values = pd.DataFrame(raw[:, :-1], columns=names, index=feature_frame.index)
    base = float(raw[0, -1])
    return Contributions(base_value=base, values=values, raw_margin=raw.sum(axis=1))
