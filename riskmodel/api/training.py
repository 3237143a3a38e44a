"""Training, evaluation, tuning and promotion: the data scientist's half of the notebook API.

``train``, ``evaluate``, ``tune``, ``promote``, ``sample``, ``validate``, ``features`` return
dataclasses or frames; progress goes to an optional ``progress(message)`` callback so the CLI
can show a status line. Domain errors are :class:`riskmodel.errors.RiskError` subclasses with
their exit code.

Metrics JSON (``metrics_out``): one flat object, written atomically, holding the model's
metrics under the design's names (``test_precision_at_5pct``, ``valid_pr_auc``...) and each
baseline's under ``<baseline>_<name>`` (``rules_test_precision_at_5pct``), exactly the metric
names of the MLflow run. Undefined values (e.g. PR-AUC without a seizure) are ``null``. Beside
the figures, the rows they rest on: ``<period>_rows``, ``<period>_inspected``,
``<period>_seizures`` and, with a truth file, ``<period>_truth_rows`` (see
:mod:`riskmodel.evaluate`). ``valid_*`` figures come from the early-stopped model, never from
the model refitted on the validation rows.

Which declarations ``evaluate`` scores: those declared at or after the model's test start
(``meta["split"]["test_start"]``, the first day the model never saw, not even for early
stopping or calibration). DATA may hold the training history too; it is used for the
point-in-time features of the scored declarations, and only the declarations from the test
start on are scored and counted.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.atomic import write_text_atomic
from riskmodel.api._common import (
    Progress,
    load_config_any,
    read_data,
    read_rules,
    read_truth,
    say,
    source_rows,
)
from riskmodel.errors import ModelError, UsageError

if TYPE_CHECKING:
    from riskmodel.config import ExperimentConfig
    from riskmodel.evaluate import Evaluation
    from riskmodel.model import RiskModel

REQUIRED_DECLARATION_COLUMNS: tuple[str, ...] = (
    "declaration_id",
    "declared_at",
    "importer_id",
    "hs_code",
)
INPUT_EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class TrainResult:
    """A finished training run: where it is logged and what it measured."""

    run_id: str
    experiment_id: str
    tracking_uri: str
    model_uri: str
    registered_name: str | None
    version: int | None
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    evaluation: Evaluation | None = field(default=None, repr=False)
    model: RiskModel | None = field(default=None, repr=False)
    seconds: dict[str, float] = field(default_factory=dict)


class StepTimer:
    """Wall time per named step, in the order the steps first ran (seconds)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Add the time spent inside the ``with`` block to step ``name``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - started)

    def add(self, name: str, seconds: float) -> None:
        """Add ``seconds`` to step ``name``."""
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def split(self, name: str, part: str, seconds: float) -> None:
        """Move ``seconds`` of step ``name`` into a step of its own, ``part``."""
        self.seconds[name] = self.seconds.get(name, 0.0) - seconds
        self.add(part, seconds)


@dataclass(frozen=True)
class EvaluateResult:
    """A model's metrics on a DATA directory's newest declarations, beside the baselines."""

    model_uri: str
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    scored: int
    test_start: pd.Timestamp
    evaluation: Evaluation | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TuneResult:
    """A tuning study: the parent run, the best parameters and the config written."""

    run_id: str
    best_value: float
    best_params: dict[str, Any]
    config_path: Path
    trials: int


def _flat_metrics(
    metrics: Mapping[str, Any], baselines: Mapping[str, Mapping[str, Any]]
) -> dict[str, float | None]:
    """Model metrics by name, each baseline's as ``<baseline>_<name>``; NaN becomes None."""
    from riskmodel.tracking import baseline_metric_name

    flat: dict[str, Any] = dict(metrics)
    for baseline, values in baselines.items():
        flat.update({baseline_metric_name(baseline, k): v for k, v in values.items()})
    return {
        k: (None if v is None or (isinstance(v, float) and not math.isfinite(v)) else float(v))
        for k, v in flat.items()
    }


def write_metrics(
    path: Path, metrics: Mapping[str, Any], baselines: Mapping[str, Mapping[str, Any]]
) -> None:
    """Write the flat metrics JSON (see module doc) atomically: temp file, then os.replace."""
    document = _flat_metrics(metrics, baselines)
    write_text_atomic(Path(path), json.dumps(document, indent=2, sort_keys=True) + "\n")


def _figures(evaluation: Evaluation, model: RiskModel) -> dict[str, Any]:
    """The run's plots from an Evaluation (PR curve, hit rate at budget, calibration, gain)."""
    from riskmodel import plots

    figures: dict[str, Any] = {}
    curves = getattr(evaluation, "pr_curves", None)
    if curves:
        figures["pr_curve"] = plots.pr_curve_figure(curves)
    gain = getattr(evaluation, "gain", None)
    if gain is not None and len(gain):
        figures["gain_at_budget"] = plots.gain_figure(gain)
    reliability = getattr(evaluation, "reliability", None)
    if reliability is not None and len(reliability):
        figures["calibration"] = plots.calibration_figure(reliability)
    importance = model.booster.feature_importance(importance_type="gain")
    names = model.booster.feature_name()
    figures["importance"] = plots.importance_figure(pd.Series(importance, index=names))
    return figures


def _catalogue(model: RiskModel) -> pd.DataFrame | None:
    """The feature catalogue of the model's features (name, group, plain-language text)."""
    try:
        from features.catalogue import catalogue_frame
    except ImportError:
        return None
    return catalogue_frame(model.booster.feature_name())


def train(
    config: Path | str | ExperimentConfig,
    *,
    data: Path | None = None,
    mapping: Path | None = None,
    tracking_uri: str | None = None,
    metrics_out: Path | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Train from an experiment config, evaluate against the baselines, log and register.

    Steps: read DATA (any row problem stops training), build the point-in-time table, split
    by time, fit LightGBM + calibration, evaluate (truth metrics from DATA/truth/truth.parquet
    when present), fit the scoring feature state on all of DATA, log everything to MLflow and
    register a new version under ``[tracking] register_as`` (empty: not registered).

    ``TrainResult.seconds`` holds the wall time per step (``read``, ``features``,
    ``lightgbm``, ``lightgbm_refit``, ``evaluation``, ``logreg_baseline``, ``plots``,
    ``mlflow_logging``); the run stores them as ``timings.json``.
    """
    from features.table import FeaturePipeline, build_table
    from riskmodel import tracking
    from riskmodel.evaluate import evaluate_model
    from riskmodel.report.card import build_card, card_markdown
    from riskmodel.split import make_split
    from riskmodel.train import fit_model

    timer = StepTimer()
    cfg, config_file = load_config_any(config)
    cfg = cfg.with_overrides(data=data, mapping=mapping)
    say(progress, f"reading {cfg.data.path}")
    with timer.step("read"):
        loaded = read_data(cfg.data.path, cfg.data.mapping)
        loaded.raise_on_problems()
        sources = loaded.sources
        truth = read_truth(cfg.data.path, None)
        rules = read_rules(cfg.data.path)
    say(progress, "building the point-in-time table and the scoring feature state")
    with timer.step("features"):
        table = build_table(sources, exclude=cfg.features.exclude)
        split = make_split(table, cfg.split)
        pipeline = FeaturePipeline(exclude=cfg.features.exclude).fit(sources)
    say(progress, "fitting LightGBM and the calibrator")
    with timer.step("lightgbm"):
        model = fit_model(table, config=cfg, split=split, pipeline=pipeline)
        model.fit_drift_reference(table)
    timer.split("lightgbm", "lightgbm_refit", model.meta["seconds"].get("lightgbm_refit", 0.0))
    if cfg.data.mapping is not None:
        # the model keeps its mapping, so evaluate and scoring read the same layout unasked
        model.meta["mapping"] = {
            "file": str(cfg.data.mapping),
            "toml": Path(cfg.data.mapping).read_text(encoding="utf-8"),
        }
    say(progress, "evaluating against the baselines")
    with timer.step("evaluation"):
        evaluation = evaluate_model(
            model,
            table,
            split=split,
            truth=truth,
            rules=rules,
            declarations=sources.declarations,
        )
    timer.split("evaluation", "logreg_baseline", evaluation.seconds.get("logreg", 0.0))
    metrics, baselines = dict(evaluation.metrics), dict(evaluation.baselines)
    say(progress, "drawing the plots")
    with timer.step("plots"):
        figures = _figures(evaluation, model)
        tables = {"reliability": evaluation.reliability}
        catalogue = _catalogue(model)
        if catalogue is not None:
            tables["feature_catalogue"] = catalogue
    with timer.step("model_card"):
        fingerprints = tracking.data_fingerprints(sources.files, source_rows(sources))
        model.meta["model_card"] = build_card(
            model,
            evaluation=evaluation,
            table=table,
            split=split,
            fingerprints=fingerprints,
            declarations=sources.declarations,
        )
    say(progress, "logging to MLflow")
    with (
        timer.step("mlflow_logging"),
        tempfile.TemporaryDirectory(prefix="riskmodel-train-") as tmp,
    ):
        folder = Path(tmp) / "risk_model"
        model.save(folder)
        logged = tracking.log_training_run(
            experiment=cfg.tracking.experiment,
            tracking_uri=tracking_uri,
            register_as=cfg.tracking.register_as or None,
            run_name=config_file.stem if config_file is not None else None,
            model_folder=folder,
            input_example=input_example(sources.declarations, pipeline.cutoff_),
            required_columns=REQUIRED_DECLARATION_COLUMNS,
            config_file=config_file,
            config_dict=cfg.to_dict(),
            params={"split." + k: v for k, v in split.to_dict().items()},
            fingerprints=fingerprints,
            metrics=metrics,
            baselines=baselines,
            figures=figures,
            tables=tables,
            seconds=dict(timer.seconds),
        )
    tracking.log_model_card(
        logged,
        card_markdown(
            model.meta["model_card"],
            name=logged.registered_name,
            version=logged.version,
            run_id=logged.run_id,
        ),
    )
    for figure in figures.values():
        figure.clf()
    if metrics_out is not None:
        write_metrics(metrics_out, metrics, baselines)
    return TrainResult(
        run_id=logged.run_id,
        experiment_id=logged.experiment_id,
        tracking_uri=logged.tracking_uri,
        model_uri=(
            f"models:/{logged.registered_name}/{logged.version}"
            if logged.version is not None
            else logged.model_uri
        ),
        registered_name=logged.registered_name,
        version=logged.version,
        metrics=metrics,
        baselines=baselines,
        evaluation=evaluation,
        model=model,
        seconds=dict(timer.seconds),
    )


def input_example(
    declarations: pd.DataFrame, cutoff: pd.Timestamp, *, rows: int = INPUT_EXAMPLE_ROWS
) -> pd.DataFrame:
    """The pyfunc's input example: the newest declarations, re-dated and re-keyed to be servable.

    The served model refuses a declaration dated before its feature state's cutoff (the
    fitted history already holds facts from its future: ``FutureLeakError``) and one whose
    ``declaration_id`` is already in that history (``ContractError``), so any declaration of
    the training data, the whole of which the scoring state was fitted on, would be refused
    and MLflow would log "Failed to validate serving input example". The example therefore
    takes the ``rows`` newest declarations (real importers, HS codes, extra columns... so
    their features are meaningful), moves ``declared_at`` to the cutoff rounded up to the
    next whole second (the JSON example keeps it exactly, and it is still "at or after the
    cutoff") and gives them synthetic ids ``EXAMPLE-0001``, ``EXAMPLE-0002``... that no
    administration would use. Columns, their order and their dtypes are those of
    ``declarations``, so the signature inferred from the example is the contract's.
    """
    newest = declarations.sort_values("declared_at", kind="stable").tail(rows)
    example = newest.reset_index(drop=True).copy()
    when = pd.Timestamp(cutoff).ceil("s")
    example["declared_at"] = pd.Series(when, index=example.index).astype(
        declarations["declared_at"].dtype
    )
    example["declaration_id"] = pd.Series(
        [f"EXAMPLE-{i:04d}" for i in range(1, len(example) + 1)],
        index=example.index,
        dtype=declarations["declaration_id"].dtype,
    )
    return example


def _pipeline_params(model: RiskModel) -> dict[str, Any]:
    """The feature parameters the model was trained with (so the table matches its features)."""
    params = {
        name: getattr(model.pipeline, name)
        for name in ("windows", "smoothing", "exclude")
        if hasattr(model.pipeline, name)
    }
    if "exclude" not in params:
        params["exclude"] = tuple(
            model.meta.get("config", {}).get("features", {}).get("exclude", ())
        )
    return params


def evaluate(
    model: str,
    data: Path,
    *,
    mapping: Path | None = None,
    truth: Path | None = None,
    tracking_uri: str | None = None,
    metrics_out: Path | None = None,
    progress: Progress | None = None,
) -> EvaluateResult:
    """Score DATA's declarations from the model's test start on and measure them.

    See the module doc for which declarations are scored. The features are built point in
    time from all of DATA with the model's own feature parameters.
    """
    from features.table import build_table
    from riskmodel.evaluate import evaluate_model
    from riskmodel.split import TimeSplit
    from riskmodel.tracking import load_risk_model

    say(progress, f"loading {model}")
    risk_model = load_risk_model(model, tracking_uri=tracking_uri)
    split_meta = risk_model.meta.get("split")
    if not split_meta:
        raise ModelError(f"model {model!r}: meta.json has no 'split'; cannot tell its test start")
    split = TimeSplit.from_dict(split_meta)
    say(progress, f"reading {data}")
    loaded = read_data(data, mapping, model_mapping=risk_model.meta.get("mapping"))
    loaded.raise_on_problems()
    table = build_table(loaded.sources, **_pipeline_params(risk_model))
    scored = int(split.period_mask(table, "test").sum())
    if scored == 0:
        newest = table["declared_at"].max() if len(table) else None
        raise UsageError(
            f"{data}: no declaration on or after the model's test start "
            f"{split.test_start:%Y-%m-%d}; newest declared_at is {newest}"
        )
    say(progress, f"scoring {scored} declarations")
    evaluation = evaluate_model(
        risk_model,
        table,
        split=split,
        truth=read_truth(data, truth),
        rules=read_rules(data),
        declarations=loaded.sources.declarations,
        periods=("test",),
    )
    metrics, baselines = dict(evaluation.metrics), dict(evaluation.baselines)
    if metrics_out is not None:
        write_metrics(metrics_out, metrics, baselines)
    return EvaluateResult(
        model_uri=model,
        metrics=metrics,
        baselines=baselines,
        scored=scored,
        test_start=split.test_start,
        evaluation=evaluation,
    )


def promote(
    *,
    version: int,
    alias: str = "champion",
    name: str = "seizure-risk",
    tracking_uri: str | None = None,
) -> None:
    """Point ``models:/<name>@<alias>`` at a registered version."""
    from riskmodel.tracking import promote as set_alias

    set_alias(version, alias=alias, name=name, tracking_uri=tracking_uri)


def tune(
    config: Path | str,
    *,
    trials: int,
    data: Path | None = None,
    mapping: Path | None = None,
    tracking_uri: str | None = None,
    out: Path | None = None,
    seed: int = 0,
    folds: int = 3,
    history_share: float = 0.5,
    progress: Progress | None = None,
) -> TuneResult:
    """Optuna over LightGBM parameters on rolling folds inside the training period.

    Writes the base config with the best parameters to ``out`` (default
    ``experiments/<config name>-tuned.toml``). ``folds`` rolling folds follow the first
    ``history_share`` of the training period. See :mod:`riskmodel.tune`.
    """
    from riskmodel.tune import run_study

    cfg, config_file = load_config_any(config)
    cfg = cfg.with_overrides(data=data, mapping=mapping)
    name = config_file.stem if config_file is not None else "experiment"
    target = Path(out) if out is not None else Path("experiments") / f"{name}-tuned.toml"
    say(progress, f"reading {cfg.data.path}")
    loaded = read_data(cfg.data.path, cfg.data.mapping)
    loaded.raise_on_problems()
    study = run_study(
        cfg,
        loaded.sources,
        trials=trials,
        seed=seed,
        out=target,
        tracking_uri=tracking_uri,
        run_name=f"tune-{name}",
        n_folds=folds,
        history_share=history_share,
        progress=progress,
    )
    return TuneResult(
        run_id=study.run_id,
        best_value=study.best_value,
        best_params=study.best_params,
        config_path=target,
        trials=trials,
    )
