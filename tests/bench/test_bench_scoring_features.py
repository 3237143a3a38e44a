"""Scale benchmark: scoring features per chunk cost in proportion to the chunk, not the history.

A child process generates a world, fits the feature pipeline on its first 80 % of days, then
transforms the remaining declarations and a synthetic batch (the later declarations resampled
with new ids, their own legs copied) in chunks of 100k, printing rows/s per chunk. The same
is done with a world five times larger, so the chunk times can be compared for a history of
~160k and of ~800k declarations. The first transform also builds the history's per-key
indexes (once per fitted pipeline); that build is timed on its own.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CHUNK = 100_000
SYNTHETIC = 1_000_000
MIN_ROWS_PER_SECOND = 60_000

_RUN = """
import json, resource, sys, tempfile, time
from pathlib import Path
from types import SimpleNamespace
import numpy as np
import pandas as pd
from features.sources import Sources
from features.table import FeaturePipeline
from riskmodel.world import generate_world, write_world

n, synthetic, chunk = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
with tempfile.TemporaryDirectory() as tmp:
    write_world(generate_world(n_declarations=n, seed=2026), Path(tmp))
    s = SimpleNamespace(**{name: pd.read_parquet(Path(tmp) / f"{name}.parquet") for name in
                           ("declarations", "labels", "financial_flags", "route_legs", "ports")})
decl = s.declarations
first, last = decl["declared_at"].min(), decl["declared_at"].max()
cutoff = first + (last - first) * 0.8
past = decl[decl["declared_at"] < cutoff]
ids = set(past["declaration_id"])
history = Sources(
    declarations=past,
    labels=s.labels[s.labels["declaration_id"].isin(ids) & (s.labels["inspected_at"] < cutoff)],
    financial_flags=s.financial_flags[s.financial_flags["flagged_at"] < cutoff],
    route_legs=s.route_legs[s.route_legs["declaration_id"].isin(ids)],
    ports=s.ports,
)
started = time.perf_counter()
pipeline = FeaturePipeline().fit(history, cutoff=cutoff)
fit_s = time.perf_counter() - started
later = decl[decl["declared_at"] >= cutoff].reset_index(drop=True)
rng = np.random.default_rng(7)
pick = rng.integers(0, len(later), synthetic)
fake = later.iloc[pick].reset_index(drop=True)
fake["declaration_id"] = pd.Series([f"S{i:08d}" for i in range(synthetic)], dtype="str")
offset = pd.to_timedelta(rng.integers(0, 30 * 86400, synthetic), "s")
fake["declared_at"] = (cutoff + offset).astype("datetime64[us]")
legs = s.route_legs
own = legs[legs["declaration_id"].isin(set(later["declaration_id"]))]
source_of = pd.DataFrame({"declaration_id": later["declaration_id"].to_numpy()[pick],
                          "new_id": fake["declaration_id"].to_numpy()})
fake_legs = own.merge(source_of, on="declaration_id").drop(columns="declaration_id").rename(
    columns={"new_id": "declaration_id"})
batch = pd.concat([later, fake], ignore_index=True)
all_legs = pd.concat([own, fake_legs[own.columns]], ignore_index=True)
started = time.process_time()
pipeline.transform(Sources(declarations=batch.iloc[:1], route_legs=all_legs.iloc[:0]))
index_s = time.process_time() - started
chunks = []
leg_id = all_legs["declaration_id"]
for k in range(0, len(batch), chunk):
    part = batch.iloc[k : k + chunk]
    part_legs = all_legs[leg_id.isin(part["declaration_id"]).to_numpy()]
    started, cpu = time.perf_counter(), time.process_time()
    out = pipeline.transform(Sources(declarations=part, route_legs=part_legs))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    chunks.append({"rows": len(out), "seconds": seconds, "cpu": cpu})
print(json.dumps({"history": len(past), "later": len(later), "fit_s": fit_s, "index_s": index_s,
                  "chunks": chunks, "features": len(pipeline.feature_names_),
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _run(n: int, synthetic: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _RUN, str(n), str(synthetic), str(CHUNK)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median_rate(result: dict, clock: str) -> float:
    full = [c for c in result["chunks"] if c["rows"] == CHUNK]
    rates = sorted(c["rows"] / c[clock] for c in full)
    return rates[len(rates) // 2]


@pytest.mark.bench
def test_bench_scoring_features_per_chunk() -> None:
    results = {"small": _run(200_000, SYNTHETIC), "large": _run(1_000_000, 300_000)}
    for name, result in results.items():
        print(
            f"\n{name}: history {result['history']:,} declarations (seed 2026), "
            f"{result['features']} features; fit {result['fit_s']:.1f} s, history indexes "
            f"built once in {result['index_s']:.1f} s CPU; peak RSS "
            f"{result['peak_kib'] / 1024**2:.2f} GB"
        )
        for i, c in enumerate(result["chunks"]):
            print(
                f"  chunk {i}: {c['rows']:,} rows in {c['seconds']:.2f} s wall "
                f"({c['rows'] / c['seconds']:,.0f} rows/s), {c['cpu']:.2f} s CPU "
                f"({c['rows'] / c['cpu']:,.0f} rows/s)"
            )
        print(
            f"  median per {CHUNK:,}-row chunk: {_median_rate(result, 'seconds'):,.0f} rows/s "
            f"wall, {_median_rate(result, 'cpu'):,.0f} rows/s CPU"
        )
    # CPU time: on a shared machine wall time also measures the neighbours' load
    small, large = _median_rate(results["small"], "cpu"), _median_rate(results["large"], "cpu")
    print(
        f"history x{results['large']['history'] / results['small']['history']:.1f}: "
        f"chunk rate {small:,.0f} -> {large:,.0f} rows/s CPU"
    )
    assert small >= MIN_ROWS_PER_SECOND
    # a five times longer history costs at most a log factor per chunk, not five times
    assert large >= small / 2
