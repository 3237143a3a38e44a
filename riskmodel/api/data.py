"""Data commands of the notebook API: generate a world, validate DATA, build the table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from riskmodel.api._common import Progress, read_data, say, source_rows
from riskmodel.errors import UsageError

if TYPE_CHECKING:
    from features.io import LoadResult
    from features.sources import Sources


def sample(
    out: Path, *, declarations: int = 20_000, seed: int = 7, layout: str = "contract"
) -> str:
    """Generate a seeded synthetic world into ``out``; returns a one-line summary.

    ``layout="contract"`` writes the sources, rules.toml and truth/ (see
    :func:`riskmodel.world.write_world`); ``"bacuda"`` writes the inspected declarations in the
    foreign BACUDA-style layout (``declarations.csv``) for the mapping example.
    """
    from riskmodel.world import generate_world, write_foreign_layout, write_world

    writers = {"contract": write_world, "bacuda": write_foreign_layout}
    if layout not in writers:
        raise UsageError(f"--layout must be one of {sorted(writers)}, found {layout!r}")
    world = generate_world(n_declarations=declarations, seed=seed)
    writers[layout](world, Path(out))
    labels = world.labels
    inspected = int(labels["inspected"].sum()) if "inspected" in labels.columns else len(labels)
    seized = int(labels["seized"].fillna(False).astype(bool).sum())
    return (
        f"{len(world.declarations)} declarations, {inspected} inspected, {seized} seized, "
        f"layout {layout}"
    )


def validate(data: Path, *, mapping: Path | None = None) -> LoadResult:
    """Check every source of DATA against the contract; the result lists each problem.

    Label columns a mapping names are optional here (a scoring batch has none); training
    requires them.
    """
    return read_data(Path(data), mapping, require_labels=False)


def features(
    data: Path,
    *,
    out: Path | None = None,
    mapping: Path | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """The point-in-time training table of DATA (written atomically to ``out`` if given)."""
    from features.atomic import atomic_path
    from features.table import build_table

    say(progress, f"reading {data}")
    loaded = read_data(Path(data), mapping)
    loaded.raise_on_problems()
    say(progress, "building the point-in-time table")
    table = build_table(loaded.sources)
    if out is not None:
        with atomic_path(Path(out)) as tmp:
            table.to_parquet(tmp, index=False)
    return table


def describe(sources: Sources) -> str:
    """A short summary of a DATA directory: rows per source, dates, inspected and seized share."""
    rows = source_rows(sources)
    declarations = sources.declarations
    lines = [", ".join(f"{name}: {count} rows" for name, count in rows.items())]
    if len(declarations):
        lines.append(
            f"declared_at from {declarations['declared_at'].min()} "
            f"to {declarations['declared_at'].max()}"
        )
    labels = sources.labels
    if labels is not None and len(declarations) and "inspected" in labels.columns:
        inspected = labels["inspected"].fillna(False).astype(bool)
        seized = (
            labels.loc[inspected, "seized"].fillna(False).astype(bool) if inspected.any() else None
        )
        lines.append(f"inspected share: {inspected.sum() / len(declarations):.2%}")
        if seized is not None and len(seized):
            lines.append(f"seizure rate among inspected: {seized.mean():.2%}")
    return "\n".join(lines)
