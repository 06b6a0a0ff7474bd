"""Reading problem files: :func:`load_problem` and the checks it makes on every array of the
``.npz`` format (described in :mod:`spectralnn.sensing`) before and after loading it."""

from __future__ import annotations

import json
import math
import os
import zipfile

import numpy as np
import torch

from ._operators import OPERATORS, AbstractOperator
from ._problem import _LARGEST, Problem
from ._validation import human_bytes, limit_is_explicit, memory_limit
from .errors import InputError, InputTypeError


class ProblemFormatError(InputError):
    """A problem file that is missing, unreadable, too large for its size or inconsistent."""


def _keys(kind: str) -> tuple[str, ...]:
    """The ``.npz`` arrays of a registered operator kind."""
    return OPERATORS[kind].npz_keys


def _float_keys(kind: str | None) -> set[str]:
    """The keys holding real numbers (cast to float, checked finite): the measurements, the
    target and the kind's own (every registered kind's when the kind is not known)."""
    kinds = [kind] if kind in OPERATORS else list(OPERATORS)
    out = {"y", "X_true"}
    for k in kinds:
        cls = OPERATORS[k]
        out.update(cls.npz_keys if cls.float_keys is None else cls.float_keys)
    return out


def _known_keys() -> set[str]:
    """Every key a problem file may hold (others are ignored, unread)."""
    return {"operator", "meta", "y", "X_true", "y_test"} | {
        p + k for kind in OPERATORS for k in _keys(kind) for p in ("", "test_")
    }


MAX_ARRAY_BYTES = 2**34
"""Largest array a problem file may declare (16 GiB), whatever its compression."""
_DEFLATE_RATIO = 1100  # deflate expands at most ~1032x; a larger claim is a forged header
MAX_RATIO = 100
"""Largest expansion of a compressed member unless the memory budget is set explicitly (real
data compresses a few times; a 1 MB file unpacking to 1 GiB is a zip bomb)."""


def _npz_headers(
    path: str, ratio: float | None = None
) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Every member's (shape, dtype) from its ``.npy`` header, before any array is loaded.

    Refuses object dtypes (pickles), non-``.npy`` members and arrays whose declared size exceeds
    what the member stores, what its compressed size can expand to, or :data:`MAX_ARRAY_BYTES`.
    """
    size, out = os.path.getsize(path), {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            out[info.filename[:-4]] = _member_header(zf, info, path, size, ratio)
    return out


def _member_header(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, size: int, ratio: float | None
) -> tuple[tuple[int, ...], np.dtype]:
    """One member's (shape, dtype), checked as :func:`_npz_headers` says."""
    fmt = np.lib.format
    key = info.filename[:-4]
    if not info.filename.endswith(".npy"):
        raise ProblemFormatError(f"Member {info.filename!r} of {path!r} is not an .npy array.")
    if info.compress_size > size:
        raise ProblemFormatError(
            f"Array {key!r} in {path!r} claims {info.compress_size} "
            f"stored bytes, more than the file's {size}."
        )
    with zf.open(info) as fh:
        version = fmt.read_magic(fh)
        if version not in ((1, 0), (2, 0)):
            raise ProblemFormatError(
                f"Array {key!r} in {path!r} has .npy format version {version}; expected 1.0 or 2.0."
            )
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read(fh, max_header_size=10_000)
        stored = info.file_size - fh.tell()
    if dtype.hasobject or dtype.fields is not None:
        raise ProblemFormatError(
            f"Array {key!r} in {path!r} has dtype {dtype}; object "
            "and structured arrays are refused (no pickles)."
        )
    _check_member_size(info, key, path, shape, dtype, stored, ratio)
    return shape, dtype


def _check_member_size(info, key, path, shape, dtype, stored, ratio) -> None:
    """Refuse a member whose declared size the file cannot hold (or a zip bomb)."""
    nbytes = math.prod(shape) * dtype.itemsize
    compressed = info.compress_type != zipfile.ZIP_STORED
    if (
        compressed
        and ratio is not None
        and math.prod(shape) * dtype.itemsize > ratio * max(info.compress_size, 1)
    ):
        raise ProblemFormatError(
            f"Array {key!r} in {path!r} expands from {info.compress_size} compressed "
            f"bytes to {math.prod(shape) * dtype.itemsize} bytes, more than {ratio:g} "
            "times (a zip bomb?); refusing to unpack it. Set max_bytes=... or the "
            "environment variable SPECTRALNN_MEMORY_LIMIT to allow it."
        )
    limit = min(
        MAX_ARRAY_BYTES,
        stored,
        _DEFLATE_RATIO * info.compress_size if compressed else info.compress_size,
    )
    if nbytes > limit:
        raise ProblemFormatError(
            f"Array {key!r} in {path!r} declares shape {shape} ({nbytes} bytes), more "
            f"than the {limit} bytes the file holds for it (limit {MAX_ARRAY_BYTES}); "
            "refusing to allocate it."
        )


def _clean(key: str, a: np.ndarray, path: str, float_keys: set[str]) -> np.ndarray:
    """One array of a problem file, checked by key: real, finite, right kind."""
    base = key[5:] if key.startswith("test_") and key != "test_" else key
    base = "y" if key == "y_test" else base
    kind = a.dtype.kind
    if base in ("operator", "meta"):
        if kind != "U" or a.ndim != 0:
            raise ProblemFormatError(
                f"Key {key!r} in {path!r} must be a string. "
                f"Got a {a.dtype} array of shape {a.shape} instead."
            )
    elif kind not in "biuf":
        what = "complex" if kind == "c" else str(a.dtype)
        raise ProblemFormatError(f"Array {key!r} in {path!r} must be real. Got {what} instead.")
    elif base in float_keys:
        if a.dtype not in (np.float32, np.float64):
            a = a.astype(np.float64)  # lossless: ints, bools, float16
        bad = int((~np.isfinite(a)).sum())
        if bad:
            raise ProblemFormatError(
                f"Array {key!r} in {path!r} must be finite. Got {bad} NaN or inf entries instead."
            )
        big = float(np.abs(a).max()) if a.size else 0.0
        if big > _LARGEST:
            raise ProblemFormatError(
                f"Array {key!r} in {path!r} must hold entries of magnitude "
                f"at most {_LARGEST:g} (the loss squares them). Got "
                f"{big:g} instead; rescale the problem."
            )
    return a


def _operator_from(data, prefix: str, kind: str, path: str) -> AbstractOperator:
    keys = _keys(kind)
    missing = [prefix + k for k in keys if prefix + k not in data]
    if missing:
        raise ProblemFormatError(
            f"A {kind!r} problem file needs the keys {[prefix + k for k in keys]}; "
            f"missing {missing}. Found keys {sorted(data)} in {path!r}."
        )
    arrays = {k: data[prefix + k] for k in keys}
    y = data["y_test" if prefix else "y"]
    dtype = torch.float32 if y.dtype == np.float32 else torch.float64
    try:
        return OPERATORS[kind].from_npz(arrays, dtype)
    except (ValueError, TypeError) as exc:
        raise ProblemFormatError(
            f"Invalid {'test' if prefix else 'training'} operator in {path!r} "
            f"(keys {[prefix + k for k in keys]}): {exc}"
        ) from None


def load_problem(path: str | os.PathLike, *, max_bytes: float | None = None) -> Problem:
    """Read a problem written by :meth:`Problem.save` (or a plain ``A``/``y`` ``.npz``).

    Never unpickles. Each array's ``.npy`` header is checked before it is read: arrays larger
    than the file can hold (or than :data:`MAX_ARRAY_BYTES`) are refused without allocating.
    Integer or bool arrays are cast to float64; NaN, inf or complex values are refused, and so
    are entries beyond 1e150 in magnitude (their squares, in the loss, would overflow).

    The arrays' total declared size (times the copies loading makes) must fit the memory budget
    ``max_bytes`` (default: ``SPECTRALNN_MEMORY_LIMIT``, else half the physical memory;
    ``math.inf``: no check). Unless the budget is set explicitly, a compressed member may also
    expand at most :data:`MAX_RATIO` times (a zip bomb is refused before it is unpacked).

    Raises
    ------
    ProblemFormatError
        Missing file, not an ``.npz``, missing keys, oversized, non-finite, complex or
        inconsistent arrays; the message names the key and the file.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputTypeError(
            f"The 'path' parameter of load_problem must be a str or os.PathLike. "
            f"Got {type(path).__name__} instead."
        )
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ProblemFormatError(f"Problem file {path!r} does not exist.")
    limit = memory_limit(max_bytes, "load_problem")
    try:
        data = _read_arrays(path, limit, max_bytes)
    except ProblemFormatError:
        raise
    except Exception as exc:  # noqa: BLE001 -- zipfile/header/OS errors: "not a problem file"
        raise ProblemFormatError(f"Could not read {path!r} as an .npz file: {exc}") from None
    return _problem_from(data, path)


def _read_arrays(path: str, limit: float, max_bytes: float | None) -> dict:
    """The known arrays of the file, once their headers and total size passed the checks."""
    headers = _npz_headers(path, None if limit_is_explicit(max_bytes) else MAX_RATIO)
    known = _known_keys()
    wanted = [k for k in headers if k in known]
    declared = sum(
        math.prod(shape) * max(dt.itemsize, 8) for k, (shape, dt) in headers.items() if k in wanted
    )
    if 3 * declared > limit:
        raise ProblemFormatError(
            f"The 'path' parameter of load_problem names {path!r}, whose arrays unpack to "
            f"{human_bytes(declared)} (about {human_bytes(3 * declared)} in memory once "
            f"loaded, estimate), more than the limit of {human_bytes(limit)}. Raise the "
            f"limit (max_bytes=..., or the environment variable SPECTRALNN_MEMORY_LIMIT, "
            f"or 'none') to load it."
        )
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in wanted}


def _problem_from(data: dict, path: str) -> Problem:
    """The problem of the loaded arrays, each checked by :func:`_clean`."""
    if "operator" in data:
        data["operator"] = _clean("operator", data["operator"], path, set())
    kind = str(data["operator"]) if "operator" in data else "dense"
    floats = _float_keys(kind)
    data = {k: _clean(k, a, path, floats) for k, a in data.items()}
    if kind not in OPERATORS:
        raise ProblemFormatError(
            f"Key 'operator' in {path!r} must be one of {sorted(OPERATORS)}. Got {kind!r} instead."
        )
    if "y" not in data:
        raise ProblemFormatError(f"Problem file {path!r} has no 'y'. Found keys {sorted(data)}.")
    stray = sorted(k for k in data if k.startswith("test_")) if "y_test" not in data else []
    if stray:
        raise ProblemFormatError(
            f"Problem file {path!r} has test-set keys {stray} but no "
            "'y_test'; write both or neither."
        )
    op = _operator_from(data, "", kind, path)
    test = _operator_from(data, "test_", kind, path) if "y_test" in data else None
    meta = _meta(data, path)
    try:
        return Problem(op, data["y"], data.get("X_true"), test, data.get("y_test"), meta)
    except (ValueError, TypeError) as exc:
        raise ProblemFormatError(f"Invalid problem file {path!r}: {exc}") from None


def _meta(data: dict, path: str) -> dict:
    """The file's ``meta`` JSON object ({} when absent)."""
    try:
        meta = json.loads(str(data["meta"])) if "meta" in data else {}
    except ValueError as exc:
        raise ProblemFormatError(f"Key 'meta' in {path!r} must be a JSON object: {exc}") from None
    if not isinstance(meta, dict):
        raise ProblemFormatError(
            f"Key 'meta' in {path!r} must be a JSON object. Got {type(meta).__name__} instead."
        )
    return meta
