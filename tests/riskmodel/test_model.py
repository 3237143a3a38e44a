"""RiskModel: save/load round trip gives identical scores; broken folders and inputs are
ModelErrors naming the path or the columns."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.sources import Sources
from riskmodel.config import parse_config
from riskmodel.errors import ModelError
from riskmodel.model import RiskModel
from riskmodel.split import make_split
from riskmodel.train import fit_model


@dataclass(frozen=True)
class Saved:
    model: RiskModel
    folder: Path
    table: pd.DataFrame
    future: Sources


@pytest.fixture(scope="module")
def saved(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Saved:
    from features.io import read_sources
    from features.table import FeaturePipeline, build_table

    sources = read_sources(small_world).sources
    table = build_table(sources)
    config = parse_config(
        {
            "data": {"path": str(small_world)},
            "split": {"valid_days": 60, "test_days": 60, "label_delay_days": 14},
            "model": {"num_boost_round": 60, "early_stopping_rounds": 10, "num_leaves": 15},
            "training": {"calibration": "isotonic"},
        }
    )
    split = make_split(table, config.split)
    pipeline = FeaturePipeline().fit(sources, cutoff=split.train_cutoff)
    model = fit_model(table, config=config, split=split, pipeline=pipeline)
    folder = tmp_path_factory.mktemp("model") / "risk_model"
    model.save(folder)
    declarations = sources.declarations
    later = declarations[(declarations["declared_at"] >= split.train_cutoff).to_numpy(dtype=bool)]
    future = dataclasses.replace(sources, declarations=later.reset_index(drop=True))
    return Saved(model, folder, table, future)


def test_round_trip_identical_predictions(saved: Saved) -> None:
    loaded = RiskModel.load(saved.folder)
    assert np.array_equal(loaded.predict_table(saved.table), saved.model.predict_table(saved.table))
    before = saved.model.predict(saved.future)
    after = loaded.predict(saved.future)
    pd.testing.assert_frame_equal(before, after)
    assert before["risk_score"].between(0, 1).all()
    assert loaded.meta["feature_names"] == saved.model.feature_names


def test_raw_declarations_score_as_in_the_training_table(saved: Saved) -> None:
    """A raw declaration after the cutoff scores as in the training table of the fitted
    history plus that declaration alone (the rest of its batch never counts)."""
    from features.table import build_table

    scored = saved.model.predict(saved.future)
    state = saved.model.pipeline.state_
    future = saved.future
    for i in (0, len(future.declarations) // 2, len(future.declarations) - 1):
        row = future.declarations.iloc[[i]]
        legs = state.route_legs
        if legs is not None and future.route_legs is not None:
            own = future.route_legs[future.route_legs["declaration_id"].isin(row["declaration_id"])]
            legs = pd.concat([legs, own], ignore_index=True)
        table = build_table(
            dataclasses.replace(
                state,
                declarations=pd.concat([state.declarations, row], ignore_index=True),
                route_legs=legs,
            )
        )
        expected = saved.model.predict_table(table.tail(1))
        assert scored["risk_score"].iloc[i] == pytest.approx(expected[0], abs=1e-12)


def test_saved_folder_has_no_pickles(saved: Saved) -> None:
    names = {p.name for p in saved.folder.iterdir()}
    assert {"feature_state", "model.txt", "calibrator.json", "meta.json"} <= names
    assert not list(saved.folder.rglob("*.pkl")) and not list(saved.folder.rglob("*.pickle"))


def test_refuses_non_empty_folder(saved: Saved) -> None:
    with pytest.raises(ModelError, match="non-empty"):
        saved.model.save(saved.folder)


@pytest.mark.parametrize("part", ["model.txt", "meta.json", "calibrator.json"])
def test_missing_or_corrupt_part(saved: Saved, tmp_path: Path, part: str) -> None:
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(saved.folder, copy)
    (copy / part).unlink()
    with pytest.raises(ModelError, match=part):
        RiskModel.load(copy)
    (copy / part).write_text("{ not what was saved", encoding="utf-8")
    with pytest.raises(ModelError, match=part):
        RiskModel.load(copy)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        RiskModel.load(tmp_path / "nowhere")


def test_missing_feature_column_is_named(saved: Saved) -> None:
    name = saved.model.feature_names[0]
    with pytest.raises(ModelError, match=name):
        saved.model.predict_table(saved.table.drop(columns=[name]))


def test_a_renamed_feature_is_named_not_both_lists(saved: Saved, tmp_path: Path) -> None:
    import json
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(saved.folder, copy)
    meta = json.loads((copy / "meta.json").read_text(encoding="utf-8"))
    first = meta["feature_names"][0]
    meta["feature_names"][0] = "renamed_feature"
    (copy / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelError) as caught:
        RiskModel.load(copy)
    message = str(caught.value)
    assert f"only in model.txt ['{first}']" in message
    assert "only in meta.json ['renamed_feature']" in message
    assert len(message) < 400
