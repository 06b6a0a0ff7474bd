"""Operators stored as their measurement matrices: dense ``A: (m, d1, d2)`` and rank-one
``A_i = a_i b_i^T``."""

from __future__ import annotations

from ._operator_base import AbstractOperator, _same_dtype
from ._validation import check_array
from .errors import InputError


class DenseOperator(AbstractOperator):
    """Arbitrary ``A: (m, d1, d2)``; apply is one ``(m, d1 d2) x (d1 d2)`` product."""

    kind = "dense"
    npz_keys = ("A",)

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

    def measure_low_rank(self, L, R):
        return self(L @ R.mT)  # the product costs less than the m d1 d2 apply

    def sq_norm_sum(self, seed=0):
        return float((self.A**2).sum())

    def subset(self, idx):
        return DenseOperator(self.A[idx])


class RankOneOperator(AbstractOperator):
    """``A_i = a_i b_i^T`` with ``a: (m, d1)``, ``b: (m, d2)``; apply ``a_i^T X b_i``,
    O(m d1 d2)."""

    kind = "rank_one"
    npz_keys = ("a", "b")

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

    def measure_low_rank(self, L, R):
        return ((self.a @ L) * (self.b @ R)).sum(-1)

    def sq_norm_sum(self, seed=0):
        return float(((self.a**2).sum(-1) * (self.b**2).sum(-1)).sum())

    def subset(self, idx):
        return RankOneOperator(self.a[idx], self.b[idx])
