"""`riskmodel score`: a batch of declarations -> channels, reasons, corridors, manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from riskmodel.cli._app import DataArg, MappingOpt, TrackingOpt, app, err, out, status


@app.command()
def score(
    data: DataArg,
    model: Annotated[str, typer.Option(help="models:/name@alias, runs:/<id>/model or a folder")],
    out_dir: Annotated[
        Path, typer.Option("--out", file_okay=False, help="output folder (written atomically)")
    ],
    mapping: MappingOpt = None,
    budget: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of the batch sent red")
    ] = 0.05,
    yellow_budget: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of the batch sent yellow")
    ] = 0.10,
    exploration: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of the red budget drawn at random")
    ] = 0.10,
    seed: Annotated[int, typer.Option(help="seed of the exploration draw")] = 0,
    rules: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="officer rules (TOML) that force red"),
    ] = None,
    reasons: Annotated[int, typer.Option(min=0, help="SHAP reasons per explained row")] = 3,
    reasons_for: Annotated[
        str, typer.Option(help="channels that get reasons: red or red,yellow")
    ] = "red",
    format: Annotated[str, typer.Option(help="parquet or csv (flagged stays Parquet)")] = (
        "parquet"
    ),
    chunk_rows: Annotated[int, typer.Option(min=1, help="rows per chunk (bounds memory)")] = (
        100_000
    ),
    drift_threshold: Annotated[
        float, typer.Option(min=0.0, help="PSI above which a feature is drifting")
    ] = 0.25,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Score a batch of declarations within an inspection budget (exit 3: bad input file,
    4: model not found or incompatible; rejected rows are counted, not a failure)."""
    from riskmodel import api

    with status("scoring") as progress:
        result = api.score(
            model,
            data,
            out=out_dir,
            mapping=mapping,
            budget=budget,
            yellow_budget=yellow_budget,
            exploration=exploration,
            seed=seed,
            rules=rules,
            reasons=reasons,
            reasons_for=tuple(part.strip() for part in reasons_for.split(",") if part.strip()),
            format=format,
            chunk_rows=chunk_rows,
            drift_threshold=drift_threshold,
            tracking_uri=tracking_uri,
            progress=progress,
        )
    counts = result.counts
    for feature in result.drifting:
        psi = result.manifest["drift"]["psi"][feature]
        err.print(
            f"warning: feature {feature} drifted from training (PSI {psi:.3f})",
            markup=False,
            highlight=False,
        )
    channels = counts["channels"]
    out.print(
        f"{counts['input_rows']} rows: {counts['scored']} scored, {counts['rejected']} rejected; "
        f"red {channels['red']}, yellow {channels['yellow']}, green {channels['green']}",
        markup=False,
        highlight=False,
    )
    out.print(f"written: {result.out}", markup=False, highlight=False, soft_wrap=True)
