"""Calibration: LightGBM raw margins (log-odds) -> probabilities, fitted on the validation period.

Two methods, both monotone so the ranking of the raw margins is kept:

- ``"platt"`` (default): ``p = sigmoid(a * margin + b)``. Strictly increasing, so it never
  creates ties at the top of the ranking where the inspection budget bites; two numbers in
  JSON. The class weights and selection weights used in training mostly shift and stretch
  the margin, which is exactly what Platt scaling undoes.
- ``"isotonic"``: isotonic regression, then linear interpolation between the centres of its
  constant blocks (flat beyond the outer centres), which avoids the step function's ties
  inside the range.

The constructor stores parameters, ``fit`` learns, learned attributes end in ``_``;
``to_dict``/``from_dict`` give a JSON-serialisable form (``calibrator.json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.errors import ConfigError, ModelError

__all__ = ["Calibrator", "brier", "reliability_table"]

_METHODS = ("platt", "isotonic")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Calibrator:
    """Maps raw margins to calibrated probabilities."""

    method: str = "platt"

    def fit(
        self,
        margin: np.ndarray,
        y: np.ndarray,
        *,
        sample_weight: np.ndarray | None = None,
    ) -> Calibrator:
        """Learn the mapping from validation margins and 0/1 outcomes.

        Raises :class:`ConfigError` (exit 2) for an unknown ``method`` or validation rows
        without both outcomes (move the split), ``ValueError`` for arrays of unequal shape.
        """
        if self.method not in _METHODS:
            raise ConfigError(
                f"[training] calibration must be one of {_METHODS}, found {self.method!r}"
            )
        margin = np.asarray(margin, dtype=float)
        y = np.asarray(y, dtype=float)
        if margin.shape != y.shape or margin.ndim != 1:
            raise ValueError(
                f"margin and y must be 1-d of equal length, found {margin.shape}, {y.shape}"
            )
        if len(np.unique(y)) < 2:
            raise ConfigError(
                "[split] calibration needs both outcomes (seized and not seized) among the "
                f"validation period's labelled rows, found {len(y)} row(s) of one outcome - move "
                "the split dates or day counts"
            )
        weight = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, float)
        if self.method == "platt":
            from sklearn.linear_model import LogisticRegression

            lr = LogisticRegression(C=1e6, max_iter=1000)
            lr.fit(margin.reshape(-1, 1), y, sample_weight=weight)
            self.slope_ = float(lr.coef_[0, 0])
            self.intercept_ = float(lr.intercept_[0])
        else:
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            fitted = iso.fit(margin, y, sample_weight=weight).predict(margin)
            blocks = pd.DataFrame({"m": margin, "p": fitted, "w": weight})
            blocks["mw"] = blocks["m"] * blocks["w"]
            grouped = blocks.groupby("p", sort=True)[["mw", "w"]].sum()
            self.centres_ = (grouped["mw"] / grouped["w"]).to_numpy(dtype=float)
            self.values_ = grouped.index.to_numpy(dtype=float)
        return self

    def _check_fitted(self) -> None:
        needed = "slope_" if self.method == "platt" else "centres_"
        if not hasattr(self, needed):
            raise ModelError("the calibrator is not fitted; call fit() or load a saved one")

    def transform(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw margins."""
        self._check_fitted()
        margin = np.asarray(margin, dtype=float)
        if self.method == "platt":
            return _sigmoid(self.slope_ * margin + self.intercept_)
        return np.interp(margin, self.centres_, self.values_)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        self._check_fitted()
        if self.method == "platt":
            return {"method": "platt", "slope": self.slope_, "intercept": self.intercept_}
        return {
            "method": "isotonic",
            "centres": self.centres_.tolist(),
            "values": self.values_.tolist(),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Calibrator:
        """Rebuild a fitted calibrator from :meth:`to_dict` output."""
        try:
            method = values["method"]
            cal = cls(method=method)
            if method == "platt":
                cal.slope_ = float(values["slope"])
                cal.intercept_ = float(values["intercept"])
            elif method == "isotonic":
                cal.centres_ = np.asarray(values["centres"], dtype=float)
                cal.values_ = np.asarray(values["values"], dtype=float)
                if cal.centres_.shape != cal.values_.shape or len(cal.centres_) == 0:
                    raise ValueError("centres and values must be non-empty and equally long")
            else:
                raise ValueError(f"unknown method {method!r}")
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"calibrator state is invalid: {exc}") from None
        return cal


def brier(y: np.ndarray, p: np.ndarray, *, sample_weight: np.ndarray | None = None) -> float:
    """Mean squared difference between outcome (0/1) and probability."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    return float(np.average((p - y) ** 2, weights=sample_weight))


def reliability_table(
    y: np.ndarray,
    p: np.ndarray,
    *,
    n_bins: int = 10,
    sample_weight: np.ndarray | None = None,
) -> pd.DataFrame:
    """Mean predicted vs observed rate per bin of predicted probability.

    Bins are quantiles of ``p`` (equal counts), because seizure probabilities crowd near
    zero and equal-width bins would leave almost every row in the first bin. Columns:
    ``bin``, ``p_low``, ``p_high``, ``mean_predicted``, ``observed_rate``, ``count``
    (rows), ``weight`` (sum of sample weights).
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    w = np.ones_like(p) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    frame = pd.DataFrame({"y": y, "p": p, "w": w})
    order = np.argsort(p, kind="stable")
    ranks = np.empty(len(p), dtype=np.int64)
    ranks[order] = np.arange(len(p))
    frame["bin"] = (ranks * n_bins) // max(len(p), 1)
    frame["py"] = frame["p"] * frame["w"]
    frame["yw"] = frame["y"] * frame["w"]
    grouped = frame.groupby("bin", sort=True).agg(
        p_low=("p", "min"),
        p_high=("p", "max"),
        py=("py", "sum"),
        yw=("yw", "sum"),
        weight=("w", "sum"),
        count=("y", "size"),
    )
    out = pd.DataFrame(
        {
            "bin": grouped.index.to_numpy(),
            "p_low": grouped["p_low"].to_numpy(),
            "p_high": grouped["p_high"].to_numpy(),
            "mean_predicted": (grouped["py"] / grouped["weight"]).to_numpy(),
            "observed_rate": (grouped["yw"] / grouped["weight"]).to_numpy(),
            "count": grouped["count"].to_numpy(),
            "weight": grouped["weight"].to_numpy(),
        }
    )
    return out
