"""The mapped foreign layout end to end: the committed data/bacuda through experiments/bacuda.toml.

Declarations only (one CSV in a WCO BACUDA-style layout), labels from its ``illicit`` column,
``office.id``, ``total.taxes`` and ``fob.value`` as extra features. The command line runs in a
temporary working directory holding a copy of ``data/bacuda`` and a link to the repository's
``experiments/``, so the config's relative ``data.path`` and ``data.mapping`` resolve exactly
as they do from the repository root, and MLflow writes only there.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.catalogue import feature_info
from riskmodel import api
from riskmodel.cli import app

REPO = Path(__file__).resolve().parents[2]
BACUDA = REPO / "data" / "bacuda"
CONFIG = Path("experiments") / "bacuda.toml"
MAPPING = Path("experiments") / "mappings" / "bacuda.toml"
EXTRA_FEATURES = {"extra_office_id", "extra_total_taxes", "extra_fob_value"}

runner = CliRunner()


def _run(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_committed_bacuda_is_declarations_only_without_truth() -> None:
    assert sorted(p.name for p in BACUDA.iterdir()) == ["README.md", "declarations.csv"]
    size = (BACUDA / "declarations.csv").stat().st_size
    assert size < 5_000_000, size


def test_bacuda_trains_and_evaluates_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from features.sources import Sources
    from riskmodel.tracking import load_risk_model

    (tmp_path / "data").mkdir()
    shutil.copytree(BACUDA, tmp_path / "data" / "bacuda")
    (tmp_path / "experiments").symlink_to(REPO / "experiments", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking_uri = f"sqlite:///{tmp_path.resolve()}/mlflow.db"

    code, output = _run("validate", "data/bacuda", "--mapping", MAPPING)
    assert code == 0, output

    import mlflow  # configures its loggers (replacing their handlers) once, on first import

    mlflow_logger = logging.getLogger("mlflow")  # does not propagate to the root logger
    mlflow_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="mlflow"):
            code, output = _run(
                "train",
                "--config",
                CONFIG,
                "--tracking-uri",
                tracking_uri,
                "--metrics-out",
                tmp_path / "train.json",
            )
    finally:
        mlflow_logger.removeHandler(caplog.handler)
    assert code == 0, output
    assert "input example" not in caplog.text, caplog.text
    run_id = next(
        line.split(":", 1)[1].strip() for line in output.splitlines() if line.startswith("run_id:")
    )
    trained = json.loads((tmp_path / "train.json").read_text())
    for name in ("test_precision_at_5pct", "test_recall_at_5pct", "test_pr_auc", "valid_pr_auc"):
        assert trained[name] is not None and 0.0 <= trained[name] <= 1.0, name
    assert not [k for k in trained if "oracle" in k], "no truth here, so no oracle metrics"

    # the model: extra columns are features; no route, financial, exporter or port feature
    model_uri = f"runs:/{run_id}/model"
    model = load_risk_model(model_uri, tracking_uri=tracking_uri)
    names = set(model.booster.feature_name())
    assert names >= EXTRA_FEATURES
    assert "extra_office_id" in model.pipeline.categorical_features_
    groups = {feature_info(name).group for name in names}
    assert not groups & {"financial", "route", "exporter_history"}, groups
    assert {"financial", "route", "exporter_history"} <= set(model.pipeline.groups_absent_)
    assert not {n for n in names if n.startswith("port_")}, "no port column, no port feature"

    # labels came from the declarations file: illicit, every row inspected, known 14 days on
    raw = pd.read_csv(tmp_path / "data" / "bacuda" / "declarations.csv", dtype=str)
    labels = model.pipeline.state_.labels
    assert labels is not None and len(labels) == len(raw)
    assert labels["inspected"].all()
    seized = set(labels.loc[labels["seized"].astype(bool), "declaration_id"])
    assert seized == set(raw.loc[raw["illicit"] == "1", "sgd.id"])
    declared = pd.to_datetime(raw.set_index("sgd.id")["sgd.date"])
    delay = labels.set_index("declaration_id")["inspected_at"] - declared
    assert (delay == pd.Timedelta(days=14)).all()
    rows = model.meta["rows"]
    assert rows["train_positives"] > 0 and rows["valid_positives"] > 0

    # evaluate with the mapping named, and without it: the model kept the one it was trained with
    assert model.meta["mapping"]["toml"] == MAPPING.read_text(encoding="utf-8")
    for how, extra in (("named", ["--mapping", MAPPING]), ("kept", [])):
        code, output = _run(
            "evaluate",
            "--model",
            model_uri,
            "data/bacuda",
            *extra,
            "--tracking-uri",
            tracking_uri,
            "--metrics-out",
            tmp_path / f"evaluate-{how}.json",
        )
        assert code == 0, output
        evaluated = json.loads((tmp_path / f"evaluate-{how}.json").read_text())
        for name in ("test_precision_at_5pct", "test_recall_at_5pct", "test_pr_auc", "test_brier"):
            assert math.isclose(evaluated[name], trained[name], rel_tol=1e-9), (how, name)

    # the served pyfunc takes the extras under their source names and scores as the model does
    from mlflow.models import Model

    local = mlflow.artifacts.download_artifacts(
        artifact_uri=model_uri, dst_path=str(tmp_path / "served"), tracking_uri=tracking_uri
    )
    example = Model.load(local).load_input_example(local)
    assert isinstance(example, pd.DataFrame)
    assert {"office.id", "total.taxes", "fob.value"} <= set(example.columns)
    served = mlflow.pyfunc.load_model(local).predict(example)
    mapped = api.validate(Path("data/bacuda"), mapping=MAPPING).sources
    newest = api.input_example(mapped.declarations, model.pipeline.cutoff_)
    expected = model.predict(
        Sources(
            declarations=newest,
            extra_categorical=mapped.extra_categorical,
            extra_numeric=mapped.extra_numeric,
        )
    )
    assert served["declaration_id"].tolist() == expected["declaration_id"].tolist()
    pd.testing.assert_series_equal(
        served["risk_score"].reset_index(drop=True),
        expected["risk_score"].reset_index(drop=True),
        check_exact=True,
    )
