"""MLflow in one place: tracking URI, training and tuning runs, model logging, registry, loading.

This is the only module that imports :mod:`mlflow` (inside the functions, because importing it
costs seconds). Conventions:

- Tracking URI: an explicit argument, else ``MLFLOW_TRACKING_URI``, else the embedded
  default ``sqlite:///<cwd>/mlflow.db``. For any SQLite URI the experiment is created with its
  artifacts beside the database (``<db folder>/mlartifacts``); a tracking server decides its
  own artifact location. The registry lives with the tracking store.
- Metric names are those of the design (``test_precision_at_5pct``...). A baseline's figures
  are logged as ``<baseline>_<metric>`` on the same run, e.g. ``rules_test_precision_at_5pct``,
  ``random_test_pr_auc``, ``logreg_test_recall_at_10pct``.
- Parameters are the experiment config flattened with dots (``model.learning_rate``,
  ``split.test_start``), plus ``data.rows.<source>``; each input file's SHA-256 is a tag
  ``data.sha256.<source>`` and the full fingerprint is ``data/fingerprints.json``.
- The model is a pyfunc logged from code (``riskmodel/pyfunc_model.py``) whose only artifact is
  a saved :class:`~riskmodel.model.RiskModel` folder (Parquet/JSON feature state, LightGBM text
  model, calibrator JSON): nothing of ours is pickled.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.atomic import file_sha256
from riskmodel.errors import ModelError, UsageError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from riskmodel.model import RiskModel

ModelURI = str

DEFAULT_DB_NAME = "mlflow.db"
DEFAULT_ARTIFACTS_NAME = "mlartifacts"
MODEL_NAME_IN_RUN = "model"
RISK_MODEL_ARTIFACT = "risk_model"
_PARENT_TAG = "mlflow.parentRunId"

ALIAS_MAX_LENGTH = 255
_ALIAS_CHARACTERS = re.compile(r"^[\w\-]+$")
_VERSION_LIKE_ALIAS = re.compile(r"^[vV]\d+$")


def resolve_tracking_uri(tracking_uri: str | None = None, *, cwd: Path | None = None) -> str:
    """The tracking URI to use: the argument, else ``MLFLOW_TRACKING_URI``, else ./mlflow.db."""
    if tracking_uri:
        return tracking_uri
    from_env = os.environ.get("MLFLOW_TRACKING_URI")
    if from_env:
        return from_env
    folder = (cwd or Path.cwd()).resolve()
    return f"sqlite:///{folder / DEFAULT_DB_NAME}"


def artifact_root_for(tracking_uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a SQLite file, else the store's say."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    db_path = Path(tracking_uri[len(prefix) :])
    if not db_path.is_absolute():
        db_path = Path.cwd() / db_path
    return (db_path.parent / DEFAULT_ARTIFACTS_NAME).resolve().as_uri()


def _mlflow(tracking_uri: str) -> Any:
    """Import mlflow, point its tracking URI at ``tracking_uri`` and return it.

    The registry URI is left unset so that it follows the tracking URI (MLflow's default);
    setting it globally would leave a caller who later changes only the tracking URI reading
    another store's registry.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow's INFO lines ("Creating initial MLflow database tables...") repeat riskmodel's
    # own progress lines and leaked through --quiet; warnings and errors still show, and
    # MLFLOW_LOGGING_LEVEL=INFO brings them back
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    return mlflow


_REGISTRY_CHATTER = re.compile(
    r"^(Successfully registered model '.*'\.|Created version '.*' of model '.*'\."
    r"|Registered model '.*' already exists\. Creating a new version of this model\.\.\.)$"
)
"""Lines MLflow's registry prints straight to stderr (not through logging) on registering."""


@contextlib.contextmanager
def registry_chatter_filtered() -> Iterator[None]:
    """Hold back the registry's own "Successfully registered model ..." lines.

    riskmodel prints the registered name and version itself (or nothing under ``--quiet``);
    every other line written to stderr meanwhile (warnings included) is passed on unchanged
    when the block ends, also when it raises.
    """
    import io
    import sys

    held = io.StringIO()
    try:
        with contextlib.redirect_stderr(held):
            yield
    finally:
        kept = [
            line
            for line in held.getvalue().splitlines(keepends=True)
            if not _REGISTRY_CHATTER.match(line.rstrip("\n"))
        ]
        if kept:
            sys.stderr.write("".join(kept))


def _client(tracking_uri: str) -> Any:
    """An MlflowClient on ``tracking_uri`` (registry alongside); a URI MLflow cannot use is a
    :class:`UsageError` (exit 2) naming it."""
    mlflow = _mlflow(tracking_uri)
    try:
        return mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    except mlflow.exceptions.MlflowException as exc:
        raise UsageError(f"MLflow tracking store {tracking_uri!r}: {exc.message}") from exc


def check_alias(alias: str) -> str:
    """``alias`` when MLflow can hold it as a registered model alias, else a UsageError.

    MLflow's rules, checked here before any store is touched so a bad alias is a one-line usage
    error (exit 2): 1 to 255 characters, only letters, digits, ``_`` and ``-``; ``latest``
    (any case) is reserved, and so is a version-like ``v<digits>`` (``v2``, ``V10``), because
    ``models:/<name>@latest`` and ``@v2`` already mean a version.
    """
    if not alias:
        raise UsageError("--alias must not be empty")
    if len(alias) > ALIAS_MAX_LENGTH:
        raise UsageError(
            f"--alias is {len(alias)} characters long; MLflow allows at most {ALIAS_MAX_LENGTH}"
        )
    if not _ALIAS_CHARACTERS.match(alias):
        raise UsageError(
            f"--alias {alias!r} is not a valid alias: use only letters, digits, '_' and '-' "
            "(e.g. champion, challenger-2)"
        )
    if alias.lower() == "latest" or _VERSION_LIKE_ALIAS.match(alias):
        raise UsageError(
            f"--alias {alias!r} is reserved by MLflow ('latest' and 'v<number>' name versions); "
            "choose another alias, e.g. champion"
        )
    return alias


def ensure_experiment(name: str, *, tracking_uri: str) -> str:
    """The id of experiment ``name``, created (artifacts beside a SQLite store) if missing."""
    mlflow = _mlflow(tracking_uri)
    client = _client(tracking_uri)
    try:
        found = client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                client.restore_experiment(found.experiment_id)
            return str(found.experiment_id)
        return str(
            client.create_experiment(name, artifact_location=artifact_root_for(tracking_uri))
        )
    except mlflow.exceptions.MlflowException as exc:
        raise UsageError(f"MLflow tracking store {tracking_uri!r}: {exc.message}") from exc


def data_fingerprints(files: Mapping[str, Path], rows: Mapping[str, int]) -> dict[str, Any]:
    """Per source: file path, SHA-256 and row count, so a run names exactly what it read."""
    out: dict[str, Any] = {}
    for source in sorted(set(files) | set(rows)):
        entry: dict[str, Any] = {"rows": rows.get(source)}
        if source in files:
            entry["file"] = str(files[source])
            entry["sha256"] = file_sha256(files[source])
        out[source] = entry
    return out


def flatten_params(tree: Mapping[str, Any], *, prefix: str = "") -> dict[str, str]:
    """A nested config as MLflow params: ``{"model": {"num_leaves": 63}}`` -> ``model.num_leaves``.

    Values longer than MLflow's 6000-character limit are cut.
    """
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, prefix=f"{name}."))
        elif value is not None:
            flat[name] = str(value)[:6000]
    return flat


def baseline_metric_name(baseline: str, metric: str) -> str:
    """A baseline's metric on a run: ``rules`` + ``test_pr_auc`` -> ``rules_test_pr_auc``."""
    return f"{baseline}_{metric}"


def _finite(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Metrics MLflow can store: numeric and not None (NaN is kept, it means 'undefined')."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if value is None or isinstance(value, bool):
            continue
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            continue
    return out


def model_signature(example: pd.DataFrame, *, required: tuple[str, ...]) -> Any:
    """Signature: raw declaration columns in, ``declaration_id`` + ``risk_score`` out.

    Every input column except ``required`` is optional, as in the declarations contract. Text
    columns are ``string``; every other column (numbers, timestamps, booleans) is ``Any``, so
    that MLflow's schema enforcement accepts what the contract accepts (an integer quantity, a
    nullable ``Int64``, an ISO timestamp string with ``Z``) and the served model types it as
    the file reader does (see ``riskmodel/pyfunc_model.py``).
    """
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import AnyType, ColSpec, DataType, Schema, TensorSpec

    inferred = infer_signature(example)
    columns: list[ColSpec | TensorSpec] = [
        ColSpec(
            type=spec.type if spec.type == DataType.string else AnyType(),
            name=spec.name,
            required=spec.name in required,
        )
        for spec in inferred.inputs.inputs
    ]
    outputs = Schema([ColSpec("string", "declaration_id"), ColSpec("double", "risk_score")])
    return ModelSignature(inputs=Schema(columns), outputs=outputs)


def _pip_requirements() -> list[str]:
    """Pinned third-party requirements of the served model (riskmodel itself is installed)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for package in ("mlflow", "lightgbm", "pandas", "pyarrow", "numpy", "scikit-learn", "pandera"):
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return pins


def _pyfunc_code_path() -> str:
    """Path of the models-from-code file, found without importing it."""
    spec = importlib.util.find_spec("riskmodel.pyfunc_model")
    if spec is None or spec.origin is None:
        raise ModelError("riskmodel.pyfunc_model is not importable; is riskmodel installed?")
    return spec.origin


@dataclass(frozen=True)
class LoggedRun:
    """What a training run left in MLflow."""

    run_id: str
    experiment_id: str
    tracking_uri: str
    model_uri: ModelURI
    registered_name: str | None
    version: int | None
    seconds: float = 0.0


TIMINGS_ARTIFACT = "timings.json"


def log_training_run(
    *,
    experiment: str,
    model_folder: Path,
    input_example: pd.DataFrame,
    required_columns: tuple[str, ...],
    tracking_uri: str | None = None,
    register_as: str | None = None,
    run_name: str | None = None,
    config_file: Path | None = None,
    config_dict: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    fingerprints: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    baselines: Mapping[str, Mapping[str, Any]] | None = None,
    figures: Mapping[str, Figure] | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    documents: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    seconds: Mapping[str, float] | None = None,
) -> LoggedRun:
    """Log one finished training run, its model as a pyfunc, and register a new version.

    Everything is computed before this is called, so a failed training leaves no empty run.
    ``figures`` land in ``plots/<name>.png``, ``tables`` in ``tables/<name>.csv``,
    ``documents`` in ``<name>.json``. ``seconds`` (time per step of the training, in
    seconds) lands in ``timings.json`` with this function's own time added as
    ``mlflow_logging``; it is the run's last artifact, so it covers the logging before it.

    The metrics are logged in one batch *after* the model, linked to it: logged before,
    ``log_model`` would read every metric's history back one query at a time (~160 metrics)
    to link them to the model.
    """
    started = time.perf_counter()
    uri = resolve_tracking_uri(tracking_uri)
    mlflow = _mlflow(uri)
    experiment_id = ensure_experiment(experiment, tracking_uri=uri)
    all_params = flatten_params(config_dict or {})
    all_params.update({k: str(v)[:6000] for k, v in (params or {}).items() if v is not None})
    all_metrics = _finite(metrics or {})
    for baseline, values in (baselines or {}).items():
        all_metrics.update(
            {baseline_metric_name(baseline, k): v for k, v in _finite(values).items()}
        )
    run_tags = dict(tags or {})
    for source, entry in (fingerprints or {}).items():
        if isinstance(entry, Mapping) and entry.get("sha256"):
            run_tags[f"data.sha256.{source}"] = str(entry["sha256"])
        if isinstance(entry, Mapping) and entry.get("rows") is not None:
            all_params[f"data.rows.{source}"] = str(entry["rows"])
    try:
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
            mlflow.set_tags(run_tags)
            mlflow.log_params(all_params)
            if config_file is not None:
                mlflow.log_artifact(str(config_file), artifact_path="config")
            if config_dict is not None:
                mlflow.log_dict(dict(config_dict), "config/config.json")
            if fingerprints is not None:
                mlflow.log_dict(dict(fingerprints), "data/fingerprints.json")
            for name, document in (documents or {}).items():
                mlflow.log_dict(document, f"{name}.json")
            for name, frame in (tables or {}).items():
                mlflow.log_text(frame.to_csv(index=False), f"tables/{name}.csv")
            for name, figure in (figures or {}).items():
                mlflow.log_figure(figure, f"plots/{name}.png")
            with registry_chatter_filtered():
                info = mlflow.pyfunc.log_model(
                    name=MODEL_NAME_IN_RUN,
                    python_model=_pyfunc_code_path(),
                    artifacts={RISK_MODEL_ARTIFACT: str(model_folder)},
                    signature=model_signature(input_example, required=required_columns),
                    input_example=input_example,
                    registered_model_name=register_as,
                    pip_requirements=_pip_requirements(),
                )
            if all_metrics:
                mlflow.log_metrics(all_metrics, model_id=info.model_id)
            if seconds is not None:
                timings = {k: round(float(v), 3) for k, v in seconds.items()}
                timings["mlflow_logging"] = round(time.perf_counter() - started, 3)
                mlflow.log_dict(timings, TIMINGS_ARTIFACT)
    except mlflow.exceptions.MlflowException as exc:
        raise UsageError(f"MLflow tracking store {uri!r}: {exc.message}") from exc
    version = info.registered_model_version
    return LoggedRun(
        run_id=run.info.run_id,
        experiment_id=experiment_id,
        tracking_uri=uri,
        model_uri=f"runs:/{run.info.run_id}/{MODEL_NAME_IN_RUN}",
        registered_name=register_as,
        version=int(version) if version is not None else None,
        seconds=time.perf_counter() - started,
    )


def log_model_card(run: LoggedRun, markdown: str, *, artifact_file: str = "model_card.md") -> None:
    """Log the model card (Markdown) on the run that holds the model and, when the run
    registered a version, make it that version's description in the registry."""
    mlflow = _mlflow(run.tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=run.tracking_uri, registry_uri=run.tracking_uri)
    try:
        client.log_text(run.run_id, markdown, artifact_file)
        if run.registered_name and run.version is not None:
            client.update_model_version(run.registered_name, str(run.version), description=markdown)
    except mlflow.exceptions.MlflowException as exc:
        raise UsageError(f"MLflow tracking store {run.tracking_uri!r}: {exc.message}") from exc


class TuningRun:
    """A parent MLflow run whose Optuna trials are nested child runs."""

    def __init__(self, client: Any, *, experiment_id: str, run_id: str, tracking_uri: str) -> None:
        self._client = client
        self.experiment_id = experiment_id
        self.run_id = run_id
        self.tracking_uri = tracking_uri

    def log_trial(
        self, number: int, *, params: Mapping[str, Any], metrics: Mapping[str, Any]
    ) -> str:
        """Record one trial as a nested run; returns its run id."""
        child = self._client.create_run(
            self.experiment_id,
            tags={_PARENT_TAG: self.run_id, "trial": str(number)},
            run_name=f"trial-{number:03d}",
        )
        child_id = str(child.info.run_id)
        try:
            for key, value in params.items():
                self._client.log_param(child_id, key, str(value))
            for key, value in _finite(metrics).items():
                self._client.log_metric(child_id, key, value)
        except Exception:
            self._client.set_terminated(child_id, status="FAILED")
            raise
        self._client.set_terminated(child_id, status="FINISHED")
        return child_id

    def log_result(
        self,
        *,
        params: Mapping[str, Any],
        metrics: Mapping[str, Any],
        config_file: Path | None = None,
    ) -> None:
        """Record the best trial on the parent run and attach the tuned config."""
        for key, value in params.items():
            self._client.log_param(self.run_id, f"best.{key}", str(value))
        for key, value in _finite(metrics).items():
            self._client.log_metric(self.run_id, key, value)
        if config_file is not None:
            self._client.log_artifact(self.run_id, str(config_file), artifact_path="config")


@contextlib.contextmanager
def tuning_run(
    *,
    experiment: str,
    tracking_uri: str | None = None,
    run_name: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> Iterator[TuningRun]:
    """Open a parent run for a tuning study; it ends FINISHED, or FAILED on an exception."""
    uri = resolve_tracking_uri(tracking_uri)
    mlflow = _mlflow(uri)
    experiment_id = ensure_experiment(experiment, tracking_uri=uri)
    client = _client(uri)
    try:
        parent = client.create_run(experiment_id, run_name=run_name, tags={"kind": "tuning"})
    except mlflow.exceptions.MlflowException as exc:
        raise UsageError(f"MLflow tracking store {uri!r}: {exc.message}") from exc
    run_id = str(parent.info.run_id)
    status = "FAILED"
    try:
        for key, value in (params or {}).items():
            client.log_param(run_id, key, str(value))
        yield TuningRun(client, experiment_id=experiment_id, run_id=run_id, tracking_uri=uri)
        status = "FINISHED"
    finally:
        client.set_terminated(run_id, status=status)


def promote(
    version: int,
    *,
    alias: str = "champion",
    name: str = "seizure-risk",
    tracking_uri: str | None = None,
) -> None:
    """Point ``models:/<name>@<alias>`` at ``version``.

    Errors: an alias MLflow cannot hold (see :func:`check_alias`) or a store that refuses the
    alias is a :class:`UsageError` (exit 2); a missing model or version is a
    :class:`ModelError` (exit 4).
    """
    check_alias(alias)
    uri = resolve_tracking_uri(tracking_uri)
    mlflow = _mlflow(uri)
    client = _client(uri)
    try:
        client.get_model_version(name, str(version))
    except mlflow.exceptions.MlflowException as exc:
        raise ModelError(
            f"registered model {name!r} has no version {version} in {uri!r}: {exc.message}"
        ) from exc
    try:
        client.set_registered_model_alias(name, alias, str(version))
    except mlflow.exceptions.MlflowException as exc:
        raise UsageError(
            f"cannot point alias {alias!r} of {name!r} at version {version}: {exc.message}"
        ) from exc


@dataclass(frozen=True)
class ModelSource:
    """Where a model came from: the URI asked for and, when registered, name and version."""

    uri: ModelURI
    name: str | None = None
    version: int | None = None
    run_id: str | None = None


def describe_model(uri: ModelURI, *, tracking_uri: str | None = None) -> ModelSource:
    """Resolve ``models:/name@alias`` or ``models:/name/N`` to its name, version and run."""
    if not uri.startswith("models:/"):
        run_id = uri.split("/")[1] if uri.startswith("runs:/") else None
        return ModelSource(uri=uri, run_id=run_id)
    store = resolve_tracking_uri(tracking_uri)
    mlflow = _mlflow(store)
    client = _client(store)
    name, _, ref = uri[len("models:/") :].partition("/")
    try:
        if "@" in name:
            name, alias = name.split("@", 1)
            found = client.get_model_version_by_alias(name, alias)
        else:
            found = client.get_model_version(name, ref)
    except mlflow.exceptions.MlflowException as exc:
        raise ModelError(f"model {uri!r} not found in {store!r}: {exc.message}") from exc
    return ModelSource(uri=uri, name=name, version=int(found.version), run_id=found.run_id)


def _risk_model_folder(mlflow_model_dir: Path) -> Path:
    """The RiskModel folder inside a downloaded MLflow model of ours."""
    mlmodel = mlflow_model_dir / "MLmodel"
    from mlflow.models import Model

    flavor = Model.load(str(mlmodel)).flavors.get("python_function", {})
    artifact = (flavor.get("artifacts") or {}).get(RISK_MODEL_ARTIFACT)
    if not artifact:
        raise ModelError(
            f"{mlmodel}: expected a riskmodel pyfunc with artifact {RISK_MODEL_ARTIFACT!r}, "
            f"found artifacts {sorted(flavor.get('artifacts') or {})}"
        )
    return mlflow_model_dir / artifact["path"]


def _load_risk_model_folder(folder: Path) -> RiskModel:
    from riskmodel.model import RiskModel

    return RiskModel.load(folder)


def load_risk_model(uri: ModelURI, *, tracking_uri: str | None = None) -> RiskModel:
    """Load a RiskModel from ``models:/name@alias``, ``models:/name/N``, ``runs:/id/model``,
    a local MLflow model folder or a local RiskModel folder.

    Nothing is unpickled: the MLflow model is downloaded to a temporary folder and the RiskModel
    is read from its Parquet/JSON/LightGBM-text artifact. A missing model, version or alias is a
    :class:`ModelError` (exit 4).
    """
    local = Path(uri)
    if "://" not in uri and not uri.startswith(("models:/", "runs:/")):
        if (local / "MLmodel").is_file():
            return _load_risk_model_folder(_risk_model_folder(local))
        if local.is_dir():
            return _load_risk_model_folder(local)
        raise ModelError(
            f"model {uri!r}: expected an MLflow model URI (models:/name@alias, models:/name/N, "
            "runs:/<run_id>/model) or a model folder, found no such folder"
        )
    store = resolve_tracking_uri(tracking_uri)
    mlflow = _mlflow(store)
    with tempfile.TemporaryDirectory(prefix="riskmodel-") as tmp:
        try:
            downloaded = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp)
        except mlflow.exceptions.MlflowException as exc:
            raise ModelError(f"model {uri!r} not found in {store!r}: {exc.message}") from exc
        except OSError as exc:
            raise ModelError(f"model {uri!r} could not be read from {store!r}: {exc}") from exc
        folder = Path(downloaded)
        if not (folder / "MLmodel").is_file():
            raise ModelError(f"model {uri!r}: expected an MLflow model (MLmodel file), found none")
        return _load_risk_model_folder(_risk_model_folder(folder))
