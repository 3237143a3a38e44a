"""Legacy rule sets: TOML round trip, errors that name the key, scoring worked by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskmodel.errors import ConfigError
from riskmodel.rules import Condition, Rule, RuleSet, dump_rules, load_rules

RULES = RuleSet(
    (
        Rule("andean", 2.0, (Condition("origin_country", "in", values=("CO", "EC")),)),
        Rule(
            "cheap_cover",
            1.5,
            (
                Condition("hs_code", "prefix", values=("0803", "0901")),
                Condition("value_per_kg", "max", bound=1.0),
            ),
            'cheap "cover" loads',
        ),
        Rule("heavy", 0.5, (Condition("gross_weight_kg", "min", bound=20_000.0),)),
    )
)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "origin_country": ["CO", "EC", "CN", None],
            "hs_code": ["08039010", "09011100", "08039010", "61091000"],
            "gross_weight_kg": [20_000.0, 1_000.0, 0.0, 25_000.0],
            "declared_value_usd": [10_000.0, 5_000.0, 100.0, 1_000.0],
        },
        index=[10, 11, 12, 13],
    )


def test_score_adds_points_of_rules_that_fire() -> None:
    # row 10: andean 2 + cover (0.5 USD/kg) 1.5 + heavy 0.5 = 4.0
    # row 11: andean 2; 5 USD/kg is not cheap; light             = 2.0
    # row 12: zero weight -> value_per_kg unknown -> no cover    = 0.0
    # row 13: null origin; not a cover code; heavy               = 0.5
    score = RULES.score(_frame())
    assert list(score.index) == [10, 11, 12, 13]
    assert score.dtype == "float64"
    assert score.tolist() == [4.0, 2.0, 0.0, 0.5]


def test_missing_column_scores_zero_for_that_rule() -> None:
    frame = _frame().drop(columns=["declared_value_usd"])
    assert RULES.score(frame).tolist() == [2.5, 2.0, 0.0, 0.5]
    assert RULES.score(frame.iloc[:0]).empty


def test_fired_names_each_rule() -> None:
    fired = RULES.fired(_frame())
    assert list(fired.columns) == ["andean", "cheap_cover", "heavy"]
    assert fired.loc[10].tolist() == [True, True, True]
    assert fired.loc[12].tolist() == [False, False, False]


def test_round_trip_through_toml(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    dump_rules(RULES, path)
    assert load_rules(path) == RULES
    assert "[[rule]]" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[rule]]\nname = "a"\npoints = 1\norigin = ["CO"]\n', "unknown key 'origin'"),
        ('[[rule]]\nname = "a"\npoints = 1\nvalue_per_kg_prefix = ["1"]\n', "value_per_kg_prefix"),
        ('[[rule]]\nname = "a"\npoints = 1\nhs_code_max = 3\n', "unknown key 'hs_code_max'"),
        ('[[rule]]\nname = "a"\norigin_country = ["CO"]\n', "missing key 'points'"),
        (
            '[[rule]]\nname = "a"\npoints = "x"\norigin_country = ["CO"]\n',
            "'points' must be a number",
        ),
        ('[[rule]]\nname = "a"\npoints = 1\norigin_country = "CO"\n', "list of strings"),
        ('[[rule]]\nname = "a"\npoints = 1\n', "at least one condition"),
        ("version = 2\n", "unknown top-level key 'version'"),
        (
            '[[rule]]\nname = "a"\npoints = 1\nquantity_min = 1\n[[rule]]\nname = "a"\npoints = 1\n'
            "quantity_min = 2\n",
            "duplicate rule name",
        ),
        ("[[rule]\n", "not valid TOML"),
    ],
)
def test_bad_rules_file_names_the_problem(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_rules(path)
    assert str(path) in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path / "absent.toml")


def test_scoring_is_vectorised_and_matches_fired_points() -> None:
    rng = np.random.default_rng(0)
    n = 5_000
    frame = pd.DataFrame(
        {
            "origin_country": rng.choice(["CO", "EC", "CN"], n),
            "hs_code": rng.choice(["08039010", "61091000"], n),
            "gross_weight_kg": rng.uniform(0, 30_000, n),
            "declared_value_usd": rng.uniform(0, 30_000, n),
        }
    )
    points = np.array([r.points for r in RULES.rules])
    expected = RULES.fired(frame).to_numpy(dtype=float) @ points
    assert np.allclose(RULES.score(frame).to_numpy(), expected)
