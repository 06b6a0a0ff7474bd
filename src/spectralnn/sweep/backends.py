"""Where cells run: one local process-pool runner (shared by ``sweep`` and ``reproduce``) and
Ray. Local workers are single-threaded (``OMP_NUM_THREADS=1`` and friends, which torch reads at
start-up) and die with their parent process."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os

__all__ = ["SINGLE_THREAD", "run_pool", "run_ray", "worker_initializer"]

# One BLAS/OpenMP thread per worker process on every backend, so that a cell gives the same
# numbers locally and on Ray (reductions in threaded BLAS depend on the thread count).
SINGLE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
SINGLE_THREAD["MKL_CBWR"] = "COMPATIBLE"  # MKL's reproducible code path (not alignment-bound)


# Run first in every worker, before anything imports torch or spectralnn (the initializer is
# the builtin ``exec``, so unpickling it imports nothing): a worker still importing when the
# parent is killed must die too. ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` on Linux, and everywhere a
# watchdog thread that polls ``os.getppid()`` (the portable fallback).
_DIE_WITH_PARENT = """
import ctypes, os, signal, sys, threading, time
if sys.platform.startswith("linux"):
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
if os.getppid() != PARENT:  # the parent died before the prctl
    os._exit(1)
def _watch():
    while True:
        time.sleep(0.5)
        if os.getppid() != PARENT:
            os._exit(1)
threading.Thread(target=_watch, daemon=True, name="spectralnn-parent-watch").start()
"""


def worker_initializer(parent: int | None = None) -> tuple:
    """``(initializer, initargs)`` for a process pool whose workers end with ``parent``
    (default: this process), even when it is killed with SIGKILL."""
    parent = os.getpid() if parent is None else int(parent)
    return exec, (_DIE_WITH_PARENT, {"PARENT": parent})


@contextlib.contextmanager
def _env(values: dict):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)  # inherited by the spawned workers
    try:
        yield
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def run_pool(fn, tasks: list[tuple], workers: int | None, on_result) -> None:
    """Run ``fn(*task)`` for every task in single-threaded worker processes (spawned, so no
    forked torch thread pools), calling ``on_result(result)`` in the parent as each finishes.

    Workers die with the parent; an exception in a task is re-raised here after the pool has
    been shut down (pending tasks cancelled). ``workers=1`` still uses one worker process, so
    every result comes from the same single-threaded code path."""
    if not tasks:
        return
    import multiprocessing as mp

    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    ctx = mp.get_context("spawn")
    init, args = worker_initializer()
    with (
        _env(SINGLE_THREAD),
        cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=init, initargs=args) as pool,
    ):
        futures = [pool.submit(fn, *task) for task in tasks]
        try:
            for fut in cf.as_completed(futures):
                on_result(fut.result())
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def run_ray(fn, tasks: list[tuple], address, on_result) -> None:
    """The same contract on a Ray cluster (``address=None`` starts a local one)."""
    try:
        import ray
    except ImportError:
        raise ValueError("--backend ray needs Ray: pip install 'spectralnn[ray]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": SINGLE_THREAD},
        )
    try:
        task = ray.remote(num_cpus=1)(fn)
        pending = [task.remote(*t) for t in tasks]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            on_result(ray.get(ready[0]))
    finally:
        if started:
            ray.shutdown()
