"""The aligned operator of Assumption 1, with its exact linear programs (the nuclear-norm
minimiser and the KKT dual)."""

from __future__ import annotations

import numpy as np
import torch

from ._operator_base import AbstractOperator, _same_dtype
from ._validation import check_array
from .errors import InputError


class AlignedOperator(AbstractOperator):
    r"""Assumption 1: :math:`A_i = \Phi \operatorname{diag}(s_i) \Psi^\top`.

    ``Phi: (d1, r)`` and ``Psi: (d2, r)`` with orthonormal columns, ``S: (m, r)`` (row i is s_i).
    Apply: ``x = diag(Phi^T X Psi)`` then ``S x``, O(d1 d2 r + m r).
    """

    kind = "aligned"
    npz_keys = ("Phi", "Psi", "S")
    exact_lp = True

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

    def measure_low_rank(self, L, R):
        coords = ((self.Phi.mT @ L) * (self.Psi.mT @ R)).sum(-1)  # diag(Phi^T L R^T Psi)
        return coords @ self.S.mT

    def range_matrix(self):
        return self.S  # the coordinates map onto R^r, so range(A) = range(S)

    def min_norm_solution(self, y):
        return self.embed(torch.linalg.pinv(self.S) @ y)  # A^+ = embed S^+ (coordinates: onto)

    def nuclear_lp(self, y_hat):
        """``min ||x||_1`` s.t. ``S x = y_hat`` (scipy HiGHS); ``X = embed(x)``."""
        from scipy.optimize import linprog

        S = self.S.cpu().numpy()
        r = S.shape[1]
        # x = p - q with p, q >= 0: min 1^T (p + q) s.t. S (p - q) = y_hat.
        res = linprog(
            np.ones(2 * r),
            A_eq=np.hstack([S, -S]),
            b_eq=y_hat.cpu().numpy(),
            bounds=(0, None),
            method="highs",
        )
        if res.status != 0:
            raise RuntimeError(f"HiGHS could not solve the aligned LP: {res.message}")
        x = torch.from_numpy(res.x[:r] - res.x[r:]).to(self.S)
        return self.embed(x), {
            "status": "optimal",
            "converged": True,
            "iterations": int(getattr(res, "nit", 0)) or None,
        }

    def kkt_lp(self, X, rank_tol, tol):
        """An aligned ``X`` (off-diagonal mass at most ``tol``): the support of ``x =
        coordinates(X)`` plays the role of the rank, and the dual is the LP over ``S^T nu``
        (docs/math.md section 5)."""
        from ._kkt import _fallback, _lstsq_dual
        from .metrics import alignment

        if alignment(X, self.Phi, self.Psi).item() > tol:
            return None
        x = self.coordinates(X)
        supp = x.abs() > rank_tol * x.abs().max()
        U = self.Phi[:, supp] * torch.sign(x[supp])
        V = self.Psi[:, supp]
        nu, status = self._kkt_dual(x, supp)
        if nu is None:
            _fallback("aligned LP", status)
            return U, V, int(supp.sum()), _lstsq_dual(self, U, V), "aligned-lstsq-fallback", status
        return U, V, int(supp.sum()), nu, "aligned-lp", status

    def _kkt_dual(self, x, supp):
        """nu with (S^T nu)_j = sign(x_j) on the support, min max |.| off it (LP)."""
        from scipy.optimize import linprog

        S = self.S.cpu().numpy()
        supp = supp.cpu().numpy()
        m = S.shape[0]
        sign = np.sign(x.cpu().numpy())
        # variables (nu, t): min t s.t. S_supp^T nu = sign, -t <= S_off^T nu <= t
        c = np.r_[np.zeros(m), 1.0]
        off = S[:, ~supp].T
        A_ub = np.vstack([np.c_[off, -np.ones(len(off))], np.c_[-off, -np.ones(len(off))]])
        A_eq = np.c_[S[:, supp].T, np.zeros(int(supp.sum()))]
        res = linprog(
            c,
            A_ub=A_ub if len(off) else None,
            b_ub=np.zeros(len(A_ub)) if len(off) else None,
            A_eq=A_eq if supp.any() else None,
            b_eq=sign[supp] if supp.any() else None,
            bounds=[(None, None)] * m + [(0, None)],
            method="highs",
        )
        if res.status == 0:
            return torch.from_numpy(res.x[:m]).to(self.S), "optimal"
        if res.status == 2:  # proven: no nu matches the signs, so no certificate exists
            nu = np.linalg.lstsq(S[:, supp].T, sign[supp], rcond=None)[0]  # residuals to show
            return torch.from_numpy(nu).to(self.S), "infeasible"
        return None, f"HiGHS: {res.message}"
