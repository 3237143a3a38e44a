"""The notebook API end to end on a small generated world, with real MLflow stores.

Embedded mode trains twice from a fresh working directory with no tracking URI (the default
./mlflow.db); team mode trains against a real ``mlflow server`` on loopback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from riskmodel import api, tracking
from riskmodel.errors import ModelError

if TYPE_CHECKING:
    from conftest import EmbeddedTraining, PastAndFuture

DESIGN_METRICS = (
    "test_precision_at_1pct",
    "test_precision_at_5pct",
    "test_precision_at_10pct",
    "test_recall_at_5pct",
    "test_seized_kg_share_at_5pct",
    "test_pr_auc",
    "test_roc_auc",
    "test_brier",
    "test_oracle_ratio_at_5pct",
    "valid_pr_auc",
)


def _client(uri: str):  # type: ignore[no-untyped-def]
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_embedded_default_store_is_created_in_the_working_directory(
    embedded_training: EmbeddedTraining,
) -> None:
    run = embedded_training
    assert (run.workdir / "mlflow.db").is_file()
    assert run.first.tracking_uri == run.tracking_uri
    assert (run.workdir / "mlartifacts").is_dir()
    assert (run.first.registered_name, run.first.version) == ("seizure-risk", 1)
    assert run.second.version == 2
    assert run.first.run_id != run.second.run_id


def test_the_run_holds_params_metrics_baselines_and_artifacts(
    embedded_training: EmbeddedTraining,
) -> None:
    result = embedded_training.first
    client = _client(embedded_training.tracking_uri)
    logged = client.get_run(result.run_id).data
    assert logged.params["model.num_leaves"] == "15"
    assert logged.params["data.rows.declarations"] == str(
        len(pd.read_parquet(Path(logged.params["data.path"]) / "declarations.parquet"))
    )
    assert len(logged.tags["data.sha256.declarations"]) == 64
    for name in DESIGN_METRICS:
        assert logged.metrics[name] == pytest.approx(result.metrics[name], nan_ok=True), name
    assert result.baselines, "no baseline was evaluated"
    for baseline, values in result.baselines.items():
        for name, value in values.items():
            key = f"{baseline}_{name}"
            assert logged.metrics[key] == pytest.approx(value, nan_ok=True), key
    assert "rules_test_precision_at_5pct" in logged.metrics

    def listing(path: str) -> set[str]:
        return {item.path for item in client.list_artifacts(result.run_id, path)}

    assert {"plots/pr_curve.png", "plots/calibration.png", "plots/importance.png"} <= listing(
        "plots"
    )
    assert "plots/gain_at_budget.png" in listing("plots")
    assert {"config/small.toml", "config/config.json"} <= listing("config")
    assert {"tables/reliability.csv", "tables/feature_catalogue.csv"} <= listing("tables")
    assert "data/fingerprints.json" in listing("data")


def test_metrics_json_is_flat_with_the_design_names(embedded_training: EmbeddedTraining) -> None:
    document = json.loads(embedded_training.metrics_json.read_text())
    result = embedded_training.first
    for name in DESIGN_METRICS:
        assert document[name] == pytest.approx(result.metrics[name]), name
    assert document["rules_test_precision_at_5pct"] == pytest.approx(
        result.baselines["rules"]["test_precision_at_5pct"]
    )
    leftovers = [p.name for p in embedded_training.metrics_json.parent.iterdir()]
    assert leftovers == ["metrics.json"], "a temporary file was left behind"


def _fresh_process_scores(uri: str, tracking_uri: str, declarations: Path, out: Path) -> None:
    """Load the model in a new interpreter, both as a pyfunc and as a RiskModel; score."""
    script = textwrap.dedent(
        f"""
        import mlflow, pandas as pd
        from features.sources import Sources
        from riskmodel.api import validate
        from riskmodel.tracking import load_risk_model
        mlflow.set_tracking_uri({tracking_uri!r})
        raw = pd.read_parquet({str(declarations / "declarations.parquet")!r})
        served = mlflow.pyfunc.load_model({uri!r}).predict(raw)
        served.to_parquet({str(out / "pyfunc.parquet")!r})
        typed = validate({str(declarations)!r}).sources
        model = load_risk_model({uri!r}, tracking_uri={tracking_uri!r})
        model.predict(Sources(declarations=typed.declarations)).to_parquet(
            {str(out / "riskmodel.parquet")!r})
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_champion_in_a_fresh_process_scores_exactly_as_in_process(
    embedded_training: EmbeddedTraining, past_and_future: PastAndFuture, tmp_path: Path
) -> None:
    run = embedded_training
    api.promote(version=1, tracking_uri=run.tracking_uri)
    source = tracking.describe_model("models:/seizure-risk@champion", tracking_uri=run.tracking_uri)
    assert (source.version, source.run_id) == (1, run.first.run_id)
    assert run.first.model is not None
    from features.sources import Sources

    typed = api.validate(past_and_future.future).sources.declarations
    assert typed["declared_at"].min() >= past_and_future.cutoff
    in_process = run.first.model.predict(Sources(declarations=typed))
    _fresh_process_scores(
        "models:/seizure-risk@champion", run.tracking_uri, past_and_future.future, tmp_path
    )
    for name in ("pyfunc", "riskmodel"):
        fresh = pd.read_parquet(tmp_path / f"{name}.parquet")
        pd.testing.assert_frame_equal(
            fresh[["declaration_id", "risk_score"]].reset_index(drop=True),
            in_process[["declaration_id", "risk_score"]].reset_index(drop=True),
            check_exact=True,
            check_dtype=False,
        )
    assert len(in_process) == len(past_and_future.future_declarations)


def test_bad_alias_and_version_are_model_errors(
    embedded_training: EmbeddedTraining, small_world: Path
) -> None:
    uri = embedded_training.tracking_uri
    with pytest.raises(ModelError, match="no-such-alias"):
        api.evaluate("models:/seizure-risk@no-such-alias", small_world, tracking_uri=uri)
    with pytest.raises(ModelError, match="99"):
        api.promote(version=99, tracking_uri=uri)


def test_evaluate_scores_from_the_test_start_and_writes_metrics(
    embedded_training: EmbeddedTraining, small_world: Path, tmp_path: Path
) -> None:
    out = tmp_path / "evaluate.json"
    result = api.evaluate(
        "models:/seizure-risk/1",
        small_world,
        tracking_uri=embedded_training.tracking_uri,
        metrics_out=out,
    )
    declared = pd.read_parquet(small_world / "declarations.parquet", columns=["declared_at"])
    assert result.scored == int((declared["declared_at"] >= result.test_start).sum())
    document = json.loads(out.read_text())
    for name in ("test_precision_at_5pct", "test_pr_auc", "test_oracle_ratio_at_5pct"):
        assert document[name] == pytest.approx(result.metrics[name]), name
    # every baseline of training is measured again: the simple rule too, chosen on the
    # validation period's labels although only the test period is measured
    assert set(result.baselines) == set(embedded_training.first.baselines)
    assert result.evaluation.simple_rule, "no two-feature rule was chosen"


def test_team_mode_registers_on_a_real_tracking_server(
    mlflow_server: str,
    past_and_future: PastAndFuture,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "team.toml", past_and_future.past)
    result = api.train(config, tracking_uri=mlflow_server)
    assert result.tracking_uri == mlflow_server
    assert result.version == 1
    version = _client(mlflow_server).get_model_version("seizure-risk", "1")
    assert version.run_id == result.run_id
    model = tracking.load_risk_model("models:/seizure-risk/1", tracking_uri=mlflow_server)
    assert model.booster.model_to_string() == result.model.booster.model_to_string()  # type: ignore[union-attr]


def test_import_is_lazy_and_api_names_win_over_submodules() -> None:
    script = textwrap.dedent(
        """
        import sys, riskmodel
        heavy = [m for m in ("mlflow", "optuna", "shap", "matplotlib") if m in sys.modules]
        assert not heavy, heavy
        import riskmodel.train, riskmodel.evaluate
        from riskmodel import api
        assert riskmodel.train is api.train and riskmodel.evaluate is api.evaluate
        from riskmodel.train import fit_model
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


def test_input_example_is_servable_by_the_fitted_feature_state(seeded_world_dir: Path) -> None:
    """The newest declarations, at the cutoff and with synthetic ids: transform accepts them.

    The training declarations themselves are refused (dated before the cutoff, ids in the
    fitted history), which is why MLflow could not validate them as the input example.
    """
    from features.sources import Sources
    from features.table import FeaturePipeline, FutureLeakError

    sources = api.validate(seeded_world_dir).sources
    declarations = sources.declarations
    pipeline = FeaturePipeline().fit(sources)
    with pytest.raises(FutureLeakError):
        pipeline.transform(Sources(declarations=declarations.head(api.INPUT_EXAMPLE_ROWS)))

    example = api.input_example(declarations, pipeline.cutoff_)
    assert len(example) == api.INPUT_EXAMPLE_ROWS
    assert list(example.columns) == list(declarations.columns)
    assert example.dtypes.to_dict() == declarations.dtypes.to_dict()
    assert example["declaration_id"].tolist() == [
        f"EXAMPLE-{i:04d}" for i in range(1, api.INPUT_EXAMPLE_ROWS + 1)
    ]
    assert (example["declared_at"] >= pipeline.cutoff_).all()
    assert (example["declared_at"] - pipeline.cutoff_ < pd.Timedelta(seconds=1)).all()
    newest = declarations.sort_values("declared_at", kind="stable").tail(api.INPUT_EXAMPLE_ROWS)
    assert example["importer_id"].tolist() == newest["importer_id"].tolist()
    features = pipeline.transform(Sources(declarations=example))
    assert features["declaration_id"].tolist() == example["declaration_id"].tolist()


def test_score_period_keeps_its_batch_where_asked_so_verify_checks_the_inputs(
    embedded_training: EmbeddedTraining,
    small_world: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from riskmodel.report.verify import verify_dir

    monkeypatch.chdir(tmp_path)
    declared = pd.read_parquet(small_world / "declarations.parquet", columns=["declared_at"])
    start = declared["declared_at"].max() - pd.Timedelta(days=20)
    result = api.score_period(
        "models:/seizure-risk/1",
        small_world,
        start=start,
        out=Path("scores"),
        tracking_uri=embedded_training.tracking_uri,
        batch_dir=Path("batch"),
    )
    kept = pd.read_parquet(tmp_path / "batch" / "declarations.parquet")
    assert len(kept) == result.manifest["counts"]["input_rows"] > 0
    inputs = [c for c in verify_dir(Path("scores")).checks if c.item.startswith("input ")]
    assert inputs and all(c.status == "ok" for c in inputs), inputs
