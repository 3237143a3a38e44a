"""Model commands: train, evaluate, tune, promote."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from riskmodel.cli._app import (
    ConfigOpt,
    DataArg,
    MappingOpt,
    MetricsOutOpt,
    QuietOpt,
    TrackingOpt,
    app,
    out,
    print_metrics,
    print_timings,
    print_validation,
    status,
)


@app.command()
def train(
    config: ConfigOpt,
    data: Annotated[Path | None, typer.Option(file_okay=False, help="DATA dir")] = None,
    mapping: MappingOpt = None,
    tracking_uri: TrackingOpt = None,
    metrics_out: MetricsOutOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Train, evaluate against the baselines, log to MLflow and register a new model version."""
    from riskmodel import api

    with status("training", quiet=quiet) as progress:
        result = api.train(
            config,
            data=data,
            mapping=mapping,
            tracking_uri=tracking_uri,
            metrics_out=metrics_out,
            progress=progress,
        )
    print_metrics(result.metrics, result.baselines, prefix="test_")
    print_validation(result.metrics)
    out.print(f"run_id: {result.run_id}")
    out.print(f"registered: {result.registered_name} version {result.version}")
    print_timings(result.seconds)


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
    quiet: QuietOpt = False,
) -> None:
    """Evaluate a model on DATA at the inspection budgets, against the baselines."""
    from riskmodel import api

    with status("evaluating", quiet=quiet) as progress:
        result = api.evaluate(
            model,
            data,
            mapping=mapping,
            truth=truth,
            tracking_uri=tracking_uri,
            metrics_out=metrics_out,
            progress=progress,
        )
    print_metrics(result.metrics, result.baselines, prefix="test_")


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
    quiet: QuietOpt = False,
) -> None:
    """Tune LightGBM on rolling time folds inside the training period; write a tuned config."""
    from riskmodel import api

    with status("tuning", quiet=quiet) as progress:
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
