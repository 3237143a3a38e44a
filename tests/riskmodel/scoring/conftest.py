"""Fixtures for batch scoring: a small model trained on the past of a world (no MLflow), saved
as a model folder, and DATA folders of later declarations to score."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest


@dataclass(frozen=True)
class ScoringSetup:
    """A saved model (folder), the past it was trained on and the later declarations."""

    model_dir: Path
    past: Path
    future: pd.DataFrame
    future_dir: Path
    cutoff: pd.Timestamp


@pytest.fixture(scope="session")
def scoring_setup(past_and_future, tmp_path_factory: pytest.TempPathFactory) -> ScoringSetup:  # type: ignore[no-untyped-def]
    from features.io import read_sources
    from features.table import FeaturePipeline, build_table
    from riskmodel.config import parse_config
    from riskmodel.split import make_split
    from riskmodel.train import fit_model

    sources = read_sources(past_and_future.past).sources
    table = build_table(sources)
    config = parse_config(
        {
            "data": {"path": str(past_and_future.past)},
            "split": {"valid_days": 60, "test_days": 30, "label_delay_days": 14},
            "model": {
                "num_boost_round": 60,
                "early_stopping_rounds": 10,
                "num_leaves": 15,
                "num_threads": 1,
            },
        }
    )
    split = make_split(table, config.split)
    pipeline = FeaturePipeline().fit(sources)
    model = fit_model(table, config=config, split=split, pipeline=pipeline)
    model.fit_drift_reference(table)
    root = tmp_path_factory.mktemp("scoring")
    model_dir = root / "model"
    model.save(model_dir)
    future_dir = root / "future"
    future_dir.mkdir()
    future = past_and_future.future_declarations
    future = future[future["declared_at"] >= pipeline.cutoff_].reset_index(drop=True)
    future.to_parquet(future_dir / "declarations.parquet", index=False)
    shutil.copy(past_and_future.past / "ports.parquet", future_dir / "ports.parquet")
    return ScoringSetup(
        model_dir=model_dir,
        past=past_and_future.past,
        future=future,
        future_dir=future_dir,
        cutoff=pipeline.cutoff_,
    )


def write_batch(folder: Path, declarations: pd.DataFrame, *, csv: bool = False) -> Path:
    """A DATA folder holding just ``declarations`` (Parquet, or CSV as text)."""
    folder.mkdir(parents=True, exist_ok=True)
    if csv:
        declarations.to_csv(
            folder / "declarations.csv", index=False, date_format="%Y-%m-%dT%H:%M:%S.%f"
        )
    else:
        declarations.to_parquet(folder / "declarations.parquet", index=False)
    return folder


@pytest.fixture(scope="session")
def batch_writer():  # type: ignore[no-untyped-def]
    """:func:`write_batch` as a fixture (test modules do not import conftest)."""
    return write_batch
