"""Metrics recorded during training and reported by experiments (MATH.md section 6)."""

from __future__ import annotations

import math

import torch

from .functional import effective_rank, effective_rank_of, nuclear_norm

__all__ = ["relative_error", "psnr", "alignment", "nuclear_norm", "effective_rank", "snapshot"]


def relative_error(X: torch.Tensor, X_true: torch.Tensor) -> torch.Tensor:
    """``||X - X*||_F / ||X*||_F``, ``(..., d1, d2) -> (...)``."""
    return torch.linalg.matrix_norm(X - X_true) / torch.linalg.matrix_norm(X_true)


def psnr(X: torch.Tensor, X_true: torch.Tensor) -> float:
    """``20 log10(peak / RMSE)`` with the reference image's own peak ``max |X*|``."""
    rmse = torch.sqrt(((X - X_true) ** 2).mean()).item()
    peak = X_true.abs().max().item()
    return math.inf if rmse == 0 else 20 * math.log10(peak / rmse)


def alignment(X: torch.Tensor, Phi: torch.Tensor, Psi: torch.Tensor) -> torch.Tensor:
    """Off-diagonal mass ``||offdiag(Phi^T X Psi)||_F / ||X||_F`` (0 under Assumptions 1-2)."""
    M = Phi.mT @ X @ Psi
    off = M - torch.diag_embed(torch.diagonal(M, dim1=-2, dim2=-1))
    return torch.linalg.matrix_norm(off) / torch.linalg.matrix_norm(X).clamp_min(1e-300)


def snapshot(X: torch.Tensor, problem, grad_norm: float | None = None) -> dict:
    """Every per-record metric of DESIGN.md for one matrix ``X: (d1, d2)``."""
    X = X.detach()
    s = torch.linalg.svdvals(X)
    rec = {
        "train_loss": problem.loss(X).item(),
        "test_loss": problem.loss(X, test=True).item() if problem.y_test is not None else None,
        "rel_error": relative_error(X, problem.X_true).item()
        if problem.X_true is not None else None,
        "nuclear_norm": s.sum().item(),
        "singular_values": s.tolist(),
        "erank": effective_rank_of(s).item(),  # from the same SVD
    }
    if grad_norm is not None:
        rec["grad_norm"] = grad_norm
    return rec
