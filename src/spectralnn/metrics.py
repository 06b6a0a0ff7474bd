"""Metrics recorded during training and reported by experiments (docs/math.md section 6)."""

from __future__ import annotations

import math

import torch

from ._history import record_from
from ._validation import check_matrix
from .errors import InputError, InputTypeError
from .functional import effective_rank, nuclear_norm

__all__ = ["relative_error", "psnr", "alignment", "nuclear_norm", "effective_rank", "record"]


def _pair(where: str, X, X_true, same_shape: bool = False):
    X = check_matrix(X, "X", where, finite=False)  # a diverged run's NaN gives NaN
    X_true = check_matrix(X_true, "X_true", where)
    if X.shape[-2:] != X_true.shape[-2:] or same_shape and X.shape != X_true.shape:
        raise InputError(
            f"The 'X_true' parameter of {where} must have the shape of X "
            f"{'' if same_shape else '(..., d1, d2) = '}{tuple(X.shape)}. "
            f"Got shape {tuple(X_true.shape)} instead."
        )
    if not bool(X_true.abs().amax((-2, -1)).gt(0).all()):
        raise InputError(
            f"The 'X_true' parameter of {where} must be nonzero (it is the "
            "denominator). Got a zero matrix instead."
        )
    return X, X_true


def relative_error(X: torch.Tensor, X_true: torch.Tensor) -> torch.Tensor:
    """``||X - X*||_F / ||X*||_F``, ``(..., d1, d2) -> (...)``.

    ``X_true`` is ``(d1, d2)`` or batched like ``X``; it must be finite and nonzero.

    Examples
    --------
    >>> import torch, spectralnn as snn
    >>> snn.metrics.relative_error(torch.zeros(2, 2), torch.eye(2)).item()
    1.0
    """
    X, X_true = _pair("relative_error", X, X_true)
    return _relative_error(X, X_true)


def _relative_error(X: torch.Tensor, X_true: torch.Tensor) -> torch.Tensor:
    return torch.linalg.matrix_norm(X - X_true) / torch.linalg.matrix_norm(X_true)


def psnr(X: torch.Tensor, X_true: torch.Tensor) -> float:
    """``20 log10(peak / RMSE)`` with the reference image's own peak ``max |X*|``.

    ``X`` and ``X_true`` have the same shape; ``inf`` when they are equal.

    Examples
    --------
    >>> import torch, spectralnn as snn
    >>> round(snn.metrics.psnr(torch.full((2, 2), 0.9), torch.ones(2, 2)), 4)  # 20 log10(1/0.1)
    20.0
    """
    X, X_true = _pair("psnr", X, X_true, same_shape=True)
    rmse = torch.sqrt(((X - X_true) ** 2).mean()).item()
    peak = X_true.abs().max().item()
    return math.inf if rmse == 0 else 20 * math.log10(peak / rmse)


def alignment(X: torch.Tensor, Phi: torch.Tensor, Psi: torch.Tensor) -> torch.Tensor:
    """Off-diagonal mass ``||offdiag(Phi^T X Psi)||_F / ||X||_F`` (0 under Assumptions 1-2).

    ``X: (..., d1, d2)``, ``Phi: (d1, r)``, ``Psi: (d2, r)`` -> ``(...)``; 0 for ``X = 0``.
    """
    where = "alignment"
    X = check_matrix(X, "X", where, finite=False)
    Phi, Psi = check_matrix(Phi, "Phi", where), check_matrix(Psi, "Psi", where)
    if (
        Phi.ndim != 2
        or Psi.ndim != 2
        or Phi.shape[0] != X.shape[-2]
        or Psi.shape[0] != X.shape[-1]
        or Phi.shape[1] != Psi.shape[1]
    ):
        raise InputError(
            f"The 'Phi' and 'Psi' parameters of {where} must have shapes (d1, r) and (d2, r) "
            f"with (d1, d2) = {tuple(X.shape[-2:])}. Got {tuple(Phi.shape)} and "
            f"{tuple(Psi.shape)} instead."
        )
    M = Phi.mT @ X @ Psi
    off = M - torch.diag_embed(torch.diagonal(M, dim1=-2, dim2=-1))
    return torch.linalg.matrix_norm(off) / torch.linalg.matrix_norm(X).clamp_min(1e-300)


def record(X: torch.Tensor, problem, grad_norm: float | None = None) -> dict:
    """Every per-record metric of docs/design.md for one matrix ``X: (d1, d2)`` of ``problem``'s
    shape (non-finite entries allowed: a diverged run is still recorded)."""
    if not isinstance(X, torch.Tensor):
        raise InputTypeError(
            f"The 'X' parameter of record must be a torch.Tensor. Got {type(X).__name__} instead."
        )
    if tuple(X.shape) != tuple(problem.shape):
        raise InputError(
            f"The 'X' parameter of record must have the problem's shape "
            f"{tuple(problem.shape)}. Got {tuple(X.shape)} instead."
        )
    X = X.detach()
    s = torch.linalg.svdvals(X)
    return record_from(
        s,
        problem.loss(X).item(),
        test_loss=problem.loss(X, test=True).item() if problem.y_test is not None else None,
        rel_error=_relative_error(X, problem.X_true).item() if problem.X_true is not None else None,
        grad_norm=grad_norm,
    )
