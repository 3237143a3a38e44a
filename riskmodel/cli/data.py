"""Data commands: sample, validate, features."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from riskmodel.cli._app import (
    DataArg,
    MappingOpt,
    QuietOpt,
    app,
    line,
    status,
)


@app.command()
def sample(
    out_dir: Annotated[Path, typer.Option("--out", file_okay=False, help="output DATA dir")],
    declarations: Annotated[int, typer.Option(min=100, help="number of declarations")] = 20_000,
    seed: Annotated[int, typer.Option(help="random seed; same seed, same bytes")] = 7,
    layout: Annotated[
        str, typer.Option(help="'contract' or 'bacuda' (foreign-layout example)")
    ] = "contract",
    quiet: QuietOpt = False,
) -> None:
    """Generate a synthetic world: the sources, rules.toml and truth/ (never read by features)."""
    from riskmodel import api

    with status("generating world", quiet=quiet):
        summary = api.sample(out_dir, declarations=declarations, seed=seed, layout=layout)
    line(f"wrote {out_dir}  ({summary})")


@app.command()
def validate(data: DataArg, mapping: MappingOpt = None) -> None:
    """Check every source against the contract; print each problem with file, row and column.

    Exit 0 when clean, 1 when rows violate the contract, 3 on a file-level problem.
    """
    from riskmodel import api

    result = api.validate(data, mapping=mapping)
    for notice in result.notices:
        line(f"notice: {notice}")
    for problem in result.problems:
        line(str(problem))
    line(result.summary())
    if result.problems:
        raise typer.Exit(1)


@app.command()
def features(
    data: DataArg,
    table_out: Annotated[Path, typer.Option("--out", dir_okay=False, help="TABLE.parquet")],
    mapping: MappingOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Build the point-in-time training table, one row per declaration.

    Any row that violates the contract stops the command (exit 3) before anything is written;
    the table is written atomically (an interrupted write leaves no file, or the old one).
    """
    from riskmodel import api

    with status("building features", quiet=quiet) as progress:
        table = api.features(data, out=table_out, mapping=mapping, progress=progress)
    absent = table.attrs.get("groups_absent") or {}
    line(
        f"wrote {table_out}: {len(table)} declarations, "
        f"{len(table.attrs.get('feature_names', []))} features"
        + (f"; absent groups: {', '.join(sorted(absent))}" if absent else "")
    )
