"""Scale benchmark: generate and write a 1M-declaration world; print wall time and peak RSS."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

N_DECLARATIONS = 1_000_000
MAX_SECONDS = 60.0  # issue 8: 1M declarations under a minute
MAX_PEAK_GB = 4.0


@pytest.mark.bench
def test_bench_sample_one_million(tmp_path: Path) -> None:
    out = tmp_path / "world"
    code = (
        "import resource; from pathlib import Path; "
        "from riskmodel.world import generate_world, write_world; "
        f"world = generate_world(n_declarations={N_DECLARATIONS}, seed=1); "
        f"write_world(world, Path({str(out)!r})); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    seconds = time.perf_counter() - started
    # the child's own peak: RUSAGE_CHILDREN would be the largest of every earlier child
    peak_gb = int(done.stdout.decode().split()[-1]) / 1024**2  # ru_maxrss is KiB on Linux
    size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1024**2
    print(
        f"\nsample {N_DECLARATIONS:,} declarations: {seconds:.1f} s, peak RSS {peak_gb:.2f} GB, "
        f"{size_mb:.0f} MB on disk"
    )
    assert (out / "declarations.parquet").exists()
    assert seconds < MAX_SECONDS
    assert peak_gb < MAX_PEAK_GB
