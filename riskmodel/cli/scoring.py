"""`riskmodel score`: a batch of declarations -> channels, reasons, corridors, manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from riskmodel.cli._app import DataArg, MappingOpt, QuietOpt, TrackingOpt, app, err, out, status

RED_LIST_ROWS = 20


def print_red_list(scores: Path, *, rows: int = RED_LIST_ROWS) -> None:
    """The red channel by rank: id, risk, who selected it and its first reason."""
    import pandas as pd
    from rich.table import Table

    frame = pd.read_parquet(scores)
    red = frame[frame["channel"] == "red"].sort_values("risk_rank")
    table = Table(title=f"red list: {len(red)} of {len(frame)} declarations (first {rows})")
    for column in ("rank", "declaration_id", "risk", "selected_by", "first reason"):
        table.add_column(column)
    for item in red.head(rows).itertuples(index=False):
        reason = getattr(item, "reason_1_text", None)
        table.add_row(
            str(item.risk_rank),
            str(item.declaration_id),
            f"{item.risk_score:.3f}",
            str(item.selected_by),
            "" if reason is None or pd.isna(reason) else str(reason),
        )
    out.print(table)


@app.command()
def score(
    data: DataArg,
    model: Annotated[str, typer.Option(help="models:/name@alias, runs:/<id>/model or a folder")],
    out_dir: Annotated[
        Path, typer.Option("--out", file_okay=False, help="output folder (written atomically)")
    ],
    mapping: MappingOpt = None,
    history: Annotated[
        Path | None,
        typer.Option(
            exists=True, file_okay=False, help="DATA folder of newer facts refreshing the history"
        ),
    ] = None,
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
        50_000
    ),
    drift_threshold: Annotated[
        float, typer.Option(min=0.0, help="PSI above which a feature is drifting")
    ] = 0.25,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, help="processes scoring chunks (default: one per usable core, at most 4)"
        ),
    ] = None,
    tracking_uri: TrackingOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Score a batch of declarations within an inspection budget (exit 3: bad input file,
    4: model not found or incompatible; rejected rows are counted, not a failure)."""
    from riskmodel import api

    with status("scoring", quiet=quiet) as progress:
        result = api.score(
            model,
            data,
            out=out_dir,
            mapping=mapping,
            history=history,
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
            workers=workers,
            tracking_uri=tracking_uri,
            progress=progress,
        )
    counts = result.counts
    from riskmodel.scoring.drift import drift_summary

    warning = drift_summary(result.drifting, result.manifest["drift"]["psi"])
    if warning is not None:
        err.print(warning, markup=False, highlight=False, soft_wrap=True)
    channels = counts["channels"]
    out.print(
        f"{counts['input_rows']} rows: {counts['scored']} scored, {counts['rejected']} rejected; "
        f"red {channels['red']}, yellow {channels['yellow']}, green {channels['green']}",
        markup=False,
        highlight=False,
    )
    out.print(f"written: {result.out}", markup=False, highlight=False, soft_wrap=True)
