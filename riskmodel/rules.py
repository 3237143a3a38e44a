"""Legacy targeting rules: the administration's point-scoring rule set, as readable TOML.

Customs units select shipments today with hand-written rules ("Andean origin and a cover load:
3 points"). The same rule set chose the historical inspections of the synthetic world and is
the "rules" baseline in evaluation. It is not the officer rules file of ``riskmodel score --rules``
(mandatory red, no points: :mod:`riskmodel.scoring.channels`), which refuses it saying so.

Format: a list of ``[[rule]]`` tables. Each has ``name``, ``points`` and optional
``description``; every other key is a condition on a raw declaration column, and a rule fires
when all its conditions hold::

    [[rule]]
    name = "andean_cover_load"
    points = 3.0
    origin_country = ["CO", "EC", "PE", "BO"]   # value in list
    hs_code_prefix = ["0803", "0901"]           # text starts with one of these
    value_per_kg_max = 1.0                      # numeric <= bound (``_min``: >= bound)

``value_per_kg`` is derived as ``declared_value_usd / gross_weight_kg``. A rule whose column is
absent from the frame never fires (it scores 0 points); a null value fails its condition.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from features.atomic import write_text_atomic
from riskmodel.errors import ConfigError

TEXT_COLUMNS: tuple[str, ...] = (
    "importer_id",
    "declarant_id",
    "exporter_id",
    "hs_code",
    "origin_country",
    "export_country",
    "port_of_loading",
    "port_of_entry",
    "customs_office",
    "transport_mode",
    "quantity_unit",
)
NUMERIC_COLUMNS: tuple[str, ...] = (
    "quantity",
    "gross_weight_kg",
    "declared_value_usd",
    "total_taxes_usd",
    "value_per_kg",
)
_RULE_KEYS = ("name", "points", "description")

Op = Literal["in", "prefix", "min", "max"]


@dataclass(frozen=True)
class Condition:
    """One test on a column: ``in`` / ``prefix`` (text) or ``min`` / ``max`` (numeric)."""

    column: str
    op: Op
    values: tuple[str, ...] = ()
    bound: float = math.nan

    @property
    def key(self) -> str:
        """The TOML key this condition is written under."""
        return self.column if self.op == "in" else f"{self.column}_{self.op}"

    def holds(self, declarations: pd.DataFrame) -> np.ndarray:
        """Boolean array: where the condition holds (False where the value is null)."""
        column = _column(declarations, self.column)
        if column is None:
            return np.zeros(len(declarations), dtype=bool)
        if self.op == "in":
            return np.asarray(column.isin(self.values).fillna(False), dtype=bool)
        if self.op == "prefix":
            text = column.astype("str")
            return np.asarray(text.str.startswith(self.values).fillna(False), dtype=bool)
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            return numbers >= self.bound if self.op == "min" else numbers <= self.bound


@dataclass(frozen=True)
class Rule:
    """A named rule worth ``points`` when all its conditions hold."""

    name: str
    points: float
    conditions: tuple[Condition, ...]
    description: str = ""

    def matches(self, declarations: pd.DataFrame) -> np.ndarray:
        """Boolean array: the declarations this rule fires on."""
        hit = np.ones(len(declarations), dtype=bool)
        for condition in self.conditions:
            hit &= condition.holds(declarations)
        return hit


@dataclass(frozen=True)
class RuleSet:
    """An ordered set of rules; a declaration's score is the sum of the points that fire."""

    rules: tuple[Rule, ...]

    def score(self, declarations: pd.DataFrame) -> pd.Series:
        """Points per declaration (float), aligned to ``declarations.index``."""
        total = np.zeros(len(declarations), dtype=float)
        for rule in self.rules:
            total += np.where(rule.matches(declarations), rule.points, 0.0)
        return pd.Series(total, index=declarations.index, name="rule_points", dtype="float64")

    def fired(self, declarations: pd.DataFrame) -> pd.DataFrame:
        """One boolean column per rule: which rules fired on each declaration."""
        return pd.DataFrame(
            {rule.name: rule.matches(declarations) for rule in self.rules},
            index=declarations.index,
        )


def _column(declarations: pd.DataFrame, name: str) -> pd.Series | None:
    """The column ``name``, deriving ``value_per_kg``; None when it cannot be had."""
    if name == "value_per_kg":
        if not {"declared_value_usd", "gross_weight_kg"} <= set(declarations.columns):
            return None
        value = pd.to_numeric(declarations["declared_value_usd"], errors="coerce")
        weight = pd.to_numeric(declarations["gross_weight_kg"], errors="coerce")
        return value / weight.where(weight > 0)
    return declarations[name] if name in declarations.columns else None


def _parse_condition(key: str, value: Any, where: str) -> Condition:
    """Turn one TOML key/value into a Condition; unknown keys raise ConfigError."""
    for op in ("prefix", "min", "max"):
        suffix = f"_{op}"
        if key.endswith(suffix):
            column = key[: -len(suffix)]
            if op == "prefix" and column in TEXT_COLUMNS:
                return Condition(column, "prefix", values=_strings(value, key, where))
            if op in ("min", "max") and column in NUMERIC_COLUMNS:
                return Condition(column, op, bound=_number(value, key, where))
    if key in TEXT_COLUMNS:
        return Condition(key, "in", values=_strings(value, key, where))
    raise ConfigError(
        f"{where}: unknown key {key!r}; expected name, points, description, a text column "
        f"({', '.join(TEXT_COLUMNS)}) optionally with _prefix, or a numeric column "
        f"({', '.join(NUMERIC_COLUMNS)}) with _min or _max"
    )


def _strings(value: Any, key: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f"{where}: key {key!r} must be a non-empty list of strings, found {value!r}"
        )
    return tuple(value)


def _number(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigError(f"{where}: key {key!r} must be a number, found {value!r}")
    return float(value)


def rules_from_dict(data: Mapping[str, Any], *, source: str = "rules") -> RuleSet:
    """Build a RuleSet from parsed TOML (``{"rule": [...]}``); errors name the bad key."""
    unknown = sorted(set(data) - {"rule"})
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key {unknown[0]!r}; expected [[rule]]")
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        raise ConfigError(f"{source}: 'rule' must be an array of tables ([[rule]])")
    rules: list[Rule] = []
    names: set[str] = set()
    for i, raw in enumerate(raw_rules, start=1):
        where = f"{source}: rule {i}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a table, found {raw!r}")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: key 'name' must be a non-empty string, found {name!r}")
        where = f"{source}: rule {i} ({name})"
        if name in names:
            raise ConfigError(f"{where}: duplicate rule name {name!r}")
        names.add(name)
        if "points" not in raw:
            raise ConfigError(f"{where}: missing key 'points'")
        points = _number(raw["points"], "points", where)
        description = raw.get("description", "")
        if not isinstance(description, str):
            raise ConfigError(f"{where}: key 'description' must be a string")
        conditions = tuple(
            _parse_condition(key, value, where)
            for key, value in raw.items()
            if key not in _RULE_KEYS
        )
        if not conditions:
            raise ConfigError(f"{where}: a rule needs at least one condition")
        rules.append(Rule(name, points, conditions, description))
    return RuleSet(tuple(rules))


def load_rules(path: Path) -> RuleSet:
    """Read a rule set from TOML; an unreadable file or bad key raises ConfigError."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read rules file: {exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return rules_from_dict(data, source=str(path))


def _toml_value(value: str | float | tuple[str, ...]) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return repr(float(value))


def rules_to_toml(rules: RuleSet) -> str:
    """The TOML text of a rule set (``load_rules`` reads it back to an equal RuleSet)."""
    lines = ["# Legacy targeting rules: points add up; conditions within a rule must all hold."]
    for rule in rules.rules:
        lines += ["", "[[rule]]", f"name = {_toml_value(rule.name)}"]
        lines.append(f"points = {_toml_value(rule.points)}")
        if rule.description:
            lines.append(f"description = {_toml_value(rule.description)}")
        for c in rule.conditions:
            value = c.values if c.op in ("in", "prefix") else c.bound
            lines.append(f"{c.key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def dump_rules(rules: RuleSet, path: Path) -> None:
    """Write a rule set as TOML, atomically."""
    write_text_atomic(Path(path), rules_to_toml(rules))
