r"""Functional core: spectral maps with an exact backward, and matrix metrics.

Depends on torch alone. Every Module in :mod:`spectralnn.nn` is a thin wrapper over
:func:`spectral_apply`.

Note [degenerate singular values]
---------------------------------
Autograd through ``torch.linalg.svd`` divides by ``s_i^2 - s_j^2`` and returns NaN (or finite but
wrong values) at repeated or zero singular values, although :math:`\Gamma_f` itself is smooth
there for smooth odd ``f``. The backward below uses the Frechet derivative of a generalised matrix
function (Noferini 2016), written with divided differences of ``f`` that have finite limits at
ties. Each divided difference switches to ``f'`` at the midpoint when the two nodes agree to
``eps**(1/3)`` relative: there both the truncation error of the midpoint rule and the
cancellation error of the quotient are about ``eps**(2/3)``.

Note [f(0) != 0]
----------------
For ``f`` with ``f(0) != 0`` (the paper's plain sigmoid) the map depends on the singular vectors
chosen for zero singular values, so it is discontinuous at rank-deficient inputs. We still
compute it (with a warning) using the thin SVD torch returns and the conventions of MATH.md.
"""

from __future__ import annotations

import torch

from ._activations import ACTIVATIONS, Activation, get_activation, register_activation
from ._validation import check_matrix

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "register_activation",
    "spectral_apply",
    "nuclear_norm",
    "effective_rank",
]


def _backward_tall(G, U, s, Vh, act: Activation):
    """Gradient of <G, U diag(f(s)) Vh> w.r.t. X = U diag(s) Vh, for tall X (d1 >= d2 = k).

    Shapes: G (..., d1, k), U (..., d1, k), s (..., k), Vh (..., k, k). The divided differences
    follow Note [degenerate singular values]; s >= 0, so |s_i| + |s_j| = s_i + s_j.
    """
    fs = act.f(s)
    si, sj = s.unsqueeze(-1), s.unsqueeze(-2)  # (..., k, 1), (..., 1, k)
    fi, fj = fs.unsqueeze(-1), fs.unsqueeze(-2)
    diff, ssum = si - sj, si + sj
    close = diff.abs() <= torch.finfo(s.dtype).eps ** (1.0 / 3.0) * ssum
    # D1 = (f(s_i) - f(s_j)) / (s_i - s_j), f' at the midpoint where s_i and s_j nearly tie.
    d1 = torch.where(close, act.df(0.5 * ssum), (fi - fj) / torch.where(close, 1.0, diff))
    # D2 = (f(s_i) + f(s_j)) / (s_i + s_j): the divided difference of the odd extension
    # between s_i and -s_j; their gap s_i + s_j vanishes only when both are 0 (limit f'(0)).
    pos = ssum > 0
    d2 = torch.where(pos, (fi + fj) / torch.where(pos, ssum, 1.0), act.df(s.new_zeros(())))
    q = torch.diagonal(d2, dim1=-2, dim2=-1).unsqueeze(-2)  # f(s_j) / s_j, (..., 1, k)
    GV = G @ Vh.mT  # (..., d1, k)
    Gbar = U.mT @ GV  # (..., k, k)
    # D1 * sym(Gbar) + D2 * skew(Gbar) - Gbar diag(q), regrouped to touch Gbar twice:
    core = Gbar * (0.5 * (d1 + d2) - q) + Gbar.mT * (0.5 * (d1 - d2))
    # U core V^T + (I - U U^T) G V diag(q) V^T, the second term folded into the first.
    return (U @ core + GV * q) @ Vh


# Note [SVD on CUDA]
# Measured on an H100 (benchmarks/gpu_svd.py, table in the README): up to 32 x 32 cuSOLVER's
# batched Jacobi SVD (gesvdj) is fast; from 33 to 128 a round trip to the CPU's LAPACK beat
# every CUDA route at every batch size (e.g. 64 x 64 x 16: 8 ms vs 23 ms); above that the
# default CUDA path is as fast as the CPU. Every route returns the same thin SVD, so the choice
# is about speed only. On CPUs this is plain LAPACK.
CUDA_SVD_VIA_CPU = (33, 128)  # smaller side in this range: SVD on the CPU


def _svd(X: torch.Tensor):
    if not X.is_cuda:
        return torch.linalg.svd(X, full_matrices=False)
    n = X.shape[-1]
    if n <= 32:
        return torch.linalg.svd(X, full_matrices=False, driver="gesvdj")
    lo, hi = CUDA_SVD_VIA_CPU
    if lo <= n <= hi:
        U, s, Vh = torch.linalg.svd(X.cpu(), full_matrices=False)
        return U.to(X.device), s.to(X.device), Vh.to(X.device)
    return torch.linalg.svd(X, full_matrices=False)


class _SpectralApply(torch.autograd.Function):
    """Gamma_f on tall matrices; saves the SVD for the exact backward."""

    @staticmethod
    def forward(ctx, X, act):
        U, s, Vh = _svd(X)
        ctx.save_for_backward(U, s, Vh)
        ctx.act = act
        return (U * act.f(s).unsqueeze(-2)) @ Vh

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, G):
        U, s, Vh = ctx.saved_tensors
        return _backward_tall(G, U, s, Vh, ctx.act), None


def _spectral_apply(X: torch.Tensor, act: Activation) -> torch.Tensor:
    """Unchecked :func:`spectral_apply` for internal hot paths (X already validated)."""
    if X.shape[-2] < X.shape[-1]:  # wide: Gamma(X) = Gamma(X^T)^T
        return _SpectralApply.apply(X.mT, act).mT
    return _SpectralApply.apply(X, act)


def spectral_apply(
    X: torch.Tensor, fn: str | Activation | tuple = "tanh", *, check_finite: bool = True
) -> torch.Tensor:
    r"""Apply a scalar function to the singular values of a (batch of) matrices.

    .. math::

        X = U \operatorname{diag}(s) V^\top \;\mapsto\;
        \Gamma_f(X) = U \operatorname{diag}(f(s)) V^\top

    The backward pass is the exact Frechet derivative, finite at repeated and zero singular
    values (see Note [degenerate singular values] in this module), at the cost of the SVD kept
    from the forward pass plus a few matrix products.

    Parameters
    ----------
    X : torch.Tensor, shape (..., d1, d2)
        Real floating matrices (float32 or float64, any device); tall or wide.
    fn : str or Activation or (f, df), default="tanh"
        A name in :data:`ACTIVATIONS`, an :class:`Activation`, or a pair of callables.
        ``f`` should satisfy ``f(0) = 0`` (odd-extendable) for the map to be well defined.
    check_finite : bool, default=True
        Raise on NaN/inf entries of ``X`` (one device synchronisation).

    Returns
    -------
    torch.Tensor, shape (..., d1, d2)

    Raises
    ------
    TypeError
        ``X`` not a tensor or not floating; ``fn`` of the wrong type.
    ValueError
        ``X`` with fewer than 2 dimensions or non-finite entries; unknown activation name.

    References
    ----------
    V. Noferini, "A formula for the Frechet derivative of a generalized matrix function",
    SIAM J. Matrix Anal. Appl. 38(2), 2017. arXiv:1609.03542.
    H. T. M. Chu, S. Ghosh, C. T. Lam, S. S. Mukherjee, "Implicit Regularization via Spectral
    Neural Networks and Non-linear Matrix Sensing", arXiv:2402.17595.

    Examples
    --------
    >>> import torch, spectralnn as snn
    >>> X = torch.diag(torch.tensor([2.0, 0.5], dtype=torch.float64))
    >>> snn.spectral_apply(X, "tanh").diagonal()
    tensor([0.9640, 0.4621], dtype=torch.float64)
    """
    act = get_activation(fn)
    check_matrix(X, "X", "spectral_apply", finite=check_finite)
    return _spectral_apply(X, act)


def nuclear_norm(X: torch.Tensor) -> torch.Tensor:
    """Sum of singular values, ``(..., d1, d2) -> (...)``."""
    return torch.linalg.svdvals(X).sum(-1)


def effective_rank(X: torch.Tensor) -> torch.Tensor:
    r"""Roy & Vetterli's effective rank :math:`\exp(-\sum_j p_j \log p_j)`, ``p = s / \sum s``.

    ``(..., d1, d2) -> (...)``; 0 for the zero matrix.
    """
    return effective_rank_of(torch.linalg.svdvals(X))


def effective_rank_of(s: torch.Tensor) -> torch.Tensor:
    """:func:`effective_rank` from the singular values ``s: (..., k)`` (any order, >= 0)."""
    total = s.sum(-1, keepdim=True)
    p = s / torch.where(total > 0, total, torch.ones_like(total))
    ent = -(torch.where(p > 0, p * torch.log(p), torch.zeros_like(p))).sum(-1)
    return torch.where(total.squeeze(-1) > 0, torch.exp(ent), torch.zeros_like(ent))
