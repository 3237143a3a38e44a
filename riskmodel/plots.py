"""Matplotlib figures for a training run: PR curve, hit rate at budget, calibration, importance.

Each function takes plain frames (as :mod:`riskmodel.evaluate` produces them) and returns a
``Figure`` on the Agg backend (no display needed); the caller logs and closes it.
matplotlib is imported inside the functions so that importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(*, width: float = 6.0, height: float = 4.5) -> Figure:
    """A new Figure on the Agg canvas, not registered with pyplot (nothing to leak)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def pr_curve_figure(
    curves: Mapping[str, pd.DataFrame], *, base_rate: float | None = None
) -> Figure:
    """Precision against recall, one line per scorer (columns ``recall``, ``precision``)."""
    fig = _figure()
    ax = fig.add_subplot()
    for name, curve in curves.items():
        ax.plot(curve["recall"], curve["precision"], label=name, drawstyle="steps-post")
    if base_rate is not None:
        ax.axhline(base_rate, color="grey", linestyle=":", label=f"base rate {base_rate:.3f}")
    ax.set(xlabel="recall (share of seizures caught)", ylabel="precision (hit rate)")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), title="Precision-recall, test period")
    ax.legend(loc="upper right", fontsize="small")
    return fig


def gain_figure(hit_rates: pd.DataFrame, *, metric: str = "precision") -> Figure:
    """Hit rate at each inspection budget, the model beside every baseline.

    ``hit_rates``: index = scorer name (``model``, ``rules``, ``random``...), columns =
    budgets as fractions, values = the metric at that budget.
    """
    fig = _figure()
    ax = fig.add_subplot()
    budgets = [float(b) for b in hit_rates.columns]
    n = len(hit_rates.index)
    width = 0.8 / max(n, 1)
    x = np.arange(len(budgets))
    for i, (name, row) in enumerate(hit_rates.iterrows()):
        ax.bar(x + (i - (n - 1) / 2) * width, row.to_numpy(dtype=float), width, label=str(name))
    ax.set_xticks(x, [f"{b:.0%}" for b in budgets])
    ax.set(xlabel="inspection budget (share of declarations opened)", ylabel=metric)
    ax.set(title=f"{metric} at budget, test period")
    ax.legend(fontsize="small")
    return fig


def calibration_figure(reliability: pd.DataFrame) -> Figure:
    """Observed seizure rate against mean predicted risk per bin, with the diagonal.

    ``reliability`` columns: ``mean_predicted``, ``observed_rate`` and optionally ``count``.
    """
    fig = _figure()
    ax = fig.add_subplot()
    top = float(max(reliability["mean_predicted"].max(), reliability["observed_rate"].max(), 0.01))
    ax.plot([0, top], [0, top], color="grey", linestyle=":", label="perfect calibration")
    ax.plot(reliability["mean_predicted"], reliability["observed_rate"], marker="o", label="model")
    ax.set(xlabel="mean predicted risk_score", ylabel="observed seizure rate")
    ax.set(title="Calibration (reliability), test period")
    ax.legend(fontsize="small")
    return fig


def importance_figure(importance: pd.Series, *, top: int = 20) -> Figure:
    """The ``top`` features by LightGBM gain, largest at the top."""
    shown = importance.sort_values(ascending=False).head(top)[::-1]
    fig = _figure(height=max(3.0, 0.28 * len(shown) + 1.2))
    ax = fig.add_subplot()
    ax.barh([str(i) for i in shown.index], shown.to_numpy(dtype=float))
    ax.set(xlabel="total gain", title=f"Feature importance (gain), top {len(shown)}")
    return fig
