"""Boundary checks shared by the public entry points (one template for every message).

Every helper takes the argument's ``name`` and the public function it belongs to (``where``)
and raises :class:`~spectralnn.errors.InputError` (a ``ValueError``) for a bad value or
:class:`~spectralnn.errors.InputTypeError` (a ``TypeError``) for a wrong type, with the message
"The 'name' parameter of where must be <expected>. Got <received> instead."  Helpers return the
canonical value (a Python int, a float, a torch tensor), so internal code can assume it.
"""

from __future__ import annotations

import difflib
import itertools
import math
import numbers
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from .errors import InputError, InputTypeError

FLOAT_DTYPES = (torch.float32, torch.float64)
SEED_MAX = 2**63 - 1


def did_you_mean(key: str, valid: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(key), [str(v) for v in valid], n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


# --------------------------------------------------------------------------- scalars


def check_int(value: Any, name: str, where: str, low: int = 1, high: int | None = None) -> int:
    """An int (Python or numpy, not bool) in ``[low, high]``."""
    if not _is_int(value):
        raise InputTypeError(
            f"The {name!r} parameter of {where} must be an int. Got {_short(value)} "
            f"({type(value).__name__}) instead."
        )
    value = int(value)
    if value < low or (high is not None and value > high):
        hi = "inf" if high is None else str(high)
        raise InputError(
            f"The {name!r} parameter of {where} must be an int in the range [{low}, {hi}]. "
            f"Got {value!r} instead."
        )
    return value


def check_real(
    value: Any,
    name: str,
    where: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    """A finite real number (not bool) in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    if not _is_real(value):
        raise InputTypeError(
            f"The {name!r} parameter of {where} must be a real number. Got {_short(value)} "
            f"({type(value).__name__}) instead."
        )
    v = float(value)
    bad_low = low is not None and (v <= low if low_open else v < low)
    if not math.isfinite(v) or bad_low or (high is not None and v > high):
        lo = "-inf" if low is None else f"{low:g}"
        left = "(" if low_open or low is None else "["
        hi = "inf)" if high is None else f"{high:g}]"
        raise InputError(
            f"The {name!r} parameter of {where} must be a finite number in {left}{lo}, {hi}. "
            f"Got {value!r} instead."
        )
    return v


def check_positive(value: Any, name: str, where: str, *, allow_zero: bool = False) -> float:
    """A finite number ``> 0`` (``>= 0`` with ``allow_zero``)."""
    if not _is_real(value):
        check_real(value, name, where)  # raises the type error
    value = float(value)
    if not math.isfinite(value) or value < 0 or value == 0 and not allow_zero:
        raise InputError(
            f"The {name!r} parameter of {where} must be a finite number "
            f"{'>= 0' if allow_zero else '> 0'}. Got {value!r} instead."
        )
    return value


def check_bool(value: Any, name: str, where: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InputTypeError(
            f"The {name!r} parameter of {where} must be a bool. Got {_short(value)} "
            f"({type(value).__name__}) instead."
        )
    return bool(value)


def check_seed(seed: Any, where: str, name: str = "seed") -> int | None:
    """``None`` or an int in ``[0, 2**63 - 1]``."""
    if seed is None:
        return None
    if not _is_int(seed):
        raise InputTypeError(
            f"The {name!r} parameter of {where} must be an int in [0, 2**63 - 1] or None. "
            f"Got {_short(seed)} ({type(seed).__name__}) instead."
        )
    return check_int(seed, name, where, 0, SEED_MAX)


def check_choice(value: Any, name: str, where: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise InputError(
            f"The {name!r} parameter of {where} must be one of {sorted(choices)}. "
            f"Got {_short(value)} instead." + did_you_mean(str(value), choices)
        )
    return value


def check_shape(shape: Any, where: str, name: str = "shape") -> tuple[int, int]:
    """A pair of positive ints ``(d1, d2)``: tuple, list, ``torch.Size`` or 1-D int array."""
    if isinstance(shape, (np.ndarray, torch.Tensor)) and shape.ndim == 1:
        shape = shape.tolist()
    if not isinstance(shape, (tuple, list)) or not all(_is_int(d) for d in shape):
        raise InputTypeError(
            f"The {name!r} parameter of {where} must be a pair of positive ints (d1, d2). "
            f"Got {_short(shape)} ({type(shape).__name__}) instead."
        )
    if len(shape) != 2 or not all(d >= 1 for d in shape):
        raise InputError(
            f"The {name!r} parameter of {where} must be a pair of positive ints (d1, d2). "
            f"Got {_short(tuple(shape))} instead."
        )
    return int(shape[0]), int(shape[1])


def check_dtype(dtype: Any, where: str, name: str = "dtype") -> torch.dtype:
    if dtype not in FLOAT_DTYPES:
        raise InputTypeError(
            f"The {name!r} parameter of {where} must be torch.float32 or torch.float64. "
            f"Got {_short(dtype)} instead."
        )
    return dtype


def check_kwargs(kwargs: Mapping[str, Any], accepted: Iterable[str], where: str) -> None:
    """Unknown keyword arguments are errors, with the nearest valid name."""
    accepted = sorted(accepted)
    for key in kwargs:
        if key not in accepted:
            raise InputTypeError(
                f"The {key!r} parameter of {where} is not a known keyword argument; it must be "
                f"one of {accepted}. Got {key}={_short(kwargs[key])} instead."
                + did_you_mean(key, accepted)
            )


# --------------------------------------------------------------------------- arrays


def _to_torch(x: Any, name: str, where: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biuf" or x.dtype.kind == "f" and x.dtype.itemsize > 8:
            kind = "complex" if x.dtype.kind == "c" else str(x.dtype)
            raise InputTypeError(
                f"The {name!r} parameter of {where} must be a real float32 or float64 array. "
                f"Got a {kind} array instead."
            )
        if not x.dtype.isnative or not x.flags.writeable:  # torch needs native, writable
            x = x.astype(x.dtype.newbyteorder("="))
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise InputTypeError(
            f"The {name!r} parameter of {where} must be a numpy array or torch.Tensor. "
            f"Got {type(x).__name__} instead."
        )
    return x


def check_array(
    x: Any,
    name: str,
    where: str,
    *,
    ndim: int | None = None,
    layout: str = "",
    dtype: torch.dtype | None = None,
    cast_ints: bool = False,
    finite: bool = True,
) -> torch.Tensor:
    """A real float32/float64 tensor (numpy arrays are converted), non-empty, finite.

    ``cast_ints``: integer and bool arrays are accepted and cast to ``dtype`` (default float64);
    otherwise they are refused, as are float16, bfloat16 and complex arrays. ``dtype``: cast the
    result to it.
    """
    x = _to_torch(x, name, where)
    integral = not x.is_floating_point() and not x.is_complex()
    if x.dtype not in FLOAT_DTYPES and not (cast_ints and integral):
        kind = f"{x.dtype} (complex)" if x.is_complex() else str(x.dtype)
        raise InputTypeError(
            f"The {name!r} parameter of {where} must have a real floating dtype "
            f"(float32 or float64). Got {kind} instead."
        )
    if ndim is not None and x.ndim != ndim:
        raise InputError(
            f"The {name!r} parameter of {where} must have shape {layout or f'{ndim}-D'}. "
            f"Got shape {tuple(x.shape)} instead."
        )
    if x.numel() == 0:
        raise InputError(
            f"The {name!r} parameter of {where} must be non-empty. "
            f"Got shape {tuple(x.shape)} instead."
        )
    if integral or dtype is not None:
        x = x.to(dtype or torch.float64)
    if finite and not bool(torch.isfinite(x).all()):
        raise InputError(
            f"The {name!r} parameter of {where} must be finite. Got a tensor with "
            f"{int((~torch.isfinite(x)).sum())} non-finite entries (NaN or inf) instead."
        )
    return x


def check_matrix(X: Any, name: str, where: str, *, finite: bool = True) -> torch.Tensor:
    """Validate a float32/float64 tensor of shape ``(..., d1, d2)``; return it unchanged."""
    if not isinstance(X, torch.Tensor):
        raise InputTypeError(
            f"The {name!r} parameter of {where} must be a torch.Tensor of shape (..., d1, d2). "
            f"Got {type(X).__name__} instead."
        )
    if X.ndim < 2:
        raise InputError(
            f"The {name!r} parameter of {where} must have at least 2 dimensions (..., d1, d2). "
            f"Got shape {tuple(X.shape)} instead."
        )
    if X.shape[-1] == 0 or X.shape[-2] == 0:
        raise InputError(
            f"The {name!r} parameter of {where} must have non-empty matrix dimensions. "
            f"Got shape {tuple(X.shape)} instead."
        )
    return check_array(X, name, where, finite=finite)


def check_index_array(x: Any, name: str, where: str, size: int) -> torch.Tensor:
    """A 1-D array of integral indices in ``[0, size - 1]`` (ints, or floats with integral
    values as some writers store them); returns int64."""
    t = _to_torch(x, name, where)
    if t.dtype == torch.bool or t.is_complex() or t.ndim != 1:
        raise (InputError if t.ndim != 1 else InputTypeError)(
            f"The {name!r} parameter of {where} must be a 1-D array of integer indices. "
            f"Got shape {tuple(t.shape)} and dtype {str(t.dtype).replace('torch.', '')} instead."
        )
    if t.is_floating_point():
        if not bool((torch.isfinite(t) & (t == t.round())).all()):
            raise InputError(
                f"The {name!r} parameter of {where} must hold integral indices. "
                "Got non-integral or non-finite values instead."
            )
        if t.numel() and float(t.abs().max()) > 2**53:
            raise InputError(
                f"The {name!r} parameter of {where} must hold indices in "
                f"[0, {size - 1}]. Got values beyond 2**53 instead."
            )
    t = t.long()
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= size):
        raise InputError(
            f"The {name!r} parameter of {where} must hold indices in [0, {size - 1}]. "
            f"Got values in [{int(t.min())}, {int(t.max())}] instead."
        )
    return t


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
