"""Shared fixtures: one small seeded synthetic world, in memory and written to disk.

Session-scoped so every test module reuses the same world; small (4,000 declarations) so it
is generated in well under a second. Named ``seeded_world*`` so they do not clash with
fixtures of narrower conftest files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from riskmodel.world import World, generate_world, write_world

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
