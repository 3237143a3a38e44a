"""Shared fixtures and the property-test budget.

Fixtures: one small seeded synthetic world, in memory and written to disk. Session-scoped so
every test module reuses the same world; small (4,000 declarations) so it is generated in well
under a second. Named ``seeded_world*`` so they do not clash with fixtures of narrower conftest
files.

Property tests (hypothesis) run under the ``riskmodel`` settings profile: each example has a
deadline (:data:`PROPERTY_EXAMPLE_DEADLINE`, about three times the slowest example measured on
the shared 2-core machine under load), and each property test as a whole a timeout
(:data:`PROPERTY_TEST_TIMEOUT_S`, shrinking included), so a failing property reports within
minutes instead of shrinking for many. ``HYPOTHESIS_PROFILE=<name>`` picks another registered
profile.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import settings

from riskmodel.world import World, generate_world, write_world

PROPERTY_EXAMPLE_DEADLINE = timedelta(seconds=10)
PROPERTY_TEST_TIMEOUT_S = 180

settings.register_profile("riskmodel", deadline=PROPERTY_EXAMPLE_DEADLINE, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "riskmodel"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every property test a whole-test timeout unless it sets its own."""
    for item in items:
        test = getattr(item, "obj", None)
        if (
            getattr(test, "is_hypothesis_test", False)
            and item.get_closest_marker("timeout") is None
        ):
            item.add_marker(pytest.mark.timeout(PROPERTY_TEST_TIMEOUT_S))


SEEDED_WORLD_SIZE = 4_000
SEEDED_WORLD_SEED = 3


@pytest.fixture(scope="session")
def seeded_world() -> World:
    """A small generated world (4,000 declarations, seed 3), in memory."""
    return generate_world(n_declarations=SEEDED_WORLD_SIZE, seed=SEEDED_WORLD_SEED)


@pytest.fixture(scope="session")
def seeded_world_dir(seeded_world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same world written as a DATA directory (sources, rules.toml, truth/)."""
    out = tmp_path_factory.mktemp("seeded-world") / "data"
    write_world(seeded_world, out)
    return out
