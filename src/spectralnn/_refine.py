r"""Re-fitting a trained part's rows in its column space (probabilistic PCA with its loadings)."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ._completion import FoldFit

RIDGE_GRID = (1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0)
"""Noise-to-signal ratios tried by :func:`refine_rows` (relative to the mean entry power)."""


def refine_rows(fit: FoldFit, y, values, rows, cols, shape, train, held, to_user) -> FoldFit:
    r"""Re-estimate every row's coefficients in the fitted column space by ridge regression.

    With the fit's thin SVD ``X = U S V^T`` and loadings ``B = V S / sqrt(d1)`` (so that
    ``B B^T = X^T X / d1``, the covariance of the fitted rows), row ``i`` gets the posterior mean
    of ``x_i = B l_i + noise`` under ``l_i ~ N(0, I)`` from its observed entries ``o_i``:

    .. math:: l_i = (B_{o_i}^\top B_{o_i} + \sigma^2 I)^{-1} B_{o_i}^\top y_{o_i},

    the probabilistic-PCA imputation with the SNN's column space. Early-stopped gradient descent
    leaves the row coefficients of a row with few observations unshrunk; this shrinks each by
    its own evidence. ``sigma^2`` (:data:`RIDGE_GRID` times the mean entry power) is chosen on
    the held-out entries; the fit is returned unchanged when no ratio improves on it.
    """
    if held is None or fit.val_rmse is None:
        return fit
    L, R = (fit.L, fit.R) if fit.X is None else (fit.X, None)
    with torch.no_grad():
        U, S, V = _thin_svd(L, R)
        keep = S > S[0] * 1e-6 if S.numel() else S > 0
        if not bool(keep.any()):
            return fit
        B = V[:, keep] * (S[keep] / shape[0] ** 0.5)
        k = B.shape[1]
        tr_r = torch.as_tensor(rows[train], dtype=torch.long)
        tr_c = torch.as_tensor(cols[train], dtype=torch.long)
        yt = torch.as_tensor(y[train], dtype=B.dtype)
        gram = torch.zeros(shape[0], k, k, dtype=B.dtype)
        rhs = torch.zeros(shape[0], k, dtype=B.dtype)
        for s in range(0, len(tr_r), 1 << 13):
            b = B[tr_c[s : s + (1 << 13)]]
            gram.index_add_(0, tr_r[s : s + (1 << 13)], b[:, :, None] * b[:, None, :])
            rhs.index_add_(0, tr_r[s : s + (1 << 13)], b * yt[s : s + (1 << 13), None])
        power = float((S * S).sum()) / (shape[0] * shape[1])
        h_r = torch.as_tensor(rows[held], dtype=torch.long)
        h_c = torch.as_tensor(cols[held], dtype=torch.long)
        best = (fit.val_rmse, None)
        eye = torch.eye(k, dtype=B.dtype)
        for ratio in RIDGE_GRID:
            coef = torch.linalg.solve(gram + ratio * power * eye, rhs[:, :, None])[:, :, 0]
            z = (coef[h_r] * B[h_c]).sum(-1).double().numpy()
            rmse = float(np.sqrt(np.mean((to_user(z, held) - values[held]) ** 2)))
            if rmse < best[0]:
                best = (rmse, coef)
    if best[1] is None:
        return fit
    return dataclasses.replace(fit, L=best[1], R=B, X=None, val_rmse=best[0])


def _thin_svd(L, R):
    """``L R^T`` (or a dense ``L`` when ``R`` is None) as ``U, S, V``."""
    if R is None:
        U, S, Vh = torch.linalg.svd(L, full_matrices=False)
        return U, S, Vh.mT
    QL, RL = torch.linalg.qr(L)
    QR, RR = torch.linalg.qr(R)
    Uc, S, Vch = torch.linalg.svd(RL @ RR.mT)
    return QL @ Uc, S, QR @ Vch.mT
