"""Read a DATA directory's sources (CSV or Parquet) strictly into contract-typed frames.

What the reader guarantees (docs/architecture.md "Frames" and "Validation"; docs/mapping.md
for mappings and file formats):

- **CSV format.** CSV is comma-delimited UTF-8 with ``.`` as decimal mark unless a mapping's
  ``[format]`` says otherwise (``delimiter``, ``decimal``, ``encoding``; it applies to every
  CSV file of the DATA directory, and a mapping with only ``[format]`` reads the contract
  layout). A UTF-8 byte-order mark and CRLF line ends are accepted as they are. A header
  that is a single column holding ``;``, a tab, ``,`` or ``|`` is a ContractError naming the
  delimiter the file seems to use and the setting that reads it.
- **Strict parsing.** CSV is read as text only (no type inference; an empty field is null),
  and every value is parsed by its contract kind: numbers must look like numbers (``"12kg"``
  is a row problem, never 12) with exactly the configured decimal mark and no thousands
  separator (with ``decimal = ","``, ``"1.234,5"`` and ``"1.5"`` are row problems: a ``.``
  could be either), booleans are true/false, 1/0 or yes/no, timestamps are ISO 8601 (a value
  with an offset or ``Z`` is converted to UTC; all output timestamps are naive UTC
  ``datetime64[us]``). Parquet columns must have the contract's physical type (``hs_code``
  stored as an integer is a file-level error because integers lose leading zeros); a Parquet
  column stored as text is parsed as strictly as CSV.
- **One whitespace policy.** Surrounding whitespace (Unicode, including tabs and no-break
  spaces) is not part of any value but free text: identifiers and codes (ids, ``hs_code``,
  countries, LOCODEs, office, mode, container, units, categorical extras...), numbers,
  booleans and timestamps are read without it, in every source, in CSV and Parquet alike
  (served requests go through this reader too), and each column where it happened gets a
  notice counting the values and naming the first row. A value that is only whitespace is
  missing (null), like an empty field. Why strip rather than refuse: the padding comes from
  fixed-width (``CHAR(n)``) exports and hand edits, carries no meaning in a code, and
  refusing would reject whole files; keeping it would make ``"IMP00005 "`` a new importer
  with no history, silently. Free text (``goods_description``, port ``name``) is kept as
  written. Column names (header, Parquet schema, mapping) are compared without surrounding
  whitespace too.
- **Row problems, not silent fixes.** Every value that does not meet the contract becomes a
  :class:`~features.errors.Problem` naming file, 1-based data row and column; the row goes to
  the rejected frame (with ``row`` and ``reason``) and is left out of the valid frame. Rows
  read = valid + rejected, always. An HS code of 5, 7 or 9 digits says a leading zero was
  probably lost (see :func:`features.contracts.hs_code_hint`).
- **File-level problems stop everything** with :class:`~features.errors.ContractError`
  (exit 3): a file that cannot be read, is truncated or corrupt, cannot be decoded with its
  encoding (the error gives the byte position and line), is empty (0 bytes, no header, or a
  declarations file without data rows), lacks a required column, has a row with the wrong
  number of fields (the first such row named by its data row, with its field count and the
  header's: :func:`field_count_error`, shared with scoring), names a column twice, stores a
  column with the wrong physical type; a DATA directory without declarations, or holding
  both ``<name>.csv`` and ``<name>.parquet``.
- **Contract columns by name.** A contract column is read from the source column a mapping's
  ``[columns]`` names for it, else from the file's column of the contract's name (so a
  mapping need only name what differs). A column that is neither in the contract nor
  declared in the mapping is dropped and reported as a notice (``LoadResult.notices``), which
  ``riskmodel validate`` prints; a mapping's ``[extra]`` columns are kept under their source
  names.
- **Cross-source rules** are row problems too: a repeated ``declaration_id`` (each occurrence
  after the first, naming the first's row), a second label for the same declaration, labels
  and route legs whose ``declaration_id`` is not among the valid declarations.

The valid frames' index is the 0-based data row of the file (``row = index + 1``).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.contracts import (
    Column,
    Kind,
    check_column,
    check_rows,
    columns,
    dtype_schema,
    duplicate_problems,
    required_columns,
)
from features.errors import ContractError, Problem, RowProblemsError
from features.lookup import isin
from features.mapping import CsvFormat, Mapping
from features.sources import SOURCE_NAMES, Sources

SUFFIXES: tuple[str, ...] = (".csv", ".parquet")

_NUMBER = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
_NUMBER_COMMA = r"^[+-]?(?:\d+(?:,\d*)?|,\d+)(?:[eE][+-]?\d+)?$"
_INTEGER = r"^[+-]?\d{1,18}$"
_TRUE = pa.array(["true", "1", "yes"])
_FALSE = pa.array(["false", "0", "no"])
_EXPECTED_TEXT: dict[str, str] = {
    "float": "a number",
    "int": "an integer",
    "bool": "true or false (or 1/0, yes/no)",
    "timestamp": "an ISO 8601 timestamp",
}
_STORED_AS: dict[str, str] = {
    "id": "text (string)",
    "text": "text (string)",
    "float": "a number (integer or floating point) or text",
    "int": "an integer or text",
    "bool": "a boolean, 0/1 integer or text",
    "timestamp": "a timestamp, date or text",
}
_CHUNK = 1 << 24


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class SourceResult:
    """One source file read against the contract.

    ``frame`` holds the valid rows, typed; ``rejected`` the rejected rows as read (source
    column names, raw values) plus ``row`` (1-based) and ``reason``; ``labels`` the labels a
    mapping takes from the declarations file (valid rows only), else ``None``.
    """

    source: str
    path: Path
    frame: pd.DataFrame
    problems: list[Problem]
    rejected: pd.DataFrame
    notices: list[str] = field(default_factory=list)
    rows_read: int = 0
    labels: pd.DataFrame | None = None
    extra_categorical: tuple[str, ...] = ()
    extra_numeric: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadResult:
    """A DATA directory read against the contract: valid sources, problems, rejects, notices."""

    sources: Sources
    problems: list[Problem]
    rejected: dict[str, pd.DataFrame]
    notices: list[str] = field(default_factory=list)
    rows_read: dict[str, int] = field(default_factory=dict)

    def raise_on_problems(self) -> None:
        """Refuse any row problem (training and features): nothing is silently dropped."""
        if self.problems:
            raise RowProblemsError(self.problems)

    def summary(self) -> str:
        """Rows per source: read, valid and rejected, one line each."""
        lines = []
        for name in SOURCE_NAMES:
            frame = getattr(self.sources, name)
            if frame is None:
                continue
            path = self.sources.files.get(name)
            if name not in self.rows_read:
                origin = self.sources.files.get("declarations")
                where = f"from {origin.name} via the mapping" if origin else "derived"
                lines.append(f"{name}: {len(frame)} rows valid ({where})")
                continue
            read = self.rows_read[name]
            rejected = len(self.rejected.get(name, ()))
            label = f"{name} ({path.name})" if path is not None else name
            lines.append(f"{label}: {read} rows read, {len(frame)} valid, {rejected} rejected")
        total = len(self.problems)
        lines.append(f"{total} problem(s)" if total else "no problems")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- raw reading


def _encoding_name(encoding: str) -> str:
    return "UTF-8" if codecs.lookup(encoding).name == "utf-8" else encoding


def _check_encoding(path: Path, file: str, encoding: str) -> None:
    """Raise ContractError at the first byte that ``encoding`` cannot decode (position, line)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            final = not chunk
            try:
                decoder.decode(chunk, final=final)
            except UnicodeDecodeError as err:
                pending = decoder.getstate()[0]  # bytes buffered from the previous chunk
                position = offset + max(err.start - len(pending), 0)
                with path.open("rb") as again:
                    head = again.read(position + 1)
                line = head.count(b"\n", 0, position) + 1
                bad = head[position : position + 1].hex()
                name = _encoding_name(encoding)
                hint = (
                    "re-save the file as UTF-8, or name its encoding in the [format] section "
                    'of a mapping, e.g. encoding = "cp1252"'
                    if name == "UTF-8"
                    else "check the encoding in the mapping's [format] section"
                )
                raise ContractError(
                    f"{file}: not valid {name} at byte {position} (line {line}): found byte "
                    f"0x{bad}; expected {name} text ({hint})"
                ) from None
            if final:
                return
            offset += len(chunk)


_DELIMITER_NAMES: dict[str, str] = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "'|'"}


def _delimiter_hint(file: str, header: str, fmt: CsvFormat) -> None:
    """A one-field header holding another usual delimiter: say which one and how to set it."""
    counts = {d: header.count(d) for d in _DELIMITER_NAMES if d != fmt.delimiter}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        return
    shown = _DELIMITER_NAMES.get(fmt.delimiter, repr(fmt.delimiter))
    setting = "\\t" if best == "\t" else best
    decimal = (
        ' (and decimal = "," if numbers are written with a decimal comma)' if best == ";" else ""
    )
    raise ContractError(
        f"{file}: the header is a single column {header[:80]!r}: the file seems to be delimited "
        f"by {_DELIMITER_NAMES[best]} ({counts[best]} in the header), not by {shown}; set "
        f'delimiter = "{setting}"{decimal} in the [format] section of a mapping and pass it '
        "with --mapping (a mapping with only [format] reads a file in the contract layout)"
    )


def _csv_header(path: Path, file: str, fmt: CsvFormat) -> list[str]:
    """The header's column names as written (a UTF-8 byte-order mark dropped)."""
    utf8 = codecs.lookup(fmt.encoding).name == "utf-8"
    with path.open("r", encoding="utf-8-sig" if utf8 else fmt.encoding, newline="") as handle:
        first = handle.readline()
    header = next(csv.reader([first], delimiter=fmt.delimiter), [])
    if not first.strip() or not any(name.strip() for name in header):
        raise ContractError(f"{file}: empty file: expected a header row naming the columns")
    if len(header) == 1:
        _delimiter_hint(file, header[0], fmt)
    return header


def _clean_names(file: str, names: list[str], notices: list[str]) -> list[str]:
    """Column names without surrounding whitespace; a name given twice is a ContractError."""
    cleaned = [name.strip() for name in names]
    seen: set[str] = set()
    for name in cleaned:
        if name in seen:
            raise ContractError(f"{file}: header names column '{name}' more than once")
        seen.add(name)
    padded = [repr(n) for n, c in zip(names, cleaned, strict=True) if n != c]
    if padded:
        notices.append(
            f"{file}: removed surrounding whitespace from {len(padded)} column name(s): "
            f"{', '.join(padded)}"
        )
    return cleaned


def _read_csv(
    path: Path, file: str, wanted: Iterable[str], fmt: CsvFormat, notices: list[str]
) -> tuple[list[str], pa.Table]:
    """All header names (without surrounding whitespace) and a text-only table of ``wanted``."""
    _check_encoding(path, file, fmt.encoding)
    header = _csv_header(path, file, fmt)
    names = _clean_names(file, header, notices)
    wanted = set(wanted)
    include = [raw for raw, name in zip(header, names, strict=True) if name in wanted]
    invalid: list[Any] = []

    def on_invalid(row: Any) -> str:
        invalid.append(row)
        return "skip"

    encoding = {} if codecs.lookup(fmt.encoding).name == "utf-8" else {"encoding": fmt.encoding}

    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(**encoding),
            parse_options=pacsv.ParseOptions(
                delimiter=fmt.delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                include_columns=include,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, OSError) as err:
        raise ContractError(f"{file}: cannot be read as CSV: {err}") from err
    if invalid:
        raise field_count_error(path, file, fmt, header, invalid)
    clean = dict(zip(header, names, strict=True))
    return names, table.rename_columns([clean[name] for name in table.column_names])


def field_count_error(
    path: Path, file: str, fmt: CsvFormat, header: list[str], seen: list[Any]
) -> ContractError:
    """The error for a CSV whose rows' field counts differ from the header's.

    ``seen``: the ``pyarrow.csv.InvalidRow`` records a threaded read met (at least one). That
    reader cannot number rows (``number`` is None), so the file is parsed again on one thread
    (no column converted), which numbers every such row; the error names the first by its
    1-based data row (the header not counted; a field's quoted line breaks do not start a
    row), its field count and the header's, and how many rows are wrong.
    """
    located: list[Any] = []

    def keep(row: Any) -> str:
        located.append(row)
        return "skip"

    encoding = {} if codecs.lookup(fmt.encoding).name == "utf-8" else {"encoding": fmt.encoding}
    # (another problem of the file stops this parse: name what was located before it)
    with contextlib.suppress(pa.ArrowInvalid, OSError):
        pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False, **encoding),
            parse_options=pacsv.ParseOptions(
                delimiter=fmt.delimiter, newlines_in_values=True, invalid_row_handler=keep
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={header[0]: pa.string()}, include_columns=header[:1]
            ),
        )
    rows = located or seen
    first = rows[0]
    row = f"row {first.number - 1}" if first.number is not None else "a row"
    hint = ""
    if first.actual_columns > first.expected_columns and fmt.delimiter == ",":
        hint = (
            "; if numbers are written with decimal commas, the file needs another "
            'delimiter (then set delimiter = ";" and decimal = "," in the [format] '
            "section of a mapping) or quoted numbers"
        )
    return ContractError(
        f"{file}: {row} has {first.actual_columns} fields, expected "
        f"{first.expected_columns} like the header ({len(rows)} such row(s)): "
        f"{first.text[:80]!r}{hint}"
    )


def parquet_names(path: Path, file: str) -> list[str]:
    """A Parquet file's column names as stored; an unreadable file is a ContractError."""
    try:
        return list(pq.read_schema(path).names)
    except (pa.ArrowException, OSError) as err:
        raise ContractError(
            f"{file}: cannot be read as Parquet (truncated or corrupt?): {err}"
        ) from err


def _read_parquet(
    path: Path, file: str, wanted: Iterable[str], notices: list[str]
) -> tuple[list[str], pa.Table]:
    """All column names (without surrounding whitespace) and a table of ``wanted``, as stored."""
    stored = parquet_names(path, file)
    names = _clean_names(file, stored, notices)
    wanted = set(wanted)
    include = [raw for raw, name in zip(stored, names, strict=True) if name in wanted]
    try:
        table = pq.read_table(path, columns=include)
    except (pa.ArrowException, OSError) as err:
        raise ContractError(
            f"{file}: cannot be read as Parquet (truncated or corrupt?): {err}"
        ) from err
    clean = dict(zip(stored, names, strict=True))
    return names, table.rename_columns([clean[name] for name in table.column_names])


def _read_raw(
    path: Path, file: str, wanted: Iterable[str], fmt: CsvFormat, notices: list[str]
) -> tuple[list[str], pa.Table]:
    if not path.is_file():
        raise ContractError(f"{file}: cannot be read: no such file")
    try:
        size = path.stat().st_size
    except OSError as err:
        raise ContractError(f"{file}: cannot be read: {err}") from err
    if size == 0:
        raise ContractError(f"{file}: empty file (0 bytes)")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, file, wanted, fmt, notices)
    if suffix == ".parquet":
        return _read_parquet(path, file, wanted, notices)
    raise ContractError(f"{file}: unsupported file type {suffix!r}; expected .csv or .parquet")


# ----------------------------------------------------------------------------- typing


def _is_text(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def _as_pandas_text(arr: pa.ChunkedArray) -> pd.Series:
    if pa.types.is_null(arr.type):
        return pd.Series(np.full(len(arr), np.nan, dtype=object), dtype="str")
    return pd.Series(arr.to_pandas(), dtype="str")


_MAPPERS: dict[str, dict[pa.DataType, Any]] = {
    "boolean": {pa.bool_(): pd.BooleanDtype()},
    "Int64": {pa.int64(): pd.Int64Dtype()},
}


def _nullable(values: pa.Array | pa.ChunkedArray, dtype: str) -> pd.Series:
    """Arrow booleans or int64 as a pandas nullable ``boolean`` or ``Int64`` series."""
    frame = pa.table({"v": values}).to_pandas(types_mapper=_MAPPERS[dtype].get)
    return pd.Series(frame["v"], dtype=dtype)


class _Parsed(NamedTuple):
    """A column typed by its kind: values (null where bad), bad cells, cells that were padded."""

    values: pd.Series
    bad: np.ndarray
    padded: np.ndarray


def _trimmed(arr: pa.ChunkedArray) -> tuple[pa.ChunkedArray, np.ndarray]:
    """Values without surrounding (Unicode) whitespace, blank ones null; the padded cells."""
    trimmed = pc.utf8_trim_whitespace(arr)
    padded = pc.fill_null(pc.not_equal(trimmed, arr), False).to_numpy(zero_copy_only=False)
    blank = pc.fill_null(pc.equal(trimmed, ""), False)
    return pc.if_else(blank, pa.scalar(None, pa.string()), trimmed), padded


def _from_text(arr: pa.ChunkedArray, kind: str, *, decimal: str = ".") -> _Parsed:
    """Parse text by ``kind`` (whitespace policy first, see the module docstring)."""
    arr = pc.cast(arr, pa.string())
    if kind == "text":
        return _Parsed(
            _as_pandas_text(arr), np.zeros(len(arr), dtype=bool), np.zeros(len(arr), dtype=bool)
        )
    arr, padded = _trimmed(arr)
    values, bad = _parse(arr, kind, decimal=decimal)
    return _Parsed(values, bad, padded)


def _parse(arr: pa.ChunkedArray, kind: str, *, decimal: str) -> tuple[pd.Series, np.ndarray]:
    """Typed values (null where bad) and the mask of bad cells of trimmed text."""
    valid = pc.is_valid(arr)
    if kind == "id":
        return _as_pandas_text(arr), np.zeros(len(arr), dtype=bool)
    if kind == "timestamp":
        text = _as_pandas_text(arr)
        parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
        bad = (text.notna() & parsed.isna()).to_numpy()
        typed = parsed.dt.tz_convert(None).astype("datetime64[us]")
        return pd.Series(typed.to_numpy(), dtype="datetime64[us]"), bad
    if kind == "bool":
        lower = pc.utf8_lower(arr)
        true = pc.is_in(lower, value_set=_TRUE)
        false = pc.is_in(lower, value_set=_FALSE)
        ok = pc.or_(true, false)
        values = pc.if_else(true, True, pc.if_else(false, False, pa.scalar(None, pa.bool_())))
        bad = pc.and_(valid, pc.invert(ok)).to_numpy(zero_copy_only=False)
        return _nullable(values, "boolean"), bad
    pattern = _INTEGER if kind == "int" else _NUMBER if decimal == "." else _NUMBER_COMMA
    ok = pc.fill_null(pc.match_substring_regex(arr, pattern), False)
    bad = pc.and_(valid, pc.invert(ok)).to_numpy(zero_copy_only=False)
    kept = pc.if_else(ok, arr, pa.scalar(None, pa.string()))
    if kind == "int":
        return _nullable(pc.cast(kept, pa.int64()), "Int64"), bad
    if decimal != ".":  # the pattern allows exactly one decimal mark and no other separator
        kept = pc.replace_substring(kept, decimal, ".")
    return pd.Series(pc.cast(kept, pa.float64()).to_numpy(zero_copy_only=False)), bad


def _from_stored(arr: pa.ChunkedArray, kind: str) -> tuple[pd.Series, np.ndarray] | None:
    """Type a non-text stored column by ``kind``; ``None`` when its physical type is wrong."""
    t = arr.type
    n = len(arr)
    none = np.zeros(n, dtype=bool)
    null = pa.types.is_null(t)
    numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
    if kind in ("id", "text"):
        return (_as_pandas_text(arr), none) if null else None
    if kind == "float" and (numeric or null):
        values = pc.cast(arr, pa.float64()) if not null else pa.nulls(n, pa.float64())
        return pd.Series(values.to_numpy(zero_copy_only=False)), none
    if kind == "int" and (pa.types.is_integer(t) or null):
        values = (
            pc.cast(arr, pa.int64()) if not null else pa.chunked_array([pa.nulls(n, pa.int64())])
        )
        return _nullable(values, "Int64"), none
    if kind == "bool" and (pa.types.is_boolean(t) or numeric or null):
        if pa.types.is_boolean(t):
            return _nullable(arr, "boolean"), none
        values = pc.cast(arr, pa.float64()) if not null else pa.nulls(n, pa.float64())
        is_one = pc.equal(values, 1.0)
        ok = pc.or_(is_one, pc.equal(values, 0.0))
        bad = pc.fill_null(pc.invert(ok), False).to_numpy(zero_copy_only=False)
        typed = pc.if_else(ok, is_one, pa.scalar(None, pa.bool_()))
        if isinstance(typed, pa.Array):
            typed = pa.chunked_array([typed])
        return _nullable(typed, "boolean"), bad
    if kind == "timestamp" and (pa.types.is_timestamp(t) or pa.types.is_date(t) or null):
        target = pa.timestamp("us")
        if null:
            values = pa.nulls(n, target)
        elif pa.types.is_date(t):
            values = pc.cast(pc.cast(arr, pa.timestamp("s")), target)
        else:  # tz-aware values are stored as UTC; dropping the zone keeps UTC
            values = pc.cast(arr, target, safe=False)
        return pd.Series(values.to_numpy(zero_copy_only=False), dtype="datetime64[us]"), none
    return None


def _typed(
    arr: pa.ChunkedArray, spec: Column, *, file: str, shown: str, decimal: str = "."
) -> _Parsed:
    """The column typed by its spec, with the masks of unparseable and of padded cells."""
    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, arr.type.value_type)
    if _is_text(arr.type):
        return _from_text(arr, spec.kind, decimal=decimal)
    stored = _from_stored(arr, spec.kind)
    if stored is None:
        hint = "; integers lose leading zeros" if spec.kind in ("id", "text") else ""
        raise ContractError(
            f"{file}: column '{shown}' must be stored as {_STORED_AS[spec.kind]}, "
            f"found {arr.type}{hint}"
        )
    return _Parsed(*stored, np.zeros(len(arr), dtype=bool))


def _parse_reason(kind: str, value: Any, decimal: str) -> str:
    """Why a text value does not parse as ``kind``, with a hint when the cause is plain."""
    if kind == "float" and decimal == ",":
        return (
            "must be a number with ',' as its decimal mark and no thousands separator, "
            f"found {value!r}"
        )
    reason = f"must be {_EXPECTED_TEXT[kind]}, found {value!r}"
    if kind == "float" and re.fullmatch(_NUMBER_COMMA, str(value).strip()):
        reason += (
            '; if the file writes decimal commas, set decimal = "," in the [format] section '
            "of a mapping"
        )
    return reason


def _parse_problems(
    file: str, shown: str, kind: str, raw: pa.ChunkedArray, bad: np.ndarray, decimal: str = "."
) -> list[Problem]:
    if not bad.any():
        return []
    rows = np.flatnonzero(bad)
    found = raw.take(pa.array(rows)).to_pylist()
    return [
        Problem(file, int(r) + 1, shown, _parse_reason(kind, v, decimal))
        for r, v in zip(rows, found, strict=True)
    ]


def _padding_notice(file: str, shown: str, raw: pa.ChunkedArray, padded: np.ndarray) -> list[str]:
    """The notice that counts the values read without their surrounding whitespace."""
    if not padded.any():
        return []
    first = int(np.flatnonzero(padded)[0])
    value = raw[first].as_py()
    return [
        f"{file}: column '{shown}': removed surrounding whitespace from {int(padded.sum())} "
        f"value(s) (first at row {first + 1}: {value!r})"
    ]


# ----------------------------------------------------------------------------- one source


@dataclass
class _Loaded:
    """One file typed in full (all rows), before rejected rows are split off."""

    source: str
    path: Path
    file: str
    raw: pa.Table
    typed: pd.DataFrame
    problems: list[Problem]
    notices: list[str]
    labels: pd.DataFrame | None = None
    extra_categorical: tuple[str, ...] = ()
    extra_numeric: tuple[str, ...] = ()


def _shown(source: str, target: str) -> str:
    return target if source == target else f"{source} ({target})"


def _rename(problems: list[Problem], shown: dict[str, str]) -> list[Problem]:
    return [
        Problem(p.file, p.row, shown.get(p.column, p.column), p.reason)
        if p.column is not None
        else p
        for p in problems
    ]


def _plan(
    source: str, names: list[str], file: str, mapping: Mapping | None, require_labels: bool
) -> tuple[dict[str, tuple[str, Column]], list[str]]:
    """Target column -> (source column, spec) for the columns to read; notices of the rest.

    A contract column is read from the source column the mapping names for it, else from the
    file's column of its own name unless the mapping uses that column for something else
    (another contract column, a label, an extra). Only ``[format]`` of a mapping concerns
    sources other than declarations, and it is not used here.
    """
    specs = columns(source)
    present = set(names)
    declared = mapping if mapping is not None and source == "declarations" else None
    mapped = dict(declared.columns) if declared is not None else {}
    where = f" in {declared.path}" if declared is not None and declared.path is not None else ""
    for target, column in mapped.items():
        if column not in present:
            raise ContractError(
                f"{file}: column '{column}' (mapped to contract column '{target}'{where}) "
                f"is missing (the file has: {', '.join(names)})"
            )
    extras: tuple[str, ...] = ()
    label_columns: tuple[str, ...] = ()
    if declared is not None:
        extras = (*declared.extra_categorical, *declared.extra_numeric)
        label_columns = declared.label_columns()
        for column in extras:
            if column not in present:
                raise ContractError(
                    f"{file}: column '{column}' (declared in [extra]{where}) is missing "
                    f"(the file has: {', '.join(names)})"
                )
        if require_labels:
            for column in label_columns:
                if column not in present:
                    raise ContractError(
                        f"{file}: label column '{column}' (named in [labels]{where}) is missing "
                        f"(the file has: {', '.join(names)})"
                    )
    claimed = set(mapped.values()) | set(extras) | set(label_columns)
    plan: dict[str, tuple[str, Column]] = {}
    for name, spec in specs.items():
        if name in mapped:
            plan[name] = (mapped[name], spec)
        elif name in present and name not in claimed:
            plan[name] = (name, spec)
    missing = [c for c in required_columns(source) if c not in plan]
    if missing:
        listed = ", ".join(repr(c) for c in missing)
        how = (
            f" (neither mapped in [columns]{where} nor in the file under that name)"
            if declared is not None
            else ""
        )
        raise ContractError(
            f"{file}: missing required column(s) {listed}{how} (the file has: {', '.join(names)})"
        )
    if declared is not None:
        for column in extras:
            kind: Kind = "float" if column in declared.extra_numeric else "id"
            plan[column] = (column, Column(column, kind))
    used = {src for src, _ in plan.values()} | set(label_columns)
    notices = [
        f"{file}: column '{name}' not used: the mapping{where} reads contract column "
        f"'{name}' from '{mapped[name]}'"
        for name in names
        if name not in used and name in mapped
    ]
    ignored = [n for n in names if n not in used and n not in mapped]
    if ignored:
        what = "the contract or the mapping" if declared is not None else "the contract"
        notices.append(
            f"{file}: ignored {len(ignored)} column(s) not in {what}: {', '.join(ignored)}"
        )
    return plan, notices


def _mapped_labels(
    loaded: _Loaded, mapping: Mapping, present: set[str]
) -> tuple[pd.DataFrame | None, list[Problem], list[str]]:
    """Labels a mapping takes from the declarations file (all rows), their problems, notices."""
    spec = mapping.labels
    if spec is None or spec.seized not in present:
        return None, [], []
    file = loaded.file
    shown = {"seized": _shown(spec.seized, "seized")}
    seized_raw = loaded.raw.column(spec.seized)
    seized, bad, padded = _typed(seized_raw, Column("seized", "bool"), file=file, shown=spec.seized)
    problems = _parse_problems(file, shown["seized"], "bool", seized_raw, bad)
    notices = _padding_notice(file, shown["seized"], seized_raw, padded)
    unparsed = {"seized": pd.Series(bad)}
    inspected = (
        pd.Series(True, index=seized.index, dtype="boolean")
        if spec.all_inspected
        else seized.notna().astype("boolean")
    )
    frame = pd.DataFrame(
        {
            "declaration_id": loaded.typed["declaration_id"],
            "inspected": inspected,
            "seized": seized,
        }
    )
    if spec.inspected_at is not None and spec.inspected_at in present:
        raw = loaded.raw.column(spec.inspected_at)
        shown["inspected_at"] = _shown(spec.inspected_at, "inspected_at")
        at, bad_at, padded_at = _typed(
            raw, Column("inspected_at", "timestamp"), file=file, shown=""
        )
        problems += _parse_problems(file, shown["inspected_at"], "timestamp", raw, bad_at)
        notices += _padding_notice(file, shown["inspected_at"], raw, padded_at)
        unparsed["inspected_at"] = pd.Series(bad_at)
        frame["inspected_at"] = at.where(inspected.fillna(False).astype(bool))
        checked = frame[["inspected", "seized", "inspected_at"]]
    else:
        delay = pd.Timedelta(days=spec.label_delay_days)
        at = (loaded.typed["declared_at"] + delay).astype("datetime64[us]")
        frame["inspected_at"] = at.where(inspected.fillna(False).astype(bool))
        checked = frame[["inspected", "seized"]]
    rule_problems = check_rows("labels", checked, file=file, unparsed=unparsed)
    rule_problems = [p for p in rule_problems if not _in(unparsed, p)]  # reported as unparsed
    problems += _rename(rule_problems, shown)
    return frame, problems, notices


def _in(unparsed: dict[str, pd.Series], problem: Problem) -> bool:
    """Whether a rule problem concerns a cell already reported as unparseable."""
    mask = unparsed.get(problem.column or "")
    return bool(mask is not None and problem.row is not None and mask.iloc[problem.row - 1])


def _wanted(source: str, mapping: Mapping | None) -> set[str]:
    """Column names a source reads: its contract's, and a mapping's source columns."""
    wanted: set[str] = set(columns(source))
    if mapping is not None and source == "declarations":
        wanted |= set(mapping.source_columns())
    return wanted


def _load(path: Path, source: str, *, mapping: Mapping | None, require_labels: bool) -> _Loaded:
    """Read and type one file in full, collecting its row problems (no rows split off).

    The mapping's ``[format]`` applies to every source; its columns, labels and extras to the
    declarations only.
    """
    file = str(path)
    fmt = mapping.format if mapping is not None else CsvFormat()
    notices: list[str] = []
    names, raw = _read_raw(path, file, _wanted(source, mapping), fmt, notices)
    return _type_raw(
        path, file, source, names, raw, notices, mapping=mapping, require_labels=require_labels
    )


def _type_raw(
    path: Path,
    file: str,
    source: str,
    names: list[str],
    raw: pa.Table,
    notices: list[str],
    *,
    mapping: Mapping | None,
    require_labels: bool,
) -> _Loaded:
    """Type a table as read (``names``: all the file's column names) and check its rows."""
    specs = columns(source)
    fmt = mapping.format if mapping is not None else CsvFormat()
    if source == "declarations" and raw.num_rows == 0:
        raise ContractError(f"{file}: no data rows: expected at least one declaration")
    plan, plan_notices = _plan(source, names, file, mapping, require_labels)
    typed: dict[str, pd.Series] = {}
    unparsed: dict[str, pd.Series] = {}
    shown = {target: _shown(column, target) for target, (column, _) in plan.items()}
    problems: list[Problem] = []
    for target, (column, spec) in plan.items():
        arr = raw.column(column)
        parsed = _typed(arr, spec, file=file, shown=shown[target], decimal=fmt.decimal)
        typed[target] = parsed.values
        unparsed[target] = pd.Series(parsed.bad)
        problems += _parse_problems(file, shown[target], spec.kind, arr, parsed.bad, fmt.decimal)
        notices += _padding_notice(file, shown[target], arr, parsed.padded)
    notices += plan_notices
    frame = pd.DataFrame(typed, index=pd.RangeIndex(raw.num_rows))
    contract = [c for c in specs if c in frame.columns]
    problems += _rename(check_rows(source, frame[contract], file=file, unparsed=unparsed), shown)
    loaded = _Loaded(source, path, file, raw, frame, problems, notices)
    if mapping is not None and source == "declarations":
        for name in (*mapping.extra_categorical, *mapping.extra_numeric):
            problems += check_column(plan[name][1], frame[name], file=file, unparsed=unparsed[name])
        loaded.extra_categorical = mapping.extra_categorical
        loaded.extra_numeric = mapping.extra_numeric
        loaded.labels, label_problems, label_notices = _mapped_labels(loaded, mapping, set(names))
        problems += label_problems
        notices += label_notices
    return loaded


def _rejected(loaded: _Loaded, problems: list[Problem], bad: np.ndarray) -> pd.DataFrame:
    """Rejected rows as read, with their 1-based ``row`` and every ``reason`` joined."""
    reasons: dict[int, list[str]] = defaultdict(list)
    for p in problems:
        if p.row is not None:
            where = f"column '{p.column}': " if p.column is not None else ""
            reasons[p.row - 1].append(where + p.reason)
    rows = loaded.raw.take(pa.array(bad, type=pa.int64())).to_pandas()
    rows.index = pd.Index(bad, dtype="int64")
    rows["row"] = bad + 1
    rows["reason"] = pd.Series(
        ["; ".join(reasons[int(i)]) for i in bad], index=rows.index, dtype="str"
    )
    return rows


def _split(loaded: _Loaded, problems: list[Problem]) -> SourceResult:
    """Split a fully typed file into valid rows and rejected rows by its problems."""
    order = {name: i for i, name in enumerate(loaded.typed.columns)}
    problems = sorted(
        problems,
        key=lambda p: (p.row if p.row is not None else 0, order.get(p.column or "", len(order))),
    )
    bad = np.unique(np.array([p.row - 1 for p in problems if p.row is not None], dtype=np.int64))
    keep = np.ones(len(loaded.typed), dtype=bool)
    keep[bad] = False
    frame = loaded.typed[keep]
    labels = loaded.labels[keep] if loaded.labels is not None else None
    dtype_schema(loaded.source, tuple(frame.columns)).validate(frame)
    return SourceResult(
        source=loaded.source,
        path=loaded.path,
        frame=frame,
        problems=problems,
        rejected=_rejected(loaded, problems, bad),
        notices=loaded.notices,
        rows_read=len(loaded.typed),
        labels=labels,
        extra_categorical=loaded.extra_categorical,
        extra_numeric=loaded.extra_numeric,
    )


def read_source(
    path: Path, source: str, *, mapping: Mapping | None = None, require_labels: bool = True
) -> SourceResult:
    """Read one source file (CSV or Parquet) strictly against its contract.

    The ``mapping``'s ``[format]`` applies to any source; its columns, labels and extras to
    declarations only. ``require_labels=False`` lets the label columns a mapping names be
    absent (scoring time). File-level problems raise ContractError (exit 3); row problems are
    in ``problems``; padded values and unused columns are counted in ``notices``.
    """
    loaded = _load(Path(path), source, mapping=mapping, require_labels=require_labels)
    return _split(loaded, loaded.problems)


def read_table(
    table: pa.Table,
    source: str,
    *,
    file: str,
    mapping: Mapping | None = None,
    require_labels: bool = True,
) -> SourceResult:
    """Type an in-memory table of rows read from ``file`` exactly as :func:`read_source` types
    that file (the same code path after the read: names, parsing, rules, row problems).

    ``table``: columns as the file stores them (CSV: all text; Parquet: stored types), with
    any subset of its rows, e.g. one chunk of a file read in chunks. Row numbers in
    ``problems`` are 1-based within ``table`` (add the chunk's offset for whole-file rows);
    file-level errors name ``file``. Columns outside the contract and the mapping are ignored.
    """
    notices: list[str] = []
    stored = list(table.column_names)
    names = _clean_names(file, stored, notices)
    wanted = _wanted(source, mapping)
    include = [raw for raw, name in zip(stored, names, strict=True) if name in wanted]
    clean = dict(zip(stored, names, strict=True))
    raw = table.select(include).rename_columns([clean[name] for name in include])
    loaded = _type_raw(
        Path(file),
        file,
        source,
        names,
        raw,
        notices,
        mapping=mapping,
        require_labels=require_labels,
    )
    return _split(loaded, loaded.problems)


# ----------------------------------------------------------------------------- a directory


def find_source(data_dir: Path, name: str) -> Path | None:
    """``<name>.csv`` or ``<name>.parquet`` in ``data_dir``; both at once is a ContractError."""
    found = [data_dir / f"{name}{suffix}" for suffix in SUFFIXES]
    found = [p for p in found if p.exists()]
    if len(found) > 1:
        raise ContractError(
            f"{data_dir}: both {found[0].name} and {found[1].name} exist; keep exactly one "
            f"file per source"
        )
    return found[0] if found else None


def _reference_problems(loaded: _Loaded, valid_ids: pd.Series, all_ids: pd.Series) -> list[Problem]:
    ids = loaded.typed["declaration_id"]
    unknown = ids.notna().to_numpy(dtype=bool) & ~isin(ids, valid_ids)
    if not unknown.any():
        return []
    rejected = isin(ids, all_ids)
    rows = np.flatnonzero(unknown)
    values = ids.iloc[rows].tolist()
    was_rejected = rejected[rows].tolist()
    return [
        Problem(
            loaded.file,
            int(r) + 1,
            "declaration_id",
            f"declaration {v!r} "
            + (
                "was rejected in the declarations file" if gone else "is not among the declarations"
            ),
        )
        for r, v, gone in zip(rows, values, was_rejected, strict=True)
    ]


def read_sources(
    data_dir: Path, *, mapping: Mapping | None = None, require_labels: bool = True
) -> LoadResult:
    """Read every source of a DATA directory; only declarations are required.

    Returns the valid rows as :class:`Sources`, every row problem (file, row, column, reason),
    the rejected rows per source and notices (ignored columns, values read without their
    surrounding whitespace). The mapping's ``[format]`` applies to every CSV file of the
    directory. File-level problems raise :class:`ContractError` (exit 3).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ContractError(f"{data_dir}: DATA directory does not exist or is not a directory")
    paths = {name: find_source(data_dir, name) for name in SOURCE_NAMES}
    if paths["declarations"] is None:
        raise ContractError(
            f"{data_dir}: no declarations.csv or declarations.parquet; the declarations source "
            "is required"
        )
    if mapping is not None and mapping.labels is not None and paths["labels"] is not None:
        raise ContractError(
            f"{paths['labels']}: the mapping takes labels from the declarations file ([labels]); "
            "remove this labels file or the [labels] section"
        )
    loaded = {
        name: _load(path, name, mapping=mapping, require_labels=require_labels)
        for name, path in paths.items()
        if path is not None
    }
    declarations = loaded["declarations"]
    problems = {name: list(item.problems) for name, item in loaded.items()}
    bad_rows = {p.row for p in problems["declarations"] if p.row is not None}
    ids = declarations.typed["declaration_id"]
    valid_ids = ids[~(ids.index + 1).isin(list(bad_rows))].dropna()
    for name in ("labels", "route_legs"):
        if name in loaded:
            problems[name] += _reference_problems(loaded[name], valid_ids, ids)
    if "labels" in loaded:
        label_ids = loaded["labels"].typed["declaration_id"]
        problems["labels"] += duplicate_problems(
            label_ids, file=loaded["labels"].file, column="declaration_id"
        )
    results = {name: _split(item, problems[name]) for name, item in loaded.items()}
    decl = results["declarations"]
    labels = results["labels"].frame if "labels" in results else decl.labels
    sources = Sources(
        declarations=decl.frame,
        labels=labels,
        financial_flags=results["financial_flags"].frame if "financial_flags" in results else None,
        route_legs=results["route_legs"].frame if "route_legs" in results else None,
        ports=results["ports"].frame if "ports" in results else None,
        extra_categorical=decl.extra_categorical,
        extra_numeric=decl.extra_numeric,
        files={name: item.path for name, item in loaded.items()},
    )
    return LoadResult(
        sources=sources,
        problems=[p for name in SOURCE_NAMES if name in results for p in results[name].problems],
        rejected={name: r.rejected for name, r in results.items()},
        notices=[n for r in results.values() for n in r.notices],
        rows_read={name: r.rows_read for name, r in results.items()},
    )


def validate_dir(data_dir: Path, *, mapping: Mapping | None = None) -> LoadResult:
    """What ``riskmodel validate`` runs: read every source, label columns optional.

    A mapping's label columns are checked when the file has them and may be absent (a
    scoring batch); every other rule is as in :func:`read_sources`.
    """
    return read_sources(data_dir, mapping=mapping, require_labels=False)
