"""Time split: boundaries, the label-delay gap, day-count and date forms, prequential folds."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from riskmodel.config import SplitConfig
from riskmodel.errors import ConfigError
from riskmodel.split import TimeSplit, make_split, prequential_folds


def day(d: str) -> pd.Timestamp:
    return pd.Timestamp(d)


def frame(rows: list[tuple[str, str, str | None, bool | None]]) -> pd.DataFrame:
    """(declaration_id, declared_at, inspected_at, seized) -> a labelled table."""
    ids, declared, known, seized = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "declaration_id": list(ids),
            "declared_at": pd.to_datetime(list(declared)).astype("datetime64[us]"),
            "inspected": pd.array([s is not None for s in seized], dtype="boolean"),
            "seized": pd.array(list(seized), dtype="boolean"),
            "inspected_at": pd.to_datetime(list(known)).astype("datetime64[us]"),
        }
    )


# valid_start 2021-03-01, test_start 2021-05-01, gap 10 days:
# train cutoff 2021-02-19, valid cutoff 2021-04-21.
TABLE = frame(
    [
        ("a", "2021-01-05", "2021-01-10", True),  # train
        ("b", "2021-01-20", "2021-02-01", False),  # train
        ("c", "2021-02-10", "2021-02-25", True),  # declared before cutoff, known after: out
        ("d", "2021-02-15", None, None),  # not inspected: out of every labelled set
        ("e", "2021-02-20", "2021-02-22", True),  # inside the gap: out
        ("f", "2021-03-01", "2021-03-05", True),  # valid (first day)
        ("g", "2021-04-01", "2021-04-10", False),  # valid
        ("h", "2021-04-15", "2021-04-25", True),  # valid period, known after cutoff: out
        ("i", "2021-04-25", "2021-04-26", False),  # valid gap: out
        ("j", "2021-05-01", "2021-05-03", True),  # test (first day)
        ("k", "2021-06-01", None, None),  # test, unlabelled
        ("l", "2021-06-30", "2021-07-20", False),  # test
    ]
)

SPLIT = TimeSplit(
    valid_start=day("2021-03-01"), test_start=day("2021-05-01"), label_delay=pd.Timedelta(days=10)
)


def ids(mask: np.ndarray) -> list[str]:
    return TABLE.loc[mask, "declaration_id"].tolist()


def test_masks_hand_worked() -> None:
    assert ids(SPLIT.train_mask(TABLE)) == ["a", "b"]
    assert ids(SPLIT.valid_mask(TABLE)) == ["f", "g"]
    assert ids(SPLIT.test_mask(TABLE)) == ["j", "k", "l"]
    assert ids(SPLIT.test_mask(TABLE, labelled=True)) == ["j", "l"]
    assert ids(SPLIT.period_mask(TABLE, "valid")) == ["f", "g", "h", "i"]


def test_no_fitting_row_is_in_test_or_resolved_late() -> None:
    fit = SPLIT.train_mask(TABLE) | SPLIT.valid_mask(TABLE)
    assert not (fit & SPLIT.test_mask(TABLE)).any()
    train = TABLE[SPLIT.train_mask(TABLE)]
    valid = TABLE[SPLIT.valid_mask(TABLE)]
    assert (train["inspected_at"] < SPLIT.valid_start - SPLIT.label_delay).all()
    assert (valid["inspected_at"] < SPLIT.test_start - SPLIT.label_delay).all()


def test_date_form_resolves_to_the_dates() -> None:
    config = SplitConfig(
        valid_start=day("2021-03-01"),
        valid_days=None,
        test_start=day("2021-05-01"),
        test_days=None,
        label_delay_days=10,
    )
    assert make_split(TABLE, config) == SPLIT


def test_day_form_counts_back_from_the_newest_day() -> None:
    # newest declared_at 2021-06-30 -> end day 2021-07-01; 61 days back = 2021-05-01,
    # then 61 more = 2021-03-01.
    config = SplitConfig(valid_days=61, test_days=61, label_delay_days=10)
    assert make_split(TABLE, config) == SPLIT


def test_empty_or_positive_free_period_names_the_dates() -> None:
    config = SplitConfig(
        valid_start=day("2021-01-02"), valid_days=None, test_days=61, label_delay_days=0
    )
    with pytest.raises(ConfigError, match=r"train period .*2021-01-02.* 0 labelled row"):
        make_split(TABLE, config)
    no_positive = TABLE.assign(
        seized=TABLE["seized"].where(TABLE["declared_at"] < day("2021-03-01"), False)
    )
    with pytest.raises(ConfigError, match=r"valid period \(declared 2021-03-01"):
        make_split(no_positive, SplitConfig(valid_days=61, test_days=61, label_delay_days=10))


def test_round_trip_dict() -> None:
    assert TimeSplit.from_dict(SPLIT.to_dict()) == SPLIT


def test_prequential_folds_stay_inside_training_period() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    declared = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.uniform(0, 600, n), unit="D")
    known = declared + pd.to_timedelta(rng.uniform(1, 20, n), unit="D")
    table = pd.DataFrame(
        {
            "declaration_id": np.arange(n).astype(str),
            "declared_at": declared.astype("datetime64[us]"),
            "inspected": pd.array(np.ones(n, bool), dtype="boolean"),
            "seized": pd.array(rng.uniform(size=n) < 0.1, dtype="boolean"),
            "inspected_at": known.astype("datetime64[us]"),
        }
    )
    split = make_split(table, SplitConfig(valid_days=90, test_days=90, label_delay_days=14))
    folds = prequential_folds(table, split, n_folds=3)
    assert len(folds) == 3
    for earlier, later in itertools.pairwise(folds):
        assert earlier.test_start == later.valid_start
    assert folds[-1].end == split.train_cutoff
    for fold in folds:
        used = (
            fold.train_mask(table) | fold.valid_mask(table) | fold.test_mask(table, labelled=True)
        )
        assert (table.loc[used, "inspected_at"] < split.train_cutoff).all()
        assert not (used & split.period_mask(table, "valid")).any()
        assert not (fold.train_mask(table) & fold.valid_mask(table)).any()
