"""`riskmodel demo`: what `make demo` runs, end to end on the committed sample."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from riskmodel.cli._app import (
    ConfigOpt,
    QuietOpt,
    app,
    line,
    out,
    print_metrics,
    status,
)
from riskmodel.cli.scoring import print_red_list


@app.command()
def demo(
    data: Annotated[Path, typer.Option(exists=True, file_okay=False)] = Path("data/sample"),
    config: ConfigOpt = Path("experiments/baseline.toml"),
    workdir: Annotated[Path, typer.Option(file_okay=False)] = Path(".riskmodel/demo"),
    quiet: QuietOpt = False,
) -> None:
    """Validate the sample, train and evaluate on it with embedded MLflow, print the figures,
    then score its newest period as a batch, print the red list and write its report."""
    from riskmodel import api

    out.rule("1. validate")
    checked = api.validate(data)
    line(checked.summary())
    if checked.problems:
        for problem in checked.problems[:20]:
            line(str(problem))
        raise typer.Exit(1)
    line(api.describe(checked.sources))

    out.rule("2. train (embedded MLflow)")
    workdir.mkdir(parents=True, exist_ok=True)
    with status("training", quiet=quiet) as progress:
        trained = api.train(
            config, data=data, metrics_out=workdir / "train-metrics.json", progress=progress
        )
    line(f"run_id: {trained.run_id}")
    line(f"registered: {trained.registered_name} version {trained.version}")

    out.rule("3. evaluate the registered model")
    with status("evaluating", quiet=quiet) as progress:
        evaluated = api.evaluate(
            trained.model_uri,
            data,
            metrics_out=workdir / "evaluate-metrics.json",
            progress=progress,
        )
    print_metrics(evaluated.metrics, evaluated.baselines, prefix="test_")
    line(f"metrics JSON: {workdir / 'evaluate-metrics.json'}")

    out.rule("4. score the newest period as a batch (red list)")
    with status("scoring", quiet=quiet) as progress:
        scored = api.score_period(
            trained.model_uri,
            data,
            start=evaluated.test_start,
            out=workdir / "scores",
            progress=progress,
            batch_dir=workdir / "batch",
        )
    print_red_list(scored.out / "scores.parquet")
    line(f"scores, rejects, corridors, manifest: {scored.out}")

    out.print(
        "Open the MLflow UI on this run:\n"
        f"  .venv/bin/mlflow ui --backend-store-uri {trained.tracking_uri} --port 5000\n"
        f"  then http://127.0.0.1:5000/#/experiments/{trained.experiment_id}/runs/{trained.run_id}",
        soft_wrap=True,  # commands and URLs must survive copy and paste
        markup=False,
        highlight=False,
    )

    out.rule("5. explain the batch (report for reviewers)")
    with status("explaining", quiet=quiet) as progress:
        report = api.explain(
            trained.model_uri, scored.out, workdir / "report", top=20, progress=progress
        )
    out.print(f"report ({report.shipments} red shipments explained):", markup=False)
    out.print(f"  {report.html.resolve()}", soft_wrap=True, markup=False, highlight=False)
