"""Time split of the training table with a label-delay gap, and prequential folds for tuning.

Definitions (``gap = label_delay_days``; a row is *labelled* when it was inspected and its
``seized`` outcome is known; its outcome became known at ``inspected_at``):

- **train**: labelled rows with ``declared_at < valid_start - gap`` and
  ``inspected_at < valid_start - gap``. No training outcome becomes known at or after the
  training cutoff ``valid_start - gap``.
- **valid**: labelled rows with ``valid_start <= declared_at < test_start - gap`` and
  ``inspected_at < test_start - gap``. Used for early stopping and calibration only.
- **test**: rows with ``test_start <= declared_at`` (and ``< end`` when the split has an end).
  All of them for truth metrics; the labelled ones for label metrics. Never used for fitting,
  early stopping or calibration.

Day-count form: ``test_start = (day after the newest declared_at) - test_days``;
``valid_start = test_start - valid_days``. The last ``gap`` days before each cutoff are
therefore left out of the period before it.

When the labels carry no ``inspected_at`` column, the outcome is taken as known
``label_delay_days`` after ``declared_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.config import SplitConfig
from riskmodel.errors import ConfigError

__all__ = ["TimeSplit", "labelled_mask", "make_split", "prequential_folds"]


def _day(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%d")


def labelled_mask(table: pd.DataFrame) -> np.ndarray:
    """Rows that were inspected and have a known ``seized`` outcome."""
    if "seized" not in table.columns:
        return np.zeros(len(table), dtype=bool)
    known = table["seized"].notna().to_numpy(dtype=bool)
    if "inspected" in table.columns:
        known = known & table["inspected"].fillna(False).to_numpy(dtype=bool)
    return known


def _known_at(table: pd.DataFrame, delay: pd.Timedelta) -> pd.Series:
    if "inspected_at" in table.columns:
        return table["inspected_at"]
    return table["declared_at"] + delay


@dataclass(frozen=True)
class TimeSplit:
    """Period boundaries; the masks select rows of a training table (see module doc)."""

    valid_start: pd.Timestamp
    test_start: pd.Timestamp
    label_delay: pd.Timedelta
    end: pd.Timestamp | None = None

    @property
    def train_cutoff(self) -> pd.Timestamp:
        """Every training outcome is known before this instant."""
        return self.valid_start - self.label_delay

    @property
    def valid_cutoff(self) -> pd.Timestamp:
        """Every validation outcome is known before this instant."""
        return self.test_start - self.label_delay

    def train_mask(self, table: pd.DataFrame) -> np.ndarray:
        """Labelled rows declared and resolved before the training cutoff."""
        cutoff = self.train_cutoff
        declared = table["declared_at"].to_numpy()
        known = _known_at(table, self.label_delay).to_numpy()
        return (
            labelled_mask(table)
            & (declared < cutoff.to_datetime64())
            & (known < cutoff.to_datetime64())
        )

    def valid_mask(self, table: pd.DataFrame) -> np.ndarray:
        """Labelled rows of the validation period resolved before the validation cutoff."""
        cutoff = self.valid_cutoff.to_datetime64()
        declared = table["declared_at"].to_numpy()
        known = _known_at(table, self.label_delay).to_numpy()
        return (
            labelled_mask(table)
            & (declared >= self.valid_start.to_datetime64())
            & (declared < cutoff)
            & (known < cutoff)
        )

    def period_mask(self, table: pd.DataFrame, period: str) -> np.ndarray:
        """All rows declared in ``valid`` ([valid_start, test_start)) or ``test``."""
        declared = table["declared_at"].to_numpy()
        if period == "valid":
            return (declared >= self.valid_start.to_datetime64()) & (
                declared < self.test_start.to_datetime64()
            )
        if period == "test":
            mask = declared >= self.test_start.to_datetime64()
            if self.end is not None:
                mask &= declared < self.end.to_datetime64()
            return mask
        raise ValueError(f"period must be 'valid' or 'test', found {period!r}")

    def test_mask(self, table: pd.DataFrame, *, labelled: bool = False) -> np.ndarray:
        """Test-period rows; with ``labelled`` only those with a known outcome.

        When the split has an ``end`` (a prequential fold), labelled test rows must also be
        resolved before ``end``.
        """
        mask = self.period_mask(table, "test")
        if labelled:
            mask &= labelled_mask(table)
            if self.end is not None:
                known = _known_at(table, self.label_delay).to_numpy()
                mask &= known < self.end.to_datetime64()
        return mask

    def to_dict(self) -> dict[str, Any]:
        """Boundaries as strings/numbers (for meta.json and logging)."""
        return {
            "valid_start": self.valid_start.isoformat(),
            "test_start": self.test_start.isoformat(),
            "label_delay_days": self.label_delay / pd.Timedelta(days=1),
            "end": None if self.end is None else self.end.isoformat(),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TimeSplit:
        """Inverse of :meth:`to_dict`."""
        end = values.get("end")
        return cls(
            valid_start=pd.Timestamp(values["valid_start"]),
            test_start=pd.Timestamp(values["test_start"]),
            label_delay=pd.Timedelta(days=float(values["label_delay_days"])),
            end=None if end is None else pd.Timestamp(end),
        )

    def check(self, table: pd.DataFrame, *, need_test: bool = True) -> None:
        """Raise ConfigError when train or valid (or test) is empty or has no seizure."""
        periods = {
            "train": (
                self.train_mask(table),
                f"declared and resolved before {_day(self.train_cutoff)}",
            ),
            "valid": (
                self.valid_mask(table),
                f"declared {_day(self.valid_start)} to "
                f"{_day(self.valid_cutoff)}, resolved before {_day(self.valid_cutoff)}",
            ),
        }
        if need_test:
            periods["test"] = (
                self.test_mask(table, labelled=True),
                f"declared from {_day(self.test_start)}",
            )
        seized = table["seized"].fillna(False).to_numpy(dtype=bool) if len(table) else None
        for name, (mask, what) in periods.items():
            count = int(mask.sum())
            positives = int(seized[mask].sum()) if seized is not None else 0
            if count == 0 or positives == 0:
                raise ConfigError(
                    f"[split] the {name} period ({what}) has {count} labelled row(s) and "
                    f"{positives} seizure(s); expected at least one of each - move the "
                    "split dates or day counts"
                )


def make_split(table: pd.DataFrame, config: SplitConfig) -> TimeSplit:
    """Resolve a split config against a table (day counts are counted back from its end)."""
    if len(table) == 0:
        raise ConfigError("[split] the table is empty; nothing to split")
    newest = pd.Timestamp(table["declared_at"].max())
    end_day = newest.normalize() + pd.Timedelta(days=1)
    test_start = config.test_start
    if test_start is None:
        test_start = end_day - pd.Timedelta(days=int(config.test_days or 0))
    valid_start = config.valid_start
    if valid_start is None:
        valid_start = test_start - pd.Timedelta(days=int(config.valid_days or 0))
    if valid_start >= test_start:
        raise ConfigError(
            f"[split] valid_start {_day(valid_start)} must be before test_start {_day(test_start)}"
        )
    split = TimeSplit(
        valid_start=pd.Timestamp(valid_start),
        test_start=pd.Timestamp(test_start),
        label_delay=pd.Timedelta(days=config.label_delay_days),
    )
    split.check(table)
    return split


def prequential_folds(
    table: pd.DataFrame,
    split: TimeSplit,
    *,
    n_folds: int = 3,
    history_share: float = 0.5,
) -> list[TimeSplit]:
    """Rolling time folds inside the training period of ``split``, oldest first.

    The first ``history_share`` of the training period is history only; the rest is cut
    into ``n_folds + 1`` equal windows. Fold k trains on outcomes known before window k
    minus the gap, stops early on window k, and is scored on window k+1 (its ``test``
    period, which ends at the outer training cutoff at the latest). No fold touches the
    outer validation or test periods.
    """
    if n_folds < 1:
        raise ConfigError(f"[split] n_folds must be >= 1, found {n_folds}")
    if not 0.0 < history_share < 1.0:
        raise ConfigError(f"[split] history_share must be in (0, 1), found {history_share}")
    cutoff = split.train_cutoff
    first = pd.Timestamp(table["declared_at"].min()).normalize()
    span = cutoff - first
    if span <= pd.Timedelta(0):
        raise ConfigError(
            f"[split] no training period: oldest declaration {_day(first)} is not before "
            f"the training cutoff {_day(cutoff)}"
        )
    start = first + span * history_share
    width = (cutoff - start) / (n_folds + 1)
    bounds = [(start + width * i).floor("D") for i in range(n_folds + 1)] + [cutoff]
    inner = table[table["declared_at"] < cutoff]
    folds = []
    for k in range(n_folds):
        fold = TimeSplit(
            valid_start=bounds[k],
            test_start=bounds[k + 1],
            label_delay=split.label_delay,
            end=bounds[k + 2],
        )
        fold.check(inner)
        folds.append(fold)
    return folds
