"""The completion operator: observed entries ``A_i = e_{rows_i} e_{cols_i}^T``."""

from __future__ import annotations

import numpy as np
import torch

from ._gather import _SampledProduct, _SampledWithOutside
from ._operator_base import AbstractOperator
from ._validation import check_dtype, check_index_array, check_shape
from .errors import InputError


class CompletionOperator(AbstractOperator):
    """Entry sampling: ``A_i = e_{rows_i} e_{cols_i}^T``; O(m) gather and scatter-add."""

    kind = "completion"
    npz_keys = ("rows", "cols", "shape")
    float_keys = ()
    center_by_default = True

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

    @classmethod
    def from_npz(cls, arrays, dtype=torch.float64):
        return cls(arrays["rows"], arrays["cols"], arrays["shape"], dtype)

    def measure_low_rank(self, L, R):
        return _SampledProduct.apply(L, R, self.rows, self.cols)

    def measure_low_rank_outside(self, P, Q2, Q1, E12t):
        return _SampledWithOutside.apply(P, E12t, Q1, Q2, self.rows, self.cols)

    def streaming_order(self):
        return torch.argsort(self.rows, stable=True)  # row-sorted entries: streaming gathers

    def sq_norm_sum(self, seed=0):
        return float(self.m)

    def curvature(self, iters=30, seed=0):
        """Exact: the largest multiplicity of an observed entry over ``m``."""
        return float(torch.bincount(self._flat_idx).max()) / self.m

    def subset(self, idx):
        return CompletionOperator(self.rows[idx], self.cols[idx], self._shape, self._dtype)

    def holdout(self, perm, n):
        """Never a row's or a column's last observed entry."""
        rows_left = torch.bincount(self.rows, minlength=self._shape[0]).clone()
        cols_left = torch.bincount(self.cols, minlength=self._shape[1]).clone()
        chosen = []
        for i in perm.tolist():
            r, c = int(self.rows[i]), int(self.cols[i])
            if rows_left[r] > 1 and cols_left[c] > 1:
                chosen.append(i)
                rows_left[r] -= 1
                cols_left[c] -= 1
                if len(chosen) == n:
                    break
        return torch.tensor(chosen, dtype=torch.long)

    def is_onto(self):
        return len(set(self._flat_idx.tolist())) == self.m  # distinct entries
