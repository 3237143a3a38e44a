"""Training on a small generated world: beats random, never touches the test period,
deterministic; selection weights hand-worked."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from riskmodel.config import ExperimentConfig, SplitConfig, TrainingConfig, parse_config
from riskmodel.evaluate import evaluate_model
from riskmodel.model import RiskModel
from riskmodel.split import TimeSplit, make_split
from riskmodel.train import fit_model, selection_weights

if TYPE_CHECKING:
    from conftest import EmbeddedTraining

CONFIG = {
    "data": {"path": "unused"},
    "split": {"valid_days": 60, "test_days": 60, "label_delay_days": 14},
    "model": {
        "num_leaves": 15,
        "learning_rate": 0.1,
        "min_data_in_leaf": 20,
        "num_boost_round": 200,
        "early_stopping_rounds": 20,
    },
}


@dataclass(frozen=True)
class Trained:
    table: pd.DataFrame
    config: ExperimentConfig
    split: TimeSplit
    model: RiskModel
    truth: pd.DataFrame
    pipeline: object


@pytest.fixture(scope="module")
def trained(small_world: Path) -> Trained:
    from features.io import read_sources
    from features.table import FeaturePipeline, build_table

    sources = read_sources(small_world).sources
    table = build_table(sources)
    config = parse_config(CONFIG)
    split = make_split(table, config.split)
    pipeline = FeaturePipeline().fit(sources, cutoff=split.train_cutoff)
    model = fit_model(table, config=config, split=split, pipeline=pipeline)
    truth = pd.read_parquet(small_world / "truth" / "truth.parquet")
    return Trained(table, config, split, model, truth, pipeline)


def test_model_beats_random(trained: Trained) -> None:
    evaluation = evaluate_model(
        trained.model,
        trained.table,
        split=trained.split,
        truth=trained.truth,
        baselines=("random",),
    )
    model, rand = evaluation.metrics, evaluation.baselines["random"]
    assert model["test_pr_auc"] > 1.5 * rand["test_pr_auc"]
    assert model["test_roc_auc"] > 0.6
    assert model["test_oracle_ratio_at_5pct"] > 2 * rand["test_oracle_ratio_at_5pct"]


def test_test_period_never_used_for_fitting(trained: Trained) -> None:
    """Flip every test-period outcome: the fitted trees and calibrator do not change."""
    table = trained.table.copy()
    table.attrs = dict(trained.table.attrs)
    test = trained.split.test_mask(table, labelled=True)
    table.loc[test, "seized"] = ~table.loc[test, "seized"].astype("boolean")
    again = fit_model(table, config=trained.config, split=trained.split, pipeline=trained.pipeline)
    assert again.booster.model_to_string() == trained.model.booster.model_to_string()
    assert again.calibrator.to_dict() == trained.model.calibrator.to_dict()
    rows = trained.model.meta["rows"]
    assert rows["train"] == int(trained.split.train_mask(table).sum())
    assert rows["valid"] == int(trained.split.valid_mask(table).sum())


def test_training_depends_on_validation_outcomes(trained: Trained) -> None:
    """The same flip on the validation period does change the model (the check above can fail)."""
    table = trained.table.copy()
    table.attrs = dict(trained.table.attrs)
    valid = trained.split.valid_mask(table)
    table.loc[valid, "seized"] = ~table.loc[valid, "seized"].astype("boolean")
    again = fit_model(table, config=trained.config, split=trained.split, pipeline=trained.pipeline)
    assert again.calibrator.to_dict() != trained.model.calibrator.to_dict()


def test_refit_uses_training_and_validation_rows_only(trained: Trained) -> None:
    """The default refit adds the validation rows; without it the early-stopped trees stay."""
    refit = trained.model.meta["refit"]
    rows = trained.model.meta["rows"]
    assert refit["done"] and refit["rows"] == rows["train"] + rows["valid"]
    assert refit["rounds"] >= trained.model.meta["best_iteration"]
    plain = dataclasses.replace(
        trained.config, training=dataclasses.replace(trained.config.training, refit=False)
    )
    early = fit_model(trained.table, config=plain, split=trained.split, pipeline=trained.pipeline)
    assert early.meta["refit"] == {"done": False}
    assert early.booster.model_to_string() != trained.model.booster.model_to_string()
    assert early.calibrator.to_dict() == trained.model.calibrator.to_dict()


def test_deterministic(trained: Trained) -> None:
    again = fit_model(
        trained.table, config=trained.config, split=trained.split, pipeline=trained.pipeline
    )
    assert again.booster.model_to_string() == trained.model.booster.model_to_string()


def test_selection_weights_hand_worked() -> None:
    # 10 declarations; 2 inspected by the rules, 2 by the random sample.
    # propensity of a random row = 2 / (10 - 2) = 0.25 -> weight 4; rules rows weight 1.
    table = pd.DataFrame(
        {
            "inspected": pd.array([True] * 4 + [False] * 6, dtype="boolean"),
            "selected_by": pd.array(["rules", "rules", "random", "random"] + [None] * 6),
        }
    )
    rows = np.array([True] * 4 + [False] * 6)
    period = np.ones(10, dtype=bool)
    w = selection_weights(table, rows, period, TrainingConfig(selection="ipw", max_weight=20.0))
    assert w.tolist() == pytest.approx([1 / 2.5, 1 / 2.5, 4 / 2.5, 4 / 2.5])
    capped = selection_weights(table, rows, period, TrainingConfig(selection="ipw", max_weight=3.0))
    assert capped.tolist() == pytest.approx([0.5, 0.5, 1.5, 1.5])
    none = selection_weights(table, rows, period, TrainingConfig(selection="none"))
    assert none.tolist() == [1.0] * 4


def test_split_error_on_a_world_too_short(trained: Trained) -> None:
    from riskmodel.errors import ConfigError

    with pytest.raises(ConfigError, match="train period"):
        make_split(trained.table, SplitConfig(valid_days=5000, test_days=60))


def test_validation_figures_come_from_the_early_stopped_model(trained: Trained) -> None:
    """After the refit, valid_* equal those of the same training without refit (same early-
    stopped trees and calibrator); scoring the validation rows with the refitted booster, which
    trained on them, would change them. Test figures do come from the refitted booster."""
    assert trained.model.meta["refit"]["done"] and trained.model.early_stopped is not None
    plain_cfg = dataclasses.replace(
        trained.config, training=dataclasses.replace(trained.config.training, refit=False)
    )
    plain = fit_model(
        trained.table, config=plain_cfg, split=trained.split, pipeline=trained.pipeline
    )
    refit = evaluate_model(trained.model, trained.table, split=trained.split, baselines=())
    early = evaluate_model(plain, trained.table, split=trained.split, baselines=())
    valid = {k: v for k, v in refit.metrics.items() if k.startswith("valid_")}
    assert valid and valid == {k: v for k, v in early.metrics.items() if k.startswith("valid_")}
    assert refit.metrics["test_pr_auc"] != early.metrics["test_pr_auc"]

    in_sample = dataclasses.replace(trained.model, early_stopped=trained.model.booster)
    leaky = evaluate_model(in_sample, trained.table, split=trained.split, baselines=())
    assert leaky.metrics["valid_pr_auc"] != refit.metrics["valid_pr_auc"]


def test_a_refitted_model_without_its_early_stopped_booster_refuses_validation_figures(
    trained: Trained,
) -> None:
    from riskmodel.errors import ModelError

    loaded = dataclasses.replace(trained.model, early_stopped=None)
    with pytest.raises(ModelError, match="early-stopped"):
        evaluate_model(loaded, trained.table, split=trained.split, baselines=())
    test_only = evaluate_model(
        loaded, trained.table, split=trained.split, baselines=(), periods=("test",)
    )
    assert not any(k.startswith("valid_") for k in test_only.metrics)


def test_every_figure_names_the_rows_and_seizures_it_rests_on(trained: Trained) -> None:
    from riskmodel.split import labelled_mask

    evaluation = evaluate_model(
        trained.model,
        trained.table,
        split=trained.split,
        truth=trained.truth,
        baselines=("random",),
    )
    table, split = trained.table, trained.split
    seized = table["seized"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    for period, labelled in (
        ("valid", split.valid_mask(table)),
        ("test", split.test_mask(table, labelled=True)),
    ):
        rows = split.period_mask(table, period)
        labelled = labelled & labelled_mask(table)
        expected = {
            f"{period}_rows": int(rows.sum()),
            f"{period}_inspected": int(labelled.sum()),
            f"{period}_seizures": int((seized & labelled).sum()),
            f"{period}_truth_rows": int(
                table.loc[rows, "declaration_id"].isin(trained.truth["declaration_id"]).sum()
            ),
        }
        assert {k: evaluation.metrics[k] for k in expected} == expected
        assert {k: evaluation.counts[k] for k in expected} == expected
    assert 0 < evaluation.metrics["test_seizures"] < evaluation.metrics["test_inspected"]
    assert evaluation.metrics["test_inspected"] < evaluation.metrics["test_rows"]


TRAIN_STEPS = (
    "read",
    "features",
    "lightgbm",
    "lightgbm_refit",
    "evaluation",
    "logreg_baseline",
    "plots",
    "model_card",
    "mlflow_logging",
)


def test_train_times_each_step_and_logs_the_times_and_counts(
    embedded_training: EmbeddedTraining,
) -> None:
    import json

    import mlflow

    result = embedded_training.first
    assert tuple(result.seconds) == TRAIN_STEPS
    assert all(value >= 0 for value in result.seconds.values()), result.seconds
    assert result.seconds["lightgbm"] > 0 and result.seconds["mlflow_logging"] > 0
    client = mlflow.MlflowClient(tracking_uri=embedded_training.tracking_uri)
    path = client.download_artifacts(result.run_id, "timings.json", str(embedded_training.workdir))
    logged = json.loads(Path(path).read_text())
    assert set(logged) == set(TRAIN_STEPS)
    for step in TRAIN_STEPS[:-1]:
        assert logged[step] == pytest.approx(result.seconds[step], abs=1e-3), step
    assert 0 < logged["mlflow_logging"] <= result.seconds["mlflow_logging"]
    metrics = client.get_run(result.run_id).data.metrics
    for name in ("test_rows", "test_inspected", "test_seizures", "valid_inspected"):
        assert metrics[name] == result.metrics[name] > 0, name
