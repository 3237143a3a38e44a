"""Exact path-dependent TreeSHAP for LightGBM boosters, compiled with numba.

The result is LightGBM's own ``Booster.predict(X, pred_contrib=True)`` (Lundberg et al.'s
path-dependent TreeSHAP, covers = training row counts) computed with the per-leaf tables of
Fast TreeSHAP v2 (Yang 2021, arXiv:2109.09847) instead of Lundberg's recursion.

The algebra, for one tree. A leaf ``l`` with value ``v`` has on its root path the distinct
features ``U`` (``d = |U|``); for each ``f`` in ``U``, ``z_f`` is the product of the cover
ratios ``count(child) / count(node)`` of the path's splits on ``f``. For a row, ``P`` is the set
of those features all of whose path splits the row follows. The leaf's term of the
path-dependent value function only involves ``U``, and its Shapley values are

- ``f`` in ``U`` but not in ``P``: ``-F(P)``;
- ``f`` in ``P``: ``(1 - z_f) / z_f * F(P - {f})``;

where ``F(R) = v * prod(z over U - R) * sum_k w(d, k) * e_{|R|-k}(z over R)``, ``e_j`` being the
elementary symmetric polynomials and ``w(d, k) = k! (d-k-1)! / d!`` the Shapley weights. ``F``
depends on the row only through ``P``, so it is tabulated once per leaf (``2**d`` values); a row
then costs one walk of each tree (one comparison per split, carrying ``P`` as a bit mask) and
``d + 1`` table reads per leaf. Leaves whose table would be too large (``d`` above
:data:`TABLE_MAX_DEPTH` or the total above :data:`TABLE_MAX_VALUES`) or that have an empty
child (``z = 0``) evaluate the same formula per row from the polynomials (``O(d**2)``: the
polynomial of ``P`` once, then ``(1 + z_f t)`` divided out for each ``f``), so the result is
exact either way.

Splits follow LightGBM's prediction rules exactly (``Tree::NumericalDecision`` and
``Tree::CategoricalDecision``): a value with ``|x| <= 1e-35`` is 0 (LightGBM's prediction
input drops it as a zero); a NaN is 0 unless the split's missing type is NaN; a value
that is missing for the split (NaN for missing type NaN, ``|x| <= 1e-35`` for missing type
Zero) goes the ``default_left`` way; otherwise ``x <= threshold`` goes left. A categorical
split sends a category code left when it is in the split's set; NaN, negative codes and codes
past the set go right. Categorical pandas columns become the codes LightGBM uses (the
categories stored with the booster, ``Booster.pandas_categorical``; unseen categories are NaN).

The booster is read once from ``Booster.dump_model()`` (which, like ``predict``, stops at
``best_iteration`` when the booster has one) and cached per booster object. Linear trees,
multi-class and averaged (random forest) models are not supported: :func:`compile_booster`
raises :class:`UnsupportedModel` and callers fall back to LightGBM.

Compilation: the kernels are compiled on first use (several seconds) and cached on disk by
numba next to this file (or in numba's user cache directory); when no cache location is
writable they are compiled in memory each process, silently.
"""

from __future__ import annotations

import math
import threading
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numba
import numpy as np
import pandas as pd
from numba.core.errors import NumbaWarning

if TYPE_CHECKING:
    import lightgbm

__all__ = [
    "TABLE_MAX_DEPTH",
    "TABLE_MAX_VALUES",
    "CompiledTrees",
    "UnsupportedModel",
    "compile_booster",
    "feature_array",
    "shap_values",
]

TABLE_MAX_DEPTH = 16
"""Leaves with more distinct path features than this are evaluated without a table."""

TABLE_MAX_VALUES = 1 << 24
"""Cap on the total size of the per-leaf tables of one model (float64 values: 128 MiB)."""

_MAX_UNIQUE = 62
"""Distinct features on one path must fit a 64-bit mask."""

_ZERO_THRESHOLD = float(np.float32(1e-35))
"""LightGBM's ``kZeroThreshold`` (a float literal widened to double)."""

_BLOCK = 64
"""Rows per parallel work item."""

_LAUNCH = threading.Lock()
"""One parallel kernel at a time: numba's default threading layer aborts the process when two
threads launch parallel kernels at once."""


class UnsupportedModel(ValueError):
    """The booster has a structure this implementation does not cover (see the module doc)."""


@dataclass(frozen=True)
class CompiledTrees:
    """A LightGBM ensemble as flat arrays (see the module doc for the meaning).

    Internal nodes (``node_*``, one entry per split of every tree): child references are
    ``>= 0`` for an internal node, ``~leaf`` for a leaf; ``node_pos`` is the split feature's
    position among the distinct features of the path from the root, ``node_first`` whether
    this is its first split on that path. Leaves (``leaf_*``): value, number of distinct path
    features ``d``, those features, their ``z`` and ``(1 - z) / z``, and the offset of their
    table in ``tables`` (-1: no table). ``tree_root``: one reference per tree.
    ``base_value``: the sum of the trees' expected values, computed as LightGBM does.
    """

    feature_names: list[str]
    base_value: float
    tree_root: np.ndarray
    node_feature: np.ndarray
    node_threshold: np.ndarray
    node_categorical: np.ndarray
    node_missing: np.ndarray
    node_default_left: np.ndarray
    node_left: np.ndarray
    node_right: np.ndarray
    node_cat_start: np.ndarray
    node_cat_words: np.ndarray
    cat_bits: np.ndarray
    node_pos: np.ndarray
    node_first: np.ndarray
    leaf_value: np.ndarray
    leaf_depth: np.ndarray
    leaf_feature: np.ndarray
    leaf_z: np.ndarray
    leaf_ratio: np.ndarray
    leaf_table: np.ndarray
    tables: np.ndarray
    weights: np.ndarray
    max_depth: int

    @property
    def n_features(self) -> int:
        """Number of model features (columns of the input and of the SHAP values)."""
        return len(self.feature_names)


_CACHE: weakref.WeakKeyDictionary[Any, tuple[tuple[int, int], CompiledTrees]] = (
    weakref.WeakKeyDictionary()
)


def compile_booster(booster: lightgbm.Booster) -> CompiledTrees:
    """The booster's trees as :class:`CompiledTrees`, parsed once per booster object.

    Uses the trees ``predict`` uses by default (up to ``best_iteration`` when set). Raises
    :class:`UnsupportedModel` for linear trees, more than one tree per iteration, averaged
    output, or a path with more than 62 distinct features.
    """
    key = (int(booster.best_iteration), int(booster.current_iteration()))
    cached = _CACHE.get(booster)
    if cached is not None and cached[0] == key:
        return cached[1]
    compiled = _parse(booster.dump_model())
    _CACHE[booster] = (key, compiled)
    return compiled


def feature_array(booster: lightgbm.Booster, matrix: pd.DataFrame) -> np.ndarray:
    """The float64 matrix LightGBM predicts on, from a model matrix (rows x features, C order).

    ``matrix``: exactly the booster's features, in order; numeric columns as numbers,
    categorical ones as pandas ``category`` (mapped to the codes of the categories stored with
    the booster, as ``Booster.predict`` does: a category the booster never saw is NaN). A
    column list different from the booster's is a ``ValueError``.
    """
    names = [str(c) for c in matrix.columns]
    expected = list(booster.feature_name())
    if names != expected:
        raise ValueError(f"matrix columns {names} differ from the booster's features {expected}")
    cat_cols = [c for c in matrix.columns if isinstance(matrix[c].dtype, pd.CategoricalDtype)]
    stored = booster.pandas_categorical
    if stored is not None and len(stored) != len(cat_cols):
        raise ValueError(
            f"the booster was trained with {len(stored)} categorical column(s), "
            f"the matrix has {len(cat_cols)}"
        )
    out = np.empty((len(matrix), len(names)), dtype=np.float64)
    cat_index = {c: i for i, c in enumerate(cat_cols)}
    for j, name in enumerate(matrix.columns):
        col = matrix[name]
        if name in cat_index:
            cats = col.cat
            if stored is not None and list(cats.categories) != list(stored[cat_index[name]]):
                cats = cats.set_categories(stored[cat_index[name]]).cat
            codes = cats.codes.to_numpy()
            out[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            out[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def shap_values(compiled: CompiledTrees, x: np.ndarray) -> np.ndarray:
    """SHAP values of the rows of ``x`` (rows x features, float64), in raw score units.

    Returns rows x (features + 1): the last column is the base value, as LightGBM's
    ``pred_contrib``. Raises ``ValueError`` when ``x`` has the wrong number of columns.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != compiled.n_features:
        raise ValueError(f"expected rows x {compiled.n_features} features, found shape {x.shape}")
    out = np.zeros((x.shape[0], compiled.n_features + 1), dtype=np.float64)
    if x.shape[0]:
        with _LAUNCH:
            _shap_kernel(
                x,
                out,
                compiled.tree_root,
                compiled.node_feature,
                compiled.node_threshold,
                compiled.node_categorical,
                compiled.node_missing,
                compiled.node_default_left,
                compiled.node_left,
                compiled.node_right,
                compiled.node_cat_start,
                compiled.node_cat_words,
                compiled.cat_bits,
                compiled.node_pos,
                compiled.node_first,
                compiled.leaf_value,
                compiled.leaf_depth,
                compiled.leaf_feature,
                compiled.leaf_z,
                compiled.leaf_ratio,
                compiled.leaf_table,
                compiled.tables,
                compiled.weights,
                compiled.max_depth,
            )
    out[:, -1] = compiled.base_value
    return out


# ---------------------------------------------------------------------------- parsing


@dataclass
class _Builder:
    """Accumulates the flat arrays while walking the dumped trees."""

    node_feature: list[int]
    node_threshold: list[float]
    node_categorical: list[bool]
    node_missing: list[int]
    node_default_left: list[bool]
    node_left: list[int]
    node_right: list[int]
    node_cat_start: list[int]
    node_cat_words: list[int]
    cat_bits: list[int]
    node_pos: list[int]
    node_first: list[bool]
    leaf_value: list[float]
    leaf_features: list[list[int]]
    leaf_z: list[list[float]]


_MISSING = {"None": 0, "Zero": 1, "NaN": 2}


def _parse(dump: dict[str, Any]) -> CompiledTrees:
    if int(dump.get("num_tree_per_iteration", 1)) != 1:
        raise UnsupportedModel("more than one tree per iteration (multi-class)")
    if dump.get("average_output"):
        raise UnsupportedModel("averaged output (random forest)")
    b = _Builder([], [], [], [], [], [], [], [], [], [], [], [], [], [], [])
    roots: list[int] = []
    base = 0.0
    max_depth = 0
    for tree in dump["tree_info"]:
        if tree.get("is_linear"):
            raise UnsupportedModel("linear trees")
        root = tree["tree_structure"]
        base += _expected_value(root)
        ref, depth = _walk(root, b)
        roots.append(ref)
        max_depth = max(max_depth, depth)
    n_leaves = len(b.leaf_value)
    widest = max((len(f) for f in b.leaf_features), default=0)
    if widest > _MAX_UNIQUE:
        raise UnsupportedModel(f"a path with {widest} distinct features (at most {_MAX_UNIQUE})")
    width = max(widest, 1)
    leaf_depth = np.array([len(f) for f in b.leaf_features], dtype=np.int64)
    leaf_feature = np.zeros((n_leaves, width), dtype=np.int64)
    leaf_z = np.ones((n_leaves, width), dtype=np.float64)
    for i, (feats, zs) in enumerate(zip(b.leaf_features, b.leaf_z, strict=True)):
        leaf_feature[i, : len(feats)] = feats
        leaf_z[i, : len(zs)] = zs
    with np.errstate(divide="ignore", invalid="ignore"):
        leaf_ratio = np.where(leaf_z > 0, (1.0 - leaf_z) / leaf_z, 0.0)
    leaf_table = np.full(n_leaves, -1, dtype=np.int64)
    total = 0
    for i in np.argsort(leaf_depth, kind="stable"):
        d = int(leaf_depth[i])
        size = 1 << d
        if d > TABLE_MAX_DEPTH or total + size > TABLE_MAX_VALUES:
            break
        if np.all(leaf_z[i, :d] > 0):
            leaf_table[i] = total
            total += size
    weights = _shapley_weights(widest)
    leaf_value = np.array(b.leaf_value, dtype=np.float64)
    tables = np.zeros(total, dtype=np.float64)
    if total:
        deepest = int(leaf_depth[leaf_table >= 0].max())
        _tables_kernel(leaf_depth, leaf_z, leaf_value, leaf_table, weights, tables, deepest)
    i64 = np.int64
    return CompiledTrees(
        feature_names=[str(n) for n in dump["feature_names"]],
        base_value=base,
        tree_root=np.array(roots, dtype=i64),
        node_feature=np.array(b.node_feature, dtype=i64),
        node_threshold=np.array(b.node_threshold, dtype=np.float64),
        node_categorical=np.array(b.node_categorical, dtype=np.bool_),
        node_missing=np.array(b.node_missing, dtype=i64),
        node_default_left=np.array(b.node_default_left, dtype=np.bool_),
        node_left=np.array(b.node_left, dtype=i64),
        node_right=np.array(b.node_right, dtype=i64),
        node_cat_start=np.array(b.node_cat_start, dtype=i64),
        node_cat_words=np.array(b.node_cat_words, dtype=i64),
        cat_bits=np.array(b.cat_bits, dtype=np.uint32),
        node_pos=np.array(b.node_pos, dtype=i64),
        node_first=np.array(b.node_first, dtype=np.bool_),
        leaf_value=leaf_value,
        leaf_depth=leaf_depth,
        leaf_feature=leaf_feature,
        leaf_z=leaf_z,
        leaf_ratio=leaf_ratio,
        leaf_table=leaf_table,
        tables=tables,
        weights=weights,
        max_depth=max_depth,
    )


def _is_leaf(node: dict[str, Any]) -> bool:
    return "split_index" not in node


def _count(node: dict[str, Any]) -> int:
    return int(node["leaf_count"] if _is_leaf(node) else node["internal_count"])


def _expected_value(root: dict[str, Any]) -> float:
    """``Tree::ExpectedValue``: leaves in index order, ``(count / root count) * value``."""
    if _is_leaf(root):
        return float(root["leaf_value"])
    leaves: list[tuple[int, int, float]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if _is_leaf(node):
            leaves.append((int(node["leaf_index"]), int(node["leaf_count"]), node["leaf_value"]))
        else:
            stack.extend((node["left_child"], node["right_child"]))
    total = float(root["internal_count"])
    value = 0.0
    for _, count, leaf_value in sorted(leaves):
        value += (count / total) * float(leaf_value)
    return value


def _walk(root: dict[str, Any], b: _Builder) -> tuple[int, int]:
    """Append one tree; returns its root reference and its depth."""
    if "leaf_coeff" in root:
        raise UnsupportedModel("linear trees")
    if _is_leaf(root):
        b.leaf_value.append(float(root["leaf_value"]))
        b.leaf_features.append([])
        b.leaf_z.append([])
        return ~(len(b.leaf_value) - 1), 0
    # (node, path features, their z, depth, parent index, is left child)
    stack: list[tuple[dict[str, Any], list[int], list[float], int, int, bool]] = [
        (root, [], [], 0, -1, True)
    ]
    root_ref = len(b.node_feature)
    depth = 0
    while stack:
        node, feats, zs, level, parent, is_left = stack.pop()
        depth = max(depth, level)
        if _is_leaf(node):
            if "leaf_coeff" in node:
                raise UnsupportedModel("linear trees")
            ref = ~len(b.leaf_value)
            b.leaf_value.append(float(node["leaf_value"]))
            b.leaf_features.append(feats)
            b.leaf_z.append(zs)
        else:
            ref = len(b.node_feature)
            _add_split(node, feats, b)
            total = float(node["internal_count"])
            feature = int(node["split_feature"])
            pos = b.node_pos[-1]
            for child, left in ((node["right_child"], False), (node["left_child"], True)):
                ratio = _count(child) / total
                if b.node_first[-1]:
                    child_feats, child_zs = [*feats, feature], [*zs, ratio]
                else:
                    child_feats, child_zs = feats, list(zs)
                    child_zs[pos] *= ratio
                stack.append((child, child_feats, child_zs, level + 1, ref, left))
        if parent >= 0:
            (b.node_left if is_left else b.node_right)[parent] = ref
    return root_ref, depth


def _add_split(node: dict[str, Any], feats: list[int], b: _Builder) -> None:
    feature = int(node["split_feature"])
    decision = node["decision_type"]
    b.node_feature.append(feature)
    b.node_missing.append(_MISSING[node["missing_type"]])
    b.node_default_left.append(bool(node["default_left"]))
    b.node_left.append(0)
    b.node_right.append(0)
    if decision == "==":
        cats = [int(c) for c in str(node["threshold"]).split("||")]
        words = max(cats) // 32 + 1
        bits = [0] * words
        for c in cats:
            bits[c // 32] |= 1 << (c % 32)
        b.node_categorical.append(True)
        b.node_threshold.append(0.0)
        b.node_cat_start.append(len(b.cat_bits))
        b.node_cat_words.append(words)
        b.cat_bits.extend(bits)
    elif decision == "<=":
        b.node_categorical.append(False)
        b.node_threshold.append(float(node["threshold"]))
        b.node_cat_start.append(0)
        b.node_cat_words.append(0)
    else:
        raise UnsupportedModel(f"decision type {decision!r}")
    if feature in feats:
        b.node_pos.append(feats.index(feature))
        b.node_first.append(False)
    else:
        b.node_pos.append(len(feats))
        b.node_first.append(True)


def _shapley_weights(widest: int) -> np.ndarray:
    """``w[d, k] = k! (d-k-1)! / d! = 1 / (d * C(d-1, k))`` for ``k < d``, else 0."""
    size = max(widest, 1) + 1
    w = np.zeros((size, size), dtype=np.float64)
    for d in range(1, size):
        for k in range(d):
            w[d, k] = 1.0 / (d * math.comb(d - 1, k))
    return w


# ---------------------------------------------------------------------------- kernels


def _jit(*, parallel: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``numba.njit`` with an on-disk cache when numba finds a writable place, else without
    (numba's warnings about the cache silenced: a missing cache only costs compile time)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NumbaWarning)
            try:
                return numba.njit(parallel=parallel, cache=True, nogil=True)(fn)
            except RuntimeError:  # numba: no locator available (nothing writable)
                return numba.njit(parallel=parallel, cache=False, nogil=True)(fn)

    return decorate


@_jit(parallel=False)
def _tables_kernel(
    leaf_depth: Any,
    leaf_z: Any,
    leaf_value: Any,
    leaf_table: Any,
    weights: Any,
    tables: Any,
    max_depth: int,
) -> None:
    size = 1 << max_depth
    poly = np.zeros((size, max_depth + 1))
    prod = np.ones(size)
    count = np.zeros(size, dtype=np.int64)
    for leaf in range(leaf_depth.shape[0]):
        off = leaf_table[leaf]
        if off < 0:
            continue
        d = leaf_depth[leaf]
        full = (1 << d) - 1
        poly[0, 0] = 1.0
        prod[0] = 1.0
        count[0] = 0
        for r in range(1, full + 1):
            low = r & -r
            j = 0
            while (low >> j) != 1:
                j += 1
            parent = r ^ low
            k = count[parent]
            z = leaf_z[leaf, j]
            poly[r, 0] = 1.0
            for q in range(1, k + 1):
                poly[r, q] = poly[parent, q] + z * poly[parent, q - 1]
            poly[r, k + 1] = z * poly[parent, k]
            prod[r] = prod[parent] * z
            count[r] = k + 1
        value = leaf_value[leaf]
        for r in range(full + 1):
            m = count[r]
            s = 0.0
            for k in range(min(m, d - 1) + 1):
                s += weights[d, k] * poly[r, m - k]
            tables[off + r] = value * prod[full ^ r] * s


@_jit(parallel=True)
def _shap_kernel(
    x: Any,
    out: Any,
    tree_root: Any,
    node_feature: Any,
    node_threshold: Any,
    node_categorical: Any,
    node_missing: Any,
    node_default_left: Any,
    node_left: Any,
    node_right: Any,
    node_cat_start: Any,
    node_cat_words: Any,
    cat_bits: Any,
    node_pos: Any,
    node_first: Any,
    leaf_value: Any,
    leaf_depth: Any,
    leaf_feature: Any,
    leaf_z: Any,
    leaf_ratio: Any,
    leaf_table: Any,
    tables: Any,
    weights: Any,
    max_depth: int,
) -> None:
    n = x.shape[0]
    width = leaf_z.shape[1]
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for blk in numba.prange(n_blocks):
        stack_node = np.empty(max_depth + 2, dtype=np.int64)
        stack_mask = np.empty(max_depth + 2, dtype=np.int64)
        zs = np.empty(width + 1)
        pos = np.empty(width + 1, dtype=np.int64)
        poly = np.empty(width + 2)
        sub = np.empty(width + 2)
        # trees outer, rows inner: a tree's nodes and tables stay in cache across the block
        for t in range(tree_root.shape[0]):
            if tree_root[t] < 0:
                continue
            for row in range(blk * _BLOCK, min(n, (blk + 1) * _BLOCK)):
                phi = out[row]
                stack_node[0] = tree_root[t]
                stack_mask[0] = 0
                sp = 1
                while sp > 0:
                    sp -= 1
                    node = stack_node[sp]
                    mask = stack_mask[sp]
                    if node < 0:
                        leaf = ~node
                        d = leaf_depth[leaf]
                        off = leaf_table[leaf]
                        if off >= 0:
                            here = tables[off + mask]
                            for j in range(d):
                                f = leaf_feature[leaf, j]
                                if (mask >> j) & 1:
                                    phi[f] += leaf_ratio[leaf, j] * tables[off + (mask ^ (1 << j))]
                                else:
                                    phi[f] -= here
                            continue
                        # no table: the same formula from the polynomials
                        value = leaf_value[leaf]
                        prod_q = 1.0
                        m = 0
                        for j in range(d):
                            if (mask >> j) & 1:
                                zs[m] = leaf_z[leaf, j]
                                pos[m] = j
                                m += 1
                            else:
                                prod_q *= leaf_z[leaf, j]
                        poly[0] = 1.0
                        for q in range(m):
                            poly[q + 1] = 0.0
                            for k in range(q + 1, 0, -1):
                                poly[k] += zs[q] * poly[k - 1]
                        s = 0.0
                        for k in range(min(m, d - 1) + 1):
                            s += weights[d, k] * poly[m - k]
                        unsat = value * prod_q * s
                        for j in range(d):
                            if not (mask >> j) & 1:
                                phi[leaf_feature[leaf, j]] -= unsat
                        for i in range(m):
                            # divide out (1 + z_i t); the forward recurrence only ever
                            # multiplies earlier errors by z_i <= 1
                            sub[0] = 1.0
                            for k in range(1, m):
                                sub[k] = poly[k] - zs[i] * sub[k - 1]
                            s = 0.0
                            for k in range(m):
                                s += weights[d, k] * sub[m - 1 - k]
                            j = pos[i]
                            phi[leaf_feature[leaf, j]] += (
                                value * (1.0 - leaf_z[leaf, j]) * prod_q * s
                            )
                        continue
                    v = x[row, node_feature[node]]
                    if v >= -_ZERO_THRESHOLD and v <= _ZERO_THRESHOLD:
                        v = 0.0  # LightGBM reads such a value as absent, i.e. 0
                    if node_categorical[node]:
                        left = False
                        if not np.isnan(v) and v > -2147483649.0 and v < 2147483648.0:
                            code = int(v)
                            if code >= 0:
                                word = code >> 5
                                if word < node_cat_words[node]:
                                    bits = cat_bits[node_cat_start[node] + word]
                                    left = ((bits >> (code & 31)) & 1) == 1
                    else:
                        kind = node_missing[node]
                        if np.isnan(v) and kind != 2:
                            v = 0.0
                        if (kind == 1 and v >= -_ZERO_THRESHOLD and v <= _ZERO_THRESHOLD) or (
                            kind == 2 and np.isnan(v)
                        ):
                            left = node_default_left[node]
                        else:
                            left = v <= node_threshold[node]
                    bit = np.int64(1) << node_pos[node]
                    if node_first[node]:
                        hot = mask | bit
                        cold = mask
                    else:
                        hot = mask
                        cold = mask & ~bit
                    stack_node[sp] = node_left[node]
                    stack_mask[sp] = hot if left else cold
                    stack_node[sp + 1] = node_right[node]
                    stack_mask[sp + 1] = cold if left else hot
                    sp += 2
