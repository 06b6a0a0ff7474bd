"""The exact spectral maps behind :mod:`spectralnn.functional`: SVD routing, the divided
differences of the Frechet derivative, and the autograd Functions for one map
(:class:`_SpectralApply`) and for a whole network (:class:`_SpectralNetwork`).

Unchecked: the public, validating entry points are ``functional.spectral_apply`` and
``functional.spectral_network``; Notes [degenerate singular values] and [f(0) != 0] are in
``functional.py``'s docstring.
"""

from __future__ import annotations

import math

import torch

from ._activations import Activation

_TIE = {torch.float32: torch.finfo(torch.float32).eps ** (1.0 / 3.0),
        torch.float64: torch.finfo(torch.float64).eps ** (1.0 / 3.0)}


def _coefficients(s, fs, act: Activation, square: bool):
    """Divided-difference weights ``(P, B, q)`` of :func:`_backward_tall` for ``s: (..., k)``.

    With D1, D2 and q of MATH.md section 2 (Note [degenerate singular values]),
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


# Note [fused network]
# A depth-D SNN built from spectral_apply and einsum is about 4 D autograd nodes, its backward
# evaluates the divided differences once per layer, and matmul/einsum pay for broadcasting
# logic on every call. At the paper's 10 x 10 sizes a step costs these small ops (a few us
# each), not arithmetic (benchmarks/small.py). _SpectralNetwork is one node for all layers:
# leading dimensions are flattened (broadcast alphas expanded) once, wide inputs transposed
# once, and everything runs on 3-d stacks with bmm. Forward per layer: one batched SVD of all
# K_in inputs, f(s), Gamma_f, and the alpha mixing (one bmm); U, s, f(s), Vh, Gamma_f are kept
# on ctx. Backward: the singular values of all layers are stacked so that _coefficients runs
# once; per layer, alpha's gradient and the mixing are one bmm each, then _backward_tall
# (four bmm for square matrices, where the (I - U U^T) term vanishes). The formula and its
# tie handling are exactly those of spectral_apply, which tests/test_nn.py checks to 1e-12.
# What remains per layer is the LAPACK SVD, which bounds batched runs (benchmarks/small.py).

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
        fs = act.f(s)
        ctx.save_for_backward(U, s, fs, Vh)
        ctx.act = act
        return (U * fs.unsqueeze(-2)) @ Vh

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, G):
        U, s, fs, Vh = ctx.saved_tensors
        coef = _coefficients(s, fs, ctx.act, U.shape[-2] == U.shape[-1])
        return _backward_tall(G, U, Vh, *coef), None


def _spectral_apply(X: torch.Tensor, act: Activation) -> torch.Tensor:
    """Unchecked :func:`spectral_apply` for internal hot paths (X already validated)."""
    if X.shape[-2] < X.shape[-1]:  # wide: Gamma(X) = Gamma(X^T)^T
        return _SpectralApply.apply(X.mT, act).mT
    return _SpectralApply.apply(X, act)


class _SpectralNetwork(torch.autograd.Function):
    """All layers of an SNN in one autograd node (Note [fused network]).

    ``X: (..., K_0, d1, d2)``, ``alphas[i]: ([...,] K_i, K_{i+1})`` -> ``(..., K_D, d1, d2)``,
    or ``(..., d1, d2)`` with ``squeeze`` (K_D = 1). Internally every tensor is a 3-d stack:
    the leading dimensions (broadcast) flattened into N, wide matrices transposed once.
    """

    @staticmethod
    def forward(ctx, X, act, squeeze, *alphas):
        lead = X.shape[:-3]
        if any(a.shape[:-2] != lead for a in alphas):  # (torch.broadcast_shapes is slow)
            lead = torch.broadcast_shapes(lead, *(a.shape[:-2] for a in alphas))
        wide = X.shape[-2] < X.shape[-1]
        if wide:  # every layer commutes with the transpose
            X = X.mT
        ctx.x_shape, (d1, d2) = X.shape, X.shape[-2:]
        N = math.prod(lead)
        X = _flat(X, lead, 3).view(N * X.shape[-3], d1, d2)  # (N K_0, d1, d2)
        layers = []
        for alpha in alphas:
            k_in, k_out = alpha.shape[-2:]
            U, s, Vh = _svd(X)
            fs = act.f(s)
            gamma = torch.bmm(U * fs.unsqueeze(1), Vh).view(N, k_in, d1 * d2)
            a3 = _flat(alpha, lead, 2)
            X = torch.bmm(a3.mT, gamma).view(N * k_out, d1, d2)
            layers.append((U, s, fs, Vh, gamma, a3))
        # Saved tensors (not ctx attributes): freed right after a backward without
        # retain_graph, and an alpha modified in place before backward raises.
        ctx.save_for_backward(*alphas, *(t for layer in layers for t in layer))
        ctx.act, ctx.lead, ctx.wide = act, lead, wide
        out = X.view(*lead, alphas[-1].shape[-1], d1, d2)
        if squeeze:
            out = out.squeeze(-3)
        return out.mT if wide else out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, G):
        saved, lead = ctx.saved_tensors, ctx.lead
        n = len(saved) // 7
        alphas, layers = saved[:n], [saved[n + 6 * i:n + 6 * i + 6] for i in range(n)]
        if ctx.wide:
            G = G.mT
        d1, d2 = G.shape[-2:]
        N = math.prod(lead)
        # The weights of every layer at once: one set of elementwise ops for the network.
        s, fs = (torch.cat([lay[j] for lay in layers]) if n > 1 else layers[0][j]
                 for j in (1, 2))
        P, B, q = _coefficients(s, fs, ctx.act, d1 == d2)
        sizes = [lay[1].shape[0] for lay in layers]
        P, B = P.split_with_sizes(sizes), B.split_with_sizes(sizes)
        q = [None] * n if q is None else q.split_with_sizes(sizes)
        grads = [None] * n
        Gf = G.reshape(N, alphas[-1].shape[-1], d1 * d2)
        for i in reversed(range(n)):
            U, _, _, Vh, gamma, a3 = layers[i]
            if ctx.needs_input_grad[3 + i]:
                grads[i] = _unbroadcast(torch.bmm(gamma, Gf.mT), lead, alphas[i].shape)
            if i == 0 and not ctx.needs_input_grad[0]:
                return None, None, None, *grads
            G = torch.bmm(a3, Gf).view(U.shape[0], d1, d2)  # (N K_in, d1, d2)
            Gf = _backward_tall(G, U, Vh, P[i], B[i], q[i], torch.bmm).view(*gamma.shape)
        gX = _unbroadcast(Gf.view(*Gf.shape[:2], d1, d2), lead, ctx.x_shape)
        return (gX.mT if ctx.wide else gX), None, None, *grads


def _flat(t, lead, core):
    """``t: ([...,] *core dims)`` broadcast to ``(*lead, ...)`` and flattened to ``(N, ...)``."""
    if t.shape[:-core] != lead:
        t = t.expand(*lead, *t.shape[-core:])
    return t.reshape(math.prod(lead), *t.shape[-core:])


def _unbroadcast(g, lead, shape):
    """``g: (N, ...)`` back to ``(*lead, ...)``, summed down to ``shape``."""
    if g.ndim - 1 + len(lead) == len(shape) and shape[:len(lead)] == lead:
        return g.view(shape)
    return g.view(*lead, *g.shape[1:]).sum_to_size(shape)


def _spectral_network(X: torch.Tensor, alphas, act: Activation, squeeze: bool = False):
    """Unchecked :func:`spectral_network`."""
    return _SpectralNetwork.apply(X, act, squeeze, *alphas)
