"""A real trained model and a real scoring folder (``riskmodel score``), for the report tests.

The model is trained once per session through ``api.train`` (embedded SQLite MLflow, so the
model card is built and logged as in production); the declarations it never saw are then
scored with their route legs by ``api.score`` with an officer rule, after the goods
description of the highest-risk one was replaced by a hostile string.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
RULES = """[[rule]]
name = "precursor_chapter"
hs_prefix = ["2933"]
"""


@dataclass(frozen=True)
class Scored:
    """A trained model (its URI and folder) and a scoring folder made with it."""

    model_uri: str
    tracking_uri: str
    scores_dir: Path
    hostile_id: str
    hostile: str
    red: int


@pytest.fixture(scope="session")
def scored(
    small_world: Path, past_and_future, write_config, tmp_path_factory: pytest.TempPathFactory
) -> Scored:  # type: ignore[no-untyped-def]
    """Train once (embedded MLflow), then score the future with a hostile goods description."""
    from riskmodel import api

    workdir = tmp_path_factory.mktemp("report-train")
    config = write_config(workdir / "small.toml", past_and_future.past)
    tracking_uri = f"sqlite:///{workdir.resolve()}/mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        trained = api.train(config, tracking_uri=tracking_uri)
    model_uri = f"models:/{trained.registered_name}/{trained.version}"
    rules = workdir / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")

    def score(data: Path, out: Path) -> pd.DataFrame:
        api.score(model_uri, data, out=out, rules=rules, tracking_uri=tracking_uri)
        return pd.read_parquet(out / "scores.parquet")

    batch = tmp_path_factory.mktemp("batch")
    declarations = past_and_future.future_declarations.copy()
    legs = pd.read_parquet(small_world / "route_legs.parquet")
    legs = legs[legs["declaration_id"].isin(set(declarations["declaration_id"]))]
    legs.to_parquet(batch / "route_legs.parquet", index=False)
    shutil.copy(small_world / "ports.parquet", batch / "ports.parquet")
    declarations.to_parquet(batch / "declarations.parquet", index=False)
    first = score(batch, tmp_path_factory.mktemp("probe") / "scores")
    hostile_id = str(first.sort_values("risk_rank")["declaration_id"].iloc[0])
    mask = declarations["declaration_id"].astype(str) == hostile_id
    declarations["goods_description"] = declarations["goods_description"].astype(object)
    declarations.loc[mask, "goods_description"] = HOSTILE
    declarations.to_parquet(batch / "declarations.parquet", index=False)
    out = tmp_path_factory.mktemp("scoring") / "scores"
    scores = score(batch, out)
    hostile_channel = scores.loc[scores["declaration_id"] == hostile_id, "channel"].tolist()
    assert hostile_channel == ["red"], hostile_channel
    return Scored(
        model_uri=model_uri,
        tracking_uri=tracking_uri,
        scores_dir=out,
        hostile_id=hostile_id,
        hostile=HOSTILE,
        red=int((scores["channel"] == "red").sum()),
    )
