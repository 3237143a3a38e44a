"""Experiment config: valid files load into frozen objects; bad keys and types name the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from riskmodel.config import config_to_toml, load_config, write_config
from riskmodel.errors import ConfigError

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"

GOOD = """
[data]
path = "data/sample"

[split]
valid_start = "2021-01-01"
test_start = 2021-04-01
label_delay_days = 14

[features]
exclude = ["financial"]

[model]
learning_rate = 0.1
num_leaves = 15
num_boost_round = 50

[training]
selection = "none"

[tracking]
experiment = "exp"
register_as = ""
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "x.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_loads_typed_and_frozen(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.data.path == Path("data/sample")
    assert cfg.split.valid_start == pd.Timestamp("2021-01-01")
    assert cfg.split.test_start == pd.Timestamp("2021-04-01")
    assert cfg.features.exclude == ("financial",)
    assert cfg.model.params["learning_rate"] == 0.1
    assert cfg.model.params["num_threads"] == 2  # default kept
    assert cfg.model.num_boost_round == 50
    assert cfg.training.selection == "none"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.data = cfg.data  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[data]\npath="d"\n[model]\nlearnin_rate = 0.1\n', "[model] unknown key 'learnin_rate'"),
        ('[data]\npath="d"\n[model]\nnum_leaves = "31"\n', "'num_leaves' must be int"),
        ('[data]\npath="d"\n[model]\nnum_leaves = 1.5\n', "'num_leaves' must be int"),
        ('[data]\npath="d"\n[model]\nlearning_rate = -1\n', "'learning_rate' must be >"),
        ('[data]\npath="d"\n[model]\nbagging_fraction = 1.5\n', "'bagging_fraction' must be <="),
        ('[data]\npath="d"\n[datta]\nx = 1\n', "unknown section [datta]"),
        ('[data]\npth="d"\n', "[data] unknown key 'pth'"),
        ("[split]\ntest_days = 10\n", "missing section [data]"),
        ('[data]\npath="d"\n[split]\nvalid_days = 10\ntest_dayz = 3\n', "unknown key 'test_dayz'"),
        (
            '[data]\npath="d"\n[split]\nvalid_days = 1\ntest_days = 1\ntest_start = "2021-01-01"\n',
            "either 'test_start' or 'test_days'",
        ),
        ('[data]\npath="d"\n[split]\nvalid_days=1\ntest_start = "21-1-1"\n', "'test_start'"),
        ('[data]\npath="d"\n[split]\nvalid_days = true\ntest_days=1\n', "'valid_days' must be"),
        ('[data]\npath="d"\n[features]\nexclude = "routes"\n', "'exclude' must be a list"),
        ('[data]\npath="d"\n[training]\nselection = "magic"\n', "'selection' must be one of"),
        ('[data]\npath="d"\n[training]\nrefit = "yes"\n', "'refit' must be bool"),
        ('[data]\npath="d"\n[tracking]\nexperiment = 3\n', "'experiment' must be str"),
        ('[data]\npath = "d"\n[model\n', "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert needle in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")


def test_round_trip_through_toml(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD)).with_overrides(params={"lambda_l1": 0.5})
    out = tmp_path / "tuned.toml"
    write_config(cfg, out)
    again = load_config(out)
    assert again.to_dict() == cfg.to_dict()
    assert config_to_toml(again) == config_to_toml(cfg)


def test_overrides_replace_paths_and_check_params(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    other = cfg.with_overrides(data=Path("elsewhere"), mapping="m.toml")
    assert other.data.path == Path("elsewhere")
    assert other.data.mapping == Path("m.toml")
    assert cfg.data.path == Path("data/sample")
    with pytest.raises(ConfigError, match="unknown key 'num_leafs'"):
        cfg.with_overrides(params={"num_leafs": 3})


def test_split_defaults_to_day_counts(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[data]\npath = "d"\n[split]\ntest_start = "2021-04-01"\n'))
    assert cfg.split.valid_days == 120
    assert cfg.split.test_days is None


@pytest.mark.parametrize("name", ["baseline", "no_financial", "no_routes", "no_profiles", "bacuda"])
def test_committed_experiments_load(name: str) -> None:
    cfg = load_config(EXPERIMENTS / f"{name}.toml")
    assert cfg.split.test_days is not None  # day counts: trains on any generated world


@pytest.mark.parametrize("name", ["no_financial", "no_routes", "no_profiles"])
def test_ablations_remove_their_groups(name: str) -> None:
    """The pipeline accepts each ablation's exclusions and the table really lacks them."""
    from features.io import read_sources
    from features.table import build_table

    cfg = load_config(EXPERIMENTS / f"{name}.toml")
    assert cfg.features.exclude
    sample = read_sources(EXPERIMENTS.parent / "data" / "sample").sources
    table = build_table(sample, exclude=cfg.features.exclude)
    for group in cfg.features.exclude:
        assert table.attrs["groups_absent"][group] == "excluded"
