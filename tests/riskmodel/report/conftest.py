"""A real trained model and a scoring folder in the shared scoring contract, for the report tests.

The model is trained once per session through ``api.train`` (embedded SQLite MLflow, so the
model card is built and logged as in production). The scoring folder is written by
:func:`write_scoring_dir` from that real model: the contract's files (scores, flagged with
``feature:<name>`` columns, corridors, rejects, manifest) for the declarations the model never
saw (``_scoring_dir.write_scoring_dir``), with a hostile goods description on the
highest-risk shipment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from _scoring_dir import HOSTILE, write_scoring_dir


@dataclass(frozen=True)
class Scored:
    """A trained model (its URI and folder) and a scoring folder made with it."""

    model_uri: str
    tracking_uri: str
    scores_dir: Path
    hostile_id: str
    red: int


@pytest.fixture(scope="session")
def scored(
    past_and_future, write_config, tmp_path_factory: pytest.TempPathFactory
) -> Scored:  # type: ignore[no-untyped-def]
    """Train once (embedded MLflow), then score the future with a hostile goods description."""
    from riskmodel import api
    from riskmodel.tracking import load_risk_model

    workdir = tmp_path_factory.mktemp("report-train")
    config = write_config(workdir / "small.toml", past_and_future.past)
    tracking_uri = f"sqlite:///{workdir.resolve()}/mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        trained = api.train(config, tracking_uri=tracking_uri)
    model_uri = f"models:/{trained.registered_name}/{trained.version}"
    model = load_risk_model(model_uri, tracking_uri=tracking_uri)

    batch = tmp_path_factory.mktemp("batch")
    declarations = past_and_future.future_declarations.copy()
    first = write_scoring_dir(model, past_and_future.future, tmp_path_factory.mktemp("probe"),
                              model_uri=model_uri)
    hostile_id = str(first.sort_values("risk_rank")["declaration_id"].iloc[0])
    mask = declarations["declaration_id"].astype(str) == hostile_id
    declarations["goods_description"] = declarations["goods_description"].astype(object)
    declarations.loc[mask, "goods_description"] = HOSTILE
    declarations.to_parquet(batch / "declarations.parquet", index=False)
    out = tmp_path_factory.mktemp("scoring") / "scores"
    scores = write_scoring_dir(model, batch, out, model_uri=model_uri)
    return Scored(
        model_uri=model_uri,
        tracking_uri=tracking_uri,
        scores_dir=out,
        hostile_id=hostile_id,
        red=int((scores["channel"] == "red").sum()),
    )
