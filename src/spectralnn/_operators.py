r"""Linear measurement operators :math:`\mathcal{A}(X)_i = \langle A_i, X \rangle` and adjoints.

Every operator maps ``X: (..., d1, d2) -> (..., m)`` and ``r: (..., m) -> (..., d1, d2)`` at the
costs of docs/math.md section 1, without materialising ``m`` copies of ``X``.
"""

from __future__ import annotations

import abc

import numpy as np
import torch

from ._validation import check_array, check_dtype, check_index_array, check_shape
from .errors import InputError, InputTypeError


def _same_dtype(where: str, **arrays: torch.Tensor) -> None:
    dtypes = {n: str(a.dtype).replace("torch.", "") for n, a in arrays.items()}
    if len(set(dtypes.values())) > 1:
        raise InputTypeError(
            f"The parameters {list(arrays)} of {where} must share one dtype. Got {dtypes} instead."
        )


def _check_input(op: AbstractOperator, X, name: str, where: str, last: tuple) -> None:
    """Why ``X`` (``(..., *last)``, the operator's dtype) was refused by ``op`` or
    ``op.adjoint``."""
    if not isinstance(X, torch.Tensor):
        raise InputTypeError(
            f"The {name!r} parameter of {where} must be a torch.Tensor. "
            f"Got {type(X).__name__} instead."
        )
    if tuple(X.shape[-len(last) :]) != last or X.ndim < len(last):
        dims = ", ".join(str(d) for d in last)
        raise InputError(
            f"The {name!r} parameter of {where} must have shape (..., {dims}). "
            f"Got shape {tuple(X.shape)} instead."
        )
    raise InputTypeError(
        f"The {name!r} parameter of {where} must have the operator's dtype "
        f"{str(op.dtype).replace('torch.', '')}. Got {str(X.dtype).replace('torch.', '')} instead."
    )


class AbstractOperator(abc.ABC):
    """A linear map from ``d1 x d2`` matrices to ``R^m``.

    Subclasses set ``kind`` and implement ``shape``, ``m``, ``_apply`` (``X -> A(X)``),
    ``_adjoint`` (``r -> A^*(r)``), ``arrays`` and ``to``; the public ``__call__`` and
    ``adjoint`` check the input's type, trailing shape and dtype first (no synchronisation).
    """

    kind: str

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, int]: ...

    @property
    @abc.abstractmethod
    def m(self) -> int: ...

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """``(..., d1, d2) -> (..., m)``: :math:`\\langle A_i, X \\rangle`.

        ``X`` must have the operator's dtype (see :meth:`to`); a shape or dtype mismatch raises.
        """
        shape, dtype, _ = self._signature()
        if not isinstance(X, torch.Tensor) or X.shape[-2:] != shape or X.dtype is not dtype:
            _check_input(self, X, "X", f"{type(self).__name__}.__call__", self.shape)
        return self._apply(X)

    def adjoint(self, r: torch.Tensor) -> torch.Tensor:
        """``(..., m) -> (..., d1, d2)``: :math:`\\sum_i r_i A_i`."""
        _, dtype, m = self._signature()
        if not isinstance(r, torch.Tensor) or r.shape[-1:] != (m,) or r.dtype is not dtype:
            _check_input(self, r, "r", f"{type(self).__name__}.adjoint", (self.m,))
        return self._adjoint(r)

    def _signature(self) -> tuple[torch.Size, torch.dtype, int]:
        """``(shape, dtype, m)``, cached: operators are immutable (``to`` builds a new one)."""
        sig = self.__dict__.get("_sig")
        if sig is None:
            sig = self.__dict__["_sig"] = (torch.Size(self.shape), self.dtype, self.m)
        return sig

    @abc.abstractmethod
    def _apply(self, X: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def _adjoint(self, r: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays that define the operator (the ``.npz`` format)."""

    @abc.abstractmethod
    def to(self, *args, **kwargs) -> AbstractOperator: ...

    @property
    def dtype(self) -> torch.dtype:
        return torch.float64

    def dense(self) -> torch.Tensor:
        """All ``A_i`` as one ``(m, d1, d2)`` tensor (for small problems and solvers)."""
        eye = torch.eye(self.m, dtype=self.dtype, device=self._device())
        return self._adjoint(eye)

    def _device(self) -> torch.device:
        return next(v for v in vars(self).values() if isinstance(v, torch.Tensor)).device

    def __repr__(self) -> str:
        return f"{type(self).__name__}(m={self.m}, shape={self.shape})"


class DenseOperator(AbstractOperator):
    """Arbitrary ``A: (m, d1, d2)``; apply is one ``(m, d1 d2) x (d1 d2)`` product."""

    kind = "dense"

    def __init__(self, A):
        A = check_array(A, "A", "DenseOperator", ndim=3, layout="(m, d1, d2)")
        self.A = A
        self._flat = A.reshape(A.shape[0], -1)  # (m, d1 d2), a view

    shape = property(lambda self: tuple(self.A.shape[1:]))
    m = property(lambda self: self.A.shape[0])
    dtype = property(lambda self: self.A.dtype)

    def _apply(self, X):
        return X.flatten(-2) @ self._flat.mT

    def _adjoint(self, r):
        return (r @ self._flat).unflatten(-1, self.shape)

    def arrays(self):
        return {"A": self.A.cpu().numpy()}

    def dense(self):
        return self.A

    def to(self, *args, **kwargs):
        return DenseOperator(self.A.to(*args, **kwargs))


class AlignedOperator(AbstractOperator):
    r"""Assumption 1: :math:`A_i = \Phi \operatorname{diag}(s_i) \Psi^\top`.

    ``Phi: (d1, r)`` and ``Psi: (d2, r)`` with orthonormal columns, ``S: (m, r)`` (row i is s_i).
    Apply: ``x = diag(Phi^T X Psi)`` then ``S x``, O(d1 d2 r + m r).
    """

    kind = "aligned"

    def __init__(self, Phi, Psi, S):
        where = "AlignedOperator"
        Phi, Psi, S = (
            check_array(a, n, where, ndim=2, layout=lay)
            for a, n, lay in ((Phi, "Phi", "(d1, r)"), (Psi, "Psi", "(d2, r)"), (S, "S", "(m, r)"))
        )
        _same_dtype(where, Phi=Phi, Psi=Psi, S=S)
        r = S.shape[1]
        if Phi.shape[1] != r or Psi.shape[1] != r:
            raise InputError(
                f"Phi {tuple(Phi.shape)}, Psi {tuple(Psi.shape)} and S {tuple(S.shape)} of "
                "AlignedOperator must share their last dimension r."
            )
        for a, n in ((Phi, "Phi"), (Psi, "Psi")):
            err = (a.mT @ a - torch.eye(r, dtype=a.dtype, device=a.device)).abs().max().item()
            if err > 1e-4 if a.dtype == torch.float32 else err > 1e-8:
                raise InputError(
                    f"The {n!r} parameter of AlignedOperator must have orthonormal columns. "
                    f"Got max |{n}^T {n} - I| = {err:.2e} instead."
                )
        self.Phi, self.Psi, self.S = Phi, Psi, S

    shape = property(lambda self: (self.Phi.shape[0], self.Psi.shape[0]))
    m = property(lambda self: self.S.shape[0])
    rank = property(lambda self: self.S.shape[1])
    dtype = property(lambda self: self.S.dtype)

    def coordinates(self, X):
        """``diag(Phi^T X Psi)``: ``(..., d1, d2) -> (..., r)``."""
        return ((X @ self.Psi) * self.Phi).sum(-2)

    def embed(self, x):
        """``Phi diag(x) Psi^T``: ``(..., r) -> (..., d1, d2)``."""
        return (self.Phi * x.unsqueeze(-2)) @ self.Psi.mT

    def _apply(self, X):
        return self.coordinates(X) @ self.S.mT

    def _adjoint(self, r):
        return self.embed(r @ self.S)

    def arrays(self):
        return {k: getattr(self, k).cpu().numpy() for k in ("Phi", "Psi", "S")}

    def to(self, *args, **kwargs):
        return AlignedOperator(*(a.to(*args, **kwargs) for a in (self.Phi, self.Psi, self.S)))


class CompletionOperator(AbstractOperator):
    """Entry sampling: ``A_i = e_{rows_i} e_{cols_i}^T``; O(m) gather and scatter-add."""

    kind = "completion"

    def __init__(self, rows, cols, shape, dtype: torch.dtype = torch.float64):
        where = "CompletionOperator"
        self._shape = check_shape(shape, where)
        dtype = check_dtype(dtype, where)
        rows = check_index_array(rows, "rows", where, self._shape[0])
        cols = check_index_array(cols, "cols", where, self._shape[1])
        if rows.shape != cols.shape or rows.numel() == 0:
            raise InputError(
                f"The 'rows' and 'cols' parameters of {where} must be non-empty and of equal "
                f"length. Got shapes {tuple(rows.shape)} and {tuple(cols.shape)} instead."
            )
        self.rows, self.cols, self._dtype = rows, cols, dtype
        self._flat_idx = rows * self._shape[1] + cols

    shape = property(lambda self: self._shape)
    m = property(lambda self: self.rows.shape[0])
    dtype = property(lambda self: self._dtype)

    def _apply(self, X):
        return X.flatten(-2)[..., self._flat_idx]

    def _adjoint(self, r):
        out = r.new_zeros(*r.shape[:-1], self._shape[0] * self._shape[1])
        return out.index_add_(-1, self._flat_idx, r).unflatten(-1, self._shape)

    def arrays(self):
        return {
            "rows": self.rows.cpu().numpy(),
            "cols": self.cols.cpu().numpy(),
            "shape": np.array(self._shape),
        }

    def to(self, *args, **kwargs):
        dtype = next(
            (a for a in (*args, *kwargs.values()) if isinstance(a, torch.dtype)), self._dtype
        )
        dev = next(
            (a for a in (*args, *kwargs.values()) if isinstance(a, (str, torch.device))),
            self.rows.device,
        )
        return CompletionOperator(self.rows.to(dev), self.cols.to(dev), self._shape, dtype)


class RankOneOperator(AbstractOperator):
    """``A_i = a_i b_i^T`` with ``a: (m, d1)``, ``b: (m, d2)``; apply ``a_i^T X b_i``,
    O(m d1 d2)."""

    kind = "rank_one"

    def __init__(self, a, b):
        where = "RankOneOperator"
        a = check_array(a, "a", where, ndim=2, layout="(m, d1)")
        b = check_array(b, "b", where, ndim=2, layout="(m, d2)")
        _same_dtype(where, a=a, b=b)
        if a.shape[0] != b.shape[0]:
            raise InputError(
                f"The 'a' and 'b' parameters of {where} must have the same number of rows m. "
                f"Got {a.shape[0]} and {b.shape[0]} instead."
            )
        self.a, self.b = a, b

    shape = property(lambda self: (self.a.shape[1], self.b.shape[1]))
    m = property(lambda self: self.a.shape[0])
    dtype = property(lambda self: self.a.dtype)

    def _apply(self, X):
        return ((X @ self.b.mT) * self.a.mT).sum(-2)  # (..., d1, m) -> (..., m)

    def _adjoint(self, r):
        return (self.a.mT * r.unsqueeze(-2)) @ self.b

    def arrays(self):
        return {"a": self.a.cpu().numpy(), "b": self.b.cpu().numpy()}

    def to(self, *args, **kwargs):
        return RankOneOperator(self.a.to(*args, **kwargs), self.b.to(*args, **kwargs))


OPERATORS: dict[str, type[AbstractOperator]] = {
    cls.kind: cls for cls in (DenseOperator, AlignedOperator, CompletionOperator, RankOneOperator)
}
