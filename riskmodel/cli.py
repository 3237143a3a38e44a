"""The ``riskmodel`` command line: thin typer commands over :mod:`riskmodel.api`.

This is the only module that imports typer and the only place that turns a domain error into
an exit code (see :mod:`riskmodel.errors`): 0 success, 1 unexpected (and ``validate`` finding
row problems), 2 usage, 3 input contract violated at file level, 4 model not found or
incompatible. Heavy libraries are imported inside the commands that need them.
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
def _status(message: str) -> Iterator[Callable[[str], None]]:
    """A rich spinner on stderr whose text follows the library's progress messages."""
    with err.status(message) as status:

        def update(step: str) -> None:
            status.update(f"{message}: {step}")

        yield update


@app.command()
def sample(
    out_dir: Annotated[Path, typer.Option("--out", file_okay=False, help="output DATA dir")],
    declarations: Annotated[int, typer.Option(min=100, help="number of declarations")] = 20_000,
    seed: Annotated[int, typer.Option(help="random seed; same seed, same bytes")] = 7,
    layout: Annotated[
        str, typer.Option(help="'contract' or 'bacuda' (foreign-layout example)")
    ] = "contract",
) -> None:
    """Generate a synthetic world: the sources, rules.toml and truth/ (never read by features)."""
    from riskmodel import api

    with _status("generating world") as progress:
        summary = api.sample(out_dir, declarations=declarations, seed=seed, layout=layout)
        progress("done")
    out.print(f"wrote {out_dir}  ({summary})")


@app.command()
def validate(data: DataArg, mapping: MappingOpt = None) -> None:
    """Check every source against the contract; print each problem with file, row and column.

    Exit 0 when clean, 1 when rows violate the contract, 3 on a file-level problem.
    """
    from riskmodel import api

    result = api.validate(data, mapping=mapping)
    for notice in result.notices:
        out.print(f"notice: {notice}", markup=False, highlight=False)
    for problem in result.problems:
        out.print(str(problem), markup=False, highlight=False)
    out.print(result.summary(), markup=False, highlight=False)
    if result.problems:
        raise typer.Exit(1)


@app.command()
def features(
    data: DataArg,
    table_out: Annotated[Path, typer.Option("--out", dir_okay=False, help="TABLE.parquet")],
    mapping: MappingOpt = None,
) -> None:
    """Build the point-in-time training table, one row per declaration."""
    from riskmodel import api

    with _status("building features") as progress:
        table = api.features(data, out=table_out, mapping=mapping, progress=progress)
    absent = table.attrs.get("groups_absent") or {}
    out.print(
        f"wrote {table_out}: {len(table)} declarations, "
        f"{len(table.attrs.get('feature_names', []))} features"
        + (f"; absent groups: {', '.join(sorted(absent))}" if absent else "")
    )


@app.command()
def train(
    config: ConfigOpt,
    data: Annotated[Path | None, typer.Option(file_okay=False, help="DATA dir")] = None,
    mapping: MappingOpt = None,
    tracking_uri: TrackingOpt = None,
    metrics_out: MetricsOutOpt = None,
) -> None:
    """Train, evaluate against the baselines, log to MLflow and register a new model version."""
    from riskmodel import api

    with _status("training") as progress:
        result = api.train(
            config,
            data=data,
            mapping=mapping,
            tracking_uri=tracking_uri,
            metrics_out=metrics_out,
            progress=progress,
        )
    _print_metrics(result.metrics, result.baselines, prefix="test_")
    out.print(f"run_id: {result.run_id}")
    out.print(f"registered: {result.registered_name} version {result.version}")


@app.command()
def evaluate(
    model: Annotated[str, typer.Option(help="MLflow model URI or local model folder")],
    data: DataArg,
    mapping: MappingOpt = None,
    truth: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="truth.parquet")
    ] = None,
    tracking_uri: TrackingOpt = None,
    metrics_out: MetricsOutOpt = None,
) -> None:
    """Evaluate a model on DATA at the inspection budgets, against the baselines."""
    from riskmodel import api

    with _status("evaluating") as progress:
        result = api.evaluate(
            model,
            data,
            mapping=mapping,
            truth=truth,
            tracking_uri=tracking_uri,
            metrics_out=metrics_out,
            progress=progress,
        )
    _print_metrics(result.metrics, result.baselines, prefix="test_")


@app.command()
def tune(
    config: ConfigOpt,
    trials: Annotated[int, typer.Option(min=1, help="number of Optuna trials")],
    data: Annotated[Path | None, typer.Option(file_okay=False, help="DATA dir")] = None,
    mapping: MappingOpt = None,
    tracking_uri: TrackingOpt = None,
    config_out: Annotated[
        Path | None, typer.Option("--out", dir_okay=False, help="where to write the tuned config")
    ] = None,
    seed: Annotated[int, typer.Option(help="sampler seed")] = 0,
) -> None:
    """Tune LightGBM on rolling time folds inside the training period; write a tuned config."""
    from riskmodel import api

    with _status("tuning") as progress:
        result = api.tune(
            config,
            trials=trials,
            data=data,
            mapping=mapping,
            tracking_uri=tracking_uri,
            out=config_out,
            seed=seed,
            progress=progress,
        )
    out.print(f"best value: {result.best_value:.4f}  parent run: {result.run_id}")
    out.print(f"tuned config: {result.config_path}")


@app.command()
def promote(
    version: Annotated[int, typer.Option(min=1, help="registered model version")],
    alias: Annotated[str, typer.Option(help="alias to point at the version")] = "champion",
    name: Annotated[str, typer.Option(help="registered model name")] = "seizure-risk",
    tracking_uri: TrackingOpt = None,
) -> None:
    """Point an alias (default ``champion``) at a registered model version."""
    from riskmodel import api

    api.promote(version=version, alias=alias, name=name, tracking_uri=tracking_uri)
    out.print(f"models:/{name}@{alias} -> version {version}")


@app.command()
def demo(
    data: Annotated[Path, typer.Option(exists=True, file_okay=False)] = Path("data/sample"),
    config: ConfigOpt = Path("experiments/baseline.toml"),
    workdir: Annotated[Path, typer.Option(file_okay=False)] = Path(".riskmodel/demo"),
) -> None:
    """Validate the sample, train and evaluate on it with embedded MLflow, print the figures."""
    from riskmodel import api

    out.rule("1. validate")
    checked = api.validate(data)
    out.print(checked.summary(), markup=False, highlight=False)
    if checked.problems:
        for problem in checked.problems[:20]:
            out.print(str(problem), markup=False, highlight=False)
        raise typer.Exit(1)
    out.print(api.describe(checked.sources), markup=False, highlight=False)

    out.rule("2. train (embedded MLflow)")
    workdir.mkdir(parents=True, exist_ok=True)
    with _status("training") as progress:
        trained = api.train(
            config, data=data, metrics_out=workdir / "train-metrics.json", progress=progress
        )
    out.print(f"run_id: {trained.run_id}")
    out.print(f"registered: {trained.registered_name} version {trained.version}")

    out.rule("3. evaluate the registered model")
    with _status("evaluating") as progress:
        evaluated = api.evaluate(
            trained.model_uri,
            data,
            metrics_out=workdir / "evaluate-metrics.json",
            progress=progress,
        )
    _print_metrics(evaluated.metrics, evaluated.baselines, prefix="test_")
    out.print(f"metrics JSON: {workdir / 'evaluate-metrics.json'}")
    out.print(
        "Open the MLflow UI on this run:\n"
        f"  .venv/bin/mlflow ui --backend-store-uri {trained.tracking_uri} --port 5000\n"
        f"  then http://127.0.0.1:5000/#/experiments/{trained.experiment_id}/runs/{trained.run_id}",
        soft_wrap=True,  # commands and URLs must survive copy and paste
        markup=False,
        highlight=False,
    )


_ROWS: tuple[str, ...] = (
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


def _print_metrics(
    metrics: dict[str, float], baselines: dict[str, dict[str, float]], *, prefix: str
) -> None:
    """A table of the model's test metrics beside each baseline's, on the same rows."""
    table = Table(title="test period: model vs baselines")
    table.add_column("metric")
    table.add_column("model", justify="right")
    for name in baselines:
        table.add_column(name, justify="right")
    for row in _ROWS:
        key = prefix + row
        if key not in metrics:
            continue
        cells = [_fmt(metrics.get(key))] + [_fmt(b.get(key)) for b in baselines.values()]
        table.add_row(row, *cells)
    out.print(table)


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{float(value):.4f}"


def main() -> None:
    """Console-script entry point."""
    app()
