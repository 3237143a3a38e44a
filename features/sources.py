"""The typed container that carries one DATA directory's sources through the pipelines."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

DeclarationFrame = pd.DataFrame
LabelFrame = pd.DataFrame
FlagFrame = pd.DataFrame
LegFrame = pd.DataFrame
PortFrame = pd.DataFrame

SOURCE_NAMES: tuple[str, ...] = (
    "declarations",
    "labels",
    "financial_flags",
    "route_legs",
    "ports",
)


@dataclass(frozen=True)
class Sources:
    """Contract-conformant frames of one DATA directory; optional sources may be ``None``.

    Frames hold only the contract columns present in the input (absent optional columns are
    absent, never filled) plus the extra columns a mapping declares. Dtypes: identifiers and
    text use pandas' Arrow-backed ``str``; timestamps ``datetime64[us]`` (naive, UTC);
    numbers ``float64``; ``inspected``/``seized`` nullable ``boolean``; ``leg_seq`` ``Int64``.
    """

    declarations: DeclarationFrame
    labels: LabelFrame | None = None
    financial_flags: FlagFrame | None = None
    route_legs: LegFrame | None = None
    ports: PortFrame | None = None
    extra_categorical: tuple[str, ...] = ()
    extra_numeric: tuple[str, ...] = ()
    files: dict[str, Path] = field(default_factory=dict)

    def present(self) -> tuple[str, ...]:
        """Names of the sources that are present."""
        return tuple(n for n in SOURCE_NAMES if getattr(self, n) is not None)
