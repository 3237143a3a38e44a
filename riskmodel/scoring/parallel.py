"""Chunk runners for batch scoring: in this process, or a pool of forked worker processes.

:class:`ChunkRunner` maps a *chunk function* ``fn(context, job) -> result`` over jobs and
yields the results **in job order**, whatever order the workers finish in. A chunk
function is a pure function of the read-only context (the model, its fitted feature state,
the route legs, the options) and of its job (a chunk of rows), so its result does not depend
on which process ran it or on what ran beside it: scoring with 1 worker or with 8 writes the
same bytes (a test pins it).

**Why processes, and why fork.** Reading, typing and computing a chunk's features is
pandas and Arrow work that holds the GIL most of the time, so threads do not overlap it; two
processes do (measured on 2 cores: 10 chunks of 100k declarations with route legs, read,
typed, featured and predicted, took 16.7 s in one process and 9.3 s in two). Workers are
forked when the pool starts, after the context is built, so the model, the fitted state and
the route legs are shared copy-on-write instead of being pickled to each worker; only a
job's raw rows go to a worker and only its small per-row results come back. Each worker
predicts with one LightGBM thread: two workers fill two cores, and LightGBM's FAQ warns
that OpenMP with more than one thread in a forked child can hang. Workers ignore Ctrl-C:
the parent handles it, stops the pool and removes its staging folder. Where fork does not
exist (Windows), ``workers`` falls back to 1; the project tests fork on Linux only. One pool
at a time per process: the context of the pool being started is a module global, which the
forked workers inherit.

**Bounded memory.** At most ``workers + ahead`` jobs are in flight (submitted and not yet
consumed), so the parent holds a few chunks, not the input.

**Errors.** A :class:`~features.errors.RiskError` raised in a worker is raised again in the
parent with its class and message (so its exit code); a worker that dies (killed, out of
memory) is a :class:`~features.errors.RiskError` naming the cause.

The scale-out to come (Dask on a ``LocalCluster``, DESIGN.md "Layout for the next
capabilities") is another runner with this ``map``: the context scattered to the workers
once, the jobs submitted in order, the results gathered in order.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from features.errors import RiskError

__all__ = ["ChunkRunner", "default_workers", "predict_threads", "release_memory"]

C = TypeVar("C")
J = TypeVar("J")
R = TypeVar("R")

_CONTEXT: Any = None
"""The context of the pool being started; forked workers inherit it (never pickled)."""
_PARENT = 0
"""The process that started the pool (a worker exits when it is gone)."""
_IN_WORKER = False


MAX_DEFAULT_WORKERS = 4
"""The most workers chosen by default (each holds a chunk's work, about 0.3-0.5 GB at the
default 50,000 rows): more must be asked for with ``--workers``."""


def default_workers() -> int:
    """The cores this process may use, at most :data:`MAX_DEFAULT_WORKERS`, at least 1.

    Cores: the CPU affinity (``os.sched_getaffinity``, else ``os.cpu_count``), lowered to a
    cgroup v2 CPU quota (``/sys/fs/cgroup/cpu.max``, e.g. a container limited to 2 CPUs on a
    64-core host) rounded up.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_cpus()
    if quota is not None:
        cores = min(cores, quota)
    return max(1, min(cores, MAX_DEFAULT_WORKERS))


def _cgroup_cpus(path: str = "/sys/fs/cgroup/cpu.max") -> int | None:
    """CPUs of a cgroup v2 quota (``"<quota> <period>"``, rounded up); None without one."""
    try:
        with open(path, encoding="ascii") as handle:
            quota, period = handle.read().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1, -(-int(quota) // int(period)))
    except (ValueError, ZeroDivisionError):
        return None


def predict_threads() -> int:
    """LightGBM ``num_threads`` for a predict in this process: 1 in a pool worker, else 0
    (LightGBM's default: every core)."""
    return 1 if _IN_WORKER else 0


def release_memory() -> None:
    """Give freed memory back to the system: glibc keeps freed heap pages (``malloc_trim``
    returns them) and Arrow's pool keeps freed buffers (``release_unused``).

    Called here after the first job or warm-up (run in this process, whose transient peak
    would otherwise stay resident under the run's growing per-row arrays) and at the end of
    pass 1; in the workers only where asked (``map(..., release=True)``: pass 2, during which the
    run's per-row arrays are all held here), not after every chunk of pass 1, where the pages
    given back are faulted in again by the next chunk (measured at 1M rows: 2 s more of the
    run, 1.3 s more system time). Measured at 5M rows, peak PSS of the process tree: 2.19
    GiB never released, 1.74 GiB released here only, 1.65 GiB released after every job. A
    no-op where there is no glibc."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def _libc() -> Any:
    """The C library this process runs on (its own symbols), None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    return ctypes.CDLL(None)


def _start_worker() -> None:
    """In each worker: one LightGBM thread, Ctrl-C left to the parent, SIGTERM back to its
    default, and an exit when the parent dies (Linux ``PR_SET_PDEATHSIG``): the workers hold
    the job queue's write end too, so a parent killed outright never closes it for them and
    they would wait on it forever."""
    global _IN_WORKER
    _IN_WORKER = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    libc = _libc()
    if libc is not None:
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != _PARENT:  # the parent died before the line above
            os._exit(1)


@dataclass(frozen=True)
class _Failed:
    """A domain error raised in a worker, carried back as its class, message and attributes
    (not pickled as an exception: a class whose constructor takes more than the message
    would be rebuilt wrongly)."""

    kind: type[RiskError]
    message: str
    state: dict[str, Any]


def _call(fn: Callable[[Any, Any], Any], job: Any, release: bool) -> Any:
    try:
        return fn(_CONTEXT, job)
    except RiskError as exc:
        return _Failed(type(exc), str(exc), dict(vars(exc)))
    finally:
        if release:
            release_memory()


def _raise(failed: _Failed) -> None:
    error = failed.kind.__new__(failed.kind)
    Exception.__init__(error, failed.message)
    vars(error).update(failed.state)
    raise error


class ChunkRunner(Generic[C]):
    """Runs chunk functions over jobs with ``workers`` processes (1: in this process).

    ``context``: what every chunk function reads (never written by one). The pool is started
    by the first :meth:`map` that has a job for it, after the first job (or the map's
    ``warm``) ran in this process, and is reused by later maps; use the runner as a context
    manager (or call :meth:`close`) so the workers stop.
    """

    def __init__(self, context: C, *, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, found {workers}")
        self.context = context
        self.workers = workers if "fork" in multiprocessing.get_all_start_methods() else 1
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> ChunkRunner[C]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (jobs not started are cancelled; running ones are waited for)."""
        global _CONTEXT
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            _CONTEXT = None

    def _start(self) -> ProcessPoolExecutor:
        global _CONTEXT, _PARENT
        if self._pool is None:
            _CONTEXT = self.context
            _PARENT = os.getpid()
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_start_worker,
            )
        return self._pool

    def map(
        self,
        fn: Callable[[C, J], R],
        jobs: Iterable[J],
        *,
        ahead: int = 1,
        release: bool = False,
        warm: Callable[[C, J], object] | None = None,
    ) -> Iterator[R]:
        """``fn(context, job)`` for each job, yielded in job order.

        Jobs are drawn from ``jobs`` lazily, at most ``workers + ahead`` ahead of the result
        being consumed. ``release``: workers give freed memory back after each job (see
        :func:`release_memory`). ``warm(context, first job)``: run here before the pool
        starts, instead of the whole first job (which then goes to a worker like the
        others), e.g. the job's first rows only. Raises what ``fn`` raises (a worker's
        :class:`RiskError` with its class and message) and what drawing a job raises.
        """
        source: Iterator[J] = iter(jobs)
        if self._pool is None:
            # before the pool forks, the first job (or ``warm`` on it) runs here: it builds
            # the fitted state's lazy indexes, which the workers then share instead of each
            # building its own
            first = next(source, None)
            if first is None:
                return
            if self.workers == 1 or warm is None:
                result = fn(self.context, first)
                release_memory()
                yield result
                if self.workers == 1:
                    for job in source:
                        yield fn(self.context, job)
                    return
            else:
                warm(self.context, first)
                release_memory()
                source = itertools.chain([first], source)
        pool: ProcessPoolExecutor | None = None
        waiting: deque[Future[Any]] = deque()
        limit = self.workers + ahead
        exhausted = False
        while True:
            while not exhausted and len(waiting) < limit:
                more = next(source, None)
                if more is None:
                    exhausted = True
                else:
                    pool = pool or self._start()
                    waiting.append(pool.submit(_call, fn, more, release))
            if not waiting:
                return
            future = waiting.popleft()
            try:
                result = future.result()
            except BrokenProcessPool as exc:
                raise RiskError(
                    f"a scoring worker process died ({exc}); out of memory? Try a smaller "
                    "--chunk-rows or fewer --workers"
                ) from None
            if isinstance(result, _Failed):
                for other in waiting:
                    other.cancel()
                _raise(result)
            yield result
