"""Tuning: seeded Optuna trials on folds inside the training period, nested MLflow runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from riskmodel import api
from riskmodel.config import load_config

if TYPE_CHECKING:
    from conftest import PastAndFuture

TUNED = ("num_leaves", "learning_rate", "min_data_in_leaf", "feature_fraction", "lambda_l2")


def test_tune_logs_nested_trials_and_writes_a_loadable_tuned_config(
    past_and_future: PastAndFuture,
    write_config: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mlflow

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    base_path = write_config(tmp_path / "small.toml", past_and_future.past)
    result = api.tune(base_path, trials=2, seed=3, folds=2, history_share=0.3)

    assert result.config_path == Path("experiments/small-tuned.toml")
    tuned = load_config(tmp_path / result.config_path)
    base = load_config(base_path)
    assert any(tuned.model.params[k] != base.model.params[k] for k in TUNED)
    assert {k: tuned.model.params[k] for k in result.best_params} == result.best_params
    assert tuned.split == base.split and tuned.tracking == base.tracking
    assert 0.0 <= result.best_value <= 1.0

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path.resolve()}/mlflow.db")
    parent = client.get_run(result.run_id)
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{result.run_id}'"
    )
    assert len(children) == 2
    assert all("mean_pr_auc" in child.data.metrics for child in children)
    best = max(child.data.metrics["mean_pr_auc"] for child in children)
    assert best == pytest.approx(result.best_value)
    assert parent.data.metrics["best_mean_pr_auc"] == pytest.approx(result.best_value)
    params = parent.data.params
    ends = [v for k, v in params.items() if k.startswith("tune.fold") and k.endswith(".end")]
    assert len(ends) == 2
    assert max(pd.Timestamp(e) for e in ends) <= pd.Timestamp(params["tune.train_cutoff"])
