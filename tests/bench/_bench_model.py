"""The scoring benchmarks' model, as a script prefix run in a child process.

``TRAIN_MODEL % {"world": N}`` generates a world of N declarations (seed 21, 365 days) under
``sys.argv[1]``/world, builds its point-in-time table, fits the bench model (300 rounds at
most, 31 leaves, early stopping on 60 validation days) and saves it to ``sys.argv[1]``/model
with its drift reference. It leaves ``root``, ``sources``, ``table``, ``pipeline`` and
``model`` defined for the script that follows it.
"""

TRAIN_MODEL = """
import sys
from pathlib import Path
from features.io import read_sources
from features.table import FeaturePipeline, build_table
from riskmodel.config import parse_config
from riskmodel.split import make_split
from riskmodel.train import fit_model
from riskmodel.world import generate_world, write_world

root = Path(sys.argv[1])
world = root / "world"
write_world(generate_world(n_declarations=%(world)d, seed=21, days=365), world)
sources = read_sources(world).sources
table = build_table(sources)
config = parse_config({"data": {"path": str(world)},
    "split": {"valid_days": 60, "test_days": 30, "label_delay_days": 14},
    "model": {"num_boost_round": 300, "early_stopping_rounds": 300, "num_leaves": 31}})
split = make_split(table, config.split)
pipeline = FeaturePipeline().fit(sources)
model = fit_model(table, config=config, split=split, pipeline=pipeline).fit_drift_reference(table)
model.save(root / "model")
"""
