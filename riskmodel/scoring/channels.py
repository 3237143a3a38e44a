"""Channels like an ASYCUDA selectivity module: red, yellow, green within a budget.

How budget, rules and exploration combine in one batch of ``n`` scored declarations
(``round`` is half up):

1. ``red_slots = round(budget * n)`` is the red budget (the inspection capacity).
2. **Officer rules** (``--rules FILE``) are mandatory: every declaration a rule matches is red,
   ``selected_by = rule:<name>`` (the first matching rule in file order). Rule hits count
   against the red budget first; when they exceed it, they are all still red (a rule is never
   dropped) and nothing else is red.
3. ``explore = min(remaining slots, round(exploration * red_slots))`` slots are reserved for
   exploration; the other remaining slots go to the highest-risk declarations not hit by a
   rule, ``selected_by = model``.
4. **Exploration**: ``explore`` declarations drawn without replacement from all declarations
   still not red, ``selected_by = exploration``: the candidates with the smallest keyed hash
   of their ``declaration_id`` (see :func:`exploration_keys`; ties, at 1 in 2**64, by id).
   A declaration's hash depends on the seed and its id only, so the same declarations and
   seed give the same draw in any row order, in any process and on any platform; another
   seed gives another, independent draw.
5. **Yellow**: the next ``round(yellow_budget * n)`` declarations by risk among those not red,
   ``selected_by = model``. **Green**: the rest, ``selected_by`` null.

Risk order is ``risk_score`` descending, ties by ``declaration_id`` ascending (the same order
as ``risk_rank``).

Rules file (TOML): a list of ``[[rule]]`` tables, each with a unique ``name`` and at least one
condition; a rule matches when **all** its conditions match, and a condition given as a list
matches any of its values::

    [[rule]]
    name = "watchlist"                 # selected_by = "rule:watchlist"
    importer_id = ["IMP00042", "IMP00077"]

    [[rule]]
    name = "exporter-watchlist"
    exporter_id = ["EXP00013"]

    [[rule]]
    name = "bananas-from-ecuador"
    hs_prefix = ["0803"]               # hs_code starts with any of these
    origin_country = ["EC"]

    [[rule]]
    name = "hot-corridor"
    corridor_id = ["CO:COBUN>PAMIT>NLRTM"]

Conditions: ``importer_id``, ``exporter_id``, ``declarant_id``, ``hs_prefix``,
``origin_country``, ``export_country``, ``port_of_loading``, ``port_of_entry``,
``transport_mode``, ``corridor_id``. An unknown key, a rule without a name or a condition,
or a repeated name is a :class:`~riskmodel.errors.UsageError` (exit 2) naming the rule; a
legacy targeting rules file (:mod:`riskmodel.rules`: rules with ``points``) is a UsageError
saying so.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from riskmodel.errors import UsageError

__all__ = [
    "CHANNEL_LABELS",
    "CONDITIONS",
    "Channels",
    "OfficerRule",
    "RuleSet",
    "assign_channels",
    "exploration_keys",
    "load_officer_rules",
    "round_half_up",
]

CONDITIONS: tuple[str, ...] = (
    "importer_id",
    "exporter_id",
    "declarant_id",
    "hs_prefix",
    "origin_country",
    "export_country",
    "port_of_loading",
    "port_of_entry",
    "transport_mode",
    "corridor_id",
)


@dataclass(frozen=True)
class OfficerRule:
    """One mandatory rule: its name and, per condition, the accepted values."""

    name: str
    conditions: dict[str, tuple[str, ...]]

    def matches(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean mask of ``frame``'s rows matching every condition (a column the frame
        lacks matches nothing)."""
        hit = np.ones(len(frame), dtype=bool)
        for key, values in self.conditions.items():
            column = "hs_code" if key == "hs_prefix" else key
            if column not in frame.columns:
                return np.zeros(len(frame), dtype=bool)
            text = frame[column].astype("str")
            if key == "hs_prefix":
                ok = np.zeros(len(frame), dtype=bool)
                for prefix in values:
                    ok |= text.str.startswith(prefix).fillna(False).to_numpy(dtype=bool)
            else:
                ok = text.isin(values).to_numpy(dtype=bool)
            hit &= ok
        return hit


@dataclass(frozen=True)
class RuleSet:
    """The rules of one file, in file order, with the file's path and SHA-256."""

    rules: tuple[OfficerRule, ...]
    path: Path | None = None
    sha256: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The rules' names in file order (rule ``i`` of :meth:`first_index`)."""
        return tuple(rule.name for rule in self.rules)

    def first_index(self, frame: pd.DataFrame) -> np.ndarray:
        """For each row the file position of the first rule it matches, else -1 (int16).

        A small integer per row, not a string: a batch of millions keeps it for every row.
        """
        out = np.full(len(frame), -1, dtype=np.int16)
        for i, rule in enumerate(self.rules):
            out[rule.matches(frame) & (out < 0)] = i
        return out

    def first_match(self, frame: pd.DataFrame) -> np.ndarray:
        """For each row the name of the first rule it matches, else ``None`` (object array)."""
        index = self.first_index(frame)
        out = np.full(len(frame), None, dtype=object)
        out[index >= 0] = np.asarray(self.names, dtype=object)[index[index >= 0]]
        return out


def load_officer_rules(path: Path) -> RuleSet:
    """Read and check a rules file (format in the module doc)."""
    path = Path(path)
    try:
        data = path.read_bytes()
        doc = tomllib.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the rules file: {exc}") from None
    entries = doc.get("rule")
    if isinstance(entries, list) and any(isinstance(e, dict) and "points" in e for e in entries):
        raise UsageError(
            f"{path}: this is a legacy targeting rules file (rules with points, the "
            "administration's rule set that `riskmodel sample` writes as rules.toml and "
            "evaluation uses as a baseline); --rules wants officer rules: [[rule]] tables "
            "with a name and conditions such as importer_id or hs_prefix, no points "
            '(format: README, "Scoring a batch")'
        )
    unknown_top = [k for k in doc if k != "rule"]
    if unknown_top:
        raise UsageError(f"{path}: unknown key(s) {unknown_top}; expected [[rule]] tables only")
    entries = doc.get("rule", [])
    if not isinstance(entries, list):
        raise UsageError(f"{path}: 'rule' must be a list of [[rule]] tables")
    rules: list[OfficerRule] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries, start=1):
        where = f"{path}: rule {i}"
        if not isinstance(entry, dict):
            raise UsageError(f"{where}: expected a table")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise UsageError(f"{where}: 'name' must be a non-empty string, found {name!r}")
        where = f"{path}: rule {name!r}"
        if name in seen:
            raise UsageError(f"{where}: the name is used by an earlier rule")
        seen.add(name)
        unknown = [k for k in entry if k != "name" and k not in CONDITIONS]
        if unknown:
            raise UsageError(
                f"{where}: unknown key(s) {unknown}; expected name and any of {list(CONDITIONS)}"
            )
        conditions: dict[str, tuple[str, ...]] = {}
        for key in CONDITIONS:
            if key not in entry:
                continue
            value = entry[key]
            values = [value] if isinstance(value, str) else value
            if (
                not isinstance(values, list)
                or not values
                or not all(isinstance(v, str) and v for v in values)
            ):
                raise UsageError(
                    f"{where}: '{key}' must be a string or a non-empty list of strings, "
                    f"found {value!r}"
                )
            conditions[key] = tuple(values)
        if not conditions:
            raise UsageError(f"{where}: no condition; expected at least one of {list(CONDITIONS)}")
        rules.append(OfficerRule(name=name, conditions=conditions))
    return RuleSet(tuple(rules), path=path, sha256=hashlib.sha256(data).hexdigest())


def round_half_up(x: float) -> int:
    """``x`` rounded to the nearest integer, halves up (budgets are never negative)."""
    return int(np.floor(x + 0.5))


CHANNEL_LABELS: tuple[str, ...] = ("green", "yellow", "red")
"""``Channels.channel_code`` values 0, 1, 2."""
GREEN, YELLOW, RED = 0, 1, 2
BY_MODEL, BY_EXPLORATION = 0, 1
"""``Channels.selected_code`` values; ``2 + i`` is rule ``i``, -1 is none (green)."""


@dataclass(frozen=True)
class Channels:
    """Per row, as small integer codes (a batch of millions keeps them for every row):
    ``channel_code`` (int8, see :data:`CHANNEL_LABELS`) and ``selected_code`` (int16: -1
    none, 0 ``model``, 1 ``exploration``, ``2 + i`` ``rule:<rule_names[i]>``).

    :attr:`channel` and :attr:`selected_by` give the same as labels (object arrays).
    """

    channel_code: np.ndarray
    selected_code: np.ndarray
    rule_names: tuple[str, ...] = ()

    @property
    def selected_labels(self) -> tuple[str, ...]:
        """Label of each ``selected_code`` from 0: model, exploration, then ``rule:<name>``."""
        return ("model", "exploration", *(f"rule:{name}" for name in self.rule_names))

    @property
    def channel(self) -> np.ndarray:
        """Per row ``red``, ``yellow`` or ``green`` (object array)."""
        return np.asarray(CHANNEL_LABELS, dtype=object)[self.channel_code]

    @property
    def selected_by(self) -> np.ndarray:
        """Per row ``model``, ``exploration``, ``rule:<name>`` or ``None`` (object array)."""
        labels = np.asarray([*self.selected_labels, None], dtype=object)
        return labels[np.where(self.selected_code < 0, len(labels) - 1, self.selected_code)]


def exploration_keys(ids: pa.Array | pa.ChunkedArray, *, seed: int) -> np.ndarray:
    """Per declaration id (Arrow text, no nulls) its exploration draw key (uint64):
    :func:`features.lookup.text_hashes` of the id's UTF-8 bytes keyed by ``seed``.

    A function of (``seed``, id) alone, stable across processes and platforms (not Python's
    salted ``hash``), computed over the Arrow buffers: the candidates of a draw are most of
    the batch, and a Python string per id cost 400 MB at 5M rows.
    """
    from features.lookup import text_hashes

    return text_hashes(ids, seed=seed)


def _draw(candidates: np.ndarray, ids: Any, k: int, seed: int) -> np.ndarray:
    """The ``k`` of ``candidates`` (row positions) with the smallest exploration keys of their
    ids (ties by id): a set that does not depend on the candidates' order."""
    if k >= len(candidates):
        return candidates
    if isinstance(ids, pa.ChunkedArray | pa.Array):
        mine = ids.take(pa.array(candidates))
    else:
        mine = pa.array(np.asarray(ids, dtype=object)[candidates], pa.string())
    keys = exploration_keys(mine, seed=seed)
    cut = np.partition(keys, k - 1)[k - 1]
    below = keys < cut
    tied = np.flatnonzero(keys == cut)
    need = k - int(below.sum())
    if len(tied) > need:
        text = np.asarray(mine.take(pa.array(tied)).to_pylist(), dtype=object).astype(str)
        tied = tied[np.argsort(text, kind="stable")[:need]]
    return np.concatenate([candidates[below], candidates[tied]])


def assign_channels(
    order: np.ndarray,
    rule_hits: np.ndarray,
    *,
    ids: pa.ChunkedArray | pa.Array | np.ndarray | pd.Series,
    budget: float,
    yellow_budget: float,
    exploration: float,
    seed: int,
    rule_names: tuple[str, ...] | None = None,
) -> Channels:
    """Channels of ``n`` rows (see the module doc for the exact combination).

    ``order``: row positions by risk, highest first (ties already broken);
    ``rule_hits``: per row the matching rule's name or ``None`` (object array), or, with
    ``rule_names``, its index in ``rule_names`` or -1 (integers, as
    :meth:`RuleSet.first_index` gives); ``ids``: per row its ``declaration_id`` (distinct
    strings), from which the exploration draw is made (:func:`exploration_keys`).
    Raises :class:`UsageError` for a budget outside [0, 1] or budgets summing over 1.
    """
    n = len(order)
    if rule_names is None:
        hits = np.asarray(rule_hits, dtype=object)
        named = hits != None  # noqa: E711 (elementwise on objects)
        rule_names = tuple(dict.fromkeys(str(h) for h in hits[named]))
        index = np.full(n, -1, dtype=np.int16)
        if named.any():
            index[named] = pd.Index(rule_names).get_indexer(hits[named].astype(str))
    else:
        index = np.asarray(rule_hits, dtype=np.int16)
    for label, value in (
        ("budget", budget),
        ("yellow_budget", yellow_budget),
        ("exploration", exploration),
    ):
        if not 0.0 <= value <= 1.0:
            raise UsageError(f"--{label.replace('_', '-')} must be within [0, 1], found {value}")
    if budget + yellow_budget > 1.0:
        raise UsageError(
            f"--budget + --yellow-budget must be at most 1, found {budget} + {yellow_budget}"
        )
    channel = np.full(n, GREEN, dtype=np.int8)
    selected = np.full(n, -1, dtype=np.int16)
    ruled = index >= 0
    channel[ruled] = RED
    selected[ruled] = index[ruled] + 2
    red_slots = round_half_up(budget * n)
    remaining = max(0, red_slots - int(ruled.sum()))
    explore = min(remaining, round_half_up(exploration * red_slots))
    by_model = remaining - explore
    candidates = order[~ruled[order]]
    top = candidates[:by_model]
    channel[top] = RED
    selected[top] = BY_MODEL
    if explore:
        drawn = _draw(np.flatnonzero(channel != RED), ids, explore, seed)
        channel[drawn] = RED
        selected[drawn] = BY_EXPLORATION
    not_red = order[channel[order] != RED]
    yellow = not_red[: round_half_up(yellow_budget * n)]
    channel[yellow] = YELLOW
    selected[yellow] = BY_MODEL
    return Channels(channel_code=channel, selected_code=selected, rule_names=tuple(rule_names))
