"""Mapping files: a customs administration's own layout and file format mapped onto the contract.

A mapping is a TOML file (docs/mapping.md is the user's reference) with four optional
sections, at least one of which must be present:

- ``[columns]`` contract column = source column, for the declarations file. Every contract
  column is read from the source column the mapping names, else from the file's column of
  the contract's own name (so a mapping that names only the required columns keeps the
  optional contract columns the file already holds); a required column found neither way is
  a :class:`~features.errors.ContractError` when the file is read. Contract columns found
  neither way are absent (their features are dropped, not faked);
- ``[labels]`` label columns that live in the declarations file itself:
  ``seized`` (source column, 0/1, true/false or yes/no), ``all_inspected`` (bool), optional
  ``inspected_at`` (source column) and ``label_delay_days`` (int, default 14) used as
  ``inspected_at = declared_at + label_delay_days`` when no ``inspected_at`` is mapped;
- ``[extra]`` ``categorical`` and ``numeric``: more source columns kept as they are, under
  their source names, to be used as features (categorical extras are codes: read like the
  contract's identifiers);
- ``[format]`` how every CSV file of the DATA directory is written (:class:`CsvFormat`):
  ``delimiter`` (one character, default ``","``), ``decimal`` (``"."`` or ``","``, default
  ``"."``) and ``encoding`` (any Python codec name, default ``"utf-8"``). A mapping with only
  ``[format]`` reads a file in the contract layout.

Source column names are compared without surrounding whitespace, in the mapping as in the
file's header (the reader's whitespace policy, see :mod:`features.io`). Anything else (an
unknown section or key, a value of the wrong type, an unknown encoding) is a
:class:`~features.errors.MappingError` (exit 3) that names the file and the key. Applying the
mapping to a file is :mod:`features.io`'s job.
"""

from __future__ import annotations

import codecs
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features.contracts import DECLARATIONS, LABELS
from features.errors import MappingError

DEFAULT_LABEL_DELAY_DAYS = 14

_SECTIONS = ("columns", "labels", "extra", "format")
_FORMAT_KEYS = ("delimiter", "decimal", "encoding")
DECIMAL_MARKS: tuple[str, ...] = (".", ",")
_LABEL_KEYS = ("seized", "all_inspected", "inspected_at", "label_delay_days")
_EXTRA_KEYS = ("categorical", "numeric")


@dataclass(frozen=True)
class LabelMapping:
    """Where the labels live in the declarations file and how to read them."""

    seized: str
    all_inspected: bool
    inspected_at: str | None = None
    label_delay_days: int = DEFAULT_LABEL_DELAY_DAYS


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV file is written: field delimiter, decimal mark and text encoding.

    ``delimiter`` is one character (``"\\t"`` for tab-separated files), never a quote or a
    line break; ``decimal`` is ``"."`` or ``","`` and differs from the delimiter;
    ``encoding`` is a Python codec name (``"utf-8"``, ``"cp1252"``, ``"latin-1"``...). A
    UTF-8 byte-order mark and CRLF line ends are accepted whatever the format says.
    """

    delimiter: str = ","
    decimal: str = "."
    encoding: str = "utf-8"


@dataclass(frozen=True)
class Mapping:
    """A validated mapping file: contract column -> source column, labels, extras, CSV format.

    ``columns`` may be empty: contract columns are then read under their own names.
    """

    columns: dict[str, str] = field(default_factory=dict)
    labels: LabelMapping | None = None
    extra_categorical: tuple[str, ...] = ()
    extra_numeric: tuple[str, ...] = ()
    format: CsvFormat = field(default_factory=CsvFormat)
    path: Path | None = field(default=None, compare=False)

    def label_columns(self) -> tuple[str, ...]:
        """Source columns that carry labels (may be absent at scoring time)."""
        if self.labels is None:
            return ()
        cols = [self.labels.seized]
        if self.labels.inspected_at is not None:
            cols.append(self.labels.inspected_at)
        return tuple(cols)

    def source_columns(self) -> tuple[str, ...]:
        """Every source column the mapping uses, each once, in mapping order."""
        names = [*self.columns.values(), *self.label_columns()]
        names += [*self.extra_categorical, *self.extra_numeric]
        return tuple(dict.fromkeys(names))


def _where(path: Path, key: str) -> str:
    return f"{path}: key '{key}'"


def _string(path: Path, key: str, value: Any) -> str:
    """A source column name, without surrounding whitespace (as header names are read)."""
    if not isinstance(value, str) or not value.strip():
        raise MappingError(
            f"{_where(path, key)} must be a non-empty string (a source column name), "
            f"found {value!r}"
        )
    return value.strip()


def _table(path: Path, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MappingError(f"{_where(path, key)} must be a table [{key}], found {value!r}")
    return value


def _unknown(path: Path, section: str, keys: Any, allowed: tuple[str, ...]) -> None:
    for key in keys:
        if key not in allowed:
            raise MappingError(
                f"{_where(path, f'{section}.{key}')} is unknown; expected one of "
                f"{', '.join(allowed)}"
            )


def _columns(path: Path, raw: dict[str, Any]) -> dict[str, str]:
    allowed = tuple(c.name for c in DECLARATIONS)
    _unknown(path, "columns", raw, allowed)
    columns = {k: _string(path, f"columns.{k}", v) for k, v in raw.items()}
    return columns


def _format(path: Path, raw: dict[str, Any]) -> CsvFormat:
    _unknown(path, "format", raw, _FORMAT_KEYS)
    default = CsvFormat()
    delimiter = raw.get("delimiter", default.delimiter)
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n':
        raise MappingError(
            f"{_where(path, 'format.delimiter')} must be one character other than a quote or a "
            f'line break (e.g. ";" or "\\t"), found {delimiter!r}'
        )
    decimal = raw.get("decimal", default.decimal)
    if decimal not in DECIMAL_MARKS:
        raise MappingError(
            f'{_where(path, "format.decimal")} must be "." or ",", found {decimal!r}'
        )
    if decimal == delimiter:
        raise MappingError(
            f"{_where(path, 'format.decimal')} {decimal!r} is also the delimiter; a file with "
            f'decimal commas is delimited by another character (usually ";")'
        )
    encoding = raw.get("encoding", default.encoding)
    try:
        if not isinstance(encoding, str):
            raise LookupError(encoding)
        codec = codecs.lookup(encoding)
        if not getattr(codec, "_is_text_encoding", True):  # base64, rot13...: not text
            raise LookupError(encoding)
    except LookupError:
        raise MappingError(
            f'{_where(path, "format.encoding")} must be a known text encoding (e.g. "utf-8", '
            f'"cp1252", "latin-1"), found {encoding!r}'
        ) from None
    return CsvFormat(delimiter=delimiter, decimal=decimal, encoding=codec.name)


def _labels(path: Path, raw: dict[str, Any]) -> LabelMapping:
    _unknown(path, "labels", raw, _LABEL_KEYS)
    for key in ("seized", "all_inspected"):
        if key not in raw:
            raise MappingError(f"{_where(path, f'labels.{key}')} is missing")
    all_inspected = raw["all_inspected"]
    if not isinstance(all_inspected, bool):
        raise MappingError(
            f"{_where(path, 'labels.all_inspected')} must be true or false, found {all_inspected!r}"
        )
    delay = raw.get("label_delay_days", DEFAULT_LABEL_DELAY_DAYS)
    if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
        raise MappingError(
            f"{_where(path, 'labels.label_delay_days')} must be an integer >= 0, found {delay!r}"
        )
    inspected_at = raw.get("inspected_at")
    return LabelMapping(
        seized=_string(path, "labels.seized", raw["seized"]),
        all_inspected=all_inspected,
        inspected_at=None
        if inspected_at is None
        else _string(path, "labels.inspected_at", inspected_at),
        label_delay_days=delay,
    )


def _extra(path: Path, raw: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    _unknown(path, "extra", raw, _EXTRA_KEYS)
    lists: dict[str, tuple[str, ...]] = {}
    for key in _EXTRA_KEYS:
        value = raw.get(key, [])
        if not isinstance(value, list):
            raise MappingError(
                f"{_where(path, f'extra.{key}')} must be a list of source column names, "
                f"found {value!r}"
            )
        lists[key] = tuple(_string(path, f"extra.{key}", v) for v in value)
        repeated = sorted({v for v in lists[key] if lists[key].count(v) > 1})
        if repeated:
            raise MappingError(f"{_where(path, f'extra.{key}')} repeats {', '.join(repeated)}")
    both = sorted(set(lists["categorical"]) & set(lists["numeric"]))
    if both:
        raise MappingError(
            f"{_where(path, 'extra')}: {', '.join(both)} cannot be both categorical and numeric"
        )
    reserved = {c.name for c in DECLARATIONS} | {c.name for c in LABELS}
    for key in _EXTRA_KEYS:
        for name in lists[key]:
            if name in reserved:
                raise MappingError(
                    f"{_where(path, f'extra.{key}')}: extra column '{name}' has the name of a "
                    "contract column; map it in [columns] instead"
                )
    return lists["categorical"], lists["numeric"]


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping TOML; errors name the file and the offending key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise MappingError(f"{path}: cannot read the mapping file: {err}") from err
    return parse_mapping(text, path=path)


def parse_mapping(text: str, *, path: Path) -> Mapping:
    """Validate mapping TOML ``text``; ``path`` names it in errors (a model keeps the text)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise MappingError(f"{path}: not valid TOML: {err}") from err
    for key in document:
        if key not in _SECTIONS:
            raise MappingError(
                f"{path}: unknown section [{key}]; expected one of {', '.join(_SECTIONS)}"
            )
    if not document:
        raise MappingError(
            f"{path}: empty mapping: expected at least one of the sections "
            f"{', '.join(f'[{s}]' for s in _SECTIONS)}"
        )
    columns = (
        _columns(path, _table(path, "columns", document["columns"]))
        if "columns" in document
        else {}
    )
    labels = (
        _labels(path, _table(path, "labels", document["labels"])) if "labels" in document else None
    )
    categorical, numeric = (
        _extra(path, _table(path, "extra", document["extra"])) if "extra" in document else ((), ())
    )
    return Mapping(
        columns=columns,
        labels=labels,
        extra_categorical=categorical,
        extra_numeric=numeric,
        format=_format(path, _table(path, "format", document["format"]))
        if "format" in document
        else CsvFormat(),
        path=path,
    )
