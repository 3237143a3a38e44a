"""Scale benchmark: generate and write a 1M-declaration world; print wall time and peak RSS."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

N_DECLARATIONS = 1_000_000
MAX_SECONDS = 120.0
MAX_PEAK_GB = 4.0


@pytest.mark.bench
def test_bench_sample_one_million(tmp_path: Path) -> None:
    out = tmp_path / "world"
    code = (
        "from pathlib import Path; from riskmodel.world import generate_world, write_world; "
        f"write_world(generate_world(n_declarations={N_DECLARATIONS}, seed=1), Path({str(out)!r}))"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    seconds = time.perf_counter() - started
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2  # KiB on Linux
    size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1024**2
    print(
        f"\nsample {N_DECLARATIONS:,} declarations: {seconds:.1f} s, peak RSS {peak_gb:.2f} GB, "
        f"{size_mb:.0f} MB on disk"
    )
    assert (out / "declarations.parquet").exists()
    assert seconds < MAX_SECONDS
    assert peak_gb < MAX_PEAK_GB
