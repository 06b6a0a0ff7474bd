"""Array boundary checks (numpy or torch in, a checked torch tensor out), re-exported by
:mod:`spectralnn._validation`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._scalar_checks import FLOAT_DTYPES
from .errors import InputError, InputTypeError

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
