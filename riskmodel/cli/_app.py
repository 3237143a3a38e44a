"""The typer app, its shared options and consoles, progress, and the error -> exit code map.

Every command module registers on :data:`app`; nothing else turns a domain error into an exit
code (see :mod:`riskmodel.errors`): 0 success, 1 unexpected (and ``validate`` finding row
problems), 2 usage, 3 input contract violated at file level, 4 model not found or
incompatible.

Output is never wrapped: a line printed with :func:`line` (and every error) stays one line
whatever the terminal width or when redirected, so a saved report can be grepped.

Progress (:func:`status`) is one mechanism for every long command (each takes
:data:`QuietOpt`): on a terminal a rich spinner whose text follows the library's progress
messages; off a terminal (a log file, a pipe, a scheduler) one plain line per step on stderr
with the elapsed time, e.g. ``[  12.3s] training: fitting LightGBM``; ``--quiet`` prints no
progress at all (results and errors are still printed).
"""

from __future__ import annotations

import time
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


QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="print no progress (results and errors still print)")
]


def line(text: str) -> None:
    """Print ``text`` to stdout as it is: no markup, no highlighting, never wrapped."""
    out.print(text, markup=False, highlight=False, soft_wrap=True)


def progress_line(elapsed_s: float, message: str, step: str | None = None) -> str:
    """The plain progress line printed off a terminal: ``[  12.3s] training: fitting LightGBM``.

    ``elapsed_s`` is in seconds since the command's step began.
    """
    return f"[{elapsed_s:7.1f}s] {message}" + (f": {step}" if step else "")


@contextmanager
def status(message: str, *, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """Show a long step's progress on stderr; yields the ``progress(step)`` callback.

    On a terminal: a rich spinner whose text follows each step. Off a terminal: one plain
    :func:`progress_line` when the step starts, one per ``progress(step)`` and one when it
    ends (``done``), each with the elapsed time. ``quiet``: nothing at all.
    """
    if quiet:
        yield lambda step: None
        return
    if err.is_terminal:
        with err.status(message) as spinner:

            def update(step: str) -> None:
                spinner.update(f"{message}: {step}")

            yield update
        return
    started = time.perf_counter()

    def plain(step: str | None) -> None:
        err.print(
            progress_line(time.perf_counter() - started, message, step),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    plain(None)
    yield plain
    plain("done")


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
