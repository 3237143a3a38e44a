"""What every API module shares: progress callbacks, reading DATA through a mapping, truth.

Private to :mod:`riskmodel.api`; the public surface is re-exported by ``riskmodel.api``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from riskmodel.errors import UsageError

if TYPE_CHECKING:
    from features.io import LoadResult
    from features.sources import Sources
    from riskmodel.config import ExperimentConfig

Progress = Callable[[str], None]
"""A progress callback: the CLI shows each message as a status line (or a plain line)."""


def say(progress: Progress | None, message: str) -> None:
    """Send ``message`` to ``progress`` when there is one."""
    if progress is not None:
        progress(message)


def load_config_any(config: Path | str | ExperimentConfig) -> tuple[ExperimentConfig, Path | None]:
    """The validated config and the file it came from (None for a config object)."""
    from riskmodel.config import ExperimentConfig, load_config

    if isinstance(config, ExperimentConfig):
        return config, None
    return load_config(Path(config)), Path(config)


def read_data(
    data: Path,
    mapping: Path | None,
    *,
    require_labels: bool = True,
    model_mapping: Mapping[str, str] | None = None,
) -> LoadResult:
    """Read DATA through ``mapping``, else through the mapping a model was trained with."""
    from features.io import read_sources
    from features.mapping import load_mapping, parse_mapping

    if not Path(data).is_dir():
        raise UsageError(f"DATA directory {data} does not exist or is not a directory")
    if mapping is not None:
        mapping_obj = load_mapping(Path(mapping))
    elif model_mapping:
        where = Path(f"<model's mapping {model_mapping.get('file', '')}>")
        mapping_obj = parse_mapping(model_mapping["toml"], path=where)
    else:
        mapping_obj = None
    return read_sources(Path(data), mapping=mapping_obj, require_labels=require_labels)


def read_truth(data: Path, truth: Path | None) -> pd.DataFrame | None:
    """The generator's truth (for truth metrics only; no feature ever reads it)."""
    path = Path(truth) if truth is not None else Path(data) / "truth" / "truth.parquet"
    if truth is not None and not path.is_file():
        raise UsageError(f"truth file {path} does not exist")
    return pd.read_parquet(path) if path.is_file() else None


def source_rows(sources: Sources) -> dict[str, int]:
    from features.sources import SOURCE_NAMES

    return {
        name: len(frame) for name in SOURCE_NAMES if (frame := getattr(sources, name)) is not None
    }


def read_rules(data: Path) -> Any:
    """The administration's legacy rules (DATA/rules.toml) when present, else None."""
    path = Path(data) / "rules.toml"
    if not path.is_file():
        return None
    from riskmodel.rules import load_rules

    return load_rules(path)
