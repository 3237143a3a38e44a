"""Fixtures for the MLflow-backed tests: a real tracking server and small generated worlds."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

if TYPE_CHECKING:
    from riskmodel.api import TrainResult

SERVER_START_TIMEOUT_S = 120.0
SMALL_WORLD_DECLARATIONS = 30_000
VALID_DAYS = 60
TEST_DAYS = 60


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` on loopback (SQLite backend, proxied artifacts in tmp).

    Yields its http URI; the process is stopped at teardown.
    """
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    command = [
        str(mlflow_bin) if mlflow_bin.exists() else shutil.which("mlflow") or "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'server.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--serve-artifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    log = (root / "server.log").open("wb")
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None:
                pytest.fail(
                    f"mlflow server exited with {process.returncode}: "
                    + (root / "server.log").read_text(errors="replace")[-2000:]
                )
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not healthy after {SERVER_START_TIMEOUT_S:.0f} s")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        log.close()


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded generated world (DATA dir with truth/), small enough to train in seconds.

    One year of 30k declarations: about 1 700 inspections and 36 seizures, so that every
    period of a 60-day split (and of the prequential folds) holds a few seizures.
    """
    from riskmodel.world import generate_world, write_world

    out = tmp_path_factory.mktemp("world") / "data"
    write_world(generate_world(n_declarations=SMALL_WORLD_DECLARATIONS, seed=11, days=365), out)
    return out


@dataclass(frozen=True)
class PastAndFuture:
    """A world cut at ``cutoff``: a DATA dir of the past, and the later raw declarations."""

    past: Path
    future: Path
    future_declarations: pd.DataFrame
    cutoff: pd.Timestamp


def _cut_world(world: Path, out: Path, cutoff: pd.Timestamp) -> PastAndFuture:
    """Copy ``world`` keeping only what was known before ``cutoff``; the rest is the future."""
    past, future = out / "past", out / "future"
    past.mkdir(parents=True)
    future.mkdir(parents=True)
    declarations = pd.read_parquet(world / "declarations.parquet")
    before = declarations["declared_at"] < cutoff
    declarations[before].to_parquet(past / "declarations.parquet", index=False)
    later = declarations[~before].reset_index(drop=True)
    later.to_parquet(future / "declarations.parquet", index=False)
    kept = set(declarations.loc[before, "declaration_id"])
    time_column = {"labels": "inspected_at", "financial_flags": "flagged_at"}
    for name in ("labels", "financial_flags", "route_legs"):
        path = world / f"{name}.parquet"
        if not path.exists():
            continue
        frame = pd.read_parquet(path)
        keep = frame["declaration_id"].isin(kept) if "declaration_id" in frame else True
        if name in time_column:
            keep = keep & (frame[time_column[name]] < cutoff)
        frame[keep].to_parquet(past / path.name, index=False)
    for extra in ("ports.parquet", "rules.toml"):
        if (world / extra).exists():
            shutil.copy(world / extra, past / extra)
    if (world / "truth").is_dir():
        (past / "truth").mkdir()
        truth = pd.read_parquet(world / "truth" / "truth.parquet")
        truth[truth["declaration_id"].isin(kept)].to_parquet(
            past / "truth" / "truth.parquet", index=False
        )
    return PastAndFuture(past=past, future=future, future_declarations=later, cutoff=cutoff)


@pytest.fixture(scope="session")
def past_and_future(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> PastAndFuture:
    """The small world cut so that its newest 10 % of days are declarations the model never saw."""
    declared = pd.read_parquet(small_world / "declarations.parquet", columns=["declared_at"])
    first, last = declared["declared_at"].min(), declared["declared_at"].max()
    cutoff = (first + (last - first) * 0.9).normalize()
    return _cut_world(small_world, tmp_path_factory.mktemp("cut"), cutoff)


def write_test_config(path: Path, data: Path, *, extra_model: str = "") -> Path:
    """A small, fast experiment config (day-count split) for the tests."""
    path.write_text(
        f"""[data]
path = "{data.as_posix()}"

[split]
valid_days = {VALID_DAYS}
test_days = {TEST_DAYS}
label_delay_days = 14

[model]
num_leaves = 15
learning_rate = 0.1
min_data_in_leaf = 20
num_boost_round = 150
early_stopping_rounds = 20
num_threads = 1
{extra_model}
[tracking]
experiment = "tests"
register_as = "seizure-risk"
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="session")
def write_config() -> Callable[..., Path]:
    """The small test config writer, as a fixture (test modules do not import conftest)."""
    return write_test_config


@dataclass(frozen=True)
class EmbeddedTraining:
    """Two training runs into the embedded default store of a fresh working directory."""

    workdir: Path
    tracking_uri: str
    config: Path
    first: TrainResult
    second: TrainResult
    metrics_json: Path


@pytest.fixture(scope="session")
def embedded_training(
    past_and_future: PastAndFuture, tmp_path_factory: pytest.TempPathFactory
) -> EmbeddedTraining:
    """Train twice on the past with no tracking URI given, from inside a fresh directory."""
    from riskmodel import api

    workdir = tmp_path_factory.mktemp("workdir")
    config = write_test_config(workdir / "small.toml", past_and_future.past)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        first = api.train(config, metrics_out=workdir / "out" / "metrics.json")
        second = api.train(config)
    return EmbeddedTraining(
        workdir=workdir,
        tracking_uri=f"sqlite:///{workdir.resolve()}/mlflow.db",
        config=config,
        first=first,
        second=second,
        metrics_json=workdir / "out" / "metrics.json",
    )
