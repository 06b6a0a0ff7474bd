"""The :class:`~spectralnn.sensing.Problem` class: measurements, operator, optional held-out
set and target, with :meth:`~spectralnn.sensing.Problem.save` (the ``.npz`` format of
:mod:`spectralnn.sensing`)."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import numpy as np
import torch

from ._operators import OPERATORS, AbstractOperator, DenseOperator
from ._validation import check_array, check_dtype
from .errors import InputError, InputTypeError

_LARGEST = 1e150  # entries (and measurements) beyond this overflow when squared in the loss


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
