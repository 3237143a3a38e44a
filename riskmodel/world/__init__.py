"""The synthetic drug-trafficking world behind ``riskmodel sample``.

``generate_world`` draws a seeded world in memory; ``write_world`` writes it (sources,
``rules.toml`` and ``truth/``) with byte-identical output for the same seed;
``write_foreign_layout`` writes the inspected declarations in a BACUDA-style layout.
"""

from __future__ import annotations

from riskmodel.world.generate import World, generate_world
from riskmodel.world.write import foreign_layout, write_foreign_layout, write_world

__all__ = ["World", "foreign_layout", "generate_world", "write_foreign_layout", "write_world"]
