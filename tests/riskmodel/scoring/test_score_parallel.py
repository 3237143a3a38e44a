"""Scoring in worker processes: the outputs do not depend on how many workers score the
chunks, and the chunk runner keeps job order, carries a worker's domain error back with its
exit code, and turns a dead worker into a clear error (real forked processes throughout)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.errors import ContractError, RiskError, RowProblemsError
from riskmodel import api
from riskmodel.cli import app
from riskmodel.errors import ModelError
from riskmodel.scoring.parallel import ChunkRunner, predict_threads

OUTPUTS = ("scores.parquet", "flagged.parquet", "corridors.parquet", "rejects.parquet")


def test_one_worker_and_three_write_the_same_bytes(
    scoring_setup, small_world: Path, batch_writer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    batch = scoring_setup.future.head(300).copy()
    batch.loc[5, "gross_weight_kg"] = -5.0  # a row problem
    batch.loc[77, "declaration_id"] = batch.loc[3, "declaration_id"]  # a repeat across chunks
    data = batch_writer(tmp_path / "data", batch)
    legs = pd.read_parquet(small_world / "route_legs.parquet")
    legs[legs["declaration_id"].isin(set(batch["declaration_id"]))].to_parquet(
        data / "route_legs.parquet", index=False
    )
    manifests = {}
    for workers in (1, 3):
        out = tmp_path / f"out-{workers}"
        api.score(
            str(scoring_setup.model_dir),
            data,
            out=out,
            chunk_rows=23,
            budget=0.1,
            yellow_budget=0.1,
            reasons_for=("red", "yellow"),
            workers=workers,
        )
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["parameters"].pop("workers") == workers
        for key in ("created_at", "timings"):
            manifest.pop(key)
        manifests[workers] = manifest
    for name in OUTPUTS:
        assert (tmp_path / "out-1" / name).read_bytes() == (tmp_path / "out-3" / name).read_bytes()
    assert manifests[1] == manifests[3]
    assert manifests[1]["counts"]["rejected"] == 2
    assert manifests[1]["drift"]["rows_counted"] == 298


def test_the_cli_refuses_zero_workers(scoring_setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    done = CliRunner().invoke(
        app,
        [
            "score",
            str(scoring_setup.future_dir),
            "--model",
            str(scoring_setup.model_dir),
            "--out",
            str(tmp_path / "out"),
            "--workers",
            "0",
        ],
    )
    assert done.exit_code == 2
    assert not (tmp_path / "out").exists()


# chunk functions (module level: a forked worker finds them by name)


def _square_slowly(context: int, job: int) -> tuple[int, int, int]:
    time.sleep(0.05 if job % 3 == 0 else 0.0)  # later jobs finish first
    return job, job * job + context, os.getpid()


def _fail_at_four(context: int, job: int) -> int:
    if job == 4:
        raise ModelError(f"job {job} cannot be scored")
    return job


def _rows_fail(context: int, job: int) -> int:
    if job == 2:
        raise RowProblemsError([])
    return job


def _die_at_three(context: int, job: int) -> int:
    if job == 3:
        os._exit(9)
    return job


def _threads(context: int, job: int) -> int:
    return predict_threads()


def _note_warm(context: list[int], job: int) -> None:
    context.append(job)  # in this process, before the workers fork


def _where(context: list[int], job: int) -> tuple[int, int, list[int]]:
    return job, os.getpid(), list(context)


def test_results_come_back_in_job_order_from_other_processes() -> None:
    with ChunkRunner(100, workers=2) as runner:
        got = list(runner.map(_square_slowly, range(10)))
    assert [(job, value) for job, value, _ in got] == [(j, j * j + 100) for j in range(10)]
    pids = {pid for _, _, pid in got}
    assert os.getpid() in pids  # the first job runs here
    assert len(pids) >= 2


def test_one_worker_runs_everything_here() -> None:
    with ChunkRunner(0, workers=1) as runner:
        got = list(runner.map(_square_slowly, range(4)))
        threads = list(runner.map(_threads, range(3)))
    assert {pid for _, _, pid in got} == {os.getpid()}
    assert threads == [0, 0, 0]


def test_warm_runs_here_first_and_every_job_goes_to_a_worker() -> None:
    warmed: list[int] = []
    with ChunkRunner(warmed, workers=2) as runner:
        got = list(runner.map(_where, range(6), warm=_note_warm))
    assert warmed == [0]
    assert [job for job, _, _ in got] == list(range(6))
    assert os.getpid() not in {pid for _, pid, _ in got}
    assert all(seen == [0] for _, _, seen in got)  # the workers forked after the warm-up


def test_workers_predict_with_one_thread() -> None:
    with ChunkRunner(0, workers=2) as runner:
        threads = list(runner.map(_threads, range(6)))
    assert threads[0] == 0  # the first job, here
    assert threads[1:] == [1] * 5


def test_a_domain_error_in_a_worker_is_raised_here_with_its_exit_code() -> None:
    with ChunkRunner(0, workers=2) as runner, pytest.raises(ModelError) as caught:
        list(runner.map(_fail_at_four, range(10)))
    assert str(caught.value) == "job 4 cannot be scored"
    assert caught.value.exit_code == 4
    with ChunkRunner(0, workers=2) as runner, pytest.raises(RowProblemsError) as rows:
        list(runner.map(_rows_fail, range(10)))
    assert rows.value.exit_code == ContractError.exit_code
    assert str(rows.value) == "0 row(s) violate the contract:\n"
    assert rows.value.problems == []


def test_a_dead_worker_is_a_clear_error() -> None:
    with ChunkRunner(0, workers=2) as runner, pytest.raises(RiskError, match="worker process died"):
        list(runner.map(_die_at_three, range(8)))


def test_zero_workers_is_refused() -> None:
    with pytest.raises(ValueError, match="workers must be >= 1"):
        ChunkRunner(0, workers=0)


def test_default_workers_follow_the_cores_a_cgroup_quota_and_a_cap(tmp_path: Path) -> None:
    from riskmodel.scoring.parallel import MAX_DEFAULT_WORKERS, _cgroup_cpus, default_workers

    quota = tmp_path / "cpu.max"
    quota.write_text("150000 100000\n")
    assert _cgroup_cpus(str(quota)) == 2
    quota.write_text("max 100000\n")
    assert _cgroup_cpus(str(quota)) is None
    assert _cgroup_cpus(str(tmp_path / "absent")) is None
    assert 1 <= default_workers() <= min(len(os.sched_getaffinity(0)), MAX_DEFAULT_WORKERS)


def _predict_rows(context: tuple[Any, Any], job: int) -> list[float]:
    booster, rows = context
    return list(booster.predict(rows[job * 100 : (job + 1) * 100], num_threads=predict_threads()))


def test_workers_predict_after_this_process_ran_lightgbm_on_two_threads() -> None:
    """LightGBM's FAQ: OpenMP with more than one thread in a forked child can hang; the
    workers predict with one thread, after the parent has used a two-thread team."""
    import lightgbm as lgb
    import numpy as np

    rng = np.random.default_rng(0)
    rows = rng.random((2_000, 8))
    booster = lgb.train(
        {"objective": "binary", "num_threads": 2, "verbose": -1},
        lgb.Dataset(rows, (rows[:, 0] > 0.5).astype(int)),
        num_boost_round=20,
    )
    here = booster.predict(rows, num_threads=2)
    with ChunkRunner((booster, rows), workers=2) as runner:
        there = [v for part in runner.map(_predict_rows, range(20)) for v in part]
    assert np.array_equal(np.asarray(there), here)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(c) for c in handle.read().split()]
    except OSError:  # the process has ended
        return []
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads /proc (Linux)")
def test_sigterm_to_the_scoring_process_leaves_no_worker_and_no_staging(
    scoring_setup, batch_writer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import signal
    import subprocess
    import sys

    future = scoring_setup.future
    tiled = pd.concat([future] * max(1, 20_000 // len(future)), ignore_index=True)
    tiled["declaration_id"] = [f"T{i:08d}" for i in range(len(tiled))]
    data = batch_writer(tmp_path / "data", tiled)
    out = tmp_path / "out"
    command = [sys.executable, "-c", "from riskmodel.cli import main; main()", "score"]
    command += [str(data), "--model", str(scoring_setup.model_dir), "--out", str(out)]
    command += ["--chunk-rows", "100", "--workers", "2", "--quiet"]
    # stderr to a file: a pipe would be held open by workers that outlive the parent
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as handle:
        run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=handle)
    workers: list[int] = []
    code = None
    try:
        deadline = time.monotonic() + 120
        while run.poll() is None and not workers and time.monotonic() < deadline:
            time.sleep(0.05)
            workers = _children(run.pid)
        if workers:
            run.send_signal(signal.SIGTERM)  # to the parent only, as `kill PID` does
            code = run.wait(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
        waited = time.monotonic() + 30
        while any(_alive(pid) for pid in workers) and time.monotonic() < waited:
            time.sleep(0.1)
        orphans = [pid for pid in workers if _alive(pid)]
        for pid in orphans:  # not left to the test session
            os.kill(pid, signal.SIGKILL)
    assert workers, "the run ended before its workers started"
    assert code == 128 + signal.SIGTERM, errors.read_text()
    assert not orphans, "workers outlived the parent"
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]


def test_a_rejected_route_leg_rejects_its_declaration_with_any_workers(
    scoring_setup, small_world: Path, batch_writer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    batch = scoring_setup.future.head(120).copy()
    data = batch_writer(tmp_path / "data", batch)
    legs = pd.read_parquet(small_world / "route_legs.parquet")
    legs = legs[legs["declaration_id"].isin(set(batch["declaration_id"]))].reset_index(drop=True)
    victim = str(legs.loc[3, "declaration_id"])
    legs.loc[3, "leg_seq"] = 0  # the contract wants leg_seq >= 1
    legs.to_parquet(data / "route_legs.parquet", index=False)
    outputs = {}
    for workers in (1, 2):
        out = tmp_path / f"out-{workers}"
        result = api.score(
            str(scoring_setup.model_dir), data, out=out, chunk_rows=17, workers=workers
        )
        counts = result.counts
        assert counts["scored"] + counts["rejected"] == len(batch)
        rejects = pd.read_parquet(out / "rejects.parquet")
        mine = rejects[rejects["source"] == "declarations.parquet"]
        assert mine["declaration_id"].tolist() == [victim]
        assert "route leg rejected: route_legs.parquet row 4" in mine["reason"].iloc[0]
        leg_row = rejects[rejects["source"] == "route_legs.parquet"]
        assert leg_row["row"].tolist() == [4] and leg_row["column"].tolist() == ["leg_seq"]
        scores = pd.read_parquet(out / "scores.parquet")
        assert victim not in set(scores["declaration_id"])
        outputs[workers] = (out / "rejects.parquet").read_bytes()
    assert outputs[1] == outputs[2]
