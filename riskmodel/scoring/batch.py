"""Batch scoring: chunked reading, two passes, incremental atomic writing, manifest last.

``score_batch(model, DATA, OUT)`` implements the scoring output contract (README, "Scoring a
batch"). How it runs:

**Pass 1, per chunk** (Parquet: batches of ``chunk_rows`` rows; CSV: blocks gathered to
``chunk_rows`` rows). Each chunk, as read, is typed by the project's strict reader
(:func:`features.io.read_table`: the code path of :func:`~features.io.read_source` after the
file read, so CSV and Parquet are typed exactly as for training, with no temporary file) and
its row problems become rejects with the row numbers of the whole file. A declaration is
further rejected, per row, when its ``declaration_id`` repeats an earlier row of the file
(**every occurrence after the first is rejected; the first is scored**, as the reader does
within a file), is already in the model's history, or is dated before the model's feature
cutoff (its features would be computed from a history that already holds its future), or
when one of its route legs is rejected. The rest get features from the model's fitted
pipeline, a raw margin and a calibrated risk score. Only small per-row arrays are kept:
id, date, risk, margin, corridor (dictionary codes), the officer rule hit (an int16 rule
index), burden groups (int32 codes into categories that grow chunk by chunk) and each
chunk's positions of its scored rows. Nothing else of a chunk outlives it.

**Workers.** Chunks are scored by ``workers`` processes (:mod:`riskmodel.scoring.parallel`;
default one per usable core): this process reads the raw chunks in file order, checks the
one rule that spans chunks (a repeated id) and hands each chunk to a worker, which types,
screens, features, predicts and counts it (:func:`_score_chunk`); the results are merged in
file order. Pass 2's feature work is handed out the same way while this process computes
the reasons and writes. Every chunk function is a pure function of the model and its chunk,
so the outputs are the same bytes for any number of workers (a test pins 1 against 3).

**Channels** are assigned over the whole batch (:mod:`riskmodel.scoring.channels`, int8
channel and int16 ``selected_by`` codes).

**Pass 2** re-reads the input in the same deterministic chunks, takes only the red and yellow
rows by position, types them through the same reader (typing is row-local; the duplicate
rule cannot fire among rows that were all scored), computes their features again (a
declaration's features depend on the fitted state and its own facts only, so they are the
ones of pass 1; the raw margins of the explained rows are checked against pass 1 to 1e-9),
the exact SHAP reasons for the rows of the channels in ``reasons_for``, and appends
``flagged.parquet`` in fixed row groups. ``scores`` is then written from the in-memory arrays
in fixed row-group slices, so its bytes do not depend on ``chunk_rows``.

Why two reads rather than staging every feature: staging wrote every feature of every row
to disk (an LZ4 Arrow file per chunk, a disk copy of the whole feature matrix) and read it
all back, while only the red and yellow rows (15 % by default) need their features again.
Measured on 200k rows of one batch (2 cores, near idle, 30k of them red or yellow): re-reading
Parquet and typing the flagged rows costs 0.19 s, re-parsing the same rows from CSV 0.32 s,
recomputing the flagged rows' features 0.15-0.2 s; the staging it replaces cost about 0.55 s
(its ``stage`` timing, 0.75 s, also held the drift counting, now timed as ``drift``), and
the temporary Parquet file per chunk another 0.2 s of ``read``. The run took 4.7 s instead of
5.8 s, with a peak of 661 MiB instead of 948 MiB; at 5M declarations the benchmark's peak
fell from 2.01 GiB to 1.43 GB. No feature outlives its chunk and nothing but the outputs is
written to disk.

**The input must not change between the passes.** Its size and modification time are taken
before pass 1 and compared before and after pass 2, each chunk of pass 2 must hold as many
rows as in pass 1, and the ids of the re-read flagged rows must be the ones scored in pass 1.
Any difference is a :class:`ContractError` (exit 3) and nothing is written.

**Atomic**: everything is written in a staging folder beside OUT and moved into OUT only when
all is written, ``manifest.json`` last; any failure removes the staging folder, and OUT is
neither created nor touched. ``scored + rejected == input rows`` is checked before the
manifest is written.

Manifest ``timings`` (seconds): ``read`` (reading and typing pass 1's chunks),
``features``, ``predict``, ``drift`` (counting the features against the training
reference), ``channels`` (rule hits, burden groups, the risk order and the
channel assignment), ``reread`` (pass 2's reading and typing of the flagged rows),
``flagged_features`` (their features again), ``reasons_shap``, ``reasons_text``, ``write``,
``wait`` (this process waiting for the workers and merging their results). The steps a
worker runs are summed over the workers, so with more than one worker the timings add up to
more than the elapsed time.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.atomic import file_sha256
from features.contracts import columns as contract_columns
from features.errors import ContractError, Problem, RiskError
from features.lookup import isin, text_hashes
from features.mapping import CsvFormat
from riskmodel.errors import ModelError, UsageError
from riskmodel.scoring.channels import (
    CHANNEL_LABELS,
    GREEN,
    RED,
    YELLOW,
    Channels,
    RuleSet,
    assign_channels,
)
from riskmodel.scoring.corridors import corridor_table
from riskmodel.scoring.drift import (
    DEFAULT_THRESHOLD,
    DriftMeter,
    burden,
    size_band,
    split_drift,
)
from riskmodel.scoring.parallel import ChunkRunner, default_workers, release_memory

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
    ``drift_threshold``: PSI above which a feature is listed as drifting; ``workers``:
    processes that read, type and score chunks (``None``: one per usable core, at most 4,
    see :func:`riskmodel.scoring.parallel.default_workers`; the outputs do not depend on it,
    see :mod:`riskmodel.scoring.parallel`).
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
    workers: int | None = None

    def check(self) -> None:
        """Refuse bad option values with a :class:`UsageError` naming the option."""
        if self.format not in ("parquet", "csv"):
            raise UsageError(f"--format must be parquet or csv, found {self.format!r}")
        if self.reasons < 0:
            raise UsageError(f"--reasons must be >= 0, found {self.reasons}")
        if self.chunk_rows < 1:
            raise UsageError(f"--chunk-rows must be >= 1, found {self.chunk_rows}")
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"--workers must be >= 1, found {self.workers}")
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

    from features.io import _csv_header, field_count_error

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
            raise field_count_error(path, file, fmt, header, invalid) from None
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
    """Declaration ids of earlier chunks, in bounded memory: every id (Arrow, per chunk) and
    sorted runs of their 64-bit hashes with each one's file row. Runs of similar size are
    merged (as a binary counter carries), so a chunk is looked up in O(log chunks) runs and
    the whole file costs O(n log n), not a search of every earlier chunk per chunk. A hash
    hit is confirmed on the id itself, so a collision never rejects a declaration."""

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []
        self.ids: list[pa.Array] = []
        self.offsets: list[int] = []

    @staticmethod
    def _hash(ids: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """64-bit hashes of the non-null ids and their positions in ``ids``."""
        present = np.asarray(ids.is_valid(), dtype=bool)
        return text_hashes(ids.drop_null()), np.flatnonzero(present)

    def _id_at(self, row: int) -> Any:
        k = bisect.bisect_right(self.offsets, row) - 1
        return self.ids[k][row - self.offsets[k]].as_py()

    def earlier_then_add(self, ids: pa.Array, offset: int) -> dict[int, int]:
        """``{position in ids: 1-based file row of its first occurrence}`` for the ids of
        ``ids`` already seen in an earlier chunk; then ``ids`` are remembered (rows
        ``offset + 1`` ...)."""
        hashes, where = self._hash(ids)
        found = self._earlier(ids, hashes, where)
        self._add(ids, offset, hashes, where)
        return found

    def _earlier(self, ids: pa.Array, hashes: np.ndarray, where: np.ndarray) -> dict[int, int]:
        found: dict[int, int] = {}
        for sorted_hashes, rows in self.runs:  # oldest rows first
            pos = np.searchsorted(sorted_hashes, hashes)
            inside = pos < len(sorted_hashes)
            hit = np.zeros(len(hashes), dtype=bool)
            hit[inside] = sorted_hashes[pos[inside]] == hashes[inside]
            for i in np.flatnonzero(hit):
                j = int(where[i])
                p = int(pos[i])
                while j not in found and p < len(sorted_hashes) and sorted_hashes[p] == hashes[i]:
                    if self._id_at(int(rows[p])) == ids[j].as_py():
                        found[j] = int(rows[p]) + 1
                    p += 1
        return found

    def _add(self, ids: pa.Array, offset: int, hashes: np.ndarray, where: np.ndarray) -> None:
        rows = where.astype(np.int64) + offset
        order = np.argsort(hashes, kind="stable")  # rows ascending within a hash
        self.runs.append((hashes[order], rows[order]))
        self.ids.append(ids)
        self.offsets.append(offset)
        while len(self.runs) >= 2 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0]):
            (h1, r1), (h2, r2) = self.runs[-2], self.runs.pop()
            merged_h, merged_r = np.concatenate([h1, h2]), np.concatenate([r1, r2])
            order = np.argsort(merged_h, kind="stable")  # the older run's rows come first
            self.runs[-1] = (merged_h[order], merged_r[order])


def _raw_ids(raw: pa.Table, column: str) -> pa.Array:
    """A chunk's declaration ids as read, as text (nulls where absent or missing)."""
    if column not in raw.column_names:
        return pa.nulls(raw.num_rows, pa.string())
    ids = raw.column(column).combine_chunks()
    return ids if pa.types.is_string(ids.type) else ids.cast(pa.string())


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
        from features.io import parquet_names

        names = parquet_names(path, file)
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


def _code_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("riskmodel")
    except PackageNotFoundError:
        return "unknown"


class _LegsById:
    """The route legs file, grouped once by declaration id (``of(ids)`` = ``legs[isin(...)]``).

    A chunk asked for its legs with an ``isin`` over every leg, so each chunk paid for the
    whole legs file (chunks x legs: at 5M declarations, 100 chunks x 7M legs). The ids are
    factorized once; a chunk then costs a hash lookup of its own ids and a gather of their
    legs, returned in file order, as the ``isin`` mask gave them.
    """

    def __init__(self, legs: pd.DataFrame) -> None:
        self.legs = legs
        codes, uniques = pd.factorize(legs["declaration_id"])
        self._order = np.argsort(codes, kind="stable")
        # legs of code k: self._order[bounds[k]:bounds[k + 1]] (unknown ids, code -1, first)
        self._bounds = np.searchsorted(codes[self._order], np.arange(len(uniques) + 1))
        self._ids = pd.Index(uniques)

    def of(self, ids: pd.Series) -> pd.DataFrame:
        """The legs of ``ids`` (each id once), in the legs file's order."""
        k = np.unique(self._ids.get_indexer(ids.to_numpy(dtype=object)))
        k = k[k >= 0]
        starts, ends = self._bounds[k], self._bounds[k + 1]
        lengths = ends - starts
        before = np.cumsum(lengths) - lengths
        at = np.repeat(starts - before, lengths) + np.arange(int(lengths.sum()))
        return self.legs.iloc[np.sort(self._order[at])]


def _routes(legs: pd.DataFrame | None, ids: pd.Series) -> pd.Series:
    """``COBUN>PAMIT>NLRTM`` per declaration id from its legs in ``leg_seq`` order, else null."""
    if legs is None or len(ids) == 0:
        return pd.Series([None] * len(ids), index=ids.index, dtype="str")
    mine = legs[isin(legs["declaration_id"], ids)]
    if len(mine) == 0:
        return pd.Series([None] * len(ids), index=ids.index, dtype="str")
    mine = mine.sort_values(["declaration_id", "leg_seq"], kind="stable")
    # built a leg rank at a time (vectorised; a Python join per declaration cost 15 s for
    # the 150k flagged rows of a 1M batch)
    rank = mine.groupby("declaration_id", sort=False).cumcount().to_numpy()
    key = mine["declaration_id"].astype("str").to_numpy(dtype=object)
    first = rank == 0
    path = pd.Series(
        mine["port_from"].astype("str").fillna("?").to_numpy(dtype=object)[first],
        index=pd.Index(key[first]),
        dtype=object,
    )
    to = mine["port_to"].astype("str").fillna("?").to_numpy(dtype=object)
    for r in range(int(rank.max()) + 1):
        step = rank == r
        where = path.index.get_indexer(key[step])
        path.iloc[where] = path.iloc[where].to_numpy() + ">" + to[step]
    found = path.reindex(ids.astype("str").to_numpy(dtype=object))
    return pd.Series(found.to_numpy(dtype=object), index=ids.index, dtype="str")


def _text(values: pd.Series) -> pa.Array:
    return pa.array(values.astype(object).where(values.notna(), None).tolist(), pa.string())


def _arrow_text(values: pd.Series) -> pa.Array:
    """A text column as an Arrow string array (nulls kept), without a Python list when the
    column is already Arrow-backed."""
    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _text(values)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_string(arr.type):
        if not (pa.types.is_large_string(arr.type) or pa.types.is_string_view(arr.type)):
            return _text(values)
        arr = arr.cast(pa.string())
    return arr


def _feature_columns(features: pd.DataFrame, names: list[str], cats: set[str]) -> dict[str, Any]:
    """``feature:<name>`` columns for flagged: categoricals as text, the rest as float64."""
    out: dict[str, Any] = {}
    for name in names:
        col = features[name]
        if name in cats:
            out[f"feature:{name}"] = _text(col.astype(object))
        else:
            out[f"feature:{name}"] = pa.array(col.to_numpy(dtype=float), pa.float64())
    return out


def _feature_frame(features: pd.DataFrame, names: list[str], cats: set[str]) -> pd.DataFrame:
    """The model's feature frame as flagged.parquet holds it (categoricals as text or None,
    the rest float64), so reasons read their values exactly as ``riskmodel explain`` does
    from flagged."""
    data: dict[str, Any] = {}
    for name in names:
        col = features[name]
        if name in cats:
            data[name] = col.astype(object).where(col.notna(), None)
        else:
            data[name] = col.to_numpy(dtype=float)
    return pd.DataFrame(data, index=features.index)


# ----------------------------------------------------------------------------- the run


class _Codes:
    """One column's values of every scored row as int32 codes (-1 = missing) into
    categories that grow chunk by chunk (first seen first)."""

    def __init__(self) -> None:
        self.categories = pd.Index([], dtype=object)
        self.codes: list[np.ndarray] = []

    def add_codes(self, codes: np.ndarray, levels: np.ndarray) -> None:
        """Append a chunk's column, factorized (``codes`` into ``levels``, -1 = missing,
        levels in order of first appearance) as a chunk function returns it; new levels
        join the categories in that order."""
        levels_index = pd.Index(levels, dtype=object)
        new = levels_index[self.categories.get_indexer(levels_index) < 0]
        if len(new):
            self.categories = self.categories.append(new)
        mapped = np.append(self.categories.get_indexer(levels_index), -1).astype(np.int32)
        self.codes.append(mapped[codes])

    def categorical(self) -> pd.Categorical:
        codes = np.concatenate(self.codes) if self.codes else np.zeros(0, dtype=np.int32)
        return pd.Categorical.from_codes(codes, categories=self.categories)


_GROUPS = ("origin_country", "transport_mode", "importer_size_band")


@dataclass
class _Kept:
    """Small per-row arrays of every scored row, chunk by chunk (pass 1 -> channels ->
    pass 2 and the scores), and each chunk's input rows and scored positions."""

    chunk_rows: list[int] = field(default_factory=list)
    positions: list[np.ndarray] = field(default_factory=list)
    ids: list[pa.Array] = field(default_factory=list)
    declared_at: list[np.ndarray] = field(default_factory=list)
    risk: list[np.ndarray] = field(default_factory=list)
    margin: list[np.ndarray] = field(default_factory=list)
    corridor: list[pa.Array] = field(default_factory=list)
    rule: list[np.ndarray] = field(default_factory=list)
    groups: dict[str, _Codes] = field(default_factory=lambda: {k: _Codes() for k in _GROUPS})
    absent: set[str] = field(default_factory=set)


def _stamp(path: Path) -> tuple[int, int, int]:
    """What says a file did not change between the passes: size, mtime (ns) and inode."""
    info = path.stat()
    return (info.st_size, info.st_mtime_ns, info.st_ino)


def _changed(file: str, why: str) -> ContractError:
    return ContractError(
        f"{file}: changed while it was being scored ({why}); nothing written. Score it "
        "again once it is complete and no longer written to"
    )


TIE_BLOCK_ROWS = 500_000
"""Tied rows whose ids are sorted at once by :func:`_risk_order` (bounds its memory)."""


def _risk_order(
    risk: np.ndarray, ids: pa.ChunkedArray, *, block: int = TIE_BLOCK_ROWS
) -> np.ndarray:
    """Row positions by ``risk`` descending, ties by id ascending (byte order).

    A numpy sort of the scores, then, for the runs of equal scores only, an Arrow sort by
    (run, id) of about ``block`` tied rows at a time (whole runs): a batch whose scores all
    tie (many identical declarations) sorted every id at once, about 470 MB at 5M rows.
    """
    order = np.argsort(-risk, kind="stable")
    n = len(order)
    if n < 2:
        return order.astype(np.int64)
    ranked = risk[order]
    same = ranked[1:] == ranked[:-1]
    if not same.any():
        return order.astype(np.int64)
    del ranked
    starts = np.flatnonzero(np.concatenate(([True], ~same)))
    lengths = np.diff(np.append(starts, n))
    del same
    tied = lengths > 1
    starts, lengths = starts[tied], lengths[tied]
    before = np.cumsum(lengths) - lengths
    group = before // max(block, 1)
    edges = np.flatnonzero(np.diff(group)) + 1
    for first, last in zip(
        np.concatenate(([0], edges)), np.append(edges, len(starts)), strict=True
    ):
        run_starts, run_lengths = starts[first:last], lengths[first:last]
        total = int(run_lengths.sum())
        inside = np.arange(total) - np.repeat(np.cumsum(run_lengths) - run_lengths, run_lengths)
        at = np.repeat(run_starts, run_lengths) + inside
        rows = order[at]
        keys = pa.table(
            {
                "run": np.repeat(np.arange(len(run_starts)), run_lengths),
                "id": ids.take(pa.array(rows)),
            }
        )
        by = pc.sort_indices(keys, sort_keys=[("run", "ascending"), ("id", "ascending")])
        order[at] = rows[np.asarray(by, dtype=np.int64)]
    return order.astype(np.int64)


@dataclass(frozen=True)
class _Context:
    """What every chunk function reads: the model, the options, the other sources, and
    where the declarations come from (shared with forked workers, never written)."""

    model: RiskModel
    file: str
    mapping: Mapping | None
    options: ScoreOptions
    id_column: str
    legs: _LegsById | None
    ports: pd.DataFrame | None
    leg_rejects: dict[str, list[str]]
    importer_past: pd.Series

    def features_of(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The model's features of typed declaration rows, with their route legs."""
        from features.sources import Sources

        state = self.model.pipeline.state_
        chunk_legs = self.legs.of(rows["declaration_id"]) if self.legs is not None else None
        batch = Sources(
            declarations=rows,
            route_legs=chunk_legs,
            ports=self.ports,
            extra_categorical=tuple(state.extra_categorical),
            extra_numeric=tuple(state.extra_numeric),
        )
        features = self.model.features(batch).copy(deep=False)
        # pandas deep-copies ``attrs`` (the feature lists) on every column access; the drift
        # counts and the flagged columns read every feature column
        features.attrs = {}
        return features


@dataclass(frozen=True)
class _Chunk:
    """A pass-1 job: a chunk's raw rows, the file rows before it, and the rows whose id an
    earlier chunk already holds (``{1-based row in the chunk: (column, reason)}``)."""

    raw: pa.Table
    offset: int
    duplicates: dict[int, tuple[str, str]]


@dataclass
class _Scored:
    """A pass-1 result: the chunk's rejects (file row, column, id, reason) and the small
    per-row arrays of its scored rows (see :class:`_Kept`), drift counts and timings."""

    rejects: list[tuple[int, str | None, Any, str]]
    positions: np.ndarray
    ids: pa.Array
    rule: np.ndarray
    declared_at: np.ndarray
    corridor: pa.Array
    risk: np.ndarray
    margin: np.ndarray
    groups: dict[str, tuple[np.ndarray, np.ndarray] | None]
    drift_rows: int
    drift_counts: dict[str, np.ndarray]
    timings: dict[str, float]
    pid: int = field(default_factory=os.getpid)


def _factorized(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int32 codes, -1 = missing; levels in order of first appearance) of a column.

    Factorized in the column's own dtype (an Arrow string column without a Python string
    per row); only the levels become Python objects.
    """
    codes, levels = pd.factorize(pd.Series(values, copy=False))
    return codes.astype(np.int32), np.asarray(pd.Index(levels).astype(object), dtype=object)


def _score_chunk(ctx: _Context, job: _Chunk) -> _Scored:
    """Pass 1 of one chunk (a chunk function of :class:`~riskmodel.scoring.parallel.
    ChunkRunner`): type it, reject its bad rows, score the rest."""
    from features.io import read_table
    from riskmodel.scoring.parallel import predict_threads

    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = timings.get(step, 0.0) + now - clock
        clock = now

    model, options, raw, offset = ctx.model, ctx.options, job.raw, job.offset
    result = read_table(
        raw, "declarations", file=ctx.file, mapping=ctx.mapping, require_labels=False
    )
    lap("read")
    grouped = _group_problems(result.problems)
    all_ids = _raw_ids(raw, ctx.id_column)
    valid = result.frame
    # worded as the reader words a repeat within one chunk, so the reason does not depend
    # on where the chunks end
    extra_reject = {row: why for row, why in job.duplicates.items() if row not in grouped}
    refused = model.pipeline.screen(valid)
    for idx, column, why in zip(refused.index, refused["column"], refused["reason"], strict=True):
        hint = " (score it with a model whose state ends before it)"
        extra_reject.setdefault(
            int(idx) + 1, (str(column), str(why) + (hint if column == "declared_at" else ""))
        )
    if ctx.leg_rejects:
        # only the rows whose id has a rejected leg, not a Python loop over every row
        hit = isin(valid["declaration_id"], pd.Series(list(ctx.leg_rejects), dtype="str"))
        for idx in np.flatnonzero(hit).tolist():
            bad_legs = ctx.leg_rejects[str(valid["declaration_id"].iloc[idx])]
            extra_reject.setdefault(
                int(valid.index[idx]) + 1,
                ("declaration_id", "route leg rejected: " + " | ".join(bad_legs)),
            )
    rejects: list[tuple[int, str | None, Any, str]] = []
    for local in sorted(set(grouped) | set(extra_reject)):
        if local in grouped:
            problems = grouped[local]
            reason = _shift_rows(_reason_text(problems), offset)
            if local in job.duplicates:
                # the reader saw the repeat within this chunk; the id's first row in the
                # file is in an earlier chunk (the reason must not depend on chunking)
                first = _FIRST_SEEN.search(job.duplicates[local][1])
                if first is not None:
                    reason = _FIRST_SEEN.sub(first.group(0), reason)
            rejects.append((offset + local, problems[0].column, all_ids[local - 1].as_py(), reason))
        else:
            where, reason = extra_reject[local]
            rejects.append((offset + local, where, all_ids[local - 1].as_py(), reason))
    drop = np.isin(valid.index.to_numpy() + 1, np.fromiter(extra_reject, dtype=np.int64))
    valid = valid[~drop]
    del all_ids, result
    scored = _Scored(
        rejects=rejects,
        positions=valid.index.to_numpy().astype(np.int32),
        ids=_arrow_text(valid["declaration_id"]),
        rule=np.zeros(0, dtype=np.int16),
        declared_at=np.zeros(0, dtype="datetime64[us]"),
        corridor=pc.dictionary_encode(pa.array([], pa.string())),
        risk=np.zeros(0),
        margin=np.zeros(0),
        groups={},
        drift_rows=0,
        drift_counts={},
        timings=timings,
    )
    if len(valid) == 0:
        return scored
    features = ctx.features_of(valid)
    lap("features")
    matrix = model.matrix(features)
    margin = np.asarray(
        model.booster.predict(matrix, raw_score=True, num_threads=predict_threads()), dtype=float
    )
    scored.risk = np.asarray(model.calibrator.transform(margin), dtype=float)
    scored.margin = margin
    del matrix
    lap("predict")
    if model.drift_reference:
        meter = DriftMeter(model.drift_reference)
        meter.add(features)
        scored.drift_rows, scored.drift_counts = meter.rows_, meter.counts_
    lap("drift")
    scored.rule = (
        options.rules.first_index(valid.assign(corridor_id=features["corridor_id"]))
        if options.rules is not None
        else np.full(len(valid), -1, dtype=np.int16)
    )
    scored.declared_at = valid["declared_at"].to_numpy(dtype="datetime64[us]")
    scored.corridor = pc.dictionary_encode(_arrow_text(features["corridor_id"]))
    for key in ("origin_country", "transport_mode"):
        scored.groups[key] = _factorized(valid[key]) if key in valid.columns else None
    scored.groups["importer_size_band"] = _factorized(
        size_band(valid["importer_id"].map(ctx.importer_past).fillna(0).to_numpy(dtype=float))
    )
    lap("channels")
    return scored


WARM_ROWS = 64
"""Rows of the first chunk scored (and dropped) before the workers fork, see :func:`_warm_up`."""


def _warm_up(ctx: _Context, job: _Chunk) -> None:
    """Score the first ``WARM_ROWS`` rows of the first chunk and drop the result: it builds
    the fitted state's lazy indexes in this process before the workers fork, so they share
    them; the whole first chunk, scored here, kept one core idle for about a second."""
    _score_chunk(ctx, _Chunk(raw=job.raw.slice(0, WARM_ROWS), offset=job.offset, duplicates={}))


@dataclass(frozen=True)
class _Flagged:
    """A pass-2 job: flagged rows of one or more chunks, re-read (``parts``: each chunk's
    flagged raw rows, the ids pass 1 scored there, the chunk's number), their scored
    positions (``where``), channel and ``selected_by`` codes (``labels``: the latter's
    texts) and which of them get reasons (``explain``)."""

    parts: list[tuple[pa.Table, pa.Array, int]]
    where: np.ndarray
    channel: np.ndarray
    selected: np.ndarray
    labels: tuple[str, ...]
    explain: np.ndarray


@dataclass
class _Refeatured:
    """A pass-2 result: the rows of flagged.parquet (Arrow), the feature frame of the rows
    that get reasons (as flagged.parquet holds it) and their scored positions, timings."""

    table: pa.Table
    asked: pd.DataFrame
    where: np.ndarray
    timings: dict[str, float]
    pid: int = field(default_factory=os.getpid)


def _refeature(ctx: _Context, job: _Flagged) -> _Refeatured:
    """Pass 2 of a group of flagged rows (a chunk function): type them again, check they
    are the rows of pass 1, and compute their features again."""
    from features.io import read_table

    started = time.perf_counter()
    frames = []
    for raw, expected, number in job.parts:
        result = read_table(
            raw, "declarations", file=ctx.file, mapping=ctx.mapping, require_labels=False
        )
        rows = result.frame
        if (
            result.problems
            or len(rows) != raw.num_rows
            or not _arrow_text(rows["declaration_id"]).equals(expected)
        ):
            raise _changed(ctx.file, f"rows of chunk {number + 1} differ from pass 1")
        frames.append(rows)
    rows = pd.concat(frames, ignore_index=True)
    read = time.perf_counter()
    names, cats = ctx.model.feature_names, set(ctx.model.categorical_features)
    features = ctx.features_of(rows)
    frame = _feature_frame(features, names, cats)
    featured = time.perf_counter()
    table = _flagged_table(
        rows,
        frame,
        channel=job.channel,
        selected=job.selected,
        labels=job.labels,
        legs=ctx.legs,
        names=names,
        cats=cats,
    )
    return _Refeatured(
        table=table,
        asked=frame[job.explain],
        where=job.where[job.explain],
        timings={
            "reread": read - started,
            "flagged_features": featured - read,
            "write": time.perf_counter() - featured,
        },
    )


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

    Raises :class:`ContractError` (exit 3) for a broken input file or one that changed
    between the two passes, :class:`ModelError` (exit 4) for a model the input or the code
    cannot feed (``history``: the folder the model's state was refreshed from, recorded in the
    manifest), :class:`UsageError` (exit 2) for bad options; nothing is written in OUT in
    every such case. ``progress`` gets one line per chunk of each pass and one when the
    channels are assigned (between the passes).
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
    legs = _LegsById(others["route_legs"]) if others["route_legs"] is not None else None
    rule_names = options.rules.names if options.rules is not None else ()
    ignored = [
        f"{found.name}: not used for scoring (history: pass it with --history)"
        for name in _HISTORY_SOURCES
        if (found := find_source(data, name)) is not None
    ]
    wanted = _wanted_columns(mapping)
    fmt = mapping.format if mapping is not None else CsvFormat()
    id_column = (
        mapping.columns.get("declaration_id", "declaration_id") if mapping else "declaration_id"
    )
    context = _Context(
        model=model,
        file=file,
        mapping=mapping,
        options=options,
        id_column=id_column,
        legs=legs,
        ports=others["ports"],
        leg_rejects=leg_rejects,
        importer_past=importer_past,
    )
    workers = options.workers if options.workers is not None else default_workers()

    def add_timings(parts: dict[str, float], pid: int) -> None:
        """A chunk function's step times, and the parent's wait for it (less those steps
        when the chunk ran in this process)."""
        nonlocal clock
        for step, seconds in parts.items():
            timings[step] = round(timings.get(step, 0.0) + seconds, 4)
        if pid == os.getpid():
            clock += sum(parts.values())
        lap("wait")

    def pass_one() -> Iterator[_Chunk]:
        """Pass 1's jobs, read here in file order: each chunk's raw rows, and its rows
        whose id an earlier chunk holds (the one check that spans chunks)."""
        nonlocal offset
        for raw in _chunks(path, file, wanted, options.chunk_rows, fmt):
            all_ids = _raw_ids(raw, id_column)
            duplicates = {
                local + 1: (
                    "declaration_id",
                    f"column 'declaration_id': duplicate value {all_ids[local].as_py()!r}, "
                    f"first seen at row {seen}",
                )
                for local, seen in seen_ids.earlier_then_add(all_ids, offset).items()
            }
            kept.chunk_rows.append(raw.num_rows)
            job = _Chunk(raw=raw, offset=offset, duplicates=duplicates)
            offset += raw.num_rows
            lap("read")
            yield job

    stamp = _stamp(path)
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=parent))
    runner = ChunkRunner(context, workers=workers)
    try:
        # ------------------------------------------------------------ pass 1
        scored_rows = 0
        for part in runner.map(_score_chunk, pass_one(), warm=_warm_up):
            for row, column, decl_id, reason in part.rejects:
                rejects.add(path.name, row, column, decl_id, reason, declaration=True)
            kept.positions.append(part.positions)
            kept.ids.append(part.ids)
            scored_rows += len(part.positions)
            if len(part.positions):
                kept.rule.append(part.rule)
                kept.declared_at.append(part.declared_at)
                kept.corridor.append(part.corridor)
                kept.risk.append(part.risk)
                kept.margin.append(part.margin)
                for key, values in part.groups.items():
                    if values is None:
                        kept.absent.add(key)
                    else:
                        kept.groups[key].add_codes(*values)
                if meter is not None:
                    meter.merge(part.drift_rows, part.drift_counts)
            add_timings(part.timings, part.pid)
            say(f"pass 1: {offset:,} rows read, {scored_rows:,} scored")
        if offset == 0:
            raise ContractError(f"{file}: no data rows: expected at least one declaration")
        inputs.insert(0, {"path": str(path), "rows": offset})
        seen_ids = _SeenIds()  # every id of pass 1 (150 MB at 5M rows) is no longer needed

        # ------------------------------------------------------------ channels
        sizes = [len(p) for p in kept.positions]
        n = sum(sizes)
        ids = pa.chunked_array(kept.ids, pa.string())
        risk_all = np.concatenate(kept.risk) if kept.risk else np.zeros(0)
        margin_all = np.concatenate(kept.margin) if kept.margin else np.zeros(0)
        kept.risk, kept.margin = [], []
        rule_all = np.concatenate(kept.rule) if kept.rule else np.zeros(0, dtype=np.int16)
        kept.rule = []
        order = _risk_order(risk_all, ids)
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(1, n + 1, dtype=np.int64)
        channels = assign_channels(
            order,
            rule_all,
            rule_names=rule_names,
            ids=ids,
            budget=options.budget,
            yellow_budget=options.yellow_budget,
            exploration=options.exploration,
            seed=options.seed,
        )
        del order, rule_all
        release_memory()
        code = channels.channel_code
        flag = code != GREEN
        explain = np.isin(code, [_CHANNEL_CODE[c] for c in options.reasons_for])
        if options.reasons == 0:
            explain[:] = False
        lap("channels")
        say(f"channels: {int((code == RED).sum()):,} red, {int((code == YELLOW).sum()):,} yellow")

        # ------------------------------------------------------------ pass 2
        model_version = str(source.version) if source.version is not None else None
        flagged_writer = _FlaggedWriter(stage / "flagged.parquet", names, cats)
        reasons_parts: list[tuple[np.ndarray, pd.DataFrame]] = []

        def pass_two() -> Iterator[_Flagged]:
            """Pass 2's jobs: the flagged rows re-read chunk by chunk and gathered into jobs
            of about half ``chunk_rows`` rows: a feature computation has a fixed cost, and
            each job comes back as a table of every feature, up to ``workers`` of them held
            here at once while the run's per-row arrays are all in memory."""
            if _stamp(path) != stamp:
                raise _changed(file, "its size or modification time differs from pass 1")
            start = 0
            held: list[tuple[pa.Table, pa.Array, int]] = []
            where: list[np.ndarray] = []
            chunks = _chunks(path, file, wanted, options.chunk_rows, fmt)
            for number, raw in enumerate(chunks):
                if number >= len(kept.chunk_rows) or raw.num_rows != kept.chunk_rows[number]:
                    raise _changed(file, f"chunk {number + 1} does not hold the rows of pass 1")
                size = sizes[number]
                mine = flag[start : start + size]
                if mine.any():
                    take = kept.positions[number][mine]
                    expected = kept.ids[number].filter(pa.array(mine))
                    held.append((raw.take(pa.array(take)), expected, number))
                    where.append(start + np.flatnonzero(mine))
                    if sum(len(w) for w in where) >= max(1, options.chunk_rows // 2):
                        lap("reread")
                        yield flagged_job(held, where)
                        held, where = [], []
                start += size
                say(f"pass 2: {start:,} of {n:,} scored rows done")
            if start != n:
                raise _changed(file, "it holds fewer chunks than in pass 1")
            lap("reread")
            if held:
                yield flagged_job(held, where)

        def flagged_job(
            held: list[tuple[pa.Table, pa.Array, int]], where: list[np.ndarray]
        ) -> _Flagged:
            at = np.concatenate(where)
            return _Flagged(
                parts=held,
                where=at,
                channel=code[at],
                selected=channels.selected_code[at],
                labels=channels.selected_labels,
                explain=explain[at],
            )

        if flag.any():
            for done in runner.map(_refeature, pass_two(), ahead=0, release=True):
                add_timings(done.timings, done.pid)
                if len(done.where):
                    from riskmodel.scoring.reasons import contributions, top_reasons

                    contrib = contributions(model, done.asked)
                    lap("reasons_shap")
                    gap = np.max(np.abs(contrib.raw_margin - margin_all[done.where]))
                    if gap > 1e-9:
                        raise RiskError(
                            f"reasons: SHAP contributions sum to a raw margin {gap:.3g} away "
                            "from the scored one; refusing to write inconsistent reasons"
                        )
                    reasons_parts.append(
                        (done.where, top_reasons(contrib, done.asked, k=options.reasons))
                    )
                    lap("reasons_text")
                flagged_writer.write(done.table)
                lap("write")
            if _stamp(path) != stamp:
                raise _changed(file, "its size or modification time differs from pass 1")
        runner.close()
        flagged_writer.close()
        lap("write")

        # ------------------------------------------------------------ the rest
        scores_name = "scores.csv" if options.format == "csv" else "scores.parquet"
        _write_scores(
            stage / scores_name,
            options,
            ids=ids,
            declared_at=kept.declared_at,
            risk=risk_all,
            margin=margin_all,
            rank=rank,
            channels=channels,
            corridor=kept.corridor,
            reasons=reasons_parts,
            model_uri=source.uri,
            model_version=model_version,
        )
        del rank
        reasons_parts.clear()
        corridors = corridor_table(
            pa.chunked_array(kept.corridor, pa.dictionary(pa.int32(), pa.string())),
            risk_all,
            code == RED,
        )
        groups: dict[str, Any] = {
            key: codes.categorical()
            for key, codes in kept.groups.items()
            if key not in kept.absent and n > 0
        }
        # burden compares the channels with ``== "red"``: a categorical answers that from its
        # int8 codes, without an object array of every row's channel
        channel_of = pd.Categorical.from_codes(code, categories=pd.Index(CHANNEL_LABELS))
        burdens = burden(groups, cast(np.ndarray, channel_of))
        psi = meter.psi() if meter is not None else {}
        drifting, state_shifted = split_drift(
            psi, options.drift_threshold, rows=meter.rows_ if meter is not None else None
        )
        rejects_table = rejects.table()
        corridors_table = pa.Table.from_pandas(corridors, preserve_index=False)
        written = {scores_name: n, "flagged.parquet": flagged_writer.rows}
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
        counts_channel = {c: int((code == _CHANNEL_CODE[c]).sum()) for c in CHANNELS}
        picked = np.bincount(
            channels.selected_code[channels.selected_code >= 0],
            minlength=len(channels.selected_labels),
        )
        by = {
            label: int(count)
            for label, count in sorted(zip(channels.selected_labels, picked, strict=True))
            if count
        }
        for item in inputs:
            item_path = Path(item["path"])
            item["sha256"] = file_sha256(item_path)
            item["bytes"] = item_path.stat().st_size
        if _stamp(path) != stamp:
            raise _changed(file, "its size or modification time differs from pass 1")
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
                "workers": runner.workers,
                "history": None if history is None else str(history),
            },
            "counts": {
                "input_rows": offset,
                "scored": n,
                "rejected": rejects.declaration_rows,
                "rejected_other_sources": len(rejects.reason) - rejects.declaration_rows,
                "channels": counts_channel,
                "selected_by": by,
            },
            "outputs": [
                {"path": name, "sha256": file_sha256(stage / name), "rows": rows}
                for name, rows in written.items()
            ],
            "notices": ignored,
            "timings": timings,
            "drift": {
                "threshold": options.drift_threshold,
                "rows_counted": meter.rows_ if meter is not None else 0,
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
        runner.close()
        shutil.rmtree(stage, ignore_errors=True)
    return ScoreResult(out=out, manifest=manifest, drifting=drifting)


OUTPUT_NAMES: tuple[str, ...] = (
    *(
        f"{base}.{suffix}"
        for base in ("scores", "rejects", "corridors")
        for suffix in ("parquet", "csv")
    ),
    "flagged.parquet",
    "manifest.json",
)
"""Every file name a scoring run may write in OUT (either ``--format``)."""


def _publish(stage: Path, out: Path, names: list[str]) -> None:
    """Move the staged outputs into OUT (each ``os.replace`` is atomic), manifest last.

    A manifest of an earlier run is removed first, so OUT never shows a manifest that does
    not describe the files beside it; so are the other outputs an earlier run may have
    written and this one does not (``scores.csv`` of a ``--format csv`` run beside this
    run's ``scores.parquet`` would be read as the current list). Other files in OUT are not
    touched.
    """
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (out / "manifest.json").unlink()
    for stale in OUTPUT_NAMES:
        if stale not in names:
            with contextlib.suppress(FileNotFoundError):
                (out / stale).unlink()
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


FLAGGED_ROW_GROUP = 20_000
"""Rows per row group of flagged.parquet (fixed, so its bytes do not depend on chunking)."""
SCORES_ROW_GROUP = 100_000
"""Rows per row group (and per CSV write) of scores."""
_CHANNEL_CODE = {"green": GREEN, "yellow": YELLOW, "red": RED}


def _scores_schema(reasons: int) -> pa.Schema:
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
    for i in range(1, reasons + 1):
        fields += [
            pa.field(f"reason_{i}_feature", pa.string()),
            pa.field(f"reason_{i}_value", pa.string()),
            pa.field(f"reason_{i}_contribution", pa.float64()),
            pa.field(f"reason_{i}_text", pa.string()),
        ]
    fields += [pa.field("model_uri", pa.string()), pa.field("model_version", pa.string())]
    return pa.schema(fields)


def _labels(codes: np.ndarray, labels: tuple[str, ...]) -> pa.Array:
    """Integer codes as text (-1 = null) through Arrow, without a Python string per row."""
    index = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pa.array(labels, pa.string()).take(index)


def _reason_columns(
    parts: list[tuple[np.ndarray, pd.DataFrame]], k: int
) -> tuple[np.ndarray, pa.Table]:
    """Every explained row's scored position (ascending) and its reason columns (Arrow)."""
    where = np.concatenate([p for p, _ in parts]) if parts else np.zeros(0, dtype=np.int64)
    columns: dict[str, pa.Array] = {}
    for i in range(1, k + 1):
        for part in ("feature", "value", "contribution", "text"):
            name = f"reason_{i}_{part}"
            if part == "contribution":
                values = (
                    np.concatenate([r[name].to_numpy(dtype=float) for _, r in parts])
                    if parts
                    else np.zeros(0)
                )
                columns[name] = pa.array(values, pa.float64(), mask=np.isnan(values))
            else:
                cells: list[Any] = []
                for _, r in parts:
                    cells += r[name].astype(object).where(r[name].notna(), None).tolist()
                columns[name] = pa.array(cells, pa.string())
    return where, pa.table(columns) if columns else pa.table({})


def _write_scores(
    target: Path,
    options: ScoreOptions,
    *,
    ids: pa.ChunkedArray,
    declared_at: list[np.ndarray],
    risk: np.ndarray,
    margin: np.ndarray,
    rank: np.ndarray,
    channels: Channels,
    corridor: list[pa.Array],
    reasons: list[tuple[np.ndarray, pd.DataFrame]],
    model_uri: str,
    model_version: str | None,
) -> None:
    """scores (Parquet or CSV) from the in-memory per-row arrays, ``SCORES_ROW_GROUP`` rows
    at a time; reason cells come from the explained rows' positions (null elsewhere)."""
    schema = _scores_schema(options.reasons)
    csv = options.format == "csv"
    n = len(risk)
    where, reason_table = _reason_columns(reasons, options.reasons)
    dates = pa.chunked_array(
        [pa.array(d, pa.timestamp("us")) for d in declared_at], pa.timestamp("us")
    )
    corridors = pa.chunked_array(corridor, pa.dictionary(pa.int32(), pa.string()))
    writer: Any = pacsv.CSVWriter(target, schema) if csv else pq.ParquetWriter(target, schema)
    try:
        if n == 0:
            writer.write_table(schema.empty_table())
        for start in range(0, n, SCORES_ROW_GROUP):
            stop = min(n, start + SCORES_ROW_GROUP)
            size = stop - start
            columns: dict[str, Any] = {
                "declaration_id": ids.slice(start, size).combine_chunks(),
                "declared_at": dates.slice(start, size).combine_chunks(),
                "risk_score": pa.array(risk[start:stop], pa.float64()),
                "raw_margin": pa.array(margin[start:stop], pa.float64()),
                "risk_rank": pa.array(rank[start:stop], pa.int64()),
                "channel": _labels(channels.channel_code[start:stop], CHANNEL_LABELS),
                "selected_by": _labels(
                    channels.selected_code[start:stop], channels.selected_labels
                ),
                "corridor_id": corridors.slice(start, size).cast(pa.string()).combine_chunks(),
            }
            lo, hi = np.searchsorted(where, [start, stop])
            index = np.full(size, -1, dtype=np.int64)
            index[where[lo:hi] - start] = np.arange(lo, hi)
            take = pa.array(index, mask=index < 0)
            for name in reason_table.column_names:
                columns[name] = reason_table.column(name).take(take).combine_chunks()
            columns["model_uri"] = pa.array([model_uri] * size, pa.string())
            columns["model_version"] = pa.array([model_version] * size, pa.string())
            table = pa.table(columns, schema=schema)
            writer.write_table(_csv_table(table) if csv else table)
    finally:
        writer.close()


def _flagged_table(
    rows: pd.DataFrame,
    features: pd.DataFrame,
    *,
    channel: np.ndarray,
    selected: np.ndarray,
    labels: tuple[str, ...],
    legs: _LegsById | None,
    names: list[str],
    cats: set[str],
) -> pa.Table:
    """flagged.parquet's rows: ``rows`` as typed, ``features`` their feature frame (as
    :func:`_feature_frame` gives), ``channel``/``selected`` their codes, their route."""
    front: dict[str, Any] = {
        "declaration_id": _text(rows["declaration_id"]),
        "channel": _labels(channel, CHANNEL_LABELS),
        "selected_by": _labels(selected, labels),
    }
    for column in FLAGGED_DECLARATION_COLUMNS:
        if column in rows.columns:
            col = rows[column]
            front[column] = (
                pa.array(col.to_numpy(dtype=float), pa.float64())
                if pd.api.types.is_float_dtype(col)
                else _text(col)
            )
    ids = rows["declaration_id"]
    front["route"] = _text(_routes(legs.of(ids) if legs is not None else None, ids))
    front.update(_feature_columns(features, names, cats))
    return pa.table(front)


class _FlaggedWriter:
    """flagged.parquet, appended chunk by chunk in row groups of ``FLAGGED_ROW_GROUP`` rows."""

    def __init__(self, target: Path, names: list[str], cats: set[str]) -> None:
        self.target = target
        self.names = names
        self.cats = cats
        self.writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None
        self.pending: list[pa.Table] = []
        self.held = 0
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Append flagged rows (as :func:`_flagged_table` builds them)."""
        if self.schema is None:
            self.schema = table.schema
        self.pending.append(table.cast(self.schema))
        self.held += table.num_rows
        self.rows += table.num_rows
        while self.held >= FLAGGED_ROW_GROUP:
            self._flush(FLAGGED_ROW_GROUP)

    def _flush(self, size: int) -> None:
        assert self.schema is not None
        whole = pa.concat_tables(self.pending).combine_chunks()
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.target, self.schema)
        self.writer.write_table(whole.slice(0, size), row_group_size=size)
        rest = whole.slice(size)
        self.pending = [rest] if rest.num_rows else []
        self.held = rest.num_rows

    def close(self) -> None:
        """Write what is held and close; a batch with no flagged row gets an empty file."""
        if self.held:
            self._flush(self.held)
        if self.writer is not None:
            self.writer.close()
            return
        fields = [
            pa.field("declaration_id", pa.string()),
            pa.field("channel", pa.string()),
            pa.field("selected_by", pa.string()),
            pa.field("route", pa.string()),
        ] + [
            pa.field(f"feature:{n}", pa.string() if n in self.cats else pa.float64())
            for n in self.names
        ]
        pq.write_table(pa.schema(fields).empty_table(), self.target)
