"""Population stability of the model's features, and who carries the inspections.

**Training reference** (:func:`fit_reference`), saved with the model as
``drift_reference.json`` so an auditor can read it: for each numeric feature the bin edges
(deciles of the training rows, distinct values only) and the share of training rows per bin,
plus the share of missing values; for each categorical feature the shares of its 20 most
frequent levels, of all other levels together (``__other__``) and of missing values.

**PSI** of a batch (:class:`DriftMeter`): counts accumulated chunk by chunk (at most
``SAMPLE_ROWS`` rows of each, a systematic sample) in the reference's bins, then
``sum((a - e) * ln(a / e))`` over bins, with every share floored at ``1e-4`` so an empty bin
does not make the index infinite. Common reading: < 0.1 stable, 0.1-0.25 moderate, > 0.25 a
shift; features above the threshold (default 0.25) are "drifting".

**Which drift is warned about** (:func:`split_drift`): only features that describe the
declaration itself and its voyage (catalogue groups ``declaration``, ``route``, ``extra``) —
the population of what arrives. Features of the fitted state (entity histories, risk
profiles, financial flags, corridor counts, and ``hs_past_declarations``) and the calendar
(``declared_month``, ``declared_weekday``, ``declared_hour``) differ from a training reference
by construction: a batch is scored from the state frozen at the model's feature cutoff
(profiles take one value per level, ages and counts are those of later dates) and covers a
slice of the calendar. On the committed sample's newest month 60 of 167 features were above
0.25 on a batch with nothing unusual in it, every one of them state or calendar; a warning
that fires on every batch is one nobody reads. Their PSI is still in the manifest (``psi``),
and those above the threshold are listed apart (``state_shifted``): a long list there says
the feature state is old (refresh it with ``--history``), not that the arrivals changed.

**Inspection burden** (:func:`burden`): per origin country, transport mode and importer size
band (the importer's declarations in the model's history state: ``new``, ``1-9``, ``10-99``,
``100+``), the group's declarations, its share of the batch and its red and yellow shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "CALENDAR_FEATURES",
    "DEFAULT_THRESHOLD",
    "MIN_ROWS",
    "REFERENCE_FORMAT",
    "SIZE_BANDS",
    "DriftMeter",
    "burden",
    "fit_reference",
    "size_band",
    "split_drift",
    "watched",
]

REFERENCE_FORMAT = "riskmodel-drift-reference"
DEFAULT_THRESHOLD = 0.25
OTHER = "__other__"
FLOOR = 1e-4
SAMPLE_ROWS = 10_000
"""Most rows of one chunk counted for drift (a systematic sample beyond it)."""
SIZE_BANDS: tuple[tuple[str, int, float], ...] = (
    ("new", 0, 1),
    ("1-9", 1, 10),
    ("10-99", 10, 100),
    ("100+", 100, np.inf),
)
"""(label, lower bound inclusive, upper bound exclusive) of past declarations per importer."""
WATCHED_GROUPS = frozenset({"declaration", "route", "extra"})
"""Catalogue groups whose drift is warned about: the declaration and its voyage."""
CALENDAR_FEATURES = frozenset({"declared_month", "declared_weekday", "declared_hour"})
"""Calendar features: a batch covers a slice of the calendar, so they always "drift"."""
STATE_COUNTS = frozenset({"hs_past_declarations"})
"""Counts of the fitted history in a watched group (they grow with time by construction)."""


def watched(name: str) -> bool:
    """Whether a drift of feature ``name`` is warned about (see the module doc).

    A name the catalogue does not know is watched (better a warning too many than a silent
    one).
    """
    from features.catalogue import feature_info

    if name in CALENDAR_FEATURES or name in STATE_COUNTS:
        return False
    try:
        group = feature_info(name).group
    except KeyError:
        return True
    return group in WATCHED_GROUPS


MIN_ROWS = 200
"""Fewest rows whose PSI is listed as drift: over ten bins, the PSI of n rows drawn from the
reference itself is about 9/n on average (a chi-square with 9 degrees of freedom over n), so
a batch of a few dozen rows "drifts" by chance alone; at 200 rows a PSI above 0.25 by chance
is below one in a million per feature."""


def split_drift(
    psi: Mapping[str, float], threshold: float, *, rows: int | None = None
) -> tuple[list[str], list[str]]:
    """(drifting, state_shifted): features above ``threshold``, watched ones and the others.

    Both lists are sorted by name; both are empty when ``rows`` (the rows counted) is below
    ``MIN_ROWS`` (the PSI values stay in the manifest).
    """
    if rows is not None and rows < MIN_ROWS:
        return [], []
    above = sorted(name for name, value in psi.items() if value > threshold)
    drifting = [name for name in above if watched(name)]
    return drifting, [name for name in above if name not in set(drifting)]


def fit_reference(
    table: pd.DataFrame,
    feature_names: list[str],
    categorical: list[str],
    *,
    bins: int = 10,
    top: int = 20,
) -> dict[str, Any]:
    """The training reference of ``feature_names`` over ``table``'s rows (see module doc).

    Returns a JSON-ready dict ``{"format", "version", "rows", "features": {name: {...}}}``;
    a numeric feature is ``{"kind": "numeric", "edges": [...], "shares": [...],
    "missing": share}`` (``len(shares) == len(edges) + 1``: below the first edge, between
    edges, at or above the last), a categorical one ``{"kind": "categorical", "levels":
    {level: share}, "other": share, "missing": share}``.
    """
    cats = set(categorical)
    n = len(table)
    features: dict[str, Any] = {}
    for name in feature_names:
        col = table[name]
        if name in cats:
            text = col.astype("str")
            missing = text.isna()
            freq = text[~missing].value_counts()
            kept = freq.iloc[:top]
            features[name] = {
                "kind": "categorical",
                "levels": {str(k): float(v) / max(n, 1) for k, v in kept.items()},
                "other": float(freq.iloc[top:].sum()) / max(n, 1),
                "missing": float(missing.sum()) / max(n, 1),
            }
        else:
            values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
            present = values[~np.isnan(values)]
            qs = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]) if len(present) else []
            edges = sorted({float(q) for q in qs})
            counts = _numeric_counts(values, np.asarray(edges, dtype=float))
            features[name] = {
                "kind": "numeric",
                "edges": edges,
                "shares": [float(c) / max(n, 1) for c in counts[:-1]],
                "missing": float(counts[-1]) / max(n, 1),
            }
    return {"format": REFERENCE_FORMAT, "version": 1, "rows": n, "features": features}


def _numeric_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin (``len(edges) + 1`` bins, right-closed at each edge... see below) + missing.

    A value ``v`` falls in bin ``searchsorted(edges, v, side="right")``: bin 0 holds values
    below the first edge, the last bin values at or above the last edge.
    """
    missing = np.isnan(values)
    idx = np.searchsorted(edges, values[~missing], side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    return np.append(counts, float(missing.sum()))


def _psi(actual: np.ndarray, expected: np.ndarray) -> float:
    a = np.maximum(actual, FLOOR)
    e = np.maximum(expected, FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


class DriftMeter:
    """Accumulates a batch's feature distribution chunk by chunk; :meth:`psi` at the end."""

    def __init__(self, reference: dict[str, Any]) -> None:
        self.reference = reference
        self.rows_ = 0
        self.counts_: dict[str, np.ndarray] = {}

    def add(self, features: pd.DataFrame) -> None:
        """Count one chunk's feature values (the frame holds at least the reference's features).

        A chunk of more than ``SAMPLE_ROWS`` rows is counted on every k-th row (k the smallest
        stride that keeps at most ``SAMPLE_ROWS``), the same rows for the same input and chunk
        size: PSI over ten deciles needs thousands of rows, not millions, and counting all 167
        features of every row cost about 0.3 s per 50,000-row chunk (6 s of a 1M batch).
        """
        stride = -(-len(features) // SAMPLE_ROWS) if len(features) > SAMPLE_ROWS else 1
        features = features.iloc[::stride]
        self.rows_ += len(features)
        for name, ref in self.reference["features"].items():
            if name not in features.columns:
                continue
            if ref["kind"] == "numeric":
                values = pd.to_numeric(features[name], errors="coerce").to_numpy(dtype=float)
                counts = _numeric_counts(values, np.asarray(ref["edges"], dtype=float))
            else:
                text = features[name].astype("str")
                levels = list(ref["levels"])
                missing = text.isna()
                codes = pd.Index(levels).get_indexer(text[~missing].astype(object))
                known = np.bincount(codes[codes >= 0], minlength=len(levels))
                other = int((codes < 0).sum())
                counts = np.append(known, [other, int(missing.sum())]).astype(float)
            self.counts_[name] = self.counts_.get(name, 0) + counts

    def merge(self, rows: int, counts: dict[str, np.ndarray]) -> None:
        """Add another meter's ``rows_`` and ``counts_`` (e.g. a chunk counted in a worker
        process); counts are whole numbers, so the sum does not depend on the order."""
        self.rows_ += rows
        for name, values in counts.items():
            self.counts_[name] = self.counts_.get(name, 0) + values

    def psi(self) -> dict[str, float]:
        """PSI per feature of everything added so far (empty when nothing was added)."""
        if self.rows_ == 0:
            return {}
        out: dict[str, float] = {}
        for name, counts in self.counts_.items():
            ref = self.reference["features"][name]
            if ref["kind"] == "numeric":
                expected = np.asarray([*ref["shares"], ref["missing"]], dtype=float)
            else:
                expected = np.asarray(
                    [*ref["levels"].values(), ref["other"], ref["missing"]], dtype=float
                )
            out[name] = round(_psi(counts / self.rows_, expected), 6)
        return out


def size_band(past_declarations: np.ndarray) -> np.ndarray:
    """The importer size band label of each count of past declarations (object array)."""
    out = np.empty(len(past_declarations), dtype=object)
    for label, lo, hi in SIZE_BANDS:
        out[(past_declarations >= lo) & (past_declarations < hi)] = label
    return out


def burden(
    groups: dict[str, pd.Categorical], channel: np.ndarray
) -> dict[str, list[dict[str, Any]]]:
    """Red and yellow shares per value of each grouping (one categorical per scored row).

    Each group's entry: ``value`` (``null`` for a missing value), ``declarations``,
    ``share_of_batch``, ``red_share``, ``yellow_share`` (shares of the group's own rows),
    sorted by declarations (largest first), then value.
    """
    red = (channel == "red").astype(float)
    yellow = (channel == "yellow").astype(float)
    out: dict[str, list[dict[str, Any]]] = {}
    for column, values in groups.items():
        n = len(values)
        codes = np.asarray(values.codes, dtype=np.int64) + 1  # 0 = missing
        size = len(values.categories) + 1
        count = np.bincount(codes, minlength=size)
        reds = np.bincount(codes, weights=red, minlength=size)
        yellows = np.bincount(codes, weights=yellow, minlength=size)
        labels: list[str | None] = [None, *(str(c) for c in values.categories)]
        entries = [
            {
                "value": labels[k],
                "declarations": int(count[k]),
                "share_of_batch": round(count[k] / n, 6),
                "red_share": round(reds[k] / count[k], 6),
                "yellow_share": round(yellows[k] / count[k], 6),
            }
            for k in range(size)
            if count[k] > 0
        ]
        out[column] = sorted(entries, key=lambda e: (-e["declarations"], str(e["value"])))
    return out


def drift_summary(
    drifting: Sequence[str], psi: Mapping[str, float], *, shown: int = 5
) -> str | None:
    """One warning line for the drifting features (the ``shown`` largest PSI first), or None.

    The manifest lists every feature; a console wall of warnings gets ignored.
    """
    if not drifting:
        return None
    worst = sorted(drifting, key=lambda name: (-psi[name], name))
    listed = ", ".join(f"{name} (PSI {psi[name]:.2f})" for name in worst[:shown])
    more = f" and {len(worst) - shown} more" if len(worst) > shown else ""
    return (
        f"warning: {len(worst)} feature(s) drifted from training: {listed}{more}; "
        "see drift in manifest.json"
    )
