"""Exact SHAP contributions and the top reasons of a score, for officers and reports.

One implementation for the whole project (batch scoring and ``riskmodel explain`` both call
:func:`contributions`): exact path-dependent TreeSHAP in log-odds, so for every row
``base_value + values.sum() == raw_margin`` (to floating-point rounding, checked to 1e-9 in the
tests and by batch scoring on every chunk).

Engine. By default the values come from :mod:`riskmodel.scoring.treeshap`, our numba
implementation of the per-leaf tables of Fast TreeSHAP v2; LightGBM's own
``Booster.predict(..., pred_contrib=True)`` stays as ``engine="lightgbm"``, the reference the
numba engine is tested against (every value equal to 1e-9, on missing values of each missing
type, categoricals with unseen and missing levels, one-leaf trees, stumps, deep trees and
early-stopped boosters). On the scoring benchmark's model (130 trees of up to 31 leaves, 167
features; tests/bench/test_bench_reasons.py) the numba engine computed 50,000 rows in
5.1-8.3 s against 43-69 s for ``pred_contrib`` run back to back in the same process (5.5-9.7x
over two bench runs of four pairs each), on the shared 2-core machine at load 4-7, where
LightGBM ran at about half its idle speed (1,000 rows/s against 2,015); the largest
difference was 1.6e-15. numba was already
installed (shap depends on it), so it adds no new package; its kernels compile once (about
6 s) and are then loaded from numba's cache (well under 1 s).

The FastTreeSHAP package (``fasttreeshap-fixed``) was weighed and not used: it is a source
distribution that needs a C++ compiler and OpenMP at install time, declares a hard dependency
on xgboost (which pulls a ~200 MB GPU communication library on Linux), is maintained by one
person, and, measured, does not apply to this model at all: its C extension cannot read
LightGBM's categorical splits, so on the project's boosters it falls back to (or fails
without) LightGBM's ``pred_contrib``; on a numeric-only model of the same size its v1 was about
1.2x LightGBM.

Text. :func:`top_reasons` works per feature, not per row: each distinct value shown is
formatted once; 50,000 rows x 3 reasons took 0.4-0.8 s against 2.4 s for the
row-by-row loop it replaced (both under load), with identical output.
"""

from __future__ import annotations

import functools
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


def contributions(
    model: RiskModel, feature_frame: pd.DataFrame, *, engine: str = "numba"
) -> Contributions:
    """Exact per-feature contributions of ``feature_frame``'s rows to the model's log-odds.

    ``feature_frame``: at least the model's feature columns (extra columns are ignored);
    categoricals as pandas ``category`` or strings (mapped through the categories stored with
    the model, so their order in the frame does not matter). A frame lacking a feature is a
    :class:`ModelError`. With zero rows the result has zero rows and the base value is still
    the model's.

    ``engine``: ``"numba"`` (default) computes them with :mod:`riskmodel.scoring.treeshap`;
    ``"lightgbm"`` with ``Booster.predict(..., pred_contrib=True)``, the reference the numba
    engine is tested against (equal to 1e-9). A booster the numba engine does not cover
    (linear trees, multi-class, random forest) uses LightGBM's. Another ``engine`` is a
    ``ValueError``.
    """
    if engine not in ("numba", "lightgbm"):
        raise ValueError(f"engine must be 'numba' or 'lightgbm', found {engine!r}")
    names = model.feature_names
    matrix = model.matrix(feature_frame)
    if engine == "numba":
        from riskmodel.scoring.treeshap import (
            UnsupportedModel,
            compile_booster,
            feature_array,
            shap_values,
        )

        try:
            compiled = compile_booster(model.booster)
        except UnsupportedModel:
            compiled = None
        if compiled is not None:
            if compiled.feature_names != names:
                raise ModelError(
                    f"the booster's features {compiled.feature_names} differ from the "
                    f"model's {names}"
                )
            if len(matrix) == 0:
                raw = np.zeros((0, len(names) + 1), dtype=float)
                return _from_raw(raw, names, matrix.index, base=compiled.base_value)
            try:
                x = feature_array(model.booster, matrix)
            except ValueError as exc:
                raise ModelError(f"reasons: {exc}") from None
            return _from_raw(shap_values(compiled, x), names, matrix.index)
    if len(matrix) == 0:
        probe = model.matrix(_empty_row(feature_frame, names, model.categorical_features))
        raw = np.asarray(model.booster.predict(probe, pred_contrib=True), dtype=float)
        return _from_raw(raw[:0], names, matrix.index, base=float(raw[0, -1]))
    raw = np.asarray(model.booster.predict(matrix, pred_contrib=True), dtype=float)
    return _from_raw(raw, names, matrix.index)


def _from_raw(
    raw: np.ndarray, names: list[str], index: pd.Index, *, base: float | None = None
) -> Contributions:
    """:class:`Contributions` from a rows x (features + 1) array whose last column is the base
    value (``base`` when there are no rows)."""
    if raw.shape != (len(index), len(names) + 1):
        raise ModelError(
            f"SHAP values have shape {raw.shape}, expected ({len(index)}, {len(names) + 1})"
        )
    values = pd.DataFrame(raw[:, :-1], columns=names, index=index)
    if base is None:
        base = float(raw[0, -1])
    return Contributions(base_value=base, values=values, raw_margin=raw.sum(axis=1))


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

    Work is per feature, not per row: the rows whose reasons name a feature are gathered, the
    distinct values among them are formatted once each (grouped exactly: float values by
    their bits, other values by equality, categories by code) and spread back.
    """
    values = contrib.values
    n, width = values.shape
    arr = values.to_numpy()
    kk = min(k, width)
    order = _largest(arr, kk)
    names = [str(c) for c in values.columns]
    describe = _describer(names)
    # column access copies ``attrs`` (see :func:`riskmodel.model.model_matrix`): drop them once
    frame = feature_frame.copy(deep=False)
    frame.attrs = {}
    flat = order.ravel()
    shown = np.full(flat.shape, None, dtype=object)
    text = np.full(flat.shape, None, dtype=object)
    by_feature = np.argsort(flat, kind="stable")
    features, starts = np.unique(flat[by_feature], return_index=True)
    ends = [*starts[1:].tolist(), len(flat)] if len(starts) else []
    for j, start, end in zip(features.tolist(), starts.tolist(), ends, strict=True):
        positions = by_feature[start:end]
        name = names[j]
        representatives, inverse = _distinct(frame[name], positions // kk)
        shown_u = np.empty(len(representatives), dtype=object)
        text_u = np.empty(len(representatives), dtype=object)
        for u, value in enumerate(representatives):
            shown_u[u] = format_value(value)
            text_u[u] = describe(name, None if shown_u[u] is None else _plain(value))
        shown[positions] = shown_u[inverse]
        text[positions] = text_u[inverse]
    shown_rows = shown.reshape(n, kk)
    text_rows = text.reshape(n, kk)
    rows = np.arange(n)
    name_array = np.array(names, dtype=object)
    out: dict[str, Any] = {}
    for i in range(k):
        if i < kk:
            feature: Any = name_array[order[:, i]]
            amount = arr[rows, order[:, i]]
            shown_i: Any = shown_rows[:, i]
            text_i: Any = text_rows[:, i]
        else:
            feature = shown_i = text_i = [None] * n
            amount = np.full(n, np.nan)
        out[f"reason_{i + 1}_feature"] = pd.Series(feature, index=values.index, dtype="str")
        out[f"reason_{i + 1}_value"] = pd.Series(shown_i, index=values.index, dtype="str")
        out[f"reason_{i + 1}_contribution"] = pd.Series(amount, index=values.index, dtype=float)
        out[f"reason_{i + 1}_text"] = pd.Series(text_i, index=values.index, dtype="str")
    return pd.DataFrame(out, index=values.index)


def _largest(arr: np.ndarray, k: int) -> np.ndarray:
    """Per row, the column indices of the ``k`` largest ``|arr|``, largest first, ties in
    column order: ``np.argsort(-abs(arr), axis=1, kind="stable")[:, :k]`` without sorting
    whole rows (a partition finds each row's k-th size; equal sizes are taken leftmost first).
    """
    n, width = arr.shape
    if n == 0 or k == 0:
        return np.zeros((n, k), dtype=np.intp)
    if k >= width:
        return np.argsort(-np.abs(arr), axis=1, kind="stable")
    size = -np.abs(arr)
    kth = np.partition(size, k - 1, axis=1)[:, k - 1 : k]
    above = size < kth
    tied = size == kth
    chosen = above | tied
    n_above = above.sum(axis=1)
    crowded = np.flatnonzero(n_above + tied.sum(axis=1) > k)
    if crowded.size:  # more ties at the k-th size than room: keep the leftmost
        room = (k - n_above[crowded])[:, None]
        ties = tied[crowded]
        chosen[crowded] = above[crowded] | (ties & (np.cumsum(ties, axis=1) <= room))
    columns = np.nonzero(chosen)[1].reshape(n, k)
    by_size = np.argsort(np.take_along_axis(size, columns, axis=1), axis=1, kind="stable")
    return np.take_along_axis(columns, by_size, axis=1)


def _distinct(column: pd.Series, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``column`` at positions ``rows`` and, per position, the index of
    its value among them. Values are the objects ``Series.to_numpy(dtype=object)`` gives; two
    positions share a value only if they format identically (floats compared by their bits, so
    -0.0 and 0.0 stay apart; NaN and missing are all missing)."""
    picked = column.take(rows)
    objects = picked.to_numpy(dtype=object)
    dtype = picked.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        keys = picked.cat.codes.to_numpy()
    elif pd.api.types.is_float_dtype(dtype):
        floats = picked.to_numpy(dtype=np.float64, na_value=np.nan)
        keys = np.where(np.isnan(floats), np.nan, floats).view(np.int64)
    else:
        keys = pd.factorize(objects)[0]
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return objects[first], inverse


def _describer(names: list[str]) -> Any:
    """:func:`features.catalogue.describe` with each feature's catalogue entry looked up once.

    ``describe`` rebuilds the catalogue to find one entry; for thousands of reasons the
    lookup, not the sentence, was the cost. A value equal to a missing one, or a template
    that cannot format it, falls back to ``describe`` itself, so the sentences are the same.
    Entries and missing-value sentences are remembered for the process (the catalogue is a
    pure function of the feature name), so later batches skip the lookups.
    """
    from features.catalogue import describe

    templates = {name: _template(name) for name in names}

    def sentence(name: str, value: Any) -> str:
        if value is None:
            return _missing_sentence(name)
        template = templates.get(name)
        if template is None:
            return describe(name, value)
        try:
            return template.format(value=value)
        except (ValueError, TypeError):
            return describe(name, value)

    return sentence


@functools.lru_cache(maxsize=4096)
def _template(name: str) -> str | None:
    """The catalogue template of ``name`` (``None`` when it has no entry)."""
    from features.catalogue import feature_info

    try:
        return feature_info(name).template
    except KeyError:
        return None


@functools.lru_cache(maxsize=4096)
def _missing_sentence(name: str) -> str:
    """:func:`features.catalogue.describe` of a missing value of ``name``."""
    from features.catalogue import describe

    return describe(name, None)


def _plain(value: Any) -> Any:
    """A numpy scalar as a Python number (for ``str.format`` templates)."""
    return value.item() if isinstance(value, np.generic) else value
