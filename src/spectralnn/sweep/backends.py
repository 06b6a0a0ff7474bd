"""Where cells run: one local process-pool runner (shared by ``sweep`` and ``reproduce``) and
Ray. Local workers are single-threaded and die with their parent process."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import signal
import sys
import threading
import time

__all__ = ["run_pool", "run_ray", "SINGLE_THREAD"]

# One BLAS/OpenMP thread per worker process on every backend, so that a cell gives the same
# numbers locally and on Ray (reductions in threaded BLAS depend on the thread count).
SINGLE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
SINGLE_THREAD["MKL_CBWR"] = "COMPATIBLE"  # MKL's reproducible code path (not alignment-bound)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _watch_parent(parent: int, every: float = 0.5) -> None:
    while True:
        time.sleep(every)
        if os.getppid() != parent:  # re-parented: the parent is gone
            os._exit(1)


def die_with_parent(parent: int) -> None:
    """Make this process end when ``parent`` ends, even by SIGKILL: ``prctl(PR_SET_PDEATHSIG)``
    on Linux, and a watchdog thread polling ``os.getppid()`` everywhere (the portable fallback,
    and a guard for the window before the prctl call)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                     name="spectralnn-parent-watch").start()


def _worker_init(parent: int) -> None:
    die_with_parent(parent)
    import torch

    torch.set_num_threads(1)


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
    with _env(SINGLE_THREAD), cf.ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_worker_init,
            initargs=(os.getpid(),)) as pool:
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
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": SINGLE_THREAD})
    try:
        task = ray.remote(num_cpus=1)(fn)
        pending = [task.remote(*t) for t in tasks]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            on_result(ray.get(ready[0]))
    finally:
        if started:
            ray.shutdown()
