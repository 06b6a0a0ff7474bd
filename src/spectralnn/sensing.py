r"""Matrix-sensing problems: operators, :class:`Problem`, generators and the ``.npz`` format.

``.npz`` format (written by :meth:`Problem.save`, read by :func:`load_problem`):

* ``operator`` -- the kind: ``"dense"``, ``"aligned"``, ``"completion"``, ``"rank_one"`` or
  one added with :func:`register_operator` (absent: ``"dense"``, so a plain
  ``np.savez(path, A=A, y=y)`` file loads);
* the operator's arrays (its ``npz_keys``) -- dense: ``A (m, d1, d2)``; aligned: ``Phi (d1, r)``,
  ``Psi (d2, r)``, ``S (m, r)``; completion: ``rows (m,)``, ``cols (m,)``, ``shape (2,)``;
  rank_one: ``a (m, d1)``, ``b (m, d2)``;
* ``y (m,)``; optional ``X_true (d1, d2)``;
* optional held-out set: the same operator arrays prefixed ``test_`` and ``y_test``;
* ``meta`` -- a JSON string (kind, seed, noise, ...).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import zipfile
from typing import Any

import numpy as np
import torch

from ._operators import (
    OPERATORS,
    AbstractOperator,
    AlignedOperator,
    CompletionOperator,
    DenseOperator,
    RankOneOperator,
    register_operator,
)
from ._validation import (
    check_array,
    check_bool,
    check_budget,
    check_choice,
    check_dtype,
    check_int,
    check_positive,
    check_real,
    check_seed,
    check_shape,
    human_bytes,
    limit_is_explicit,
    memory_limit,
    problem_bytes,
)
from .errors import InputError, InputTypeError

__all__ = [
    "PROBLEM_KINDS",
    "AbstractOperator",
    "AlignedOperator",
    "CompletionOperator",
    "DenseOperator",
    "Problem",
    "ProblemFormatError",
    "RankOneOperator",
    "load_problem",
    "low_rank_target",
    "make_image_problem",
    "make_problem",
    "register_operator",
]


class ProblemFormatError(InputError):
    """A problem file that is missing, unreadable, too large for its size or inconsistent."""


def _check_y(y, m: int, name: str, dtype: torch.dtype) -> torch.Tensor:
    """Measurements: real, finite, shape ``(m,)``; integer values are cast to ``dtype``."""
    y = check_array(y, name, "Problem", cast_ints=True, finite=False)
    if y.ndim != 1 or y.shape[0] != m:
        raise InputError(
            f"The {name!r} parameter of Problem must have shape (m,) = ({m},) to match the "
            f"operator. Got shape {tuple(y.shape)} instead."
        )
    return check_array(y, name, "Problem", dtype=dtype)


def _check_operator(op, name: str) -> AbstractOperator:
    if not isinstance(op, AbstractOperator):
        raise InputTypeError(
            f"The {name!r} parameter of Problem must be a measurement operator "
            f"(AbstractOperator). Got {type(op).__name__} instead."
        )
    check_dtype(op.dtype, "Problem", f"{name}.dtype")
    return op


@dataclasses.dataclass(repr=False)
class Problem:
    """Measurements ``y = A(X*) + noise`` with an optional held-out set and the target.

    Attributes
    ----------
    operator : AbstractOperator
    y : torch.Tensor, shape (m,)
    X_true : torch.Tensor, shape (d1, d2), optional
    test_operator : AbstractOperator, optional
    y_test : torch.Tensor, shape (m_test,), optional
    meta : dict
        Provenance: generator kind, seed, noise, ...
    """

    operator: AbstractOperator
    y: torch.Tensor
    X_true: torch.Tensor | None = None
    test_operator: AbstractOperator | None = None
    y_test: torch.Tensor | None = None
    meta: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        dtype = _check_operator(self.operator, "operator").dtype
        self.y = _check_y(self.y, self.operator.m, "y", dtype)
        if self.X_true is not None:
            X = check_array(
                self.X_true,
                "X_true",
                "Problem",
                ndim=2,
                layout=str(self.shape),
                cast_ints=True,
                dtype=dtype,
            )
            if tuple(X.shape) != self.shape:
                raise InputError(
                    f"The 'X_true' parameter of Problem must have shape {self.shape}. "
                    f"Got {tuple(X.shape)} instead."
                )
            self.X_true = X
        if (self.test_operator is None) != (self.y_test is None):
            raise InputError(
                "The 'test_operator' and 'y_test' parameters of Problem must be given together. "
                f"Got only {'test_operator' if self.y_test is None else 'y_test'} instead."
            )
        if self.test_operator is not None:
            test = _check_operator(self.test_operator, "test_operator")
            if tuple(test.shape) != self.shape:
                raise InputError(
                    f"The 'test_operator' parameter of Problem must act on {self.shape} "
                    f"matrices like the operator. Got shape {tuple(test.shape)} instead."
                )
            self.test_operator = test if test.dtype == dtype else test.to(dtype)
            self.y_test = _check_y(self.y_test, test.m, "y_test", dtype)
        if not isinstance(self.meta, dict):
            raise InputTypeError(
                f"The 'meta' parameter of Problem must be a dict. "
                f"Got {type(self.meta).__name__} instead."
            )

    def __repr__(self) -> str:
        test = "none" if self.test_operator is None else self.test_operator.m
        return (
            f"Problem({self.operator!r}, m_test={test}, "
            f"X_true={'yes' if self.X_true is not None else 'no'}, meta={self.meta})"
        )

    shape = property(lambda self: self.operator.shape)
    m = property(lambda self: self.operator.m)
    dtype = property(lambda self: self.operator.dtype)

    @classmethod
    def from_arrays(cls, A, y, X_true=None) -> Problem:
        """A dense problem from ``A: (m, d1, d2)`` and ``y: (m,)`` (numpy or torch)."""
        A = check_array(A, "A", "Problem.from_arrays", ndim=3, layout="(m, d1, d2)", cast_ints=True)
        return cls(DenseOperator(A), y, X_true)

    def loss(self, X: torch.Tensor, test: bool = False) -> torch.Tensor:
        """``1/(2m) ||A(X) - y||^2``, ``X: (..., d1, d2) -> (...)`` (the problem's dtype)."""
        if test:
            if self.test_operator is None:
                raise InputError(
                    "The 'test' parameter of Problem.loss must be False for a "
                    "problem without a test set. Got True instead."
                )
            assert self.y_test is not None  # given together with test_operator
            return 0.5 * ((self.test_operator(X) - self.y_test) ** 2).mean(-1)
        return 0.5 * ((self.operator(X) - self.y) ** 2).mean(-1)

    def to(self, *args, **kwargs) -> Problem:
        def mv(t):
            return None if t is None else t.to(*args, **kwargs)

        test = None if self.test_operator is None else self.test_operator.to(*args, **kwargs)
        moved = Problem(
            self.operator.to(*args, **kwargs),
            mv(self.y),
            mv(self.X_true),
            test,
            mv(self.y_test),
            dict(self.meta),
        )
        factors = getattr(self, "X_true_factors", None)  # a low-rank truth (see _factored.py)
        if factors is not None:
            moved.X_true_factors = tuple(  # type: ignore[attr-defined]  # optional, set by users
                torch.as_tensor(t).to(*args, **kwargs) for t in factors
            )
        return moved

    def save(self, path: str | os.PathLike) -> None:
        """Write the documented ``.npz`` format atomically (temp file + rename).

        The operator's kind must be registered (:func:`register_operator`) and its
        ``npz_arrays`` must hold exactly its ``npz_keys``, so that :func:`load_problem` can
        read the file back."""
        data: dict[str, Any] = {"operator": np.array(self.operator.kind)}
        data.update(_npz_arrays(self.operator, "operator"))
        data["y"] = self.y.cpu().numpy()
        if self.X_true is not None:
            data["X_true"] = self.X_true.cpu().numpy()
        if self.test_operator is not None:
            assert self.y_test is not None  # given together with test_operator
            arrays = _npz_arrays(self.test_operator, "test_operator")
            data.update({f"test_{k}": v for k, v in arrays.items()})
            data["y_test"] = self.y_test.cpu().numpy()
        data["meta"] = np.array(json.dumps(self.meta))
        from ._io import write_npz

        write_npz(os.fspath(path), **data)


def _npz_arrays(op: AbstractOperator, name: str) -> dict[str, np.ndarray]:
    """``op.npz_arrays()``, checked against the registered kind's ``npz_keys``."""
    kind = getattr(op, "kind", None)
    cls = OPERATORS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise InputError(
            f"The {name!r} of Problem.save must be of a registered kind "
            f"({sorted(OPERATORS)}; see register_operator). Got {kind!r} for "
            f"{type(op).__name__} instead."
        )
    arrays = dict(op.npz_arrays())
    if set(arrays) != set(cls.npz_keys):
        raise InputError(
            f"The {name!r} of Problem.save ({type(op).__name__}) must write the arrays "
            f"{list(cls.npz_keys)} of kind {kind!r}. Got {sorted(arrays)} instead."
        )
    return arrays


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
_LARGEST = 1e150  # entries (and measurements) beyond this overflow when squared in the loss


def _npz_headers(
    path: str, ratio: float | None = None
) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Every member's (shape, dtype) from its ``.npy`` header, before any array is loaded.

    Refuses object dtypes (pickles), non-``.npy`` members and arrays whose declared size exceeds
    what the member stores, what its compressed size can expand to, or :data:`MAX_ARRAY_BYTES`.
    """
    fmt = np.lib.format
    size, out = os.path.getsize(path), {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            key = info.filename[:-4]
            if not info.filename.endswith(".npy"):
                raise ProblemFormatError(
                    f"Member {info.filename!r} of {path!r} is not an .npy array."
                )
            if info.compress_size > size:
                raise ProblemFormatError(
                    f"Array {key!r} in {path!r} claims {info.compress_size} "
                    f"stored bytes, more than the file's {size}."
                )
            with zf.open(info) as fh:
                version = fmt.read_magic(fh)
                if version not in ((1, 0), (2, 0)):
                    raise ProblemFormatError(
                        f"Array {key!r} in {path!r} has .npy format "
                        f"version {version}; expected 1.0 or 2.0."
                    )
                read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                shape, _, dtype = read(fh, max_header_size=10_000)
                stored = info.file_size - fh.tell()
            if dtype.hasobject or dtype.fields is not None:
                raise ProblemFormatError(
                    f"Array {key!r} in {path!r} has dtype {dtype}; object "
                    "and structured arrays are refused (no pickles)."
                )
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
            out[key] = (shape, dtype)
    return out


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
        headers = _npz_headers(path, None if limit_is_explicit(max_bytes) else MAX_RATIO)
        known = _known_keys()
        wanted = [k for k in headers if k in known]
        declared = sum(
            math.prod(shape) * max(dt.itemsize, 8)
            for k, (shape, dt) in headers.items()
            if k in wanted
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
            data = {k: f[k] for k in wanted}
    except ProblemFormatError:
        raise
    except Exception as exc:  # noqa: BLE001 -- zipfile/header/OS errors: "not a problem file"
        raise ProblemFormatError(f"Could not read {path!r} as an .npz file: {exc}") from None
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
    try:
        meta = json.loads(str(data["meta"])) if "meta" in data else {}
    except ValueError as exc:
        raise ProblemFormatError(f"Key 'meta' in {path!r} must be a JSON object: {exc}") from None
    if not isinstance(meta, dict):
        raise ProblemFormatError(
            f"Key 'meta' in {path!r} must be a JSON object. Got {type(meta).__name__} instead."
        )
    try:
        return Problem(op, data["y"], data.get("X_true"), test, data.get("y_test"), meta)
    except (ValueError, TypeError) as exc:
        raise ProblemFormatError(f"Invalid problem file {path!r}: {exc}") from None


# --------------------------------------------------------------------------- generators


def low_rank_target(
    shape, rank: int, *, psd: bool = True, generator=None, dtype=torch.float64
) -> torch.Tensor:
    """A rank-``rank`` target with unit nuclear norm.

    ``psd`` (square only): ``W W^T`` with ``W ~ U(0, 1)^{d x r}`` (the paper's target);
    otherwise ``U V^T`` with standard Gaussian factors.
    """
    where = "low_rank_target"
    d1, d2 = check_shape(shape, where)
    check_int(rank, "rank", where, 1, min(d1, d2))
    check_bool(psd, "psd", where)
    dtype = check_dtype(dtype, where)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise InputTypeError(
            f"The 'generator' parameter of {where} must be a torch.Generator "
            f"or None. Got {type(generator).__name__} instead."
        )
    if psd and d1 == d2:
        W = torch.rand(d1, rank, generator=generator, dtype=dtype)
        X = W @ W.mT
    else:
        X = torch.randn(d1, rank, generator=generator, dtype=dtype) @ torch.randn(
            rank, d2, generator=generator, dtype=dtype
        )
    return X / torch.linalg.svdvals(X).sum()


def _sample_operator(kind, shape, m, target, scale, gen, dtype, taken=None):
    d1, d2 = shape
    if kind == "gaussian":
        return DenseOperator(scale * torch.randn(m, d1, d2, generator=gen, dtype=dtype))
    if kind == "rank_one":
        a = scale**0.5 * torch.randn(m, d1, generator=gen, dtype=dtype)
        return RankOneOperator(a, scale**0.5 * torch.randn(m, d2, generator=gen, dtype=dtype))
    if kind == "aligned":
        U, _, Vh = torch.linalg.svd(target, full_matrices=False)
        S = scale * torch.randn(m, U.shape[1], generator=gen, dtype=dtype)
        return AlignedOperator(U, Vh.mT, S.sort(-1, descending=True).values)
    idx = taken[:m]  # completion: distinct entries from a shared permutation
    return CompletionOperator(idx // d2, idx % d2, shape, dtype)


PROBLEM_KINDS = ("aligned", "gaussian", "completion", "rank_one")


def make_problem(
    kind: str,
    shape=(10, 10),
    rank: int = 2,
    measurements: int = 50,
    noise=0.0,
    seed: int | None = 0,
    *,
    target=None,
    psd: bool = True,
    scale: float = 1.0,
    test_measurements: int | None = None,
    dtype=torch.float64,
    max_bytes: float | None = None,
) -> Problem:
    r"""Generate a sensing problem with a held-out test set.

    Parameters
    ----------
    kind : {"aligned", "gaussian", "completion", "rank_one"}
        ``aligned``: :math:`A_i = \Phi \operatorname{diag}(s_i) \Psi^\top` with ``Phi, Psi`` the
        singular vectors of ``X*`` and ``s_i = scale * N(0, I)`` sorted (Assumption 1);
        ``gaussian``: i.i.d. ``N(0, scale^2)`` entries; ``completion``: distinct observed
        entries; ``rank_one``: ``a_i b_i^T`` with ``N(0, scale)`` entries.
    shape : (int, int)
    rank : int
        Rank of the random target (ignored when ``target`` is given).
    measurements : int
        ``m``; the test set has ``test_measurements`` (default ``m``) more.
    noise : float
        Standard deviation of Gaussian noise added to ``y`` and ``y_test``.
    seed : int
    target : array (d1, d2), optional
        A user matrix (or image), rescaled to unit nuclear norm.
    psd : bool, default=True
        Random square targets are ``W W^T``, ``W ~ U(0,1)`` (the paper); else Gaussian factors.
    scale : float, default=1.0
        Measurement scale (the paper uses 10).
    max_bytes : float, optional
        Memory budget: sizes whose estimated memory exceeds it are refused (InputError naming
        ``shape`` or ``measurements``) before anything is allocated. Default: the environment
        variable ``SPECTRALNN_MEMORY_LIMIT``, else half the physical memory; ``math.inf``: no
        check.
    """
    where = "make_problem"
    check_choice(kind, "kind", where, PROBLEM_KINDS)
    shape = check_shape(shape, where)
    rank = check_int(rank, "rank", where, 1, min(shape))
    measurements = check_int(measurements, "measurements", where, 1)
    m_test = (
        measurements
        if test_measurements is None
        else check_int(test_measurements, "test_measurements", where, 1)
    )
    noise = check_positive(noise, "noise", where, allow_zero=True)
    scale = check_positive(scale, "scale", where)
    seed = check_seed(seed, where)
    check_bool(psd, "psd", where)
    dtype = check_dtype(dtype, where)
    if kind == "completion":
        check_int(measurements, "measurements", where, 1, shape[0] * shape[1])
    itemsize = 4 if dtype == torch.float32 else 8
    if problem_bytes(kind, shape, 1, 1, rank, itemsize) > memory_limit(max_bytes, where):
        check_budget(
            problem_bytes(kind, shape, 1, 1, rank, itemsize), "shape", shape, where, max_bytes
        )
    check_budget(
        problem_bytes(kind, shape, measurements, m_test, rank, itemsize),
        "measurements"
        if test_measurements is None or test_measurements <= measurements
        else "test_measurements",
        measurements
        if test_measurements is None or test_measurements <= measurements
        else test_measurements,
        where,
        max_bytes,
    )
    gen = torch.Generator().manual_seed(0 if seed is None else seed)
    if target is None:
        X = low_rank_target(shape, rank, psd=psd, generator=gen, dtype=dtype)
    else:
        X = check_array(
            target, "target", where, ndim=2, layout=str(shape), cast_ints=True, dtype=dtype
        )
        if tuple(X.shape) != shape:
            raise InputError(
                f"The 'target' parameter of {where} must have shape {shape}. "
                f"Got {tuple(X.shape)} instead."
            )
        peak = X.abs().max()
        if peak > 0:  # first to O(1), so that the SVD of entries near 1e308 cannot overflow
            X = X / peak
        total = torch.linalg.svdvals(X).sum()
        if not total > 0:
            raise InputError(
                f"The 'target' parameter of {where} must be a nonzero matrix. "
                "Got all zeros instead."
            )
        X = X / total
    perm = None
    if kind == "completion":
        n = shape[0] * shape[1]
        perm = torch.randperm(n, generator=gen)
        # Held-out entries come from the unobserved ones (fewer if fewer remain; all entries
        # when every entry is observed).
        test_idx = perm[measurements : measurements + m_test] if measurements < n else perm
        m_test = test_idx.numel()
    ops = [
        _sample_operator(kind, shape, m, X, scale, gen, dtype, t)
        for m, t in ((measurements, perm), (m_test, None if perm is None else test_idx))
    ]
    ys = [op(X) + noise * torch.randn(op.m, generator=gen, dtype=dtype) for op in ops]
    if not all(bool(torch.isfinite(y).all()) and float(y.abs().max()) <= _LARGEST for y in ys):
        name, value = ("noise", noise) if noise > scale else ("scale", scale)
        raise InputError(
            f"The {name!r} parameter of {where} gives measurements beyond "
            f"{_LARGEST:g} (their squares overflow). Got {name}={value!r} "
            "instead; use a smaller one."
        )
    meta = {
        "kind": kind,
        "shape": list(shape),
        "rank": int(torch.linalg.matrix_rank(X)),
        "measurements": measurements,
        "test_measurements": m_test,
        "noise": noise,
        "seed": seed,
        "scale": scale,
        "target": "random" if target is None else "user",
    }
    return Problem(ops[0], ys[0], X, ops[1], ys[1], meta)


def make_image_problem(
    image: str,
    shape=(28, 28),
    fraction: float = 0.6,
    noise=0.01,
    seed: int | None = 0,
    *,
    scale: float = 1.0,
) -> tuple[Problem, float]:
    """Gaussian measurements of a real image (see :func:`spectralnn.images.load_image`).

    ``m = round(fraction * d1 * d2)``; the target is the image at unit nuclear norm. Returns the
    problem and the factor that brings matrices back to the image's own scale (for display and
    PSNR).
    """
    from .images import load_image

    where = "make_image_problem"
    if not isinstance(image, str):
        raise InputTypeError(
            f"The 'image' parameter of {where} must be a str (a name or a path). "
            f"Got {type(image).__name__} instead."
        )
    shape = check_shape(shape, where)
    fraction = check_real(fraction, "fraction", where, low=0.0, high=1.0, low_open=True)
    noise = check_positive(noise, "noise", where, allow_zero=True)
    seed = check_seed(seed, where)
    scale = check_positive(scale, "scale", where)
    img = load_image(image, shape)
    m = max(1, round(fraction * img.shape[0] * img.shape[1]))
    problem = make_problem("gaussian", img.shape, 1, m, noise, seed, target=img, scale=scale)
    assert problem.X_true is not None  # the target
    return problem, float(img.sum() / problem.X_true.sum().item())
