"""Scale benchmark: the point-in-time training table for 1M declarations with legs and flags.

The world is generated once in a child process and written to a temporary folder; a second
child process reads it and builds the table and reports its own peak RSS (the frames it reads
plus the build). Prints the build's wall time and that peak.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

N_DECLARATIONS = 1_000_000
MAX_SECONDS = 180.0
MAX_PEAK_GB = 6.0

_BUILD = """
import json, resource, sys, time
from pathlib import Path
import pandas as pd
from features.sources import Sources
from features.table import build_table

data = Path(sys.argv[1])
frames = {n: pd.read_parquet(data / f"{n}.parquet")
          for n in ("declarations", "labels", "financial_flags", "route_legs", "ports")}
started = time.perf_counter()
table = build_table(Sources(**frames))
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "rows": len(table),
                  "features": len(table.attrs["feature_names"]),
                  "legs": len(frames["route_legs"]), "flags": len(frames["financial_flags"]),
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


@pytest.mark.bench
def test_bench_features_one_million(tmp_path: Path) -> None:
    out = tmp_path / "world"
    generate = (
        "from pathlib import Path; from riskmodel.world import generate_world, write_world; "
        f"write_world(generate_world(n_declarations={N_DECLARATIONS}, seed=1), Path({str(out)!r}))"
    )
    subprocess.run([sys.executable, "-c", generate], check=True)
    done = subprocess.run(
        [sys.executable, "-c", _BUILD, str(out)], check=True, capture_output=True, text=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    peak_gb = result["peak_kib"] / 1024**2  # ru_maxrss is KiB on Linux
    print(
        f"\nfeatures for {result['rows']:,} declarations ({result['legs']:,} legs, "
        f"{result['flags']:,} flags, {result['features']} features): "
        f"{result['seconds']:.1f} s, peak RSS {peak_gb:.2f} GB (reading included)"
    )
    assert result["rows"] == N_DECLARATIONS
    assert result["seconds"] < MAX_SECONDS
    assert peak_gb < MAX_PEAK_GB
