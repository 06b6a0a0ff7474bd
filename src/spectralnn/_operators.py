r"""Linear measurement operators :math:`\mathcal{A}(X)_i = \langle A_i, X \rangle` and adjoints.

Every operator maps ``X: (..., d1, d2) -> (..., m)`` and ``r: (..., m) -> (..., d1, d2)`` at the
costs of MATH.md section 1, without materialising ``m`` copies of ``X``.
"""

from __future__ import annotations

import abc

import numpy as np
import torch

from ._validation import check_matrix, check_shape


def _as_tensor(x, name: str, where: str, dtype=None) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"The {name!r} parameter of {where} must be a numpy array or torch.Tensor. "
            f"Got {type(x).__name__} instead."
        )
    return x if dtype is None else x.to(dtype)


def _check_ndim(x: torch.Tensor, ndim: int, name: str, where: str, layout: str):
    if x.ndim != ndim:
        raise ValueError(
            f"The {name!r} parameter of {where} must have shape {layout}. "
            f"Got shape {tuple(x.shape)} instead."
        )


class AbstractOperator(abc.ABC):
    """A linear map from ``d1 x d2`` matrices to ``R^m``; subclasses set ``kind``."""

    kind: str

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, int]: ...

    @property
    @abc.abstractmethod
    def m(self) -> int: ...

    @abc.abstractmethod
    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """``(..., d1, d2) -> (..., m)``."""

    @abc.abstractmethod
    def adjoint(self, r: torch.Tensor) -> torch.Tensor:
        """``(..., m) -> (..., d1, d2)``: :math:`\\sum_i r_i A_i`."""

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
        return self.adjoint(eye)

    def _device(self) -> torch.device:
        return next(v for v in vars(self).values() if isinstance(v, torch.Tensor)).device

    def __repr__(self) -> str:
        return f"{type(self).__name__}(m={self.m}, shape={self.shape})"


class DenseOperator(AbstractOperator):
    """Arbitrary ``A: (m, d1, d2)``; apply is one ``(m, d1 d2) x (d1 d2)`` product."""

    kind = "dense"

    def __init__(self, A):
        A = _as_tensor(A, "A", "DenseOperator")
        _check_ndim(A, 3, "A", "DenseOperator", "(m, d1, d2)")
        check_matrix(A, "A", "DenseOperator")
        self.A = A
        self._flat = A.reshape(A.shape[0], -1)  # (m, d1 d2), a view

    shape = property(lambda self: tuple(self.A.shape[1:]))
    m = property(lambda self: self.A.shape[0])
    dtype = property(lambda self: self.A.dtype)

    def __call__(self, X):
        return X.flatten(-2) @ self._flat.mT

    def adjoint(self, r):
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
        Phi, Psi, S = (_as_tensor(a, n, where) for a, n in ((Phi, "Phi"), (Psi, "Psi"), (S, "S")))
        for a, n, lay in ((Phi, "Phi", "(d1, r)"), (Psi, "Psi", "(d2, r)"), (S, "S", "(m, r)")):
            _check_ndim(a, 2, n, where, lay)
            check_matrix(a, n, where)
        r = S.shape[1]
        if Phi.shape[1] != r or Psi.shape[1] != r:
            raise ValueError(
                f"Phi {tuple(Phi.shape)}, Psi {tuple(Psi.shape)} and S {tuple(S.shape)} of "
                "AlignedOperator must share their last dimension r."
            )
        for a, n in ((Phi, "Phi"), (Psi, "Psi")):
            err = (a.mT @ a - torch.eye(r, dtype=a.dtype, device=a.device)).abs().max().item()
            if err > 1e-4 if a.dtype == torch.float32 else err > 1e-8:
                raise ValueError(
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

    def __call__(self, X):
        return self.coordinates(X) @ self.S.mT

    def adjoint(self, r):
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
        self._shape = check_shape(tuple(int(s) for s in shape), where)
        rows, cols = (_as_tensor(a, n, where).long() for a, n in ((rows, "rows"), (cols, "cols")))
        if rows.ndim != 1 or rows.shape != cols.shape:
            raise ValueError(
                f"The 'rows' and 'cols' parameters of {where} must be 1-D of equal length. "
                f"Got shapes {tuple(rows.shape)} and {tuple(cols.shape)} instead."
            )
        for a, n, d in ((rows, "rows", self._shape[0]), (cols, "cols", self._shape[1])):
            if a.numel() and (a.min() < 0 or a.max() >= d):
                raise ValueError(
                    f"The {n!r} parameter of {where} must hold indices in [0, {d - 1}]. "
                    f"Got values in [{int(a.min())}, {int(a.max())}] instead."
                )
        self.rows, self.cols, self._dtype = rows, cols, dtype
        self._flat_idx = rows * self._shape[1] + cols

    shape = property(lambda self: self._shape)
    m = property(lambda self: self.rows.shape[0])
    dtype = property(lambda self: self._dtype)

    def __call__(self, X):
        return X.flatten(-2)[..., self._flat_idx]

    def adjoint(self, r):
        out = r.new_zeros(*r.shape[:-1], self._shape[0] * self._shape[1])
        return out.index_add_(-1, self._flat_idx, r).unflatten(-1, self._shape)

    def arrays(self):
        return {"rows": self.rows.cpu().numpy(), "cols": self.cols.cpu().numpy(),
                "shape": np.array(self._shape)}

    def to(self, *args, **kwargs):
        dtype = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.dtype)),
                     self._dtype)
        dev = next((a for a in (*args, *kwargs.values()) if isinstance(a, (str, torch.device))),
                   self.rows.device)
        return CompletionOperator(self.rows.to(dev), self.cols.to(dev), self._shape, dtype)


class RankOneOperator(AbstractOperator):
    """``A_i = a_i b_i^T`` with ``a: (m, d1)``, ``b: (m, d2)``; apply ``a_i^T X b_i``, O(m d1 d2)."""

    kind = "rank_one"

    def __init__(self, a, b):
        where = "RankOneOperator"
        a, b = _as_tensor(a, "a", where), _as_tensor(b, "b", where)
        _check_ndim(a, 2, "a", where, "(m, d1)")
        _check_ndim(b, 2, "b", where, "(m, d2)")
        check_matrix(a, "a", where)
        check_matrix(b, "b", where)
        if a.shape[0] != b.shape[0]:
            raise ValueError(
                f"The 'a' and 'b' parameters of {where} must have the same number of rows m. "
                f"Got {a.shape[0]} and {b.shape[0]} instead."
            )
        self.a, self.b = a, b

    shape = property(lambda self: (self.a.shape[1], self.b.shape[1]))
    m = property(lambda self: self.a.shape[0])
    dtype = property(lambda self: self.a.dtype)

    def __call__(self, X):
        return ((X @ self.b.mT) * self.a.mT).sum(-2)  # (..., d1, m) -> (..., m)

    def adjoint(self, r):
        return (self.a.mT * r.unsqueeze(-2)) @ self.b

    def arrays(self):
        return {"a": self.a.cpu().numpy(), "b": self.b.cpu().numpy()}

    def to(self, *args, **kwargs):
        return RankOneOperator(self.a.to(*args, **kwargs), self.b.to(*args, **kwargs))


OPERATORS: dict[str, type[AbstractOperator]] = {
    cls.kind: cls for cls in (DenseOperator, AlignedOperator, CompletionOperator, RankOneOperator)
}
