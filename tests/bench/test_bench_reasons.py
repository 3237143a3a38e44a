"""Benchmark of scoring reasons: exact SHAP for 50,000 rows, numba TreeSHAP vs LightGBM.

The scoring bench model (tests/bench/test_bench_score.py): a generated world of 30k
declarations (seed 21), 300 rounds, 31 leaves, no MLflow. 50,000 rows are drawn (seeded, with
replacement) from that world's point-in-time table. Each measurement runs in a child process
with its own empty numba cache directory, so the first child pays the compilation and the
second loads it from the cache. Prints, per child: numba's first-call time (compile or cache
load), model parsing, rows/s of ``pred_contrib`` and of the numba TreeSHAP back to back
(twice), their largest difference, ``top_reasons`` time, and the machine load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _bench_model import TRAIN_MODEL

N_ROWS = 50_000
WORLD = 30_000

_PREPARE = (
    TRAIN_MODEL
    + """
table.attrs = {}
table.to_parquet(root / "table.parquet")
"""
)

_MEASURE = """
import json, os, sys, time
from pathlib import Path
import numpy as np, pandas as pd
from riskmodel.model import RiskModel
from riskmodel.scoring import treeshap
from riskmodel.scoring.reasons import contributions, top_reasons

root, n = Path(sys.argv[1]), int(sys.argv[2])
model = RiskModel.load(root / "model")
table = pd.read_parquet(root / "table.parquet")
frame = table.sample(n, replace=True, random_state=0).reset_index(drop=True)
started = time.perf_counter()
compiled = treeshap.compile_booster(model.booster)
parse_s = time.perf_counter() - started
started = time.perf_counter()
contributions(model, frame.head(1))
first_s = time.perf_counter() - started
runs = []
for _ in range(2):
    started = time.perf_counter()
    reference = contributions(model, frame, engine="lightgbm")
    lightgbm_s = time.perf_counter() - started
    started = time.perf_counter()
    fast = contributions(model, frame)
    numba_s = time.perf_counter() - started
    diff = float(np.max(np.abs(fast.values.to_numpy() - reference.values.to_numpy())))
    runs.append({"lightgbm_s": lightgbm_s, "numba_s": numba_s, "max_abs_diff": diff})
started = time.perf_counter()
reasons = top_reasons(fast, frame, k=3)
reasons_s = time.perf_counter() - started
tabled = int((compiled.leaf_table >= 0).sum())
print(json.dumps({"parse_s": parse_s, "first_s": first_s, "runs": runs,
                  "top_reasons_s": reasons_s, "rows": len(reasons),
                  "trees": int(compiled.tree_root.size), "leaves": int(compiled.leaf_value.size),
                  "tabled_leaves": tabled, "table_values": int(compiled.tables.size),
                  "load": os.getloadavg()[0]}))
"""


def _child(root: Path, cache: Path) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(root), str(N_ROWS)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.bench
def test_bench_reasons_fifty_thousand_rows(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-c", _PREPARE % {"world": WORLD}, str(tmp_path)], check=True)
    cache = tmp_path / "numba-cache"
    cache.mkdir()
    cold = _child(tmp_path, cache)
    warm = _child(tmp_path, cache)
    print(
        f"\nreasons bench: {cold['trees']} trees, {cold['leaves']} leaves "
        f"({cold['tabled_leaves']} with a table, {cold['table_values']:,} table values), "
        f"{N_ROWS:,} rows (world {WORLD:,}, seed 21)"
    )
    for label, run in (("first process (compiles)", cold), ("second process (cache)", warm)):
        print(
            f"  {label}: first call {run['first_s']:.2f} s, parse {run['parse_s']:.2f} s, "
            f"load average {run['load']:.2f}"
        )
        for r in run["runs"]:
            print(
                f"    pred_contrib {r['lightgbm_s']:.2f} s ({N_ROWS / r['lightgbm_s']:,.0f} rows/s)"
                f" | numba TreeSHAP {r['numba_s']:.2f} s ({N_ROWS / r['numba_s']:,.0f} rows/s)"
                f" | x{r['lightgbm_s'] / r['numba_s']:.1f} | max |diff| {r['max_abs_diff']:.2g}"
            )
        print(f"    top_reasons (k=3): {run['top_reasons_s']:.2f} s")
    for run in (cold, warm):
        assert run["rows"] == N_ROWS
        assert all(r["max_abs_diff"] <= 1e-9 for r in run["runs"])
