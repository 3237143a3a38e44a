"""riskmodel.tracking against a real embedded MLflow store (no trained model needed here)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from riskmodel import tracking
from riskmodel.errors import ModelError


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One embedded SQLite store for the module (creating one costs about 1.5 s)."""
    return f"sqlite:///{tmp_path_factory.mktemp('store')}/mlflow.db"


def test_tracking_uri_precedence_is_argument_then_env_then_cwd_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.resolve_tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    assert tracking.resolve_tracking_uri() == "http://127.0.0.1:9"
    assert tracking.resolve_tracking_uri("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite_artifacts_live_beside_the_database(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    assert tracking.artifact_root_for(uri) == (tmp_path / "store" / "mlartifacts").as_uri()
    assert tracking.artifact_root_for("http://127.0.0.1:5000") is None


def test_flatten_params_and_baseline_names() -> None:
    flat = tracking.flatten_params({"model": {"num_leaves": 63}, "data": {"path": "d"}})
    assert flat == {"model.num_leaves": "63", "data.path": "d"}
    assert tracking.baseline_metric_name("rules", "test_pr_auc") == "rules_test_pr_auc"


def test_fingerprint_is_the_sha256_of_the_file_bytes(tmp_path: Path) -> None:
    path = tmp_path / "declarations.csv"
    path.write_bytes(b"declaration_id\nD1\n")
    prints = tracking.data_fingerprints({"declarations": path}, {"declarations": 1, "labels": 0})
    assert prints["declarations"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert prints["declarations"]["rows"] == 1
    assert prints["labels"] == {"rows": 0}


@pytest.mark.parametrize(
    "uri",
    [
        "models:/no-such-model@champion",
        "models:/no-such-model/3",
        "runs:/0123456789abcdef0123456789abcdef/model",
        "no/such/folder",
    ],
)
def test_missing_model_is_a_model_error(store: str, uri: str) -> None:
    with pytest.raises(ModelError, match="model") as caught:
        tracking.load_risk_model(uri, tracking_uri=store)
    assert caught.value.exit_code == 4
    assert uri in str(caught.value)


def test_promoting_a_missing_version_is_a_model_error(store: str) -> None:
    with pytest.raises(ModelError, match="no version 7"):
        tracking.promote(7, name="seizure-risk", tracking_uri=store)


def test_tuning_run_nests_trials_under_the_parent(store: str) -> None:
    import mlflow

    with tracking.tuning_run(experiment="t", tracking_uri=store, params={"a": 1}) as parent:
        ids = [
            parent.log_trial(n, params={"num_leaves": 8 + n}, metrics={"mean_pr_auc": 0.1 * n})
            for n in range(2)
        ]
        parent.log_result(params={"num_leaves": 9}, metrics={"best_mean_pr_auc": 0.1})
    client = mlflow.MlflowClient(tracking_uri=store)
    assert client.get_run(parent.run_id).info.status == "FINISHED"
    for n, run_id in enumerate(ids):
        child = client.get_run(run_id)
        assert child.data.tags["mlflow.parentRunId"] == parent.run_id
        assert child.data.params["num_leaves"] == str(8 + n)
    assert client.get_run(parent.run_id).data.params["best.num_leaves"] == "9"
    experiment = client.get_experiment_by_name("t")
    assert experiment is not None
    beside_db = Path(store.removeprefix("sqlite:///")).parent / "mlartifacts"
    assert experiment.artifact_location == beside_db.as_uri()


def test_a_failed_study_marks_the_parent_run_failed(store: str) -> None:
    import mlflow

    with (
        pytest.raises(RuntimeError),
        tracking.tuning_run(experiment="t", tracking_uri=store) as parent,
    ):
        raise RuntimeError("boom")
    assert mlflow.MlflowClient(tracking_uri=store).get_run(parent.run_id).info.status == "FAILED"
