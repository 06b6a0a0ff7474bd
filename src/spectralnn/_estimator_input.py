"""Input checks of the completers (:mod:`spectralnn.estimators`): the matrix ``X`` (dense, real,
2-D, finite or NaN; numpy, torch or pandas), the column names, the fit's digest, the
``random_state`` seed and the positions given to ``predict``."""

from __future__ import annotations

import hashlib
import numbers

import numpy as np
import torch

from .errors import InputError, InputTypeError


class _ComplexInputError(InputTypeError, InputError):
    """Complex ``X``: a TypeError of ours that is also the ValueError scikit-learn expects."""


_MAX_SEED = 2**32 - 1


def _is_frame(X) -> bool:
    return type(X).__module__.startswith("pandas") and hasattr(X, "columns")


def _complex_error(where: str, got: str) -> _ComplexInputError:
    return _ComplexInputError(
        f"The 'X' parameter of {where} must be real: Complex data not supported. Got {got} instead."
    )


def _sparse_error(where: str, got: str) -> InputTypeError:
    return InputTypeError(
        f"The 'X' parameter of {where} must be a dense matrix with NaN for missing entries: "
        "sparse input is not supported, because the entries a sparse matrix does not store mean "
        "zero, not missing. Pass X.toarray() if the zeros are values, or a dense array that "
        f"holds NaN where entries are missing. Got {got} instead."
    )


def _frame_array(X, where: str) -> np.ndarray:
    """A DataFrame's values as float64 (NaN = missing); complex and sparse columns refused."""
    if any(getattr(dt, "kind", "") == "c" for dt in X.dtypes):
        raise _complex_error(where, "a DataFrame with complex columns")
    if any(type(dt).__name__.startswith("Sparse") for dt in X.dtypes):
        raise _sparse_error(where, "a DataFrame with sparse columns")
    try:
        return X.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as err:
        raise InputTypeError(
            f"The 'X' parameter of {where} must be numeric (NaN = missing). Got a DataFrame "
            f"with non-numeric columns instead ({err})."
        ) from None


def _tensor_array(X: torch.Tensor, where: str) -> np.ndarray:
    """A dense real tensor as a float64 numpy array."""
    if X.layout != torch.strided:
        raise _sparse_error(where, f"a tensor with layout {X.layout}")
    if X.is_complex():
        raise _complex_error(where, f"a tensor of dtype {X.dtype}")
    return X.detach().cpu().to(torch.float64).numpy()


def _array_like(X, where: str) -> np.ndarray:
    """Anything else numpy reads (arrays, lists) as float64; scipy.sparse and complex refused."""
    if type(X).__module__.startswith("scipy.sparse"):
        raise _sparse_error(where, type(X).__name__)
    try:
        raw = np.asarray(X)
    except (TypeError, ValueError) as err:
        raise InputTypeError(
            f"The 'X' parameter of {where} must be a numeric 2-D array, tensor or DataFrame. "
            f"Got {type(X).__name__} instead ({err})."
        ) from None
    if raw.dtype.kind == "c" or (
        raw.dtype == object and any(isinstance(v, (complex, np.complexfloating)) for v in raw.flat)
    ):
        raise _complex_error(where, f"{type(X).__name__} of complex numbers")
    try:
        return raw.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise InputTypeError(
            f"The 'X' parameter of {where} must be a numeric 2-D array, tensor or DataFrame. "
            f"Got {type(X).__name__} of dtype {raw.dtype} instead ({err})."
        ) from None


def _check_shape(arr: np.ndarray, where: str) -> None:
    """A non-empty 2-D matrix of finite numbers or NaN."""
    if arr.ndim != 2:
        raise InputError(
            f"The 'X' parameter of {where} must be a 2-D matrix. Got shape {arr.shape} instead. "
            "Reshape your data with X.reshape(1, -1) for one row or X.reshape(-1, 1) for one "
            "column."
        )
    if 0 in arr.shape:
        what = "sample" if arr.shape[0] == 0 else "feature"
        raise InputError(
            f"The 'X' parameter of {where} must be a non-empty 2-D matrix. Found 0 {what}(s) "
            f"(shape={arr.shape}) while a minimum of 1 is required."
        )
    if np.isinf(arr).any():
        raise InputError(
            f"The 'X' parameter of {where} must hold finite numbers or NaN. Got inf instead."
        )


def _as_matrix(X, where: str):
    """``(float64 array, DataFrame-or-None)``; validates a 2-D finite-or-NaN real matrix."""
    frame = None
    if _is_frame(X):
        frame = X
        arr = _frame_array(X, where)
    elif isinstance(X, torch.Tensor):
        arr = _tensor_array(X, where)
    else:
        arr = _array_like(X, where)
    _check_shape(arr, where)
    return arr, frame


def _feature_names(frame):
    """Column names as an object array when they are all strings (scikit-learn's rule)."""
    if frame is None:
        return None
    cols = list(frame.columns)
    if not cols or not all(isinstance(c, str) for c in cols):
        return None
    return np.asarray(cols, dtype=object)


def _digest(arr: np.ndarray, mask: np.ndarray) -> str:
    """A hash of the shape, the mask and the observed values (-0.0 counted as 0.0)."""
    h = hashlib.blake2b(digest_size=20)
    h.update(np.asarray(arr.shape, dtype=np.int64).tobytes())
    h.update(np.packbits(mask).tobytes())
    h.update(np.ascontiguousarray(np.where(mask, arr, 0.0) + 0.0).tobytes())
    return h.hexdigest()


_MAX_SEED = 2**32 - 1


def _seed(random_state, where: str) -> int:
    """An int seed in ``[0, 2**32 - 1]`` from an int, None, a Generator or a RandomState."""
    if random_state is None:
        return int(np.random.randint(_MAX_SEED, dtype=np.int64))  # numpy's global state
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(_MAX_SEED))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(_MAX_SEED, dtype=np.int64))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if not 0 <= int(random_state) <= _MAX_SEED:
            raise InputError(
                f"The 'random_state' parameter of {where} must be an int in [0, 2**32 - 1], "
                f"None, a numpy Generator or a RandomState. Got {random_state!r} instead."
            )
        return int(random_state)
    raise InputTypeError(
        f"The 'random_state' parameter of {where} must be an int in [0, 2**32 - 1], None, a "
        f"numpy Generator or a RandomState. Got {random_state!r} instead."
    )


def _positions(values, name: str, size: int, where: str) -> np.ndarray:
    """``values`` as a 1-D int64 array of positions in ``[0, size)``."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if (
        arr.ndim > 1
        or arr.dtype == bool
        or not (
            np.issubdtype(arr.dtype, np.integer)
            or arr.dtype == object
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in arr.flat)
        )
    ):
        raise InputTypeError(
            f"The '{name}' parameter of {where} must be an int or a 1-D sequence of ints. Got "
            f"{type(values).__name__} of dtype {arr.dtype} and shape {arr.shape} instead."
        )
    arr = arr.astype(np.int64).reshape(-1)
    bad = (arr < 0) | (arr >= size)
    if bad.any():
        raise InputError(
            f"The '{name}' parameter of {where} must hold positions in [0, {size - 1}]. Got "
            f"{int(arr[bad][0])} instead."
        )
    return arr
