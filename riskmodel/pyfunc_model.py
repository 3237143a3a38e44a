"""The MLflow pyfunc of a RiskModel, logged from code (``mlflow.pyfunc.log_model(python_model=
<this file>)``).

MLflow executes this file when the model is loaded; it must not be imported by the library
(``riskmodel.tracking`` only locates it). The model's one artifact, ``risk_model``, is a saved
:class:`~riskmodel.model.RiskModel` folder, so nothing of ours is pickled.

``predict`` takes raw declarations in the contract layout (the frame a customs system would
write to ``declarations.csv``), types them exactly as :mod:`features.io` types a declarations
file, and returns what ``RiskModel.predict`` returns: ``declaration_id`` and ``risk_score``.
Financial flags, route legs and label history for served declarations come from the fitted
feature state (facts known at the training cutoff). A row that violates the contract fails the
request with the problems listed (file ``<request>``, row, column).

A request is accepted as the contract accepts a file, typed the same way: every number column
as an integer (``int64``, nullable ``Int64`` with nulls) or a float, every timestamp column as
a timestamp (naive = UTC, or with a zone) or an ISO 8601 string (``Z`` and ``+01:00``
offsets become UTC); the model's signature leaves these columns untyped (``Any``) so that
MLflow's own schema enforcement does not refuse what the contract accepts, and this file types
them. A column whose cells mix value kinds (text and one integer, numbers and text) is a
:class:`~features.errors.ContractError` naming the column, the kinds and the first row that
differs; nothing is coerced.

A model trained through a mapping with ``[extra]`` columns takes them under their source names
(``office.id``...), beside the contract columns, and they are typed as the mapping types them
(categorical as text, numeric as float); a request without them is refused, as a mapped
declarations file without them would be, rather than scored with the extras silently missing.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel

from features.errors import ContractError, RowProblemsError
from features.sources import Sources

REQUEST_NAME = "<request>"


def _kind(value: Any) -> str:
    """The value kind of one cell, in the contract's words."""
    import datetime as dt
    import numbers

    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, numbers.Number):
        return "number"
    if isinstance(value, (dt.date, dt.datetime, pd.Timestamp)):
        return "timestamp"
    return type(value).__name__


def check_cell_kinds(frame: pd.DataFrame) -> None:
    """Refuse a column whose non-null cells mix value kinds (text, number, boolean, timestamp).

    Only ``object`` columns can mix kinds. Raises :class:`ContractError` naming the request,
    the column, the kinds found and the 1-based row (position in ``frame``) of the first cell
    whose kind differs from the column's first non-null cell.
    """
    for name in frame.columns:
        cells = frame[name]
        if cells.dtype != object:
            continue
        rows = np.flatnonzero(cells.notna().to_numpy(dtype=bool))
        if len(rows) == 0:
            continue
        kinds = [_kind(value) for value in cells.iloc[rows]]
        odd = [i for i, kind in enumerate(kinds) if kind != kinds[0]]
        if odd:
            at = odd[0]
            raise ContractError(
                f"{REQUEST_NAME}: column '{name}' mixes value kinds "
                f"({', '.join(sorted(set(kinds)))}); row {rows[at] + 1} holds "
                f"{cells.iloc[rows[at]]!r} ({kinds[at]}) where row {rows[0] + 1} holds "
                f"{kinds[0]}; send each column with one kind (identifiers and codes as text)"
            )


def typed_declarations(
    frame: pd.DataFrame,
    *,
    extra_categorical: tuple[str, ...] = (),
    extra_numeric: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Type a served declarations frame exactly as ``features.io`` types a declarations file.

    The frame goes through the real reader (written to a temporary Parquet file and read back
    with :func:`features.io.read_sources`), so serving and batch scoring share one set of
    contract rules. Any row problem refuses the request, naming row and column. ``extra_*``
    are the model's mapping extras: they are read through a mapping that keeps the contract
    columns as they are and declares those extras (without it the reader drops them).
    """
    from features.contracts import columns, required_columns
    from features.io import read_sources
    from features.mapping import Mapping

    mapping = None
    if extra_categorical or extra_numeric:
        present = set(frame.columns) | set(required_columns("declarations"))
        mapping = Mapping(
            columns={name: name for name in columns("declarations") if name in present},
            extra_categorical=tuple(extra_categorical),
            extra_numeric=tuple(extra_numeric),
        )
    frame = frame.reset_index(drop=True)
    check_cell_kinds(frame)
    with tempfile.TemporaryDirectory(prefix="riskmodel-serve-") as tmp:
        path = Path(tmp) / "declarations.parquet"
        try:
            frame.to_parquet(path, index=False)
        except (ValueError, TypeError) as exc:  # pyarrow's ArrowException subclasses these
            raise ContractError(f"{REQUEST_NAME}: cannot be read as declarations: {exc}") from None
        try:
            loaded = read_sources(Path(tmp), mapping=mapping)
        except ContractError as exc:  # a whole-request fault: name the request, not the temp file
            raise ContractError(
                str(exc).replace(str(path), REQUEST_NAME).replace(tmp, REQUEST_NAME)
            ) from None
    if loaded.problems:
        raise RowProblemsError(
            [dataclasses.replace(problem, file=REQUEST_NAME) for problem in loaded.problems]
        )
    return loaded.sources.declarations


class RiskModelPyfunc(PythonModel):
    """Scores raw declarations with the RiskModel saved in artifact ``risk_model``."""

    def load_context(self, context: Any) -> None:
        """Read the RiskModel folder (Parquet/JSON feature state, LightGBM text, calibrator)."""
        from riskmodel.model import RiskModel

        self.risk_model = RiskModel.load(Path(context.artifacts["risk_model"]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """``declaration_id`` and ``risk_score`` for each input declaration, in input order."""
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        state = self.risk_model.pipeline.state_
        categorical, numeric = tuple(state.extra_categorical), tuple(state.extra_numeric)
        declarations = typed_declarations(
            frame, extra_categorical=categorical, extra_numeric=numeric
        )
        sources = Sources(
            declarations=declarations, extra_categorical=categorical, extra_numeric=numeric
        )
        return self.risk_model.predict(sources)


set_model(RiskModelPyfunc())
