"""Channels: budget, officer rules and exploration combine as documented; seeded; rules files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskmodel.errors import UsageError
from riskmodel.scoring.channels import assign_channels, load_officer_rules, round_half_up


def _order(n: int) -> np.ndarray:
    return np.arange(n)  # row i is the i-th riskiest


def _ids(n: int) -> np.ndarray:
    return np.asarray([f"D{i:05d}" for i in range(n)], dtype=object)


def test_budget_and_yellow_band_by_risk() -> None:
    hits = np.full(100, None, dtype=object)
    got = assign_channels(
        _order(100), hits, ids=_ids(100), budget=0.05, yellow_budget=0.10, exploration=0.0, seed=0
    )
    assert list(got.channel[:5]) == ["red"] * 5
    assert list(got.channel[5:15]) == ["yellow"] * 10
    assert set(got.channel[15:]) == {"green"}
    assert set(got.selected_by[:15]) == {"model"}
    assert set(got.selected_by[15:]) == {None}


def test_rules_count_against_the_red_budget_first() -> None:
    hits = np.full(100, None, dtype=object)
    hits[[50, 60]] = "watchlist"
    got = assign_channels(
        _order(100), hits, ids=_ids(100), budget=0.05, yellow_budget=0.0, exploration=0.0, seed=0
    )
    red = np.flatnonzero(got.channel == "red")
    assert list(red) == [0, 1, 2, 50, 60]  # 5 slots: 2 rules + the 3 riskiest
    assert got.selected_by[50] == "rule:watchlist"
    assert got.selected_by[2] == "model"


def test_rules_beyond_the_budget_are_all_red_and_nothing_else() -> None:
    hits = np.full(20, None, dtype=object)
    hits[10:14] = "hot-corridor"
    got = assign_channels(
        _order(20), hits, ids=_ids(20), budget=0.1, yellow_budget=0.1, exploration=0.5, seed=0
    )
    assert list(np.flatnonzero(got.channel == "red")) == [10, 11, 12, 13]
    assert list(np.flatnonzero(got.channel == "yellow")) == [0, 1]


def test_exploration_reserves_part_of_the_red_budget_and_is_seeded() -> None:
    n = 1000
    hits = np.full(n, None, dtype=object)
    kwargs = dict(budget=0.05, yellow_budget=0.05, exploration=0.2)
    a = assign_channels(_order(n), hits, ids=_ids(n), seed=7, **kwargs)
    b = assign_channels(_order(n), hits, ids=_ids(n), seed=7, **kwargs)
    c = assign_channels(_order(n), hits, ids=_ids(n), seed=8, **kwargs)
    assert int((a.channel == "red").sum()) == 50
    explored = np.flatnonzero(a.selected_by == "exploration")
    assert len(explored) == round_half_up(0.2 * 50) == 10
    assert list(np.flatnonzero(a.selected_by == "model")[:40]) == list(range(40))
    assert np.all(explored >= 40)  # drawn from the rest, never the model's own picks
    assert np.array_equal(a.channel, b.channel) and np.array_equal(a.selected_by, b.selected_by)
    assert not np.array_equal(a.selected_by, c.selected_by)
    # yellow continues the risk order among rows not red
    yellow = np.flatnonzero(a.channel == "yellow")
    assert len(yellow) == 50 and yellow[0] == 40


_EXPLORE = dict(budget=0.05, yellow_budget=0.05, exploration=0.2)


def _explored(ids: np.ndarray, order: np.ndarray, seed: int) -> set[str]:
    hits = np.full(len(ids), None, dtype=object)
    got = assign_channels(order, hits, ids=ids, seed=seed, **_EXPLORE)  # type: ignore[arg-type]
    return set(ids[got.selected_by == "exploration"])


def test_exploration_draw_depends_on_the_ids_not_on_the_row_order() -> None:
    n = 1000
    ids = _ids(n)
    explored = _explored(ids, _order(n), seed=7)
    assert len(explored) == 10
    for shuffle in range(3):
        perm = np.random.default_rng(shuffle).permutation(n)  # shuffled row j is row perm[j]
        # the same risk order, now at the shuffled positions
        assert _explored(ids[perm], np.argsort(perm), seed=7) == explored
    assert _explored(ids, _order(n), seed=7) == explored
    draws = [frozenset(_explored(ids, _order(n), seed=s)) for s in range(5)]
    assert len(set(draws)) == 5  # another seed, another draw


def test_exploration_draw_is_the_same_in_another_process() -> None:
    code = (
        "import numpy as np\n"
        "from riskmodel.scoring.channels import assign_channels\n"
        "ids = np.asarray([f'D{i:05d}' for i in range(1000)], dtype=object)\n"
        "got = assign_channels(np.arange(1000), np.full(1000, None, dtype=object), ids=ids,\n"
        "    seed=7, budget=0.05, yellow_budget=0.05, exploration=0.2)\n"
        "print(' '.join(sorted(ids[got.selected_by == 'exploration'])))\n"
    )
    seen = set()
    for hash_seed in ("1", "2"):  # Python's own str hash differs between these processes
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        run = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        seen.add(run.stdout.strip())
    assert seen == {" ".join(sorted(_explored(_ids(1000), _order(1000), seed=7)))}


def test_bad_budgets_are_usage_errors() -> None:
    hits = np.full(3, None, dtype=object)
    with pytest.raises(UsageError, match="--budget"):
        assign_channels(
            _order(3), hits, ids=_ids(3), budget=1.5, yellow_budget=0, exploration=0, seed=0
        )
    with pytest.raises(UsageError, match="at most 1"):
        assign_channels(
            _order(3), hits, ids=_ids(3), budget=0.6, yellow_budget=0.6, exploration=0, seed=0
        )


def test_rules_file_matches_all_conditions_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        """
[[rule]]
name = "bananas-ec"
hs_prefix = ["0803"]
origin_country = "EC"

[[rule]]
name = "watchlist"
importer_id = ["IMP1", "IMP2"]
""",
        encoding="utf-8",
    )
    rules = load_officer_rules(path)
    frame = pd.DataFrame(
        {
            "importer_id": ["IMP1", "IMP9", "IMP2", "IMP9"],
            "hs_code": ["080390", "080390", "090111", "080390"],
            "origin_country": ["EC", "EC", "CO", "CO"],
        },
        dtype="str",
    )
    assert rules.first_match(frame).tolist() == ["bananas-ec", "bananas-ec", "watchlist", None]
    assert rules.sha256 is not None and len(rules.sha256) == 64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[rule]]\nname = "a"\nimporter = ["X"]\n', "unknown key"),
        ('[[rule]]\nname = "a"\n', "no condition"),
        ('[[rule]]\nimporter_id = ["X"]\n', "'name'"),
        ('[[rule]]\nname = "a"\nimporter_id = []\n', "non-empty list"),
        (
            '[[rule]]\nname = "a"\nimporter_id = "X"\n[[rule]]\nname = "a"\nimporter_id = "Y"\n',
            "earlier rule",
        ),
        ("[rules]\n", "unknown key"),
        ("not toml = = \n", "cannot read"),
    ],
)
def test_bad_rules_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        load_officer_rules(path)
