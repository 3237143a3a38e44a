"""Scale benchmark: `riskmodel train` end to end (read, features, LightGBM, baselines, MLflow).

Generates worlds with the real `riskmodel sample`, trains each with the real CLI and the
baseline config into a fresh SQLite store, and prints the time per step that `train` prints,
the wall time of the whole command and the test oracle ratio at 5 %. Targets on the 2-core
build machine (issue 7): 50k declarations under 30 s, 200k under 40 s. The committed
BACUDA-layout sample (20k, mapped) is timed the same way with experiments/bacuda.toml.
CPU is shared: timings are noisy, compare runs made back to back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEED = 11
TARGET_SECONDS = {50_000: 30.0, 200_000: 40.0}


def _riskmodel() -> str:
    found = Path(sys.executable).with_name("riskmodel")
    return str(found) if found.exists() else shutil.which("riskmodel") or "riskmodel"


def _new_store(uri: str) -> float:
    """Create an MLflow SQLite store (its schema migrations run once per store); seconds."""
    code = f"import mlflow; mlflow.MlflowClient({uri!r}).search_experiments()"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - started


def _train(config: Path, data: Path, work: Path) -> tuple[float, dict[str, float], dict]:
    """Run `riskmodel train`; return wall seconds, its printed time per step, its metrics.

    The store is created first and timed apart: creating a SQLite store runs MLflow's schema
    migrations (several seconds), which a data scientist pays once, not on every training.
    """
    metrics = work / "metrics.json"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    uri = f"sqlite:///{work / 'mlflow.db'}"
    print(f"\nnew MLflow SQLite store (schema migrations, once per store): {_new_store(uri):.1f} s")
    started = time.perf_counter()
    done = subprocess.run(
        [
            _riskmodel(),
            "train",
            "--config",
            str(config),
            "--data",
            str(data),
            "--tracking-uri",
            uri,
            "--metrics-out",
            str(metrics),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    start = lines.index("time per step (s):")
    steps = {}
    for line in lines[start + 1 :]:
        name, value = line.split()
        steps[name] = float(value)
    return seconds, steps, json.loads(metrics.read_text())


def _report(title: str, seconds: float, steps: dict[str, float], metrics: dict) -> None:
    print(f"{title}: `riskmodel train` {seconds:.1f} s wall")
    for name, value in steps.items():
        print(f"  {name:<16} {value:6.1f} s")
    ratio = metrics.get("test_oracle_ratio_at_5pct")
    print(
        f"  test precision@5% {metrics['test_precision_at_5pct']:.4f}"
        + (f", oracle ratio@5% {ratio:.4f}" if ratio is not None else "")
        + f" on {int(metrics['test_inspected']):,} inspected"
        + f" ({int(metrics['test_seizures']):,} seizures)"
    )


@pytest.mark.bench
@pytest.mark.parametrize("declarations", sorted(TARGET_SECONDS))
def test_bench_train_generated_world(declarations: int, tmp_path: Path) -> None:
    world = tmp_path / "world"
    subprocess.run(
        [
            _riskmodel(),
            "sample",
            "--out",
            str(world),
            "--declarations",
            str(declarations),
            "--seed",
            str(SEED),
        ],
        check=True,
        capture_output=True,
    )
    seconds, steps, metrics = _train(ROOT / "experiments" / "baseline.toml", world, tmp_path)
    _report(f"{declarations:,} declarations (seed {SEED})", seconds, steps, metrics)
    assert {"read", "features", "lightgbm", "mlflow_logging", "total"} <= set(steps)
    # a sanity floor relative to the baselines (the world's difficulty sets the absolute
    # figure: 0.41 at 50k and 0.54 at 200k on the current world)
    name = "test_oracle_ratio_at_5pct"
    assert metrics[name] > 2 * max(metrics[f"rules_{name}"], metrics[f"random_{name}"])
    assert seconds < TARGET_SECONDS[declarations]


@pytest.mark.bench
def test_bench_train_bacuda_sample(tmp_path: Path) -> None:
    seconds, steps, metrics = _train(
        ROOT / "experiments" / "bacuda.toml", ROOT / "data" / "bacuda", tmp_path
    )
    _report("data/bacuda (20k, mapped)", seconds, steps, metrics)
    assert {"read", "features", "lightgbm", "mlflow_logging", "total"} <= set(steps)
