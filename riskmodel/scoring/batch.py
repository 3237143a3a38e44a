"""Batch scoring: chunked reading, two passes, incremental atomic writing, manifest last.

``score_batch(model, DATA, OUT)`` implements the scoring output contract (README, "Scoring a
batch"). How it runs:

**Pass 1, per chunk** (Parquet: batches of ``chunk_rows`` rows; CSV: blocks gathered to
``chunk_rows`` rows). Each chunk goes through the project's strict reader
(:func:`features.io.read_source`, so CSV and Parquet are typed exactly as for training) and
its row problems become rejects with the row numbers of the whole file. A declaration is
further rejected, per row, when its ``declaration_id`` repeats an earlier row of the file
(**every occurrence after the first is rejected; the first is scored**, as the reader does
within a file), is already in the model's history, or is dated before the model's feature
cutoff (its features would be computed from a history that already holds its future), or
when one of its route legs is rejected. The rest get features from the model's fitted
pipeline, a raw margin and a calibrated risk score; the chunk's features and flagged-list
columns are staged as an Arrow IPC file (LZ4), and only small per-row arrays (id, scores,
corridor, rule hit, burden groups) stay in memory.

**Channels** are assigned over the whole batch (:mod:`riskmodel.scoring.channels`).

**Pass 2, per chunk**: ranks and channels are attached, exact SHAP reasons are computed for
the rows of the channels in ``reasons_for`` only, and ``scores`` and ``flagged`` grow chunk by
chunk through Arrow writers.

**Atomic**: everything is written in a staging folder beside OUT and moved into OUT only when
all is written, ``manifest.json`` last; any failure removes the staging folder, and OUT is
neither created nor touched. ``scored + rejected == input rows`` is checked before the
manifest is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.feather as pafeather
import pyarrow.parquet as pq
from pandas.api.types import union_categoricals

from features.contracts import columns as contract_columns
from features.errors import ContractError, Problem, RiskError
from features.lookup import isin
from features.mapping import CsvFormat
from riskmodel.errors import ModelError, UsageError
from riskmodel.scoring.channels import RuleSet, assign_channels
from riskmodel.scoring.corridors import corridor_table
from riskmodel.scoring.drift import (
    DEFAULT_THRESHOLD,
    DriftMeter,
    burden,
    size_band,
    split_drift,
)

if TYPE_CHECKING:
    from features.mapping import Mapping
    from riskmodel.model import RiskModel

__all__ = [
    "CHANNELS",
    "FLAGGED_DECLARATION_COLUMNS",
    "MANIFEST_FORMAT",
    "ModelInfo",
    "ScoreOptions",
    "ScoreResult",
    "csv_safe",
    "score_batch",
]

MANIFEST_FORMAT = "riskmodel-scoring-manifest"
CHANNELS = ("red", "yellow", "green")
FLAGGED_DECLARATION_COLUMNS: tuple[str, ...] = tuple(
    name
    for name in contract_columns("declarations")
    if name not in ("declaration_id", "declared_at")
)
"""The contract's declaration fields copied into flagged.parquet (whichever the input holds)."""
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_OPTIONAL_SOURCES = ("route_legs", "ports")
_HISTORY_SOURCES = ("labels", "financial_flags")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ModelInfo:
    """Where the model came from (manifest ``model``): URI, registered name/version, run."""

    uri: str
    name: str | None = None
    version: int | None = None
    run_id: str | None = None

    @classmethod
    def of(cls, described: Any) -> ModelInfo:
        """From :func:`riskmodel.tracking.describe_model`'s answer (uri, name, version, run_id)."""
        return cls(
            uri=described.uri,
            name=described.name,
            version=described.version,
            run_id=described.run_id,
        )


@dataclass(frozen=True)
class ScoreOptions:
    """Scoring parameters (CLI options of ``riskmodel score``).

    ``budget``/``yellow_budget``/``exploration``: shares in [0, 1] (see
    :mod:`riskmodel.scoring.channels`); ``reasons``: reasons per explained row (0 = none);
    ``reasons_for``: channels whose rows get reasons; ``format``: ``parquet`` or ``csv``
    (flagged stays Parquet); ``chunk_rows``: rows per chunk (memory is bounded by it);
    ``drift_threshold``: PSI above which a feature is listed as drifting.
    """

    budget: float = 0.05
    yellow_budget: float = 0.10
    exploration: float = 0.10
    seed: int = 0
    reasons: int = 3
    reasons_for: tuple[str, ...] = ("red",)
    rules: RuleSet | None = None
    format: str = "parquet"
    chunk_rows: int = 50_000
    drift_threshold: float = DEFAULT_THRESHOLD

    def check(self) -> None:
        """Refuse bad option values with a :class:`UsageError` naming the option."""
        if self.format not in ("parquet", "csv"):
            raise UsageError(f"--format must be parquet or csv, found {self.format!r}")
        if self.reasons < 0:
            raise UsageError(f"--reasons must be >= 0, found {self.reasons}")
        if self.chunk_rows < 1:
            raise UsageError(f"--chunk-rows must be >= 1, found {self.chunk_rows}")
        bad = [c for c in self.reasons_for if c not in ("red", "yellow")]
        if bad or not self.reasons_for:
            raise UsageError(
                f"--reasons-for must name red and/or yellow, found {list(self.reasons_for)}"
            )
        for name in ("budget", "yellow_budget", "exploration"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise UsageError(f"--{name.replace('_', '-')} must be within [0, 1], found {value}")
        if self.budget + self.yellow_budget > 1.0:
            raise UsageError(
                f"--budget + --yellow-budget must be at most 1, found "
                f"{self.budget} + {self.yellow_budget}"
            )


@dataclass(frozen=True)
class ScoreResult:
    """What a scoring run wrote: the folder, the manifest (as written) and drifting features."""

    out: Path
    manifest: dict[str, Any]
    drifting: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, Any]:
        """The manifest's ``counts``."""
        return dict(self.manifest["counts"])


def csv_safe(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Text cells that a spreadsheet would run as a formula, prefixed with a single quote.

    A cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading
    ``'``; other cells and nulls are unchanged.
    """
    starts = pc.utf8_slice_codeunits(values, 0, 1)
    risky = pc.is_in(starts, value_set=pa.array(_FORMULA_START))
    return pc.if_else(
        pc.fill_null(risky, False), pc.binary_join_element_wise("'", values, ""), values
    )


# ----------------------------------------------------------------------------- reading


def _wanted_columns(mapping: Mapping | None) -> set[str]:
    from features.contracts import columns

    contract = set(columns("declarations"))
    if mapping is not None:
        # columns under their contract names are read too unless the mapping maps another
        # source column onto that name (the reader decides, as for training)
        return contract | set(mapping.source_columns())
    return contract


def _chunks(
    path: Path, file: str, wanted: set[str], chunk_rows: int, fmt: CsvFormat
) -> Iterator[pa.Table]:
    """The declarations file as tables of about ``chunk_rows`` rows (only ``wanted`` columns).

    A file that cannot be read (truncated, corrupt, not UTF-8, a row with the wrong number of
    fields) is a :class:`ContractError`, possibly raised after earlier chunks were yielded.
    """
    if not path.is_file() or path.stat().st_size == 0:
        raise ContractError(
            f"{file}: empty file (0 bytes)" if path.is_file() else f"{file}: no such file"
        )
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            handle = pq.ParquetFile(path)
            names = handle.schema_arrow.names
            cols = [n for n in names if n in wanted]
            for batch in handle.iter_batches(batch_size=chunk_rows, columns=cols):
                yield pa.Table.from_batches([batch])
        except (pa.ArrowException, OSError) as err:
            raise ContractError(
                f"{file}: cannot be read as Parquet (truncated or corrupt?): {err}"
            ) from err
        return
    if suffix != ".csv":
        raise ContractError(f"{file}: unsupported file type {suffix!r}; expected .csv or .parquet")
    import codecs

    from features.io import _csv_header

    header = _csv_header(path, file, fmt)  # the encoding was checked by _columns_of
    encoding = {} if codecs.lookup(fmt.encoding).name == "utf-8" else {"encoding": fmt.encoding}
    invalid: list[Any] = []

    def on_invalid(row: Any) -> str:
        invalid.append(row)
        return "error"

    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 22, **encoding),
            parse_options=pacsv.ParseOptions(
                delimiter=fmt.delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                include_columns=[n for n in header if n in wanted],
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        pending: list[pa.RecordBatch] = []
        held = 0
        for batch in reader:
            pending.append(batch)
            held += batch.num_rows
            if held >= chunk_rows:
                yield pa.Table.from_batches(pending)
                pending, held = [], 0
        if pending:
            yield pa.Table.from_batches(pending)
    except (pa.ArrowInvalid, OSError) as err:
        if invalid:
            first = invalid[0]
            where = f"row {first.number - 1}" if first.number is not None else "a row"
            raise ContractError(
                f"{file}: {where} has {first.actual_columns} fields, expected "
                f"{first.expected_columns} like the header: {first.text[:80]!r}"
            ) from None
        raise ContractError(f"{file}: cannot be read as CSV: {err}") from err


_FIRST_SEEN = re.compile(r"first seen at row (\d+)")


def _shift_rows(reason: str, offset: int) -> str:
    """A chunk's "first seen at row N" made a row number of the whole file."""
    return _FIRST_SEEN.sub(lambda m: f"first seen at row {int(m.group(1)) + offset}", reason)


@dataclass
class _Rejects:
    """Rejected input rows, one record per row: the first problem's column, all reasons."""

    source: list[str] = field(default_factory=list)
    row: list[int | None] = field(default_factory=list)
    column: list[str | None] = field(default_factory=list)
    declaration_id: list[str | None] = field(default_factory=list)
    reason: list[str] = field(default_factory=list)
    declaration_rows: int = 0

    def add(
        self,
        source: str,
        row: int | None,
        column: str | None,
        decl_id: Any,
        reason: str,
        *,
        declaration: bool,
    ) -> None:
        self.source.append(source)
        self.row.append(row)
        self.column.append(column)
        self.declaration_id.append(None if decl_id is None or pd.isna(decl_id) else str(decl_id))
        self.reason.append(reason)
        self.declaration_rows += int(declaration)

    def table(self) -> pa.Table:
        return pa.table(
            {
                "source": pa.array(self.source, pa.string()),
                "row": pa.array(self.row, pa.int64()),
                "column": pa.array(self.column, pa.string()),
                "declaration_id": pa.array(self.declaration_id, pa.string()),
                "reason": pa.array(self.reason, pa.string()),
            }
        )


def _group_problems(problems: list[Problem]) -> dict[int, list[Problem]]:
    grouped: dict[int, list[Problem]] = {}
    for p in problems:
        if p.row is not None:
            grouped.setdefault(p.row, []).append(p)
    return grouped


def _categories(frame: pd.DataFrame, column: str) -> pd.Categorical | None:
    """A column as a compact categorical (codes + levels), ``None`` when absent."""
    if column not in frame.columns:
        return None
    return pd.Categorical(frame[column].astype(object))


class _SeenIds:
    """Declaration ids of earlier chunks, in bounded memory: per chunk the ids (Arrow) and
    their sorted 64-bit hashes; a hash hit is confirmed on the id itself, so a collision
    never rejects a declaration."""

    def __init__(self) -> None:
        self.chunks: list[tuple[np.ndarray, np.ndarray, pa.Array, int]] = []

    @staticmethod
    def _hash(ids: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        present = np.array([i is not None for i in ids], dtype=bool)
        values = np.array([str(i) for i in ids if i is not None], dtype=object)
        hashes = pd.util.hash_array(values) if len(values) else np.zeros(0, np.uint64)
        return hashes, np.flatnonzero(present)

    def earlier(self, ids: list[Any]) -> dict[int, int]:
        """``{position in ids: 1-based file row of its first occurrence}`` for the ids of
        ``ids`` already seen in an earlier chunk."""
        hashes, where = self._hash(ids)
        found: dict[int, int] = {}
        for sorted_hashes, local, chunk_ids, offset in self.chunks:
            pos = np.searchsorted(sorted_hashes, hashes)
            inside = pos < len(sorted_hashes)
            hit = np.zeros(len(hashes), dtype=bool)
            hit[inside] = sorted_hashes[pos[inside]] == hashes[inside]
            for i in np.flatnonzero(hit):
                row = int(local[pos[i]])
                j = int(where[i])
                if j not in found and chunk_ids[row].as_py() == str(ids[j]):
                    found[j] = offset + row + 1
        return found

    def add(self, ids: list[Any], offset: int) -> None:
        """Remember a chunk's ids (rows ``offset + 1`` ...)."""
        hashes, where = self._hash(ids)
        order = np.lexsort((where, hashes))
        chunk_ids = pa.array([None if i is None else str(i) for i in ids], pa.string())
        self.chunks.append((hashes[order], where[order].astype(np.int64), chunk_ids, offset))


def _reason_text(problems: list[Problem]) -> str:
    return "; ".join(
        (f"column '{p.column}': " if p.column is not None else "") + p.reason for p in problems
    )


# ----------------------------------------------------------------------------- checks


def check_model(model: RiskModel, input_columns: list[str], *, file: str) -> None:
    """Refuse (exit 4) a model whose features the code or the input cannot produce."""
    from features.catalogue import feature_info
    from features.contracts import required_columns

    pipeline = model.pipeline
    unknown = [n for n in model.feature_names if n not in pipeline.feature_names_]
    if unknown:
        raise ModelError(f"model: booster features {unknown} are not produced by its feature state")
    for name in model.feature_names:
        try:
            feature_info(name)
        except KeyError:
            raise ModelError(
                f"model: feature {name!r} is unknown to this version of the code (catalogue); "
                "retrain the model with this version"
            ) from None
    required = set(required_columns("declarations"))  # their absence is a contract error (3)
    needed = [
        c
        for c in pipeline.state_.declarations.columns
        if c not in input_columns and c not in required
    ]
    if needed:
        raise ModelError(
            f"{file}: the model's features need declaration column(s) {needed} that the input "
            f"lacks (input columns: {', '.join(input_columns)}); score it with a model trained "
            "without them"
        )


def _columns_of(path: Path, file: str, mapping: Mapping | None) -> list[str]:
    """Contract column names of the declarations file's header (through the mapping)."""
    if path.suffix.lower() == ".parquet":
        try:
            names = list(pq.read_schema(path).names)
        except (pa.ArrowException, OSError) as err:
            raise ContractError(
                f"{file}: cannot be read as Parquet (truncated or corrupt?): {err}"
            ) from err
    else:
        from features.io import _check_encoding, _csv_header

        fmt = mapping.format if mapping is not None else CsvFormat()
        if not path.is_file() or path.stat().st_size == 0:
            raise ContractError(f"{file}: empty file (0 bytes)")
        _check_encoding(path, file, fmt.encoding)
        names = _csv_header(path, file, fmt)
    if mapping is None:
        return names
    back = {source: target for target, source in mapping.columns.items()}
    return [back.get(n, n) for n in names]


# ----------------------------------------------------------------------------- helpers


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _code_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("riskmodel")
    except PackageNotFoundError:
        return "unknown"


def _routes(legs: pd.DataFrame | None, ids: pd.Series) -> pd.Series:
    """``COBUN>PAMIT>NLRTM`` per declaration id from its legs in ``leg_seq`` order, else null."""
    if legs is None or len(ids) == 0:
        return pd.Series([None] * len(ids), index=ids.index, dtype="str")
    mine = legs[isin(legs["declaration_id"], ids)]
    if len(mine) == 0:
        return pd.Series([None] * len(ids), index=ids.index, dtype="str")
    mine = mine.sort_values(["declaration_id", "leg_seq"], kind="stable")
    paths: dict[str, str] = {}
    for decl_id, group in mine.groupby("declaration_id", sort=False):
        ports = [group["port_from"].iloc[0], *group["port_to"].tolist()]
        paths[str(decl_id)] = ">".join("?" if pd.isna(p) else str(p) for p in ports)
    return pd.Series([paths.get(str(i)) for i in ids], index=ids.index, dtype="str")


def _text(values: pd.Series) -> pa.Array:
    return pa.array(values.astype(object).where(values.notna(), None).tolist(), pa.string())


def _feature_columns(features: pd.DataFrame, names: list[str], cats: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        col = features[name]
        if name in cats:
            out[f"feature:{name}"] = _text(col.astype(object))
        else:
            out[f"feature:{name}"] = pa.array(col.to_numpy(dtype=float), pa.float64())
    return out


def _stage_features(staged: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The model's feature frame back from staged ``feature:<name>`` columns."""
    return pd.DataFrame({n: staged[f"feature:{n}"] for n in names}, index=staged.index)


# ----------------------------------------------------------------------------- the run


@dataclass
class _Kept:
    """Small per-row arrays of every scored row, chunk by chunk (pass 1 -> channels)."""

    ids: list[pa.Array] = field(default_factory=list)
    risk: list[np.ndarray] = field(default_factory=list)
    margin: list[np.ndarray] = field(default_factory=list)
    corridor: list[pa.Array] = field(default_factory=list)
    rule: list[np.ndarray] = field(default_factory=list)
    groups: list[dict[str, pd.Categorical | None]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)


def score_batch(
    model: RiskModel,
    data: Path,
    out: Path,
    *,
    source: ModelInfo,
    mapping: Mapping | None = None,
    options: ScoreOptions | None = None,
    progress: Progress | None = None,
    history: Path | None = None,
) -> ScoreResult:
    """Score DATA's declarations with ``model`` and write OUT (see the module doc).

    Raises :class:`ContractError` (exit 3) for a broken input file, :class:`ModelError`
    (exit 4) for a model the input or the code cannot feed (``history``: the folder the
    model's state was refreshed from, recorded in the manifest), :class:`UsageError` (exit 2) for
    bad options; nothing is written in OUT in every such case.
    """
    from features.contracts import required_columns
    from features.io import find_source, read_source

    options = options or ScoreOptions()
    options.check()
    data, out = Path(data), Path(out)
    if not data.is_dir():
        raise UsageError(f"DATA directory {data} does not exist or is not a directory")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    path = find_source(data, "declarations")
    if path is None:
        raise ContractError(
            f"{data}: no declarations.csv or declarations.parquet; the declarations source "
            "is required"
        )
    file = str(path)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(timings.get(step, 0.0) + now - clock, 4)
        clock = now

    def say(message: str) -> None:
        if progress is not None:
            progress(message)

    input_columns = _columns_of(path, file, mapping)
    missing = [c for c in required_columns("declarations") if c not in input_columns]
    if missing:  # a contract fault (3) before any model fault (4)
        raise ContractError(
            f"{file}: missing required column(s) {', '.join(repr(c) for c in missing)} "
            f"(the file has: {', '.join(input_columns)})"
        )
    check_model(model, input_columns, file=file)
    pipeline = model.pipeline
    state = pipeline.state_
    names = model.feature_names
    cats = set(model.categorical_features)
    importer_past = state.declarations["importer_id"].value_counts()
    cutoff = pd.Timestamp(pipeline.cutoff_)
    rejects = _Rejects()
    inputs: list[dict[str, Any]] = []

    others: dict[str, pd.DataFrame | None] = dict.fromkeys(_OPTIONAL_SOURCES)
    leg_rejects: dict[str, list[str]] = {}
    for name in _OPTIONAL_SOURCES:
        other = find_source(data, name)
        if other is None:
            continue
        result = read_source(other, name)
        others[name] = result.frame
        inputs.append({"path": str(other), "rows": result.rows_read})
        for row, problems in _group_problems(result.problems).items():
            decl_id: Any = (
                result.rejected.loc[row - 1, "declaration_id"]
                if "declaration_id" in result.rejected.columns
                else None
            )
            reason = _reason_text(problems)
            rejects.add(other.name, row, problems[0].column, decl_id, reason, declaration=False)
            if name == "route_legs" and decl_id is not None and not pd.isna(decl_id):
                leg_rejects.setdefault(str(decl_id), []).append(f"{other.name} row {row}: {reason}")
    lap("read_other_sources")

    meter = DriftMeter(model.drift_reference) if model.drift_reference else None
    kept = _Kept()
    seen_ids = _SeenIds()
    offset = 0
    legs = others["route_legs"]
    ignored = [
        f"{found.name}: not used for scoring (history: pass it with --history)"
        for name in _HISTORY_SOURCES
        if (found := find_source(data, name)) is not None
    ]
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=parent))
    try:
        chunk_files: list[Path] = []
        wanted = _wanted_columns(mapping)
        fmt = mapping.format if mapping is not None else CsvFormat()
        for number, raw in enumerate(_chunks(path, file, wanted, options.chunk_rows, fmt)):
            lap("read")
            tmp = stage / "chunk-input.parquet"
            pq.write_table(raw, tmp)
            try:
                result = read_source(tmp, "declarations", mapping=mapping, require_labels=False)
            except ContractError as exc:
                raise ContractError(str(exc).replace(str(tmp), file)) from None
            lap("read")
            grouped = _group_problems(result.problems)
            ids_raw = result.rejected  # rows as read, for the ids of rejected rows
            id_column = (
                mapping.columns.get("declaration_id", "declaration_id")
                if mapping
                else "declaration_id"
            )
            all_ids = (
                raw.column(id_column).to_pylist()
                if id_column in raw.column_names
                else [None] * raw.num_rows
            )
            valid = result.frame
            extra_reject: dict[int, tuple[str, str]] = {}
            for local, seen in seen_ids.earlier(all_ids).items():
                if (local + 1) not in grouped:
                    extra_reject[local + 1] = (
                        "declaration_id",
                        f"duplicate value {all_ids[local]!r}, first seen at row {seen}",
                    )
            seen_ids.add(all_ids, offset)
            refused = pipeline.screen(valid)
            for idx, column, why in zip(
                refused.index, refused["column"], refused["reason"], strict=True
            ):
                hint = " (score it with a model whose state ends before it)"
                extra_reject.setdefault(
                    int(idx) + 1,
                    (str(column), str(why) + (hint if column == "declared_at" else "")),
                )
            if leg_rejects:
                for idx, decl_id in enumerate(valid["declaration_id"].astype(object)):
                    bad_legs = leg_rejects.get(str(decl_id))
                    if bad_legs:
                        extra_reject.setdefault(
                            int(valid.index[idx]) + 1,
                            ("declaration_id", "route leg rejected: " + " | ".join(bad_legs)),
                        )
            for local in sorted(set(grouped) | set(extra_reject)):
                if local in grouped:
                    problems = grouped[local]
                    reason = _shift_rows(_reason_text(problems), offset)
                    column = problems[0].column
                else:
                    column, reason = extra_reject[local]
                decl_id = all_ids[local - 1]
                rejects.add(path.name, offset + local, column, decl_id, reason, declaration=True)
            drop = np.isin(valid.index.to_numpy() + 1, np.fromiter(extra_reject, dtype=np.int64))
            valid = valid[~drop]
            del ids_raw
            if len(valid):
                chunk_legs = (
                    legs[isin(legs["declaration_id"], valid["declaration_id"])]
                    if legs is not None
                    else None
                )
                from features.sources import Sources

                batch = Sources(
                    declarations=valid,
                    route_legs=chunk_legs,
                    ports=others["ports"],
                    extra_categorical=tuple(state.extra_categorical),
                    extra_numeric=tuple(state.extra_numeric),
                )
                features = model.features(batch).copy(deep=False)
                # pandas deep-copies ``attrs`` (the feature lists) on every column access; the
                # drift counts and the staging read every feature column of every chunk
                features.attrs = {}
                lap("features")
                matrix = model.matrix(features)
                margin = np.asarray(model.booster.predict(matrix, raw_score=True), dtype=float)
                risk = model.calibrator.transform(margin)
                lap("predict")
                if meter is not None:
                    meter.add(features)
                rule = (
                    options.rules.first_match(valid.assign(corridor_id=features["corridor_id"]))
                    if options.rules is not None
                    else np.full(len(valid), None, dtype=object)
                )
                staged: dict[str, Any] = {
                    "declaration_id": _text(valid["declaration_id"]),
                    "declared_at": pa.array(valid["declared_at"].to_numpy(), pa.timestamp("us")),
                    "corridor_id": _text(features["corridor_id"]),
                }
                for column in FLAGGED_DECLARATION_COLUMNS:
                    if column in valid.columns:
                        col = valid[column]
                        staged[column] = (
                            pa.array(col.to_numpy(dtype=float), pa.float64())
                            if pd.api.types.is_float_dtype(col)
                            else _text(col)
                        )
                staged.update(_feature_columns(features, names, cats))
                # Arrow IPC, not Parquet: the chunk is read back once, whole, by pass 2, and
                # IPC with LZ4 writes and reads several times faster (about 3x the bytes)
                chunk_file = stage / f"chunk-{number:05d}.arrow"
                pafeather.write_feather(pa.table(staged), chunk_file, compression="lz4")
                chunk_files.append(chunk_file)
                kept.ids.append(staged["declaration_id"])
                kept.risk.append(risk)
                kept.margin.append(margin)
                kept.corridor.append(staged["corridor_id"])
                kept.rule.append(rule)
                band = size_band(
                    valid["importer_id"].map(importer_past).fillna(0).to_numpy(dtype=float)
                )
                kept.groups.append(
                    {
                        "origin_country": _categories(valid, "origin_country"),
                        "transport_mode": _categories(valid, "transport_mode"),
                        "importer_size_band": pd.Categorical(band),
                    }
                )
                kept.sizes.append(len(valid))
                lap("stage")
            offset += raw.num_rows
            say(f"pass 1: {offset:,} rows read, {sum(kept.sizes):,} scored")
        tmp_input = stage / "chunk-input.parquet"
        tmp_input.unlink(missing_ok=True)
        if offset == 0:
            raise ContractError(f"{file}: no data rows: expected at least one declaration")
        inputs.insert(0, {"path": str(path), "rows": offset})

        # ------------------------------------------------------------ channels
        n = sum(kept.sizes)
        ids = (
            pa.chunked_array(kept.ids, pa.string())
            if kept.ids
            else pa.chunked_array([], pa.string())
        )
        risk_all = np.concatenate(kept.risk) if kept.risk else np.zeros(0)
        margin_all = np.concatenate(kept.margin) if kept.margin else np.zeros(0)
        rule_all = np.concatenate(kept.rule) if kept.rule else np.zeros(0, dtype=object)
        order = np.asarray(
            pc.sort_indices(
                pa.table({"risk": risk_all, "id": ids}),
                sort_keys=[("risk", "descending"), ("id", "ascending")],
            ),
            dtype=np.int64,
        )
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(1, n + 1, dtype=np.int64)
        channels = assign_channels(
            order,
            rule_all,
            budget=options.budget,
            yellow_budget=options.yellow_budget,
            exploration=options.exploration,
            seed=options.seed,
        )
        lap("channels")

        # ------------------------------------------------------------ pass 2
        model_version = str(source.version) if source.version is not None else None
        scores_name = "scores.csv" if options.format == "csv" else "scores.parquet"
        writers = _Writers(stage, options, names, cats)
        start = 0
        for chunk_file, size in zip(chunk_files, kept.sizes, strict=True):
            staged_table = pafeather.read_table(chunk_file)
            sl = slice(start, start + size)
            channel = channels.channel[sl]
            selected = channels.selected_by[sl]
            # only red and yellow rows (flagged; those given reasons are among them) are
            # converted to pandas: the scores columns come from Arrow as staged
            flagged_mask = channel != "green"
            flagged_frame = staged_table.filter(pa.array(flagged_mask)).to_pandas()
            reasons = None
            explain = np.isin(channel, options.reasons_for)
            if options.reasons > 0 and explain.any():
                from riskmodel.scoring.reasons import contributions, top_reasons

                rows = flagged_frame[explain[flagged_mask]]
                frame = _stage_features(rows, names)
                contrib = contributions(model, frame)
                lap("reasons_shap")
                gap = np.max(np.abs(contrib.raw_margin - margin_all[sl][explain]))
                if gap > 1e-9:
                    raise RiskError(
                        f"reasons: SHAP contributions sum to a raw margin {gap:.3g} away from "
                        "the scored one; refusing to write inconsistent reasons"
                    )
                reasons = top_reasons(contrib, frame, k=options.reasons)
                lap("reasons_text")
            writers.write_chunk(
                staged_table,
                flagged_frame,
                risk=risk_all[sl],
                margin=margin_all[sl],
                rank=rank[sl],
                channel=channel,
                selected=selected,
                explain=explain,
                reasons=reasons,
                model_uri=source.uri,
                model_version=model_version,
                legs=legs,
            )
            chunk_file.unlink()
            start += size
            lap("write")
            say(f"pass 2: {start:,} of {n:,} rows written")
        writers.close()

        # ------------------------------------------------------------ the rest
        corridors = corridor_table(
            pa.chunked_array(kept.corridor, pa.string()), risk_all, channels.channel == "red"
        )
        groups: dict[str, Any] = {}
        for key in ("origin_country", "transport_mode", "importer_size_band"):
            parts: list[Any] = [g[key] for g in kept.groups if g[key] is not None]
            if parts and len(parts) == len(kept.groups):
                groups[key] = union_categoricals(parts)
        burdens = burden(groups, channels.channel)
        psi = meter.psi() if meter is not None else {}
        drifting, state_shifted = split_drift(psi, options.drift_threshold)
        rejects_table = rejects.table()
        corridors_table = pa.Table.from_pandas(corridors, preserve_index=False)
        written = {scores_name: writers.scores_rows, "flagged.parquet": writers.flagged_rows}
        for base, table in (("rejects", rejects_table), ("corridors", corridors_table)):
            if options.format == "csv":
                name = f"{base}.csv"
                pacsv.write_csv(_csv_table(table), stage / name)
            else:
                name = f"{base}.parquet"
                pq.write_table(table, stage / name)
            written[name] = table.num_rows
        lap("write")
        if n + rejects.declaration_rows != offset:
            raise RiskError(
                f"internal check failed: {n} scored + {rejects.declaration_rows} rejected != "
                f"{offset} input rows; nothing written"
            )
        counts_channel = {c: int((channels.channel == c).sum()) for c in CHANNELS}
        by = pd.Series(channels.selected_by[channels.selected_by != None])  # noqa: E711
        for item in inputs:
            item_path = Path(item["path"])
            item["sha256"] = _sha256(item_path)
            item["bytes"] = item_path.stat().st_size
        manifest = {
            "format": MANIFEST_FORMAT,
            "version": 1,
            "created_at": pd.Timestamp.now(tz="UTC").isoformat(),
            "code_version": _code_version(),
            "model": {
                "uri": source.uri,
                "name": source.name,
                "version": model_version,
                "run_id": source.run_id,
                "feature_cutoff": cutoff.isoformat(),
            },
            "inputs": [
                {k: item[k] for k in ("path", "sha256", "bytes", "rows")} for item in inputs
            ],
            "parameters": {
                "budget": options.budget,
                "yellow_budget": options.yellow_budget,
                "exploration": options.exploration,
                "seed": options.seed,
                "reasons": options.reasons,
                "reasons_for": list(options.reasons_for),
                "rules": (
                    {"path": str(options.rules.path), "sha256": options.rules.sha256}
                    if options.rules is not None
                    else None
                ),
                "format": options.format,
                "chunk_rows": options.chunk_rows,
                "history": None if history is None else str(history),
            },
            "counts": {
                "input_rows": offset,
                "scored": n,
                "rejected": rejects.declaration_rows,
                "rejected_other_sources": len(rejects.reason) - rejects.declaration_rows,
                "channels": counts_channel,
                "selected_by": {str(k): int(v) for k, v in by.value_counts().sort_index().items()},
            },
            "outputs": [
                {"path": name, "sha256": _sha256(stage / name), "rows": rows}
                for name, rows in written.items()
            ],
            "notices": ignored,
            "timings": timings,
            "drift": {
                "threshold": options.drift_threshold,
                "psi": psi,
                "drifting": drifting,
                "state_shifted": state_shifted,
                "reference": "saved with the model" if meter is not None else None,
            },
            "burden": burdens,
        }
        (stage / "manifest.json").write_text(
            json.dumps(manifest, indent=2, default=str), encoding="utf-8"
        )
        _publish(stage, out, [*written, "manifest.json"])
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return ScoreResult(out=out, manifest=manifest, drifting=drifting)


def _publish(stage: Path, out: Path, names: list[str]) -> None:
    """Move the staged outputs into OUT (each ``os.replace`` is atomic), manifest last.

    A manifest of an earlier run is removed first, so OUT never shows a manifest that does
    not describe the files beside it.
    """
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (out / "manifest.json").unlink()
    mode = 0o666 & ~_umask()
    for name in names:
        (stage / name).chmod(mode)
        os.replace(stage / name, out / name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _csv_table(table: pa.Table) -> pa.Table:
    """``table`` with every text column made formula-safe (see :func:`csv_safe`)."""
    columns = [csv_safe(col) if pa.types.is_string(col.type) else col for col in table.columns]
    return pa.table(columns, names=table.column_names)


class _Writers:
    """The incremental writers of ``scores`` (Parquet or CSV) and ``flagged.parquet``."""

    def __init__(
        self, stage: Path, options: ScoreOptions, names: list[str], cats: set[str]
    ) -> None:
        self.stage = stage
        self.options = options
        self.names = names
        self.cats = cats
        fields = [
            pa.field("declaration_id", pa.string()),
            pa.field("declared_at", pa.timestamp("us")),
            pa.field("risk_score", pa.float64()),
            pa.field("raw_margin", pa.float64()),
            pa.field("risk_rank", pa.int64()),
            pa.field("channel", pa.string()),
            pa.field("selected_by", pa.string()),
            pa.field("corridor_id", pa.string()),
        ]
        for i in range(1, options.reasons + 1):
            fields += [
                pa.field(f"reason_{i}_feature", pa.string()),
                pa.field(f"reason_{i}_value", pa.string()),
                pa.field(f"reason_{i}_contribution", pa.float64()),
                pa.field(f"reason_{i}_text", pa.string()),
            ]
        fields += [pa.field("model_uri", pa.string()), pa.field("model_version", pa.string())]
        self.scores_schema = pa.schema(fields)
        self.scores_name = "scores.csv" if options.format == "csv" else "scores.parquet"
        self.scores: Any = None
        self.flagged: pq.ParquetWriter | None = None
        self.flagged_schema: pa.Schema | None = None
        self.scores_rows = 0
        self.flagged_rows = 0

    def write_chunk(
        self,
        staged: pa.Table,
        rows: pd.DataFrame,
        *,
        risk: np.ndarray,
        margin: np.ndarray,
        rank: np.ndarray,
        channel: np.ndarray,
        selected: np.ndarray,
        explain: np.ndarray,
        reasons: pd.DataFrame | None,
        model_uri: str,
        model_version: str | None,
        legs: pd.DataFrame | None,
    ) -> None:
        """Append a chunk: ``staged`` (Arrow, every row) gives the scores' id, date and
        corridor; ``rows`` (pandas) is its red and yellow rows, in order, for ``flagged``."""
        n = staged.num_rows
        columns: dict[str, Any] = {
            "declaration_id": staged.column("declaration_id"),
            "declared_at": staged.column("declared_at"),
            "risk_score": pa.array(risk, pa.float64()),
            "raw_margin": pa.array(margin, pa.float64()),
            "risk_rank": pa.array(rank, pa.int64()),
            "channel": pa.array(channel.tolist(), pa.string()),
            "selected_by": pa.array(selected.tolist(), pa.string()),
            "corridor_id": staged.column("corridor_id"),
        }
        positions = np.flatnonzero(explain)
        for i in range(1, self.options.reasons + 1):
            for part, kind in (
                ("feature", pa.string()),
                ("value", pa.string()),
                ("contribution", pa.float64()),
                ("text", pa.string()),
            ):
                name = f"reason_{i}_{part}"
                if kind == pa.float64():
                    values: Any = np.full(n, np.nan)
                    if reasons is not None:
                        values[positions] = reasons[name].to_numpy(dtype=float)
                    columns[name] = pa.array(values, pa.float64(), mask=np.isnan(values))
                else:
                    cells: list[Any] = [None] * n
                    if reasons is not None:
                        got = reasons[name].astype(object).where(reasons[name].notna(), None)
                        for pos, value in zip(positions, got.tolist(), strict=True):
                            cells[pos] = value
                    columns[name] = pa.array(cells, pa.string())
        columns["model_uri"] = pa.array([model_uri] * n, pa.string())
        columns["model_version"] = pa.array([model_version] * n, pa.string())
        table = pa.table(columns, schema=self.scores_schema)
        if self.options.format == "csv":
            if self.scores is None:
                self.scores = pacsv.CSVWriter(self.stage / self.scores_name, self.scores_schema)
            self.scores.write_table(_csv_table(table))
        else:
            if self.scores is None:
                self.scores = pq.ParquetWriter(self.stage / self.scores_name, self.scores_schema)
            self.scores.write_table(table)
        self.scores_rows += n
        flagged_mask = channel != "green"
        front: dict[str, Any] = {
            "declaration_id": _text(rows["declaration_id"]),
            "channel": pa.array(channel[flagged_mask].tolist(), pa.string()),
            "selected_by": pa.array(selected[flagged_mask].tolist(), pa.string()),
        }
        for column in FLAGGED_DECLARATION_COLUMNS:
            if column in rows.columns:
                col = rows[column]
                front[column] = (
                    pa.array(col.to_numpy(dtype=float), pa.float64())
                    if pd.api.types.is_float_dtype(col)
                    else _text(col)
                )
        front["route"] = _text(_routes(legs, rows["declaration_id"]))
        for name in self.names:
            col = rows[f"feature:{name}"]
            front[f"feature:{name}"] = (
                _text(col)
                if name in self.cats
                else pa.array(col.to_numpy(dtype=float), pa.float64())
            )
        flagged = pa.table(front)
        if self.flagged is None:
            self.flagged_schema = flagged.schema
            self.flagged = pq.ParquetWriter(self.stage / "flagged.parquet", flagged.schema)
        self.flagged.write_table(flagged.cast(self.flagged_schema))
        self.flagged_rows += len(rows)

    def close(self) -> None:
        """Close the writers; a batch with no scored row still gets (empty) files."""
        if self.scores is None:
            empty = self.scores_schema.empty_table()
            if self.options.format == "csv":
                pacsv.write_csv(empty, self.stage / self.scores_name)
            else:
                pq.write_table(empty, self.stage / self.scores_name)
        else:
            self.scores.close()
        if self.flagged is None:
            fields = [
                pa.field("declaration_id", pa.string()),
                pa.field("channel", pa.string()),
                pa.field("selected_by", pa.string()),
                pa.field("route", pa.string()),
            ] + [
                pa.field(f"feature:{n}", pa.string() if n in self.cats else pa.float64())
                for n in self.names
            ]
            pq.write_table(pa.schema(fields).empty_table(), self.stage / "flagged.parquet")
        else:
            self.flagged.close()
