"""Every refusal a user can reach is a domain error with its documented exit code.

Library-level checks of refusals that used to escape as a bare ``ValueError`` or
``MlflowException`` (the command-level ones are in tests/test_cli.py), and the property-test
budget that keeps a failing property from shrinking for minutes.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from riskmodel.calibrate import Calibrator
from riskmodel.errors import ConfigError, UsageError
from riskmodel.tracking import check_alias

TESTS = Path(__file__).resolve().parents[1]
MAX_EXAMPLE_DEADLINE = timedelta(seconds=30)
MAX_PROPERTY_TEST_S = 300


@pytest.mark.parametrize("outcome", [0.0, 1.0])
def test_calibration_on_one_outcome_is_a_config_error(outcome: float) -> None:
    with pytest.raises(ConfigError, match=r"\[split\] calibration needs both outcomes") as info:
        Calibrator(method="platt").fit(np.linspace(-1, 1, 8), np.full(8, outcome))
    assert info.value.exit_code == 2


def test_an_unknown_calibration_method_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'sigmoid'") as info:
        Calibrator(method="sigmoid").fit(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    "alias", ["champion", "challenger-2", "Prod_1", "v2a", "latest2", "x" * 255]
)
def test_aliases_mlflow_can_hold_are_accepted(alias: str) -> None:
    assert check_alias(alias) == alias


@pytest.mark.parametrize(
    ("alias", "reason"),
    [
        ("latest", "reserved"),
        ("Latest", "reserved"),
        ("v2", "reserved"),
        ("V10", "reserved"),
        ("bad alias", "letters, digits"),
        ("a/b", "letters, digits"),
        ("", "empty"),
        ("x" * 256, "at most 255"),
    ],
)
def test_aliases_mlflow_refuses_are_usage_errors(alias: str, reason: str) -> None:
    with pytest.raises(UsageError, match=reason) as info:
        check_alias(alias)
    assert type(info.value) is UsageError and info.value.exit_code == 2


def test_property_tests_run_under_a_deadline() -> None:
    """The settings profile of tests/conftest.py is loaded and no test switches it off."""
    from hypothesis import settings

    deadline = settings.default.deadline
    assert deadline is not None and deadline <= MAX_EXAMPLE_DEADLINE
    overriding = [
        path.relative_to(TESTS).as_posix()
        for path in TESTS.rglob("*.py")
        if path != Path(__file__).resolve()
        and "deadline=None" in path.read_text(encoding="utf-8").replace(" ", "")
    ]
    assert overriding == [], "these property tests switch the deadline off"


def test_property_tests_have_a_whole_test_timeout(request: pytest.FixtureRequest) -> None:
    """Every collected property test carries a timeout that bounds its shrinking too."""
    property_tests = [
        item
        for item in request.session.items
        if getattr(getattr(item, "obj", None), "is_hypothesis_test", False)
    ]
    for item in property_tests:
        marker = item.get_closest_marker("timeout")
        assert marker is not None and marker.args[0] <= MAX_PROPERTY_TEST_S, item.nodeid
