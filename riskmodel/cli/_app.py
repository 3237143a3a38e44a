"""The typer app, its shared options and consoles, and the error -> exit code mapping.

Every command module registers on :data:`app`; nothing else turns a domain error into an exit
code (see :mod:`riskmodel.errors`): 0 success, 1 unexpected (and ``validate`` finding row
problems), 2 usage, 3 input contract violated at file level, 4 model not found or
incompatible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from riskmodel.errors import RiskError

out = Console()
err = Console(stderr=True)


class _Commands(TyperGroup):
    """Maps a domain error to its documented exit code, in the shell and under CliRunner."""

    def invoke(self, ctx: Any) -> Any:  # typer vendors click: its Context type is private
        try:
            return super().invoke(ctx)
        except RiskError as exc:
            err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from exc


app = typer.Typer(
    cls=_Commands,
    name="riskmodel",
    help="Seizure-risk modelling for customs targeting: sample, validate, features, train, "
    "evaluate, tune, promote.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DataArg = Annotated[
    Path,
    typer.Argument(
        exists=True, file_okay=False, help="DATA directory holding the sources by contract name"
    ),
]
MappingOpt = Annotated[
    Path | None,
    typer.Option(exists=True, dir_okay=False, help="TOML mapping of a foreign layout"),
]
TrackingOpt = Annotated[
    str | None,
    typer.Option(help="MLflow tracking URI (else MLFLOW_TRACKING_URI, else ./mlflow.db)"),
]
MetricsOutOpt = Annotated[
    Path | None, typer.Option(dir_okay=False, help="write the metrics as JSON here")
]
ConfigOpt = Annotated[
    Path, typer.Option(exists=True, dir_okay=False, help="experiment config (TOML)")
]


@contextmanager
def status(message: str) -> Iterator[Callable[[str], None]]:
    """A rich spinner on stderr whose text follows the library's progress messages."""
    with err.status(message) as status:

        def update(step: str) -> None:
            status.update(f"{message}: {step}")

        yield update


METRIC_ROWS: tuple[str, ...] = (
    "precision_at_1pct",
    "precision_at_5pct",
    "precision_at_10pct",
    "recall_at_1pct",
    "recall_at_5pct",
    "recall_at_10pct",
    "seized_kg_share_at_1pct",
    "seized_kg_share_at_5pct",
    "seized_kg_share_at_10pct",
    "pr_auc",
    "roc_auc",
    "brier",
    "oracle_ratio_at_1pct",
    "oracle_ratio_at_5pct",
    "oracle_ratio_at_10pct",
)


def print_metrics(
    metrics: dict[str, float], baselines: dict[str, dict[str, float]], *, prefix: str
) -> None:
    """A table of the model's test metrics beside each baseline's, on the same rows."""
    table = Table(title="test period: model vs baselines")
    table.add_column("metric")
    table.add_column("model", justify="right")
    for name in baselines:
        table.add_column(name, justify="right")
    for row in METRIC_ROWS:
        key = prefix + row
        if key not in metrics:
            continue
        cells = [fmt(metrics.get(key))] + [fmt(b.get(key)) for b in baselines.values()]
        table.add_row(row, *cells)
    out.print(table)


def fmt(value: Any) -> str:
    return "-" if value is None else f"{float(value):.4f}"
