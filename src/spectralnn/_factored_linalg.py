"""The linear algebra of the factored SNN of :mod:`spectralnn._factored` (its docstring has the
derivation): bases of the factors' spans, the first layer's low-rank Gram matrices, the
one-sided derivatives and transfers of the outside parts, and the autograd Function that
carries them."""

from __future__ import annotations

import torch

FULL_RANK_GAP = 1e-6
"""``_basis`` keeps the Householder QR factor when ``min |R_ii| > FULL_RANK_GAP max |R_ii|``."""


def _basis(S: torch.Tensor) -> torch.Tensor:
    """Orthonormal basis ``(..., d, r)`` of ``range(S)``, ``S: (..., d, n)``, ``d > n``.

    Householder QR's ``Q`` spans ``range(S)`` to roundoff whatever the rank of ``S``, so it is
    always exact; when ``R`` shows a (near-)dependent column, the SVD is taken instead so that
    ``r`` is the numerical rank: identical blocks (identity-like inits) give a smaller ``r`` and
    cheaper cores. The QR costs about a third of the SVD. With a runs dimension, ``r`` is the
    largest rank over runs (a superset basis is as exact)."""
    Q, R = torch.linalg.qr(S)
    dr = R.diagonal(dim1=-2, dim2=-1).abs()
    if bool((dr.amin(-1) > FULL_RANK_GAP * dr.amax(-1)).all()):
        return Q.contiguous()
    Q, s, _ = torch.linalg.svd(S, full_matrices=False)
    tol = s[..., :1] * max(S.shape[-2:]) * torch.finfo(S.dtype).eps
    r = max(int((s > tol).sum(-1).max()), 1)
    return Q[..., :r].contiguous()  # LAPACK returns column-major: make row gathers cheap


def _first_gram(F: torch.Tensor, G: torch.Tensor):
    """``(lam, W)`` of ``F G F^T`` (``F: (..., n, p)``, ``G: (..., p, p)`` symmetric PSD, p < n),
    flattened to ``(N, n)``, ``(N, n, n)``: the first layer's Gram matrices, whose rank is at
    most p (``C_k = Uc_k Vc_k^T``). With the complete QR ``F = [Q_p, Q_perp] [R; 0]``:
    ``F G F^T = Q_p (R G R^T) Q_p^T``, so one ``p x p`` eigendecomposition ``R G R^T = Z mu Z^T``
    gives ``W = [Q_perp, Q_p Z]``, ``lam = [0, .., 0, mu]`` (ascending), in place of an
    ``n x n`` one."""
    n, p = F.shape[-2:]
    Q, R = torch.linalg.qr(F, mode="complete")
    R = R[..., :p, :]
    mu, Z = torch.linalg.eigh(R @ G @ R.mT)
    W = torch.cat([Q[..., p:], Q[..., :p] @ Z], -1)
    lam = torch.cat([mu.new_zeros(*mu.shape[:-1], n - p), mu], -1)
    return lam.reshape(-1, n), W.reshape(-1, n, n)


def _side_factors(lam, W, XW, h, act, wide: bool):
    """``(D_L, D_R) = (h(C C^T), h(C^T C))`` with ``h(s^2) = f(s)/s``, ``h(0) = f'(0)``: the
    derivative of Gamma_f on the one-sided outside blocks (no gradient through C: they
    multiply parts whose value is 0), from the Gram-route decomposition of the forward pass
    (``_spectral._gram_decompose`` of ``X = C``, or of ``C^T`` when ``wide``):
    ``X^T X = W diag(lam) W^T``, ``XW = X W``.

    The small side is ``W diag(h) W^T``; the large one ``f'(0) I + XW diag(q) XW^T`` with
    ``q(lam) = (h(lam) - f'(0)) / lam``. ``q`` is smooth, so it is evaluated at ``max(lam,
    sqrt(eps) lam_max)``: below that the weight ``|X w|^2 = lam`` makes the change of order
    ``eps lam_max^2``."""
    floor = torch.finfo(lam.dtype).eps ** 0.5 * lam[..., -1:]
    lc = torch.maximum(lam, floor)
    lc = torch.where(lc > 0, lc, torch.ones_like(lc))  # the zero matrix: q unused
    sc = lc.sqrt()
    d0 = act.df(lam.new_zeros(()))
    q = (act.f(sc) / sc - d0) / lc
    small = (W * h.unsqueeze(-2)) @ W.mT
    large = (XW * q.unsqueeze(-2)) @ XW.mT
    large.diagonal(dim1=-2, dim2=-1).add_(d0)
    return (small, large) if wide else (large, small)


def _transfers(sides, alphas):
    """The linear maps of the outside parts through the network: ``E21_out = sum_k E21_k T_k``
    and ``E12t_out = sum_k E12t_k S_k`` for first-layer parts ``E21_k (d1, r')``, ``E12t_k
    (d2, r)``. Layer ``l`` maps ``E21_k -> sum_k alpha_kj E21_k D_R(C_k)`` (likewise ``D_L``),
    so ``T^l_k = D_R^l_k sum_j alpha^l_kj T^{l+1}_j`` from ``T^D = I``: all in ``r x r``."""
    (DL, DR), alpha = sides[-1], alphas[-1]  # the last layer: T^D = I, one output
    T, S = DR * alpha[..., 0, None, None], DL * alpha[..., 0, None, None]
    for (DL, DR), alpha in zip(reversed(sides[:-1]), reversed(alphas[:-1])):
        T = DR @ torch.einsum("...kj,...jab->...kab", alpha, T)
        S = DL @ torch.einsum("...kj,...jab->...kab", alpha, S)
    return T, S  # ([R,] L0, r', r'), ([R,] L0, r, r)


class _Outside(torch.autograd.Function):
    """The network's output outside parts ``E21 (d1, r')``, ``E12t (d2, r)``: value 0, and
    derivative ``E21 = sum_k (I - Q1 Q1^T) dU_k (Q2^T V_k)^T T_k`` (likewise ``E12t`` with
    ``dV_k``, ``Q1^T U_k``, ``S_k``): the first-order change of the network's output outside
    the spans (module docstring). Cost O((d1 + d2) L0 r p), no d x r tensor per block."""

    @staticmethod
    def forward(ctx, U, V, Q1, Q2, Uc, Vc, T, S):
        ctx.save_for_backward(Q1, Q2, Uc, Vc, T, S)
        batch = U.shape[:-3]
        return (
            U.new_zeros(*batch, U.shape[-2], Q2.shape[-1]),
            V.new_zeros(*batch, V.shape[-2], Q1.shape[-1]),
        )

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gE21, gE12t):
        Q1, Q2, Uc, Vc, T, S = ctx.saved_tensors
        gE21 = gE21 - Q1 @ (Q1.mT @ gE21)  # (I - Q1 Q1^T) g: ([R,] d1, r')
        gE12t = gE12t - Q2 @ (Q2.mT @ gE12t)
        gU = gE21.unsqueeze(-3) @ (T.mT @ Vc)  # ([R,] L0, d1, p)
        gV = gE12t.unsqueeze(-3) @ (S.mT @ Uc)
        return gU, gV, None, None, None, None, None, None
