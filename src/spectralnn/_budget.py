"""The size budget: memory and time limits and the estimates checked against them before
anything large is allocated, re-exported by :mod:`spectralnn._validation`."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping
from typing import Any

from ._scalar_checks import _is_real, _short
from .errors import InputError, InputTypeError

# --------------------------------------------------------------------------- size budget
#
# Every size-bearing argument is checked against a memory estimate BEFORE anything of that
# size is allocated, so that a typo (an extra three zeros) fails at once with a message naming
# the argument, instead of swapping the machine to a halt or dying in the allocator.  The
# estimates are deliberately coarse upper bounds (a few times the arrays that must exist).
#
# The limit: ``max_bytes`` where a function takes it (``math.inf`` switches the check off),
# else the environment variable SPECTRALNN_MEMORY_LIMIT (bytes, with an optional K/M/G/T
# suffix; "none" or "off" switches it off), else half of the machine's physical memory.

MEMORY_ENV = "SPECTRALNN_MEMORY_LIMIT"
TIME_ENV = "SPECTRALNN_TIME_LIMIT"
DEFAULT_TIME_LIMIT = 86_400.0
"""Seconds a command-line run may be estimated to take (one day) unless SPECTRALNN_TIME_LIMIT
or ``--no-size-check`` says otherwise."""
_UNITS = {
    "": 1,
    "b": 1,
    "k": 2**10,
    "kb": 2**10,
    "kib": 2**10,
    "m": 2**20,
    "mb": 2**20,
    "mib": 2**20,
    "g": 2**30,
    "gb": 2**30,
    "gib": 2**30,
    "t": 2**40,
    "tb": 2**40,
    "tib": 2**40,
}


def _parse_limit(text: str, env: str, units: dict) -> float:
    raw = text.strip().lower()
    if raw in ("none", "off", "inf", "unlimited"):
        return math.inf
    num = raw.rstrip("abcdefghijklmnopqrstuvwxyz ")
    unit = raw[len(num) :].strip()
    try:
        value = float(num) * units[unit]
    except (ValueError, KeyError):
        value = math.nan
    if not value > 0:
        raise InputError(
            f"The environment variable {env} must be a positive amount (like "
            f"{'8G' if units is _UNITS else '3600'}) or 'none'. Got {text!r} "
            "instead."
        )
    return value


def physical_memory() -> float:
    """Bytes of physical memory (8 GiB where the OS does not say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return float(8 * 2**30)


def memory_limit(max_bytes: Any = None, where: str = "spectralnn") -> float:
    """The byte budget: ``max_bytes``, else SPECTRALNN_MEMORY_LIMIT, else half the RAM."""
    if max_bytes is not None:
        if not _is_real(max_bytes) or not float(max_bytes) > 0:
            raise (InputTypeError if not _is_real(max_bytes) else InputError)(
                f"The 'max_bytes' parameter of {where} must be a positive number (math.inf: no "
                f"limit) or None. Got {_short(max_bytes)} instead."
            )
        return float(max_bytes)
    env = os.environ.get(MEMORY_ENV)
    if env is not None and env.strip():
        return _parse_limit(env, MEMORY_ENV, _UNITS)
    return physical_memory() / 2


def time_limit() -> float:
    """Seconds a command-line run may be estimated to take (SPECTRALNN_TIME_LIMIT, default one
    day)."""
    env = os.environ.get(TIME_ENV)
    if env is not None and env.strip():
        return _parse_limit(env, TIME_ENV, {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400})
    return DEFAULT_TIME_LIMIT


def limit_is_explicit(max_bytes: Any = None) -> bool:
    """True when the user set the budget (``max_bytes`` or SPECTRALNN_MEMORY_LIMIT)."""
    return max_bytes is not None or bool(os.environ.get(MEMORY_ENV, "").strip())


def human_bytes(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def human_seconds(s: float) -> str:
    for unit, size in (("years", 365 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.3g} {unit}"
    return f"{s:.3g} s"


def check_budget(nbytes: float, name: str, value: Any, where: str, max_bytes: Any = None) -> None:
    """Refuse ``value`` of argument ``name`` when its estimated memory ``nbytes`` exceeds the
    budget (see :func:`memory_limit`)."""
    limit = memory_limit(max_bytes, where)
    if nbytes > limit:
        raise InputError(
            f"The {name!r} parameter of {where} needs about {human_bytes(nbytes)} of memory "
            f"(estimate), more than the limit of {human_bytes(limit)}. Got {_short(value)} "
            f"instead. Use smaller sizes, or raise the limit (max_bytes=..., or the environment "
            f"variable {MEMORY_ENV}=..., or 'none')."
        )


def problem_bytes(
    kind: str, shape, m: int, m_test: int | None = None, rank: int = 1, itemsize: int = 8
) -> int:
    """Estimated peak bytes of :func:`spectralnn.make_problem` (operators of the training and
    test sets, the target and its SVDs)."""
    d1, d2 = (int(s) for s in shape)
    m = int(m)
    mt = m if m_test is None else int(m_test)
    n = d1 * d2
    total = 5 * n * itemsize + (m + mt) * itemsize * 2  # target, its SVDs, y and y_test
    if kind == "gaussian":
        total += (m + mt) * n * itemsize
    elif kind == "rank_one":
        total += (m + mt) * (d1 + d2) * itemsize
    elif kind == "aligned":
        total += (m + mt) * rank * itemsize + 2 * (d1 + d2) * min(d1, d2) * itemsize
    elif kind == "completion":
        total += 2 * n * 8 + 4 * (m + mt) * 8  # the permutation of all entries; row/col indices
    return total


def model_cost(
    name: str, shape, opts: Mapping[str, Any] | None = None, runs: int = 1, itemsize: int = 8
) -> tuple[int, float, int]:
    """Estimated ``(bytes, flops per step, parameter tensors)`` of training a model of
    :func:`spectralnn.make_model` (parameters, gradients, optimizer state, activations)."""
    opts = dict(opts or {})
    d1, d2 = (int(s) for s in shape)
    n, k = d1 * d2, min(d1, d2)
    runs = max(1, int(runs or 1))
    if name == "snn":
        widths = [int(w) for w in (opts.get("widths") or (2, 2, 2, 2))]
        p = int(opts.get("rank") or k)
        params = widths[0] * (d1 + d2) * p + sum(a * b for a, b in itertools.pairwise(widths))
        act = sum(widths) * n
        nbytes = 4 * params + 6 * act
        flops = 12.0 * sum(widths) * n * k + 4.0 * widths[0] * n * p
        tensors = 2 + 2 * len(widths)
    elif name == "deep":
        depth = int(opts.get("depth") or 3)
        h = max(d1, d2)
        params = d1 * h + max(depth - 2, 0) * h * h + h * d2 if depth > 1 else n
        nbytes = 5 * params
        flops = 6.0 * depth * h * h * h
        tensors = depth
    elif name == "factor":
        r = int(opts.get("rank") or k)
        nbytes = 4 * (d1 + d2) * r + 3 * n
        flops = 6.0 * n * r
        tensors = 2
    else:  # free
        nbytes, flops, tensors = 5 * n, 2.0 * n, 1
    return runs * itemsize * nbytes, runs * flops, tensors


def train_seconds(steps: int, flops: float, tensors: int) -> float:
    """A rough wall-time estimate of ``steps`` training steps (5 GFLOP/s and ~30 us of Python
    per parameter tensor and step; the point is the order of magnitude)."""
    return float(steps) * (flops / 5e9 + 3e-5 * tensors + 2e-4)
