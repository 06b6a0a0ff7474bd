"""Scalar boundary checks (ints, reals, bools, seeds, choices, shapes, dtypes, keyword
arguments), re-exported by :mod:`spectralnn._validation`, whose docstring gives the message
template."""

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
