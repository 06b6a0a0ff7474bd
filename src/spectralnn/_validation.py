"""Boundary checks shared by the public entry points (one template for every message).

Every helper takes the argument's ``name`` and the public function it belongs to (``where``)
and raises :class:`~spectralnn.errors.InputError` (a ``ValueError``) for a bad value or
:class:`~spectralnn.errors.InputTypeError` (a ``TypeError``) for a wrong type, with the message
"The 'name' parameter of where must be <expected>. Got <received> instead."  Helpers return the
canonical value (a Python int, a float, a torch tensor), so internal code can assume it.
"""

from __future__ import annotations

import difflib
import math
import numbers
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


def check_real(value: Any, name: str, where: str, *, low: float | None = None,
               high: float | None = None, low_open: bool = False) -> float:
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


def check_array(x: Any, name: str, where: str, *, ndim: int | None = None, layout: str = "",
                dtype: torch.dtype | None = None, cast_ints: bool = False,
                finite: bool = True) -> torch.Tensor:
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
            raise InputError(f"The {name!r} parameter of {where} must hold indices in "
                             f"[0, {size - 1}]. Got values beyond 2**53 instead.")
    t = t.long()
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= size):
        raise InputError(
            f"The {name!r} parameter of {where} must hold indices in [0, {size - 1}]. "
            f"Got values in [{int(t.min())}, {int(t.max())}] instead."
        )
    return t
