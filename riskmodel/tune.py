"""Hyper-parameter tuning: Optuna (seeded TPE) over LightGBM parameters on prequential folds.

The folds (:func:`riskmodel.split.prequential_folds`) lie entirely inside the experiment's
training period: each trains on outcomes known before its window, stops early on that window
and is scored on the next one, so the outer validation and test periods are never seen.
Objective: the mean, over folds, of the PR-AUC (average precision) on the fold's labelled
scoring window; higher is better. It ranks the whole labelled window, which is steadier on
small folds than precision at one budget; precision at 5 % is logged beside it.

Each trial is a nested MLflow run (params, per-fold and mean metrics) under one parent run,
which records the best parameters and the tuned config written through
:func:`riskmodel.config.write_config`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskmodel.errors import ConfigError

if TYPE_CHECKING:
    import optuna

    from features.sources import Sources
    from riskmodel.config import ExperimentConfig
    from riskmodel.model import RiskModel
    from riskmodel.split import TimeSplit

Progress = Callable[[str], None]
N_FOLDS = 3
HISTORY_SHARE = 0.5
TUNE_BUDGET = 0.05


@dataclass(frozen=True)
class StudyResult:
    """The outcome of a tuning study."""

    run_id: str
    best_value: float
    best_params: dict[str, Any]
    config_path: Path


def suggest_params(trial: optuna.Trial) -> dict[str, Any]:
    """The search space: the LightGBM parameters that matter most on tabular risk data."""
    return {
        "num_leaves": trial.suggest_int("num_leaves", 8, 128, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 10, 200, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "bagging_freq": 1,
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
        "cat_smooth": trial.suggest_float("cat_smooth", 1.0, 50.0, log=True),
    }


def score_fold(model: RiskModel, table: pd.DataFrame, fold: TimeSplit) -> dict[str, float]:
    """PR-AUC and precision at 5 % of a fitted model on a fold's labelled scoring window."""
    from sklearn.metrics import average_precision_score

    from riskmodel.evaluate import precision_at

    rows = table[fold.test_mask(table, labelled=True)]
    seized = rows["seized"].astype("boolean").fillna(False).to_numpy(dtype=float)
    scores = model.predict_table(rows)
    pr_auc = float(average_precision_score(seized, scores)) if seized.any() else float("nan")
    return {"pr_auc": pr_auc, "precision_at_5pct": precision_at(seized, scores, TUNE_BUDGET)}


def run_study(
    config: ExperimentConfig,
    sources: Sources,
    *,
    trials: int,
    out: Path,
    seed: int = 0,
    tracking_uri: str | None = None,
    run_name: str | None = None,
    n_folds: int = N_FOLDS,
    history_share: float = HISTORY_SHARE,
    progress: Progress | None = None,
) -> StudyResult:
    """Run ``trials`` seeded TPE trials, log them as nested runs, write the tuned config.

    ``n_folds`` and ``history_share`` shape the prequential folds (see
    :func:`riskmodel.split.prequential_folds`); a fold whose windows hold no seizure is a
    ConfigError naming the window, so small worlds need fewer folds or less history.
    """
    import optuna

    from features.table import FeaturePipeline, build_table
    from riskmodel import tracking
    from riskmodel.config import write_config
    from riskmodel.split import make_split, prequential_folds
    from riskmodel.train import fit_model

    if trials < 1:
        raise ConfigError(f"tune: --trials must be >= 1, found {trials}")
    table = build_table(sources, exclude=config.features.exclude)
    split = make_split(table, config.split)
    folds = prequential_folds(table, split, n_folds=n_folds, history_share=history_share)
    pipeline = FeaturePipeline(exclude=config.features.exclude).fit(
        sources, cutoff=split.train_cutoff
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    base = {k: str(v) for k, v in tracking.flatten_params(config.to_dict()).items()}
    with tracking.tuning_run(
        experiment=config.tracking.experiment,
        tracking_uri=tracking_uri,
        run_name=run_name,
        params={
            **base,
            "tune.trials": trials,
            "tune.seed": seed,
            "tune.objective": "mean_pr_auc",
            "tune.train_cutoff": split.train_cutoff.isoformat(),
            **{
                f"tune.fold{k}.{key}": value
                for k, f in enumerate(folds)
                for key, value in {
                    "valid_start": f.valid_start.isoformat(),
                    "test_start": f.test_start.isoformat(),
                    "end": None if f.end is None else f.end.isoformat(),
                }.items()
            },
        },
    ) as parent:

        def objective(trial: optuna.Trial) -> float:
            params = suggest_params(trial)
            trial_config = config.with_overrides(params=params)
            per_fold: dict[str, float] = {}
            for k, fold in enumerate(folds):
                if progress is not None:
                    progress(f"trial {trial.number + 1}/{trials}, fold {k + 1}/{len(folds)}")
                model = fit_model(table, config=trial_config, split=fold, pipeline=pipeline)
                for name, value in score_fold(model, table, fold).items():
                    per_fold[f"fold{k}_{name}"] = value
            value = float(np.nanmean([per_fold[f"fold{k}_pr_auc"] for k in range(len(folds))]))
            mean_p5 = float(
                np.nanmean([per_fold[f"fold{k}_precision_at_5pct"] for k in range(len(folds))])
            )
            metrics = {**per_fold, "mean_pr_auc": value, "mean_precision_at_5pct": mean_p5}
            parent.log_trial(trial.number, params=params, metrics=metrics)
            return value

        study.optimize(objective, n_trials=trials)
        best_params = dict(study.best_params)
        best_params["bagging_freq"] = 1
        tuned = config.with_overrides(params=best_params)
        write_config(tuned, out)
        parent.log_result(
            params=best_params,
            metrics={"best_mean_pr_auc": float(study.best_value)},
            config_file=out,
        )
    return StudyResult(
        run_id=parent.run_id,
        best_value=float(study.best_value),
        best_params=best_params,
        config_path=Path(out),
    )
