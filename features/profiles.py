"""Risk profiles: every categorical attribute of a declaration scored by its own outcome history.

Customs selectivity systems (ASYCUDA selectivity criteria, BACUDA / DATE "risk profiles")
score each attribute value (an HS code, an origin country, a customs office ...) by how
often inspections of declarations carrying it found something. This module does the same,
point in time, exactly like entity history (:func:`features.history.entity_features`): a
declaration made at ``t`` counts only outcomes known before ``t`` (``labels.inspected_at <
t``), through :class:`~features.history.PriorIndex` over :func:`~features.history.label_index`.

Attributes (:data:`PROFILE_ATTRIBUTES`): the HS code at every level (``hs_chapter``,
``hs_heading``, ``hs_subheading``, ``hs_code`` = the full code), ``origin_country``,
``export_country``, ``customs_office``, ``port_of_loading``, ``port_of_entry``,
``transport_mode``, and every categorical mapping extra (``extra_<name>``). An attribute
whose column is absent gives no features. Per attribute:

- ``profile_<attr>_seizure_rate``: seizures / inspections known before ``t``, shrunk toward
  a prior mean with a strength ``m`` estimated from the data (below);
- ``profile_<attr>_inspections``: inspections with an outcome known before ``t`` (how much
  the rate rests on; a tree can tell a 5% rate on 3 inspections from one on 3,000).

Seizure counts are left out on purpose: rate and inspections carry them, and every extra
column slows LightGBM. For the fast-moving attributes (:data:`RECENT_ATTRIBUTES`: origin and
export country, ports of loading and entry, which shift when an enforcement campaign
displaces a route) also ``profile_<attr>_seizure_rate_90d`` and
``profile_<attr>_inspections_90d``: the same over outcomes known in the 90 days before
``t``, shrunk toward the attribute value's own long-run rate with the same strength, so it
reads "recently riskier or safer than usual".

Hierarchical shrinkage (HS code). The chapter rate shrinks toward the overall rate known
before ``t``; the heading rate toward its chapter's shrunk rate; the subheading toward its
heading's; the full code toward its subheading's: ``rate = (s + m * parent) / (n + m)``.
A rare 10-digit code therefore inherits its subheading's history instead of the overall rate.
Flat attributes shrink toward the overall rate.

Shrinkage strength, chosen from the data. ``m`` is the Buhlmann-Straub credibility constant
``k = v / a`` (H. Buhlmann and A. Gisler, *A Course in Credibility Theory and its
Applications*, Springer 2005, section 4.8; the hierarchical form follows chapter 6 and
W. S. Jewell, "The use of collateral data in credibility theory: a hierarchical model",
Giornale dell'Istituto Italiano degli Attuari 38, 1975). Each inspection is one binary
observation; attribute value ``i`` has ``n_i`` inspections and ``s_i`` seizures, rate
``r_i = s_i / n_i``, and parent rate ``p_i`` (pooled raw rate of its parent; the overall
pooled rate for a flat attribute or for HS chapters):

- ``v`` (expected within-value binomial variance) ``= sum_i s_i (1 - r_i) / (N - K)``;
- ``a`` (variance of the true rates around their parent)
  ``= (sum_i n_i (r_i - p_i)^2 - v (K - P)) / (N - sum_i n_i^2 / N_parent(i))``,

with ``N = sum n_i``, ``K`` values with an inspection, ``P`` parents among them. For a
beta-binomial prior of mean ``mu`` and strength ``m``, ``v / a = m`` exactly (``a =
mu(1-mu)/(m+1)``, ``v = E[theta(1-theta)] = mu(1-mu) m/(m+1)``), so this is also the
method-of-moments estimate of the beta prior's strength. ``m`` is clipped to
[:data:`MIN_STRENGTH`, :data:`MAX_STRENGTH`]; ``a <= 0`` (no detectable spread) gives
:data:`MAX_STRENGTH`. With fewer than two values inspected, or no within-value degrees of
freedom, the pipeline's fixed ``smoothing`` is used.

Point in time, bit for bit. ``m`` is re-estimated at every calendar-month boundary ``B``
(UTC) from the outcomes known before ``B``, and a declaration at ``t`` uses the estimate of
the month boundary at or before ``t``; so no outcome known at or after ``t`` reaches it. The
sums run over the values sorted by their own counts, never by code or input order, so the
same known outcomes give the same floats whatever else the input holds (the leakage test and
the fit/transform identity compare bit for bit).

One path for training and scoring (:class:`~features.history.Facts`). Key dictionaries,
outcome indexes and the strength table (the estimate at every month boundary from the first
known outcome to the month after the last, :class:`_Strengths`) depend on the facts only and
live in the Facts' cache: built once per table or per fitted pipeline, then a row costs a
dictionary lookup, a search and a table read. A scored row's boundary may fall before the
cutoff (same month); the table answers it from the fitted outcomes known before it, which
is what ``build_table`` over the history plus that row computes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.declarations import extra_feature_name
from features.history import (
    Facts,
    PriorIndex,
    rows_prior,
    smoothed_rate,
)

__all__ = [
    "HS_LEVELS",
    "MAX_STRENGTH",
    "MIN_STRENGTH",
    "PROFILE_ATTRIBUTES",
    "RECENT_ATTRIBUTES",
    "RECENT_WINDOW_DAYS",
    "credibility_strength",
    "month_starts",
    "profile_attributes",
    "profile_features",
]

HS_LEVELS: tuple[tuple[str, int | None], ...] = (
    ("hs_chapter", 2),
    ("hs_heading", 4),
    ("hs_subheading", 6),
    ("hs_code", None),
)
"""HS levels, coarse to fine: attribute name and leading digits (None = the whole code)."""

FLAT_ATTRIBUTES: tuple[str, ...] = (
    "origin_country",
    "export_country",
    "customs_office",
    "port_of_loading",
    "port_of_entry",
    "transport_mode",
)
"""Contract columns profiled on their own (shrunk toward the overall rate)."""

PROFILE_ATTRIBUTES: tuple[str, ...] = (*(name for name, _ in HS_LEVELS), *FLAT_ATTRIBUTES)
"""Every contract attribute with a risk profile (mapping extras come on top)."""

RECENT_ATTRIBUTES: tuple[str, ...] = (
    "origin_country",
    "export_country",
    "port_of_loading",
    "port_of_entry",
)
"""Attributes that also get a recent-window profile: routes move when enforcement does."""

RECENT_WINDOW_DAYS = 90
"""Trailing window (days) of the recent profiles."""

MIN_STRENGTH = 1.0
"""Smallest shrinkage strength (pseudo-inspections) an estimate may give."""

MAX_STRENGTH = 10_000.0
"""Largest shrinkage strength: values indistinguishable from their parent stay at its rate."""


def profile_attributes(extra_categorical: tuple[str, ...] = ()) -> list[str]:
    """Profiled attribute names: contract ones, then ``extra_<name>`` per categorical extra."""
    return [*PROFILE_ATTRIBUTES, *(extra_feature_name(c) for c in extra_categorical)]


def month_starts(times: np.ndarray) -> np.ndarray:
    """The calendar-month start (UTC) at or before each time; int64 microseconds in and out."""
    months = np.asarray(times, dtype=np.int64).astype("datetime64[us]").astype("datetime64[M]")
    return months.astype("datetime64[us]").astype(np.int64)


def credibility_strength(
    n: np.ndarray,
    s: np.ndarray,
    n_parent: np.ndarray,
    s_parent: np.ndarray,
    *,
    parents: int,
    fallback: float,
) -> float:
    """Buhlmann-Straub credibility constant ``k = v / a`` of one attribute (module doc).

    ``n``, ``s``: inspections and seizures per attribute value (values with ``n == 0`` are
    ignored); ``n_parent``, ``s_parent``: the same for each value's parent (the overall
    totals for a flat attribute); ``parents``: distinct parents among the inspected values.
    Returns a strength in [MIN_STRENGTH, MAX_STRENGTH], or ``fallback`` when the data cannot
    support an estimate. Order-free: terms are summed in the order of their own values.
    """
    keep = n > 0
    n, s = n[keep].astype(np.int64), s[keep].astype(np.int64)
    n_par, s_par = n_parent[keep].astype(np.int64), s_parent[keep].astype(np.int64)
    k = len(n)
    total = int(n.sum())
    if k < 2 or total - k <= 0 or k - parents <= 0:
        return float(fallback)
    order = np.lexsort([s_par, n_par, s, n])
    n, s, n_par, s_par = n[order], s[order], n_par[order], s_par[order]
    nf = n.astype(float)
    rate = s / nf
    parent_rate = s_par / n_par.astype(float)
    v = float(np.sum(s * (1.0 - rate))) / (total - k)
    between = float(np.sum(nf * (rate - parent_rate) ** 2))
    denominator = total - float(np.sum(nf * nf / n_par))
    if denominator <= 0:
        return float(fallback)
    a = (between - v * (k - parents)) / denominator
    if v <= 0:
        return MIN_STRENGTH
    if a <= 0:
        return MAX_STRENGTH
    return float(np.clip(v / a, MIN_STRENGTH, MAX_STRENGTH))


def _strength_by_month(
    index: PriorIndex,
    keys: np.ndarray,
    parent_keys: np.ndarray | None,
    boundaries: np.ndarray,
    fallback: float,
) -> np.ndarray:
    """Credibility strength at each month boundary, from outcomes known before it."""
    out = np.full(len(boundaries), float(fallback))
    groups = np.unique(keys[keys >= 0])
    if len(groups) == 0 or len(boundaries) == 0:
        return out
    parent_of = np.zeros(int(groups.max()) + 1, dtype=np.int64)
    if parent_keys is not None:
        ok = keys >= 0
        parent_of[keys[ok]] = parent_keys[ok]
    g_parent = parent_of[groups]
    n_groups, n_bounds = len(groups), len(boundaries)
    look = index.at(np.repeat(groups, n_bounds), np.tile(boundaries, n_groups))
    inspected = look.total("inspected").reshape(n_groups, n_bounds).astype(np.int64)
    seized = look.total("seized").reshape(n_groups, n_bounds).astype(np.int64)
    width = int(g_parent.max()) + 1
    for j in range(n_bounds):  # one estimate per month boundary, vectorised over values
        n, s = inspected[:, j], seized[:, j]
        if parent_keys is None:
            n_par = np.full(n_groups, n.sum())
            s_par = np.full(n_groups, s.sum())
            parents = 1
        else:
            n_sum = np.bincount(g_parent, weights=n, minlength=width).astype(np.int64)
            s_sum = np.bincount(g_parent, weights=s, minlength=width).astype(np.int64)
            n_par, s_par = n_sum[g_parent], s_sum[g_parent]
            parents = int(np.unique(g_parent[n > 0]).size)
        out[j] = credibility_strength(n, s, n_par, s_par, parents=parents, fallback=fallback)
    return out


@dataclass(frozen=True)
class _Strengths:
    """An attribute's credibility strength at every month boundary the facts can tell apart.

    ``grid`` holds the month starts (int64 us) from the month of the first known outcome
    to the month after the last one; ``strength`` the estimate at each. The estimate at a
    boundary ``B`` depends only on the outcomes known before ``B``, so before ``grid[0]``
    nothing is known (the fallback) and after ``grid[-1]`` everything is (``strength[-1]``):
    every boundary's value is read from this table, bit for bit what a direct estimate at
    ``B`` gives.
    """

    grid: np.ndarray
    strength: np.ndarray
    fallback: float

    @classmethod
    def of(
        cls,
        index: PriorIndex,
        known: np.ndarray,
        keys: np.ndarray,
        parent_keys: np.ndarray | None,
        fallback: float,
    ) -> _Strengths:
        """Estimate at every month boundary spanned by the outcome times ``known`` (int64 us)."""
        if len(known) == 0:
            return cls(np.zeros(0, np.int64), np.zeros(0), float(fallback))
        first, last = month_starts(np.array([known.min(), known.max()]))
        months = np.arange(
            np.datetime64(int(first), "us").astype("datetime64[M]"),
            np.datetime64(int(last), "us").astype("datetime64[M]") + np.timedelta64(2, "M"),
        )
        grid = months.astype("datetime64[us]").astype(np.int64)
        strength = _strength_by_month(index, keys, parent_keys, grid, fallback)
        return cls(grid, strength, float(fallback))

    def at(self, q_month: np.ndarray) -> np.ndarray:
        """Strength for declarations whose month starts at ``q_month`` (int64 us)."""
        out = np.full(len(q_month), self.fallback)
        if len(self.grid) == 0 or len(q_month) == 0:
            return out
        j = np.searchsorted(self.grid, q_month, side="right") - 1
        some = j >= 0
        out[some] = self.strength[np.minimum(j[some], len(self.grid) - 1)]
        return out


def _profile(
    facts: Facts,
    name: str,
    keys: np.ndarray,
    q_key: np.ndarray,
    parent_keys: np.ndarray | None,
    prior: np.ndarray,
    q_month: np.ndarray,
    *,
    recent: bool,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Rate and inspections of one attribute (and its recent window) for the rows of
    ``facts``; returns (features, rate). ``keys`` are the fact codes, ``q_key`` the rows',
    ``q_month`` the start of each row's month (int64 us).

    The outcome index and the month-boundary strengths depend on the facts only and are
    cached with them; per row it costs a search and a table lookup.
    """
    index = facts.label_index(f"profile:{name}", keys)
    windows = (RECENT_WINDOW_DAYS,) if recent else ()
    look = facts.at(index, q_key, windows=windows)
    inspected = look.total("inspected")
    seized = look.total("seized")

    def build() -> _Strengths:
        labels = facts.labels
        known = labels["_known"].to_numpy() if labels is not None else np.zeros(0, np.int64)
        return _Strengths.of(index, known, keys, parent_keys, facts.smoothing)

    m = facts.cached(f"profile_strength:{name}", build).at(q_month)
    rate = smoothed_rate(seized, inspected, prior, m)
    out = {"seizure_rate": rate, "inspections": inspected}
    if recent:
        n90 = look.total("inspected", window=RECENT_WINDOW_DAYS)
        s90 = look.total("seized", window=RECENT_WINDOW_DAYS)
        out[f"seizure_rate_{RECENT_WINDOW_DAYS}d"] = smoothed_rate(s90, n90, rate, m)
        out[f"inspections_{RECENT_WINDOW_DAYS}d"] = n90
    return out, rate


def _hs_level(digits: int | None) -> Callable[[pd.DataFrame], list[pd.Series]]:
    def parts(frame: pd.DataFrame) -> list[pd.Series]:
        hs = frame["hs_code"].astype("str")
        return [hs if digits is None else hs.str.slice(0, digits)]

    return parts


def profile_features(facts: Facts) -> dict[str, np.ndarray]:
    """Risk-profile features of the rows of ``facts`` (module doc), float arrays.

    Empty without labels; an attribute whose column is absent is skipped. NaN where the
    attribute value is null or no outcome at all was known before ``t``.
    """
    if facts.labels is None:
        return {}
    out: dict[str, np.ndarray] = {}
    overall = rows_prior(facts)
    q_month = month_starts(facts.t)

    def emit(name: str, values: dict[str, np.ndarray]) -> None:
        for suffix, array in values.items():
            out[f"profile_{name}_{suffix}"] = array

    parent_keys: np.ndarray | None = None
    prior = overall
    for name, digits in HS_LEVELS:
        keys, q_key = facts.keys(f"profile:{name}", _hs_level(digits))
        values, prior = _profile(
            facts, name, keys, q_key, parent_keys, prior, q_month, recent=False
        )
        emit(name, values)
        parent_keys = keys
    columns = {name: name for name in FLAT_ATTRIBUTES}
    columns.update({extra_feature_name(c): c for c in facts.extra_categorical})
    for name, column in columns.items():
        if not facts.has(column):
            continue
        keys, q_key = facts.keys(f"profile:{name}", lambda frame: [frame[column]])  # noqa: B023
        values, _ = _profile(
            facts, name, keys, q_key, None, overall, q_month, recent=name in RECENT_ATTRIBUTES
        )
        emit(name, values)
    return out
