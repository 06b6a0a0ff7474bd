"""The exact derivatives of the spectral maps of :mod:`spectralnn._spectral`: the divided
differences of the Frechet derivative (SVD route) and the Gram route's decomposition, weights
and backward (Note [Gram route] in ``_spectral.py``)."""

from __future__ import annotations

import torch

from ._activations import Activation

_TIE = {
    torch.float32: torch.finfo(torch.float32).eps ** (1.0 / 3.0),
    torch.float64: torch.finfo(torch.float64).eps ** (1.0 / 3.0),
}


def _coefficients(s, fs, act: Activation, square: bool):
    """Divided-difference weights ``(P, B, q)`` of :func:`_backward_tall` for ``s: (..., k)``.

    With D1, D2 and q of docs/math.md section 2 (Note [degenerate singular values]),
    ``P = (D1 + D2) / 2 - q_j`` and ``B = (D1 - D2) / 2``, both ``(..., k, k)``, and
    ``q: (..., 1, k)``. For square matrices U is orthogonal, the ``q`` term of the gradient
    vanishes, ``P = (D1 + D2) / 2`` and ``q`` is None. s >= 0, so |s_i| + |s_j| = s_i + s_j.
    """
    si, sj = s.unsqueeze(-1), s.unsqueeze(-2)  # (..., k, 1), (..., 1, k)
    fi, fj = fs.unsqueeze(-1), fs.unsqueeze(-2)
    diff, ssum = si - sj, si + sj
    close = diff.abs() <= _TIE.get(s.dtype, 1e-5) * ssum
    # f' at the midpoint; where s_i = s_j = 0 this is f'(0), the limit of D2 there too.
    dmid = act.df(0.5 * ssum)
    # D1 = (f(s_i) - f(s_j)) / (s_i - s_j), f' at the midpoint where s_i and s_j nearly tie.
    # (The quotient's inf/nan at exact ties is computed and discarded: no autograd here.)
    d1 = torch.where(close, dmid, (fi - fj) / diff)
    # D2 = (f(s_i) + f(s_j)) / (s_i + s_j): the divided difference of the odd extension
    # between s_i and -s_j; their gap s_i + s_j vanishes only when both are 0 (limit f'(0)).
    d2 = torch.where(ssum == 0, dmid, (fi + fj) / ssum)
    P = torch.lerp(d1, d2, 0.5)  # (D1 + D2) / 2
    B = d1 - P  # (D1 - D2) / 2
    if square:
        return P, B, None
    q = torch.diagonal(d2, dim1=-2, dim2=-1).unsqueeze(-2)  # f(s_j) / s_j
    return P - q, B, q


def _backward_tall(G, U, Vh, P, B, q, mm=torch.matmul):
    """Gradient of <G, U diag(f(s)) Vh> w.r.t. X = U diag(s) Vh, for tall X (d1 >= d2 = k).

    Shapes: G (..., d1, k), U (..., d1, k), Vh (..., k, k); ``P, B, q`` from
    :func:`_coefficients`; ``mm=torch.bmm`` for 3-d stacks. With Gbar = U^T G V this is
    U (D1 * sym(Gbar) + D2 * skew(Gbar)) V^T + (I - U U^T) G V diag(q) V^T, regrouped so that
    Gbar is touched twice and the projector is folded into the first term.
    """
    GV = mm(G, Vh.mT)  # (..., d1, k)
    Gbar = mm(U.mT, GV)  # (..., k, k)
    core = torch.addcmul(Gbar * P, Gbar.mT, B)
    if q is None:  # square: U U^T = I
        return mm(mm(U, core), Vh)
    return mm(torch.addcmul(mm(U, core), GV, q), Vh)


def _gram_decompose(X, act: Activation, eig=None):
    """``X: (N, d1, d2)`` tall -> ``(lam, W, XW, h)`` of the Gram route (Note [Gram route]).

    ``eig``: ``(lam, W)`` of ``X^T X`` when the caller has it more cheaply (the factored
    path's first layer, whose inputs have a known low rank). ``h = f(s)/s`` is evaluated at
    ``max(s, sqrt(tiny))`` (about 1e-154 in float64): there it equals ``f'(0)`` to rounding for
    every f with f(0) = 0 (f(s)/s = f'(0) + O(s)), so no branch is needed at zero."""
    lam, W = torch.linalg.eigh(torch.bmm(X.mT, X)) if eig is None else eig
    lam = lam.clamp_min(0)
    s = lam.sqrt().clamp_min(torch.finfo(lam.dtype).tiny ** 0.5)
    return lam, W, torch.bmm(X, W), act.f(s) / s


def _gram_weights(lam, h, act: Activation):
    """``Dh (..., k, k)``: divided differences of ``h`` on ``lam`` (Note [Gram route]); at
    ties the mean of the end-point derivatives ``h'(lam) = (f'(s) - h) / (2 lam)`` (0 at
    ``lam = 0``, whose weight is 0). That is as accurate as ``h'`` at the midpoint (both are
    off the divided difference by O(diff^2)) and needs ``f'`` on vectors only."""
    pos = lam > 0
    l1 = torch.where(pos, lam, 1.0)
    half_dh = torch.where(pos, (act.df(l1.sqrt()) - h) / (4 * l1), 0.0)  # h'(lam) / 2
    li, lj = lam.unsqueeze(-1), lam.unsqueeze(-2)
    diff = li - lj
    close = diff.abs() <= _TIE.get(lam.dtype, 1e-5) * (li + lj)  # includes lam_i = lam_j = 0
    return torch.where(
        close,
        half_dh.unsqueeze(-1) + half_dh.unsqueeze(-2),
        (h.unsqueeze(-1) - h.unsqueeze(-2)) / diff,
    )


def _gram_backward(G, W, XW, h, Dh):
    """``dL/dX`` of the Gram route for ``G (N, d1, d2)`` (Note [Gram route])."""
    Gw = torch.bmm(G, W)
    M = torch.bmm(XW.mT, Gw)
    return torch.bmm(torch.baddbmm(Gw * h.unsqueeze(-2), XW, Dh * (M + M.mT)), W.mT)
