"""Point-in-time history: the counting primitive every feature family uses, and entity history.

The one rule (docs/architecture.md, "Point-in-time rule"): a feature of a declaration made
at time ``t`` counts only facts known strictly before ``t``. Every family expresses its
features as "how many / how much of some fact, for the same key, before ``t`` (within a
window)", answered by :class:`PriorIndex`: facts sorted by (key, time), per-key cumulative
sums, and ``searchsorted`` for the queries. No Python loop over rows.

Exactness matters twice. Per-key cumulative sums (not one global running sum) make a
feature depend only on its own key's earlier facts, so removing later facts changes no float
of an earlier feature (the leakage test demands bit-equality); ties in (key, time) are broken
by the weights themselves, so the same set of facts gives the same floats whatever their
input order (the fit/transform identity demands it).

Facts and rows. :class:`Facts` separates the facts (declarations, labels, flags, legs) from
the rows that need features: for a training table they are the same declarations; for
scoring the facts are the fitted history and the rows the batch, which is never a fact for
itself. Families encode keys with :meth:`Facts.keys` (a dictionary of values built once from
the facts; rows are looked up in it, an unseen value has no history) and keep their
:class:`PriorIndex` objects in :meth:`Facts.cached`, so a fitted pipeline builds each index
once and a batch costs O(batch x log history). A new family follows the same pattern:
``keys, q_key = facts.keys(name, parts)``, ``facts.at(facts.cached(name, lambda:
PriorIndex(keys, facts.t_facts, ..., grid=facts.decl_grid)), q_key)``.

Entity history (importer, declarant, exporter, importer x declarant pair): age at ``t``,
declarations in the trailing windows, first-time flag, inspections and seizures whose
outcome was known before ``t`` (``labels.inspected_at < t``), and the seizure rate smoothed
toward the overall rate known before ``t``: ``(seized + m * prior) / (inspected + m)``.

Broker portfolio (declarant only): the share of the declarant's declarations in the last
365 days that were lodged for a *young* importer (first declared under
:data:`YOUNG_IMPORTER_DAYS` days before that declaration). A broker who keeps filing for
brand-new companies is a classic targeting signal, and it needs no outcomes at all, so it
is known long before the broker's own seizure rate is. Each past declaration's importer age
is taken at that declaration's own time, so only facts before ``t`` are used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.lookup import is_text

__all__ = [
    "DAY_US",
    "ENTITY_ROLES",
    "PORTFOLIO_WINDOW_DAYS",
    "YOUNG_IMPORTER_DAYS",
    "Facts",
    "KeyCode",
    "Lookup",
    "PriorIndex",
    "as_objects",
    "entity_features",
    "factorize",
    "label_index",
    "overall_prior",
    "rows_prior",
    "smoothed_rate",
    "text_array",
    "times_us",
]

DAY_US = 86_400_000_000
"""One day in microseconds (timestamps travel as int64 microseconds)."""

YOUNG_IMPORTER_DAYS = 90
"""An importer first seen fewer days than this before a declaration counts as young."""

PORTFOLIO_WINDOW_DAYS = 365
"""Trailing window of the broker-portfolio share."""

ENTITY_ROLES: dict[str, tuple[str, ...]] = {
    "importer": ("importer_id",),
    "declarant": ("declarant_id",),
    "exporter": ("exporter_id",),
    "pair": ("importer_id", "declarant_id"),
}
"""Feature prefix -> the declaration columns whose values identify the entity."""

_T = TypeVar("_T")


def times_us(values: pd.Series | pd.Index | np.ndarray) -> np.ndarray:
    """Timestamps as int64 microseconds since the epoch (NaT becomes int64 min)."""
    return np.asarray(pd.to_datetime(values).to_numpy("datetime64[us]")).astype(np.int64)


def factorize(*columns: pd.Series) -> np.ndarray:
    """One int64 code per row for the combination of ``columns``; -1 where any is null."""
    codes = np.zeros(len(columns[0]), dtype=np.int64)
    null = np.zeros(len(columns[0]), dtype=bool)
    for column in columns:
        part, uniques = pd.factorize(column, use_na_sentinel=True)
        null |= part < 0
        codes = codes * (len(uniques) + 1) + part
    if len(columns) > 1:
        codes = pd.factorize(codes)[0].astype(np.int64)
    codes[null] = -1
    return codes


@dataclass(frozen=True)
class Lookup:
    """Where each query (key, t) falls in a :class:`PriorIndex`; read counts and sums from it."""

    index: PriorIndex
    valid: np.ndarray
    seg: np.ndarray
    hi: np.ndarray
    lo: dict[int, np.ndarray] = field(default_factory=dict)

    def _lo(self, window: int | None) -> np.ndarray:
        return self.seg if window is None else self.lo[window]

    def count(self, *, window: int | None = None) -> np.ndarray:
        """Facts of the same key before ``t`` (within ``window`` days); NaN for a null key."""
        out = (self.hi - self._lo(window)).astype(float)
        out[~self.valid] = np.nan
        return out

    def total(self, name: str, *, window: int | None = None) -> np.ndarray:
        """Sum of weight ``name`` over the same facts as :meth:`count`."""
        out = self.index.window_sum(name, self.hi, self._lo(window), self.seg).astype(float)
        out[~self.valid] = np.nan
        return out

    def first(self) -> np.ndarray:
        """Time (int64 us, as float) of the key's first fact before ``t``; NaN if none."""
        has = self.valid & (self.hi > self.seg)
        out = np.full(len(self.hi), np.nan)
        if has.any():
            out[has] = self.index.sorted_times[self.seg[has]]
        return out

    def last(self) -> np.ndarray:
        """Time (int64 us, as float) of the key's last fact before ``t``; NaN if none."""
        has = self.valid & (self.hi > self.seg)
        out = np.full(len(self.hi), np.nan)
        if has.any():
            out[has] = self.index.sorted_times[self.hi[has] - 1]
        return out


def _cum_at(cum: np.ndarray, pos: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Per-key running sum of the facts before position ``pos`` (0 at the key's start)."""
    if len(cum) == 0:
        return np.zeros(len(pos), dtype=float)
    taken = cum[np.maximum(pos - 1, 0)]
    return np.where(pos > seg, taken, 0.0)


class PriorIndex:
    """Facts (key, time, weights) sorted for "same key, strictly before t" queries.

    ``keys`` are int64 codes (-1 = no key, the fact is ignored), ``times`` int64
    microseconds. Times become exact ranks in ``grid`` (sorted times holding every fact
    time; default: the kept facts' own), so the composite ``key * (len(grid) + 1) + rank``
    is exact in int64 for any realistic number of facts; "fact before t" is "fact rank <
    rank of t" for any such grid. Indexes over the same facts' times share one grid (see
    :meth:`Facts.at`), so a batch ranks its times once for all of them.
    """

    def __init__(
        self,
        keys: np.ndarray,
        times: np.ndarray,
        weights: Mapping[str, np.ndarray] | None = None,
        *,
        grid: np.ndarray | None = None,
    ) -> None:
        keys = np.asarray(keys, dtype=np.int64)
        times = np.asarray(times, dtype=np.int64)
        keep = keys >= 0
        keys, times = keys[keep], times[keep]
        named = {name: np.asarray(w)[keep] for name, w in (weights or {}).items()}
        self._grid = np.sort(times) if grid is None else grid
        self._latest = times.max() if len(times) else None
        self._n1 = np.int64(len(self._grid) + 1)
        comp = keys * self._n1 + np.searchsorted(self._grid, times, side="left")
        order = np.lexsort([*(named[n] for n in reversed(list(named))), comp])
        self._comp = comp[order]
        self._keys = keys[order]
        # first sorted position of every key code 0 .. max + 1 (the last: past the end)
        top = int(keys.max()) + 2 if len(keys) else 1
        self._starts = np.searchsorted(self._comp, np.arange(top, dtype=np.int64) * self._n1)
        self.sorted_times = times[order]
        # integers: one global prefix sum (exact); floats: running sums per key, so a key's
        # floats never depend on other keys' facts
        self._int: dict[str, np.ndarray] = {}
        self._float: dict[str, np.ndarray] = {}
        for name, w in named.items():
            ordered = w[order]
            if np.issubdtype(ordered.dtype, np.integer) or ordered.dtype == bool:
                self._int[name] = np.concatenate([[0], np.cumsum(ordered.astype(np.int64))])
            else:
                self._float[name] = (
                    pd.Series(ordered.astype(float)).groupby(self._keys).cumsum().to_numpy()
                )

    def __len__(self) -> int:
        return len(self._comp)

    def window_sum(self, name: str, hi: np.ndarray, lo: np.ndarray, seg: np.ndarray) -> np.ndarray:
        """Sum of weight ``name`` over sorted positions ``[lo, hi)`` of one key each."""
        if name in self._int:
            prefix = self._int[name]
            return prefix[hi] - prefix[lo]
        cum = self._float[name]
        return _cum_at(cum, hi, seg) - _cum_at(cum, lo, seg)

    def _pos(self, q_key: np.ndarray, rank: np.ndarray, by_key: np.ndarray) -> np.ndarray:
        """Sorted position of each query (``q_key``, ``rank`` of its time in the grid):
        facts of a smaller key, or of the same key strictly before that time, come first.

        ``by_key`` sorts the queries by (key, time); it holds for ``time - window`` too, so
        one sort serves every window. Sorted queries walk the fact arrays forwards: several
        times faster than random probes.
        """
        comp = q_key[by_key] * self._n1 + rank[by_key]
        out = np.empty(len(comp), dtype=np.int64)
        out[by_key] = np.searchsorted(self._comp, comp, side="left")
        return out

    def at(
        self,
        q_key: np.ndarray,
        q_time: np.ndarray,
        *,
        windows: Sequence[int] = (),
        memo: QueryMemo | None = None,
    ) -> Lookup:
        """Locate queries ``(key, t)``; ``windows`` (days) prepares trailing-window reads.

        A key code without facts (e.g. a value never seen among them) has no history;
        -1 is no key (its reads are NaN). A query later than every fact (a scored row: the
        facts are the history before the cutoff) sees its key's whole segment, with no
        search. ``memo`` (for these very ``q_time``) keeps the time order and the ranks in
        this index's grid for the next index over the same grid.
        """
        q_key = np.asarray(q_key, dtype=np.int64)
        q_time = np.asarray(q_time, dtype=np.int64)
        memo = memo if memo is not None and memo.times is q_time else QueryMemo(q_time)
        valid = q_key >= 0
        safe = np.where(valid, q_key, 0)
        last = len(self._starts) - 1
        seg = self._starts[np.minimum(safe, last)]
        end = self._starts[np.minimum(safe + 1, last)]
        # (no facts at all: every query is later than all of them)
        late = np.ones(len(q_time), dtype=bool) if self._latest is None else q_time > self._latest
        by_key: np.ndarray | None = None
        if late.all():
            hi = end
        else:
            by_key = memo.by_key(safe)
            hi = np.where(late, end, self._pos(safe, memo.rank(self._grid, 0), by_key))
        lo: dict[int, np.ndarray] = {}
        for w in windows:
            by_key = memo.by_key(safe) if by_key is None else by_key
            lo[w] = self._pos(safe, memo.rank(self._grid, int(w) * DAY_US), by_key)
        return Lookup(self, valid, seg, hi, lo)


class QueryMemo:
    """What queries at the same times share across indexes: their order by time and their
    rank (``searchsorted(grid, times - shift)``) in each grid, keyed by the grid object."""

    def __init__(self, times: np.ndarray) -> None:
        self.times = times
        self._ranks: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._order: tuple[np.ndarray | None, np.ndarray] | None = None

    def _time_order(self) -> tuple[np.ndarray | None, np.ndarray]:
        """(order by time or None when already sorted, each query's rank in that order)."""
        if self._order is None:
            times, n = self.times, len(self.times)
            if n < 2 or bool(np.all(times[1:] >= times[:-1])):
                self._order = (None, np.arange(n, dtype=np.int64))
            else:
                by_time = np.argsort(times)
                rank = np.empty(n, dtype=np.int64)
                rank[by_time] = np.arange(n, dtype=np.int64)
                self._order = (by_time, rank)
        return self._order

    def by_key(self, keys: np.ndarray) -> np.ndarray:
        """Order of the queries by (key, time): a stable radix sort of the time-ordered keys
        when they fit 16 bits, else one sort of a unique (key, time rank) composite."""
        by_time, time_rank = self._time_order()
        if len(keys) and int(keys.max()) < 2**16:
            ordered = keys if by_time is None else keys[by_time]
            perm = np.argsort(ordered.astype(np.uint16), kind="stable")
            return perm if by_time is None else by_time[perm]
        return np.argsort(keys * np.int64(max(len(keys), 1)) + time_rank)

    def rank(self, grid: np.ndarray, shift: int) -> np.ndarray:
        """``searchsorted(grid, times - shift)`` (left), computed once per grid and shift."""
        key = (id(grid), shift)
        found = self._ranks.get(key)
        if found is not None and found[0] is grid:
            return found[1]
        by_time, _ = self._time_order()
        times = self.times - np.int64(shift)
        if by_time is None:
            rank = np.searchsorted(grid, times, side="left")
        else:
            rank = np.empty(len(times), dtype=np.int64)
            rank[by_time] = np.searchsorted(grid, times[by_time], side="left")
        self._ranks[key] = (grid, rank)
        return rank


def as_objects(values: Any) -> np.ndarray:
    """Values as a NumPy object array (nulls as None), for hash lookups: an index over
    Arrow-backed text would convert its whole dictionary to objects on every lookup."""
    return np.asarray(pd.array(values).to_numpy(dtype=object, na_value=None), dtype=object)


def text_array(values: Any) -> pa.Array | None:
    """``values`` as one Arrow ``large_string`` array when they are text (pandas ``str`` or
    Arrow string dtype), else None. Zero-copy for pandas' Arrow-backed ``str`` columns."""
    if not is_text(values):
        return None
    array = pa.array(values, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array if array.type == pa.large_string() else array.cast(pa.large_string())


def _found(array: pa.Array) -> np.ndarray:
    """Positions from ``pc.index_in`` as int64, -1 where not found (or null)."""
    return np.asarray(pc.fill_null(array, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


@dataclass(frozen=True)
class KeyCode:
    """A key's dictionary over the facts: one code per fact row, and a lookup for queries.

    ``codes`` (int64, one per fact row) number the distinct non-null value combinations
    ``0 .. n_keys - 1``; -1 marks a row with a null part. :meth:`lookup` maps query rows
    through the same dictionary, so a value never seen among the facts gets ``n_keys`` (a
    key with no facts: no history) and a null part gets -1 (no key: NaN features). Text
    parts are looked up in Arrow (``pyarrow.compute.index_in`` against the levels, no Python
    objects); other parts through ``pandas.Index.get_indexer``. Both compare values exactly.
    """

    codes: np.ndarray
    levels: tuple[pd.Index, ...]
    combos: pd.Index | None
    n_keys: int

    @classmethod
    def of(cls, columns: Sequence[pd.Series]) -> KeyCode:
        """Encode the fact rows' ``columns`` (one Series per key part, equal lengths)."""
        n = len(columns[0])
        null = np.zeros(n, dtype=bool)
        combined = np.zeros(n, dtype=np.int64)
        levels: list[pd.Index] = []
        for column in columns:
            part, uniques = pd.factorize(column, use_na_sentinel=True)
            levels.append(pd.Index(as_objects(uniques), dtype=object))
            null |= part < 0
            combined = combined * (len(uniques) + 1) + np.maximum(part, 0)
        if len(columns) == 1:
            codes = np.where(null, -1, combined)
            return cls(codes, tuple(levels), None, len(levels[0]))
        codes = np.full(n, -1, dtype=np.int64)
        sub, combos = pd.factorize(combined[~null])
        codes[~null] = sub
        return cls(codes, tuple(levels), pd.Index(combos), len(combos))

    @cached_property
    def _text_levels(self) -> tuple[pa.Array | None, ...]:
        """Each level as an Arrow text array when every value in it is a ``str``."""
        out: list[pa.Array | None] = []
        for level in self.levels:
            values = level.to_numpy()
            text = all(isinstance(v, str) for v in values)
            out.append(pa.array(values, type=pa.large_string()) if text else None)
        return tuple(out)

    @cached_property
    def _sorted_combos(self) -> tuple[np.ndarray, np.ndarray]:
        """(combination codes sorted, their position in ``combos``), for a binary search."""
        values = np.asarray(self.combos, dtype=np.int64)
        order = np.argsort(values, kind="stable")
        return values[order], order

    def _part(self, column: pd.Series, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(position in level ``i`` or -1, null mask) of one key part of the query rows."""
        level_text = self._text_levels[i]
        text = text_array(column) if level_text is not None else None
        if text is not None:
            found = _found(pc.index_in(text, value_set=level_text))
            return found, np.asarray(text.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        values = as_objects(column)
        missing = np.asarray(pd.isna(values), dtype=bool)
        return self.levels[i].get_indexer(pd.Index(values, dtype=object)), missing

    def lookup(self, columns: Sequence[pd.Series]) -> np.ndarray:
        """Codes of query rows (int64): fact code, ``n_keys`` when unseen, -1 when null."""
        n = len(columns[0])
        null = np.zeros(n, dtype=bool)
        unseen = np.zeros(n, dtype=bool)
        combined = np.zeros(n, dtype=np.int64)
        for i, (column, level) in enumerate(zip(columns, self.levels, strict=True)):
            found, missing = self._part(column, i)
            null |= missing
            unseen |= (found < 0) & ~missing
            combined = combined * (len(level) + 1) + np.maximum(found, 0)
        if self.combos is not None:
            values, order = self._sorted_combos
            at = np.minimum(np.searchsorted(values, combined), max(len(values) - 1, 0))
            hit = values[at] == combined if len(values) else np.zeros(n, dtype=bool)
            unseen |= ~hit
            combined = np.where(hit, order[at] if len(values) else 0, -1)
        out = np.where(unseen, np.int64(self.n_keys), combined).astype(np.int64)
        out[null] = -1
        return out


@dataclass(frozen=True)
class Facts:
    """The facts the features may draw on, and the declarations that need features.

    ``decl`` holds the fact declarations with ``_t`` (int64 us) added; ``rows`` the
    declarations to compute features for (same layout). For a training table ``rows is
    decl`` (every declaration is a fact for the later ones); for scoring, ``decl`` is the
    fitted history and ``rows`` the batch, whose declarations are never facts for each other,
    so a row's features do not depend on what else is in its batch. ``labels`` has ``_pos``
    (row of its declaration in ``decl``), ``_known`` (int64 us, when the outcome became
    known) and boolean ``_inspected`` / ``_seized``; ``legs`` are the fact declarations' legs
    (``_pos`` into ``decl``) and ``row_legs`` the rows' own legs (``_pos`` into ``rows``).

    ``cache`` holds what depends on the facts only (key dictionaries, :class:`PriorIndex`
    objects, route facts), built on first use by :meth:`cached`; a fitted pipeline keeps it,
    so each batch costs O(batch x log history). A cache must only ever be shared between
    Facts with the same facts (``dataclasses.replace`` of ``rows``/``row_legs``).
    ``row_cache`` holds what depends on the rows too (their key codes, times, the overall
    prior at their times), so families that share a key look the rows up once.
    """

    decl: pd.DataFrame
    rows: pd.DataFrame
    labels: pd.DataFrame | None
    flags: pd.DataFrame | None
    legs: pd.DataFrame | None
    row_legs: pd.DataFrame | None
    ports: pd.DataFrame | None
    windows: tuple[int, ...]
    smoothing: float
    extra_categorical: tuple[str, ...] = ()
    extra_numeric: tuple[str, ...] = ()
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    row_cache: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def shared(self) -> bool:
        """True when the rows are the facts themselves (a training table)."""
        return self.rows is self.decl

    @property
    def t(self) -> np.ndarray:
        """Declaration times of the rows (int64 us)."""
        return self.row_cached("t", lambda: self.rows["_t"].to_numpy())

    @property
    def t_facts(self) -> np.ndarray:
        """Declaration times of the fact declarations (int64 us)."""
        return self.decl["_t"].to_numpy()

    @property
    def decl_grid(self) -> np.ndarray:
        """The fact declarations' times, sorted: the grid every index over them shares."""
        return self.cached("grid:decl", lambda: np.sort(self.t_facts))

    @property
    def label_grid(self) -> np.ndarray:
        """The times outcomes became known, sorted: the grid of the outcome indexes."""
        labels = self.labels
        known = labels["_known"].to_numpy() if labels is not None else np.zeros(0, np.int64)
        return self.cached("grid:labels", lambda: np.sort(known))

    def at(self, index: PriorIndex, q_key: np.ndarray, *, windows: Sequence[int] = ()) -> Lookup:
        """``index.at(q_key, self.t, windows=windows)``, sharing the rows' time order and
        their ranks in each grid across every index of this set of rows."""
        t = self.t
        return index.at(
            q_key, t, windows=windows, memo=self.row_cached("memo", lambda: QueryMemo(t))
        )

    def has(self, *columns: str) -> bool:
        """Whether both the facts and the rows carry every one of ``columns``."""
        return all(c in self.decl.columns and c in self.rows.columns for c in columns)

    def cached(self, name: str, build: Callable[[], _T]) -> _T:
        """``build()`` once per set of facts, kept under ``name`` in :attr:`cache`."""
        if name not in self.cache:
            self.cache[name] = build()
        return cast(_T, self.cache[name])

    def row_cached(self, name: str, build: Callable[[], _T]) -> _T:
        """``build()`` once per set of rows, kept under ``name`` in :attr:`row_cache` (which,
        unlike :attr:`cache`, is never shared: every Facts starts with an empty one)."""
        if name not in self.row_cache:
            self.row_cache[name] = build()
        return cast(_T, self.row_cache[name])

    def keys(
        self, name: str, parts: Callable[[pd.DataFrame], Sequence[pd.Series]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(codes of the fact declarations, codes of the rows) of the key ``parts(frame)``.

        The dictionary is built once from the facts (cached as ``key:<name>``); the rows
        are looked up in it (see :meth:`KeyCode.lookup`).
        """
        return self.encode(name, lambda: parts(self.decl), lambda: parts(self.rows))

    def encode(
        self,
        name: str,
        fact_parts: Callable[[], Sequence[pd.Series]],
        row_parts: Callable[[], Sequence[pd.Series]],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`keys` for key parts that are not declaration columns (one value per
        fact declaration from ``fact_parts()``, one per row from ``row_parts()``)."""
        code = self.cached(f"key:{name}", lambda: KeyCode.of(fact_parts()))
        if self.shared:
            return code.codes, code.codes
        return code.codes, self.row_cached(f"key:{name}", lambda: code.lookup(row_parts()))

    def label_index(self, name: str, keys: np.ndarray) -> PriorIndex:
        """:func:`label_index` for fact codes ``keys``, cached as ``labels:<name>``."""
        return self.cached(f"labels:{name}", lambda: label_index(self, keys))


def label_index(facts: Facts, keys: np.ndarray) -> PriorIndex:
    """Inspection outcomes keyed by ``keys`` (one code per fact declaration), by known time."""
    labels = facts.labels
    if labels is None:
        return PriorIndex(np.zeros(0, np.int64), np.zeros(0, np.int64), _label_weights(None))
    pos = labels["_pos"].to_numpy()
    return PriorIndex(
        keys[pos], labels["_known"].to_numpy(), _label_weights(labels), grid=facts.label_grid
    )


def _label_weights(labels: pd.DataFrame | None) -> dict[str, np.ndarray]:
    if labels is None:
        return {"inspected": np.zeros(0, np.int64), "seized": np.zeros(0, np.int64)}
    return {
        "inspected": labels["_inspected"].to_numpy().astype(np.int64),
        "seized": labels["_seized"].to_numpy().astype(np.int64),
    }


def overall_prior(facts: Facts, q_time: np.ndarray) -> np.ndarray:
    """Share of inspections that found drugs among outcomes known before each ``t``."""
    n = len(facts.decl)
    index = facts.label_index("overall", np.zeros(n, dtype=np.int64))
    look = index.at(np.zeros(len(q_time), dtype=np.int64), q_time)
    inspected = look.total("inspected")
    seized = look.total("seized")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(inspected > 0, seized / np.maximum(inspected, 1), np.nan)


def rows_prior(facts: Facts) -> np.ndarray:
    """:func:`overall_prior` at the rows' times, computed once per set of rows."""
    return facts.row_cached("overall_prior", lambda: overall_prior(facts, facts.t))


def smoothed_rate(
    seized: np.ndarray, inspected: np.ndarray, prior: np.ndarray, m: float | np.ndarray
) -> np.ndarray:
    """``(seized + m * prior) / (inspected + m)``: few inspections stay near the prior."""
    return (seized + m * prior) / (inspected + m)


def entity_features(facts: Facts, role: str) -> dict[str, np.ndarray]:
    """History features of one entity role (``importer``, ``declarant``, ``exporter``, ``pair``).

    Empty when a column the role needs is absent from the declarations.
    """
    columns = ENTITY_ROLES[role]
    if not facts.has(*columns):
        return {}
    keys, q_key = facts.keys(role, lambda frame: [frame[c] for c in columns])
    q_t = facts.t
    index = facts.cached(
        f"entity:{role}", lambda: PriorIndex(keys, facts.t_facts, grid=facts.decl_grid)
    )
    look = facts.at(index, q_key, windows=facts.windows)
    out: dict[str, np.ndarray] = {}
    first = look.first()
    out[f"{role}_age_days"] = np.where(np.isnan(first), 0.0, (q_t - first) / DAY_US)
    out[f"{role}_age_days"][~look.valid] = np.nan
    past = look.count()
    out[f"{role}_first_time"] = (past == 0).astype(float)
    out[f"{role}_first_time"][~look.valid] = np.nan
    for w in facts.windows:
        out[f"{role}_declarations_{w}d"] = look.count(window=w)
    if facts.labels is not None:
        labels = facts.at(facts.label_index(role, keys), q_key)
        inspected = labels.total("inspected")
        seized = labels.total("seized")
        out[f"{role}_inspections"] = inspected
        out[f"{role}_seizures"] = seized
        out[f"{role}_seizure_rate"] = smoothed_rate(
            seized, inspected, rows_prior(facts), facts.smoothing
        )
    if role == "declarant" and facts.has("importer_id"):
        out["declarant_young_client_share_365d"] = _young_client_share(facts, keys, q_key, q_t)
    return out


def _young_client_share(
    facts: Facts, declarant: np.ndarray, q_key: np.ndarray, q_t: np.ndarray
) -> np.ndarray:
    """Share of the declarant's past-year declarations lodged for a young importer (NaN: none)."""

    def build() -> PriorIndex:
        t_all = facts.t_facts
        importer, _ = facts.keys("importer", lambda frame: [frame["importer_id"]])
        # an importer's first declaration is never after any of its declarations, so the
        # per-importer minimum is point in time for every fact: no search needed
        first = pd.Series(t_all).groupby(importer).transform("min").to_numpy()
        age = (t_all - first) / DAY_US
        young = ((importer >= 0) & (age < YOUNG_IMPORTER_DAYS)).astype(np.int64)
        return PriorIndex(declarant, t_all, {"young": young}, grid=facts.decl_grid)

    look = facts.at(facts.cached("young_clients", build), q_key, windows=(PORTFOLIO_WINDOW_DAYS,))
    lodged = look.count(window=PORTFOLIO_WINDOW_DAYS)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            lodged > 0, look.total("young", window=PORTFOLIO_WINDOW_DAYS) / lodged, np.nan
        )
