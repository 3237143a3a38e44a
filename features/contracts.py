"""The input contract: one column spec per source, its pandera schema, and vectorised row checks.

Each source (declarations, labels, financial_flags, route_legs, ports) is a tuple of
:class:`Column` specs: the column's kind (how it is parsed and typed), whether the file must
have it, whether a value may be null, and the constraint a present value must meet.

Why two checkers: :func:`schema` builds a pandera ``DataFrameSchema`` that states the contract
in a form notebooks and other tools can use (``schema("declarations").validate(frame)``), and
:func:`check_rows` applies the very same specs as vectorised pandas masks, turning every
violation into a :class:`~features.errors.Problem` that names file, row and column. The masks
are what ``features.io`` runs: pandera's lazy validation reports failure cases but not in
our Problem shape, and collecting them at a million rows is several times slower than the
masks. ``features.io`` still checks the typed output against :func:`schema` for columns and
dtypes (see :func:`dtype_schema`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa

from features.errors import Problem

Kind = Literal["id", "text", "timestamp", "float", "bool", "int"]

#: pandas dtype of each kind after ``features.io`` (docs/architecture.md "Frames").
DTYPES: dict[str, str] = {
    "id": "str",
    "text": "str",
    "timestamp": "datetime64[us]",
    "float": "float64",
    "bool": "boolean",
    "int": "Int64",
}


@dataclass(frozen=True)
class Column:
    """One contract column: kind, presence, nullability and the constraint on its values.

    ``pattern`` is a regular expression a present text value must match in full, described
    for people by ``pattern_text``; ``hint`` (optional) explains a value that does not match
    when the likely cause can be told from the value (``""`` when it cannot); ``choices``
    lists the allowed text values; ``ge``/``le`` bound a present number (inclusive);
    ``unique`` is checked across the file.
    """

    name: str
    kind: Kind
    required: bool = False
    nullable: bool = True
    pattern: str | None = None
    pattern_text: str | None = None
    hint: Callable[[str], str] | None = None
    choices: tuple[str, ...] | None = None
    ge: float | None = None
    le: float | None = None
    unique: bool = False

    @property
    def dtype(self) -> str:
        """The pandas dtype of this column after reading."""
        return DTYPES[self.kind]


HS_CODE = r"\d{6}|\d{8}|\d{10}"
COUNTRY = r"[A-Z]{2}"
LOCODE = r"[A-Z]{2}[A-Z0-9]{3}"
LOWER_WORD = r"[a-z]+"
LOWER_TOKEN = r"[a-z][a-z0-9_]*"

TRANSPORT_MODES: tuple[str, ...] = ("sea", "air", "road", "rail", "post")
SELECTED_BY: tuple[str, ...] = ("rules", "random")


_SPREADSHEET_NUMBER = re.compile(r"\d+\.0*|\d(?:\.\d+)?[eE]\+?\d+")


def hs_code_hint(value: str) -> str:
    """Why an HS code does not match, when the value shows it: a lost leading zero.

    HS codes have an even number of digits (6: subheading, 8: national tariff line, 10:
    statistical suffix) and may begin with zero (chapters 01-09). A 5-, 7- or 9-digit code is
    almost always an even-length code whose leading zero a spreadsheet or an integer column
    dropped (``8039010`` is ``08039010``, bananas, not chapter 80); ``803901.0`` and
    ``8.03901E+06`` are codes that went through a number format. Either way the code cannot
    be repaired safely, so the row is refused with this explanation.
    """
    if value.isdigit() and len(value) in (5, 7, 9) and not value.startswith("0"):
        return (
            f" ({len(value)} digits: a leading zero was probably lost, e.g. by a spreadsheet or "
            f"an integer column; '0{value}' would be chapter {('0' + value)[:2]}: write HS codes "
            "as text)"
        )
    if _SPREADSHEET_NUMBER.fullmatch(value):
        return " (an HS code written as a number, e.g. by a spreadsheet: write HS codes as text)"
    return f" ({len(value)} digits)" if value.isdigit() else ""


def _country(name: str, *, required: bool = False, nullable: bool = True) -> Column:
    return Column(
        name,
        "id",
        required=required,
        nullable=nullable,
        pattern=COUNTRY,
        pattern_text="an ISO 3166 alpha-2 country code (two uppercase letters)",
    )


def _locode(name: str, *, required: bool = False, nullable: bool = True) -> Column:
    return Column(
        name,
        "id",
        required=required,
        nullable=nullable,
        pattern=LOCODE,
        pattern_text="a UN/LOCODE (2 uppercase letters + 3 uppercase letters or digits)",
    )


def _amount(name: str, *, required: bool = False) -> Column:
    return Column(name, "float", required=required, ge=0.0)


DECLARATIONS: tuple[Column, ...] = (
    Column("declaration_id", "id", required=True, nullable=False, unique=True),
    Column("declared_at", "timestamp", required=True, nullable=False),
    Column("importer_id", "id", required=True, nullable=False),
    Column("declarant_id", "id"),
    Column("exporter_id", "id"),
    Column(
        "hs_code",
        "id",
        required=True,
        nullable=False,
        pattern=HS_CODE,
        pattern_text="an HS code of 6, 8 or 10 digits",
        hint=hs_code_hint,
    ),
    Column("goods_description", "text"),
    _country("origin_country"),
    _country("export_country"),
    _locode("port_of_loading"),
    _locode("port_of_entry"),
    Column("customs_office", "id"),
    Column("transport_mode", "id", choices=TRANSPORT_MODES),
    Column("container_id", "id"),
    _amount("quantity"),
    Column("quantity_unit", "id"),
    _amount("gross_weight_kg"),
    _amount("declared_value_usd"),
    _amount("total_taxes_usd"),
)

LABELS: tuple[Column, ...] = (
    Column("declaration_id", "id", required=True, nullable=False),
    Column("inspected", "bool", required=True, nullable=False),
    Column("seized", "bool", required=True),
    _amount("seized_kg"),
    Column(
        "drug_type",
        "id",
        pattern=LOWER_WORD,
        pattern_text="a lowercase word (e.g. 'cocaine')",
    ),
    Column("inspected_at", "timestamp", required=True),
    Column("selected_by", "id", choices=SELECTED_BY),
)

FINANCIAL_FLAGS: tuple[Column, ...] = (
    Column("flag_id", "id", required=True, nullable=False),
    Column("entity_id", "id", required=True, nullable=False),
    Column("flagged_at", "timestamp", required=True, nullable=False),
    Column(
        "flag_type",
        "id",
        pattern=LOWER_TOKEN,
        pattern_text="a lowercase token (letters, digits, '_')",
    ),
    _amount("amount_usd"),
)

ROUTE_LEGS: tuple[Column, ...] = (
    Column("declaration_id", "id", required=True, nullable=False),
    Column("leg_seq", "int", required=True, nullable=False, ge=1),
    _locode("port_from", required=True, nullable=False),
    _locode("port_to", required=True, nullable=False),
    Column("departed_at", "timestamp", required=True, nullable=False),
    Column("arrived_at", "timestamp", required=True),
    Column("vessel_imo", "id"),
    _amount("ais_gap_hours"),
)

PORTS: tuple[Column, ...] = (
    _locode("locode", required=True, nullable=False),
    Column("name", "text", required=True),
    _country("country", required=True),
    Column("lat", "float", required=True, ge=-90.0, le=90.0),
    Column("lon", "float", required=True, ge=-180.0, le=180.0),
)

CONTRACTS: dict[str, tuple[Column, ...]] = {
    "declarations": DECLARATIONS,
    "labels": LABELS,
    "financial_flags": FINANCIAL_FLAGS,
    "route_legs": ROUTE_LEGS,
    "ports": PORTS,
}


def columns(source: str) -> dict[str, Column]:
    """The contract columns of ``source`` by name, in contract order."""
    try:
        specs = CONTRACTS[source]
    except KeyError:
        expected = ", ".join(CONTRACTS)
        raise ValueError(f"unknown source {source!r}; expected one of {expected}") from None
    return {c.name: c for c in specs}


def required_columns(source: str) -> tuple[str, ...]:
    """Columns every file of ``source`` must have."""
    return tuple(c.name for c in CONTRACTS[source] if c.required)


# ----------------------------------------------------------------------------- pandera


def _checks(column: Column) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if column.pattern is not None:
        checks.append(pa.Check.str_matches(rf"^(?:{column.pattern})$"))
    if column.choices is not None:
        checks.append(pa.Check.isin(column.choices))
    if column.ge is not None:
        checks.append(pa.Check.ge(column.ge))
    if column.le is not None:
        checks.append(pa.Check.le(column.le))
    return checks


def schema(
    source: str, *, present: tuple[str, ...] | None = None, with_checks: bool = True
) -> pa.DataFrameSchema:
    """The pandera schema of ``source`` (dtypes, nullability, uniqueness and value checks).

    ``present`` limits it to the columns a frame actually has (absent optional columns stay
    absent). Cross-column rules (seized null iff not inspected, departed before arrived) are
    dataframe-wide checks. ``with_checks=False`` keeps only columns and dtypes.
    """
    specs = [c for c in CONTRACTS[source] if present is None or c.name in present]
    cols = {
        c.name: pa.Column(
            c.dtype,
            checks=_checks(c) if with_checks else None,
            nullable=c.nullable,
            unique=c.unique and with_checks,
            required=c.required,
        )
        for c in specs
    }
    frame_checks: list[pa.Check] = []
    if with_checks:
        frame_checks = [
            pa.Check(
                lambda f, rule=rule: ~rule.violated(f).fillna(False).astype(bool),
                name=f"{rule.column} {rule.reason}",
            )
            for rule in FRAME_RULES.get(source, ())
            if present is None or set(rule.needs) <= set(present)
        ]
    return pa.DataFrameSchema(cols, checks=frame_checks, strict=False, coerce=False)


def dtype_schema(source: str, present: tuple[str, ...]) -> pa.DataFrameSchema:
    """Columns and dtypes only: the cheap structural check ``features.io`` runs on output."""
    return schema(source, present=present, with_checks=False)


# ----------------------------------------------------------------------------- row checks


def _seized_but_not_inspected(f: pd.DataFrame) -> pd.Series:
    return f["seized"].notna() & ~f["inspected"].fillna(False).astype(bool)


def _inspected_without_outcome(f: pd.DataFrame) -> pd.Series:
    return f["seized"].isna() & f["inspected"].fillna(False).astype(bool)


def _inspected_without_time(f: pd.DataFrame) -> pd.Series:
    return f["inspected_at"].isna() & f["inspected"].fillna(False).astype(bool)


def _arrived_before_departed(f: pd.DataFrame) -> pd.Series:
    return f["arrived_at"] < f["departed_at"]


@dataclass(frozen=True)
class FrameRule:
    """A rule across columns: ``violated(frame)`` marks bad rows, reported on ``column``."""

    violated: Callable[[pd.DataFrame], pd.Series]
    column: str
    needs: tuple[str, ...]
    reason: str
    show_value: bool = False


FRAME_RULES: dict[str, tuple[FrameRule, ...]] = {
    "labels": (
        FrameRule(
            _seized_but_not_inspected,
            "seized",
            ("seized", "inspected"),
            "must be null when inspected is false",
            show_value=True,
        ),
        FrameRule(
            _inspected_without_outcome,
            "seized",
            ("seized", "inspected"),
            "must be true or false when inspected is true, found null",
        ),
        FrameRule(
            _inspected_without_time,
            "inspected_at",
            ("inspected_at", "inspected"),
            "must be present when inspected is true, found null",
        ),
    ),
    "route_legs": (
        FrameRule(
            _arrived_before_departed,
            "arrived_at",
            ("arrived_at", "departed_at"),
            "must not be before departed_at",
            show_value=True,
        ),
    ),
}


def _shown(value: object) -> str:
    """A value as shown in a reason: numbers plainly, text quoted, timestamps in ISO form."""
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return repr(value)


def _problems(
    file: str, column: str, mask: pd.Series, values: pd.Series | None, reason: str
) -> list[Problem]:
    """One Problem per row where ``mask`` holds; ``values`` (if given) are shown as found."""
    hit = mask.to_numpy(dtype=bool, na_value=False)
    if not hit.any():
        return []
    rows = mask.index[hit]
    if values is None:
        return [Problem(file, int(r) + 1, column, reason) for r in rows]
    found = values[hit].tolist()
    return [
        Problem(file, int(r) + 1, column, f"{reason}, found {_shown(v)}")
        for r, v in zip(rows, found, strict=True)
    ]


def check_column(
    spec: Column, values: pd.Series, *, file: str, unparsed: pd.Series | None = None
) -> list[Problem]:
    """Constraint violations of one typed column (parse failures are reported by the reader).

    ``unparsed`` marks cells whose raw value could not be parsed; they are null here and are
    not reported again as missing.
    """
    problems: list[Problem] = []
    null = values.isna()
    if not spec.nullable:
        missing = null if unparsed is None else null & ~unparsed
        problems += _problems(file, spec.name, missing, None, "required value is missing")
    present = ~null
    if spec.pattern is not None:
        ok = values.str.fullmatch(spec.pattern).fillna(True).astype(bool)
        reason = f"must be {spec.pattern_text}"
        found = _problems(file, spec.name, present & ~ok, values, reason)
        if spec.hint is not None:
            hint = spec.hint
            found = [
                Problem(p.file, p.row, p.column, p.reason + hint(str(values.loc[p.row - 1])))
                if p.row is not None
                else p
                for p in found
            ]
        problems += found
    if spec.choices is not None:
        ok = values.isin(spec.choices)
        problems += _problems(
            file, spec.name, present & ~ok, values, f"must be one of {', '.join(spec.choices)}"
        )
    if spec.kind == "float":
        finite = np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        bad = present & ~pd.Series(finite, index=values.index)
        problems += _problems(file, spec.name, bad, values, "must be a finite number")
    if spec.ge is not None:
        bad = values < spec.ge
        problems += _problems(file, spec.name, bad, values, f"must be >= {spec.ge:g}")
    if spec.le is not None:
        bad = values > spec.le
        problems += _problems(file, spec.name, bad, values, f"must be <= {spec.le:g}")
    if spec.unique:
        problems += duplicate_problems(values, file=file, column=spec.name)
    return problems


def duplicate_problems(values: pd.Series, *, file: str, column: str) -> list[Problem]:
    """Each occurrence of a repeated non-null value after the first, naming the first's row."""
    present = values.dropna()
    later = present.duplicated(keep="first")
    if not later.any():
        return []
    first_row = pd.Series(present.index, index=present.to_numpy()).groupby(level=0).min()
    dups = present[later]
    firsts = first_row.reindex(dups.to_numpy()).to_numpy()
    return [
        Problem(file, int(r) + 1, column, f"duplicate value {v!r}, first seen at row {int(f) + 1}")
        for r, v, f in zip(dups.index, dups.tolist(), firsts, strict=True)
    ]


def check_rows(
    source: str,
    frame: pd.DataFrame,
    *,
    file: str,
    unparsed: Mapping[str, pd.Series] | None = None,
) -> list[Problem]:
    """Every row-level violation of the contract in a typed ``frame`` of ``source``.

    Only the contract columns present are checked; row numbers are ``frame.index + 1``.
    """
    unparsed = unparsed or {}
    specs = columns(source)
    problems: list[Problem] = []
    for name in frame.columns:
        spec = specs.get(name)
        if spec is not None:
            problems += check_column(spec, frame[name], file=file, unparsed=unparsed.get(name))
    for rule in FRAME_RULES.get(source, ()):
        if set(rule.needs) <= set(frame.columns):
            shown = frame[rule.column] if rule.show_value else None
            problems += _problems(file, rule.column, rule.violated(frame), shown, rule.reason)
    return problems
