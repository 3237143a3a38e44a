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

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from riskmodel.errors import RiskError

# LightGBM's OpenMP workers spin while waiting; on a shared machine with busy cores that made
# training 20x slower (see riskmodel/train.py, "Threads"). Set before lightgbm is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
    "evaluate, tune, promote, score, explain, verify, demo.",
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


def rests_on(metrics: Mapping[str, Any], *, prefix: str) -> str | None:
    """One line: the rows and seizures a period's figures rest on, or None without counts.

    ``prefix`` is ``"test_"`` or ``"valid_"``; the counts are the metrics
    ``<prefix>rows``, ``<prefix>inspected``, ``<prefix>seizures`` (and ``<prefix>truth_rows``).
    """
    inspected, seizures = metrics.get(prefix + "inspected"), metrics.get(prefix + "seizures")
    if inspected is None or seizures is None:
        return None
    line = (
        f"{prefix.rstrip('_')} period: label figures on {int(inspected):,} inspected "
        f"declarations ({int(seizures):,} seizures)"
    )
    truth_rows = metrics.get(prefix + "truth_rows")
    if truth_rows is not None:
        line += f"; oracle ratios on {int(truth_rows):,} declarations with a truth"
    elif metrics.get(prefix + "rows") is not None:
        line += f" of {int(metrics[prefix + 'rows']):,} declared"
    return line


def print_metrics(
    metrics: Mapping[str, Any], baselines: Mapping[str, Mapping[str, Any]], *, prefix: str
) -> None:
    """A table of the model's metrics beside each baseline's, on the same rows.

    A header line first says which rows and how many seizures the figures rest on (see
    :func:`rests_on`); it is plain text so that a saved report can be searched.
    """
    header = rests_on(metrics, prefix=prefix)
    if header is not None:
        out.print(header, markup=False, highlight=False, soft_wrap=True)
    table = Table(title=f"{prefix.rstrip('_')} period: model vs baselines")
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


def print_validation(metrics: Mapping[str, Any]) -> None:
    """One line: the model's validation figures (early-stopped model) and what they rest on."""
    if "valid_precision_at_5pct" not in metrics:
        return
    rests = rests_on(metrics, prefix="valid_") or "valid period"
    out.print(
        f"{rests}, early-stopped model: precision_at_5pct "
        f"{fmt(metrics.get('valid_precision_at_5pct'))}, pr_auc {fmt(metrics.get('valid_pr_auc'))}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def print_timings(seconds: Mapping[str, float]) -> None:
    """The time per step of a command, in seconds, and their total (plain lines)."""
    width = max((len(step) for step in seconds), default=0)
    out.print("time per step (s):", markup=False, highlight=False)
    for step, value in seconds.items():
        out.print(f"  {step:<{width}}  {value:7.1f}", markup=False, highlight=False)
    total = sum(seconds.values())
    out.print(f"  {'total':<{width}}  {total:7.1f}", markup=False, highlight=False)


def fmt(value: Any) -> str:
    return "-" if value is None else f"{float(value):.4f}"
