"""Exact SHAP contributions and the top reasons of a score, for officers and reports.

One implementation for the whole project (batch scoring and ``riskmodel explain`` both call
:func:`contributions`): LightGBM's own TreeSHAP (``Booster.predict(..., pred_contrib=True)``),
exact, in log-odds, so for every row ``base_value + values.sum() == raw_margin`` (to
floating-point rounding, checked to 1e-9 in the tests). A faster TreeSHAP (FastTreeSHAP) was
weighed and not added: it is a compiled dependency with its own release cadence, and reasons are
computed only for the flagged band (5 % of a batch by default), whose cost is measured on its
own by the scoring benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskmodel.errors import ModelError

if TYPE_CHECKING:
    from riskmodel.model import RiskModel

__all__ = ["Contributions", "contributions", "format_value", "top_reasons"]


@dataclass(frozen=True)
class Contributions:
    """SHAP values of a feature frame.

    ``base_value``: the expected raw margin (log-odds), the same for every row;
    ``values``: rows x model features (log-odds), index of the input frame;
    ``raw_margin``: shape (rows,), the booster's raw score of each row.
    """

    base_value: float
    values: pd.DataFrame
    raw_margin: np.ndarray


def contributions(model: RiskModel, feature_frame: pd.DataFrame) -> Contributions:
    """Exact per-feature contributions of ``feature_frame``'s rows to the model's log-odds.

    ``feature_frame``: at least the model's feature columns (extra columns are ignored);
    categoricals as pandas ``category`` or strings (LightGBM maps them through the categories
    stored with the model, so their order in the frame does not matter). A frame lacking a
    feature is a :class:`ModelError`. With zero rows the result has zero rows and the base
    value is still the model's.
    """
    names = model.feature_names
    matrix = model.matrix(feature_frame)
    if len(matrix) == 0:
        probe = model.matrix(_empty_row(feature_frame, names, model.categorical_features))
        raw = np.asarray(model.booster.predict(probe, pred_contrib=True), dtype=float)
        return Contributions(
            base_value=float(raw[0, -1]),
            values=pd.DataFrame(np.zeros((0, len(names))), columns=names, index=matrix.index),
            raw_margin=np.zeros(0, dtype=float),
        )
    raw = np.asarray(model.booster.predict(matrix, pred_contrib=True), dtype=float)
    if raw.shape != (len(matrix), len(names) + 1):
        raise ModelError(
            f"pred_contrib returned shape {raw.shape}, expected ({len(matrix)}, {len(names) + 1})"
        )
    values = pd.DataFrame(raw[:, :-1], columns=names, index=matrix.index)
    base = raw[:, -1]
    return Contributions(base_value=float(base[0]), values=values, raw_margin=raw.sum(axis=1))


def _empty_row(frame: pd.DataFrame, names: list[str], categorical: list[str]) -> pd.DataFrame:
    """One all-missing row with the model's columns (to read the base value of an empty frame)."""
    cats = set(categorical)
    data: dict[str, Any] = {
        n: pd.Series([None], dtype="category") if n in cats else [np.nan] for n in names
    }
    return pd.DataFrame(data)


def format_value(value: Any) -> str | None:
    """A feature value as an officer reads it: ``None`` stays ``None`` (unknown), whole numbers
    without decimals, others with up to 4 significant decimals, categories as they are."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return None
        if float(value).is_integer():
            return f"{value:.0f}"
        return f"{value:.4g}"
    return str(value)


def top_reasons(contrib: Contributions, feature_frame: pd.DataFrame, *, k: int) -> pd.DataFrame:
    """The ``k`` largest positive-or-negative contributions per row, by absolute size.

    Returns a frame on ``feature_frame``'s index with, for i in 1..k, ``reason_{i}_feature``,
    ``reason_{i}_value`` (human-readable), ``reason_{i}_contribution`` (log-odds) and
    ``reason_{i}_text`` (the catalogue's sentence). Ties in size are broken by feature order.
    Fewer than ``k`` features leave the remaining reasons null.
    """
    from features.catalogue import describe

    values = contrib.values
    n, width = values.shape
    arr = values.to_numpy()
    order = np.argsort(-np.abs(arr), axis=1, kind="stable")[:, :k] if n else np.zeros((0, k), int)
    names = np.asarray(values.columns, dtype=object)
    out: dict[str, Any] = {}
    for i in range(k):
        feature: list[str | None] = [None] * n
        shown: list[str | None] = [None] * n
        amount = np.full(n, np.nan)
        text: list[str | None] = [None] * n
        if i < width:
            idx = order[:, i]
            amount = arr[np.arange(n), idx]
            for r in range(n):
                name = str(names[idx[r]])
                raw = feature_frame[name].iloc[r]
                feature[r] = name
                shown[r] = format_value(raw)
                text[r] = describe(name, None if shown[r] is None else _plain(raw))
        out[f"reason_{i + 1}_feature"] = pd.Series(feature, index=values.index, dtype="str")
        out[f"reason_{i + 1}_value"] = pd.Series(shown, index=values.index, dtype="str")
        out[f"reason_{i + 1}_contribution"] = pd.Series(amount, index=values.index, dtype=float)
        out[f"reason_{i + 1}_text"] = pd.Series(text, index=values.index, dtype="str")
    return pd.DataFrame(out, index=values.index)


def _plain(value: Any) -> Any:
    """A numpy scalar as a Python number (for ``str.format`` templates)."""
    return value.item() if isinstance(value, np.generic) else value
