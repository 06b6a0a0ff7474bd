"""Independent pieces of work run in threads (the refinements of ``_gaussian.py``)."""

from __future__ import annotations

import concurrent.futures
import os


def parallel_map(fn, items) -> list:
    """``[fn(x) for x in items]``, in threads when the machine has more than one core:
    independent refinements (the ridge candidates, the parts, the final runs), and torch
    releases the GIL in their linear algebra. On 2 cores, camera 256 x 256 at 50% missing
    took 12.2 s instead of 15.2 s (brick at 80%: 22.6 instead of 27.1 s), the same result."""
    items = list(items)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min(len(items), cores or 1)
    if workers <= 1:
        return [fn(x) for x in items]
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))
