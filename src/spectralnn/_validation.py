"""Boundary checks shared by the public entry points (one template for every message)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import Any

import torch


def did_you_mean(key: str, valid: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(key), list(valid), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_matrix(X: Any, name: str, where: str, *, finite: bool = True) -> torch.Tensor:
    """Validate a floating tensor of shape ``(..., d1, d2)``; return it unchanged."""
    if not isinstance(X, torch.Tensor):
        raise TypeError(
            f"The {name!r} parameter of {where} must be a torch.Tensor of shape (..., d1, d2). "
            f"Got {type(X).__name__} instead."
        )
    if X.ndim < 2:
        raise ValueError(
            f"The {name!r} parameter of {where} must have at least 2 dimensions (..., d1, d2). "
            f"Got shape {tuple(X.shape)} instead."
        )
    if not (X.is_floating_point()):
        raise TypeError(
            f"The {name!r} parameter of {where} must have a real floating dtype "
            f"(float32 or float64). Got {X.dtype} instead."
        )
    if X.shape[-1] == 0 or X.shape[-2] == 0:
        raise ValueError(
            f"The {name!r} parameter of {where} must have non-empty matrix dimensions. "
            f"Got shape {tuple(X.shape)} instead."
        )
    if finite and not bool(torch.isfinite(X).all()):
        raise ValueError(
            f"The {name!r} parameter of {where} must be finite. Got a tensor with "
            f"{int((~torch.isfinite(X)).sum())} non-finite entries (NaN or inf)."
        )
    return X


def check_int(value: Any, name: str, where: str, low: int = 1, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"The {name!r} parameter of {where} must be an int. Got {value!r} "
            f"({type(value).__name__}) instead."
        )
    hi = "inf" if high is None else str(high)
    if value < low or (high is not None and value > high):
        raise ValueError(
            f"The {name!r} parameter of {where} must be an int in the range [{low}, {hi}]. "
            f"Got {value!r} instead."
        )
    return value


def check_positive(value: Any, name: str, where: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"The {name!r} parameter of {where} must be a real number. Got {value!r} "
            f"({type(value).__name__}) instead."
        )
    ok = value >= 0 if allow_zero else value > 0
    if not ok or not math.isfinite(value):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(
            f"The {name!r} parameter of {where} must be a finite number {bound}. "
            f"Got {value!r} instead."
        )
    return float(value)


def check_choice(value: Any, name: str, where: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    if value not in choices:
        raise ValueError(
            f"The {name!r} parameter of {where} must be one of {sorted(choices)}. "
            f"Got {value!r} instead." + did_you_mean(str(value), choices)
        )
    return value


def check_shape(shape: Any, where: str) -> tuple[int, int]:
    if (
        not isinstance(shape, (tuple, list))
        or len(shape) != 2
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)
    ):
        raise ValueError(
            f"The 'shape' parameter of {where} must be a pair of positive ints (d1, d2). "
            f"Got {shape!r} instead."
        )
    return int(shape[0]), int(shape[1])
