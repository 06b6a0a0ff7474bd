"""The exact spectral maps behind :mod:`spectralnn.functional`: SVD routing, the divided
differences of the Frechet derivative, and the autograd Functions for one map
(:class:`_SpectralApply`) and for a whole network (:class:`_SpectralNetwork`).

Unchecked: the public, validating entry points are ``functional.spectral_apply`` and
``functional.spectral_network``; Notes [degenerate singular values] and [f(0) != 0] are in
``functional.py``'s docstring. The derivatives (divided differences, the Gram route's weights
and backward) are in :mod:`spectralnn._spectral_grads`.
"""

from __future__ import annotations

import math

import torch

from ._activations import Activation
from ._spectral_grads import _TIE as _TIE
from ._spectral_grads import (
    _backward_tall,
    _coefficients,
    _gram_backward,
    _gram_decompose,
    _gram_weights,
)

# Note [Gram route]
# For f(0) = 0, Gamma_f(X) = X h(X^T X) with h(s^2) = f(s)/s (h(0) = f'(0)): a matrix function of
# the Gram matrix, so one symmetric eigendecomposition X^T X = W diag(lam) W^T (LAPACK syevd,
# 2-2.3x faster than the SVD at 10 x 10, 128 x 128 and 512 x 512 on this CPU) gives
# Gamma_f(X) = (X W) diag(h) W^T; X W = U diag(s) plays the part of the SVD's U. The exact
# backward is the Daleckii-Krein formula for h on lam: with Gw = G W and M = (X W)^T Gw,
#     dL/dX = (Gw diag(h) + (X W) K) W^T,   K = Dh o (M + M^T),
# Dh_ij = (h_i - h_j) / (lam_i - lam_j), and the mean of h'(lam) = (f'(s) - h) / (2 lam) at the
# two ends where lam_i, lam_j tie (the same relative tie as the SVD route's). Four products, as
# the SVD route's backward. Roundoff: lam carries an absolute error eps lam_max and the divided
# differences lose accuracy as lam -> 0, but every entry of Dh is weighted by max(lam_i, lam_j)
# (the columns of X W have norms s_i), so the error of dL/dX stays of order eps / tie. At zero
# and repeated singular values everything is finite: h is smooth in lam there (no 1/(s_i - s_j)
# and no sign choice of singular vectors), and Dh at lam_i = lam_j = 0 is set to 0 (its weight).
# f(0) != 0 has no such h, so those activations keep the SVD route.


# Note [fused network]
# A depth-D SNN built from spectral_apply and einsum is about 4 D autograd nodes, its backward
# evaluates the divided differences once per layer, and matmul/einsum pay for broadcasting
# logic on every call. At the paper's 10 x 10 sizes a step costs these small ops (a few us
# each), not arithmetic (benchmarks/small.py). _SpectralNetwork is one node for all layers:
# leading dimensions are flattened (broadcast alphas expanded) once, wide inputs transposed
# once, and everything runs on 3-d stacks with bmm. Forward per layer: one batched
# decomposition of all K_in inputs (the SVD, or the Gram route's eigh: Note [Gram route]),
# f, Gamma_f, and the alpha mixing (one bmm); the decomposition and Gamma_f are kept on ctx.
# Backward: the singular values (or Gram eigenvalues) of all layers are stacked so that the
# divided-difference weights are computed once; per layer, alpha's gradient and the mixing are
# one bmm each, then four bmm for the spectral map. The formula and its tie handling are those
# of spectral_apply, which tests/test_nn.py checks to 1e-12 (both routes). What remains per
# layer is the LAPACK decomposition, which bounds batched runs (benchmarks/small.py).

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
    def forward(ctx, X, act, squeeze, gram, record, first, *alphas):
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
            if gram:  # (W, lam, h, XW): Note [Gram route]
                lam, W, XW, h = _gram_decompose(X, act, first if not layers else None)
                gamma = torch.bmm(XW * h.unsqueeze(1), W.mT).view(N, k_in, d1 * d2)
                saved = (W, lam, h, XW)
                if record is not None:
                    record.append((lam, W, XW, h))
            else:  # (U, s, f(s), Vh)
                U, s, Vh = _svd(X)
                fs = act.f(s)
                gamma = torch.bmm(U * fs.unsqueeze(1), Vh).view(N, k_in, d1 * d2)
                saved = (U, s, fs, Vh)
            a3 = _flat(alpha, lead, 2)
            X = torch.bmm(a3.mT, gamma).view(N * k_out, d1, d2)
            layers.append((*saved, gamma, a3))
        # Saved tensors (not ctx attributes): freed right after a backward without
        # retain_graph, and an alpha modified in place before backward raises.
        ctx.save_for_backward(*alphas, *(t for layer in layers for t in layer))
        ctx.act, ctx.lead, ctx.wide, ctx.gram = act, lead, wide, gram
        out = X.view(*lead, alphas[-1].shape[-1], d1, d2)
        if squeeze:
            out = out.squeeze(-3)
        return out.mT if wide else out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, G):
        saved, lead = ctx.saved_tensors, ctx.lead
        n = len(saved) // 7
        alphas, layers = saved[:n], [saved[n + 6 * i : n + 6 * i + 6] for i in range(n)]
        if ctx.wide:
            G = G.mT
        d1, d2 = G.shape[-2:]
        N = math.prod(lead)
        # The weights of every layer at once: one set of elementwise ops for the network.
        s, fs = (torch.cat([lay[j] for lay in layers]) if n > 1 else layers[0][j] for j in (1, 2))
        sizes = [lay[1].shape[0] for lay in layers]
        if ctx.gram:
            Dh = _gram_weights(s, fs, ctx.act).split_with_sizes(sizes)
        else:
            P, B, q = _coefficients(s, fs, ctx.act, d1 == d2)
            P, B = P.split_with_sizes(sizes), B.split_with_sizes(sizes)
            q = [None] * n if q is None else q.split_with_sizes(sizes)
        grads = [None] * n
        Gf = G.reshape(N, alphas[-1].shape[-1], d1 * d2)
        for i in reversed(range(n)):
            U, _, h, Vh, gamma, a3 = layers[i]  # Gram route: (W, lam, h, XW, ...)
            if ctx.needs_input_grad[6 + i]:
                grads[i] = _unbroadcast(torch.bmm(gamma, Gf.mT), lead, alphas[i].shape)
            if i == 0 and not ctx.needs_input_grad[0]:
                return None, None, None, None, None, None, *grads
            G = torch.bmm(a3, Gf).view(U.shape[0], d1, d2)  # (N K_in, d1, d2)
            if ctx.gram:
                Gf = _gram_backward(G, U, Vh, h, Dh[i])
            else:
                Gf = _backward_tall(G, U, Vh, P[i], B[i], q[i], torch.bmm)
            Gf = Gf.view(*gamma.shape)
        gX = _unbroadcast(Gf.view(*Gf.shape[:2], d1, d2), lead, ctx.x_shape)
        return (gX.mT if ctx.wide else gX), None, None, None, None, None, *grads


def _flat(t, lead, core):
    """``t: ([...,] *core dims)`` broadcast to ``(*lead, ...)`` and flattened to ``(N, ...)``."""
    if t.shape[:-core] != lead:
        t = t.expand(*lead, *t.shape[-core:])
    return t.reshape(math.prod(lead), *t.shape[-core:])


def _unbroadcast(g, lead, shape):
    """``g: (N, ...)`` back to ``(*lead, ...)``, summed down to ``shape``."""
    if g.ndim - 1 + len(lead) == len(shape) and shape[: len(lead)] == lead:
        return g.view(shape)
    return g.view(*lead, *g.shape[1:]).sum_to_size(shape)


ROUTES = ("auto", "gram", "svd")
GRAM_MIN_STACK, GRAM_MIN_SIDE = 8, 16
"""``route="auto"`` takes the Gram route (f(0) = 0 only) for stacks of at least
``GRAM_MIN_STACK`` matrices or matrices whose smaller side is at least ``GRAM_MIN_SIDE``.
Measured (float64, 2 cores, fused forward + backward of 4 layers): the Gram route takes 0.56x
the SVD route's time for 64 x 2 matrices of 10 x 10, 0.89x for 4 x 2, 0.59x for 4 of 128 x 128,
0.88x for 2 of 32 x 32, but 1.05-1.1x for 2 of 10 x 10, where its few extra small products
cost more than the eigendecomposition saves. On CUDA "auto" keeps the SVD, whose routing
was measured there (Note [SVD on CUDA]); "gram" is available but untimed on a GPU."""


def _pick_route(X: torch.Tensor, act: Activation, route: str) -> bool:
    """Whether ``route`` means the Gram route for the stack ``X`` (:data:`GRAM_MIN_STACK`)."""
    if route == "auto":  # CUDA: the SVD routing measured on an H100 (Note [SVD on CUDA]);
        d1, d2 = X.shape[-2:]  # the Gram route there has not been timed yet
        return (
            act.zero_at_zero
            and not X.is_cuda
            and (min(d1, d2) >= GRAM_MIN_SIDE or X.numel() >= GRAM_MIN_STACK * d1 * d2)
        )
    return route == "gram"


def _spectral_network(
    X: torch.Tensor,
    alphas,
    act: Activation,
    squeeze: bool = False,
    route: str = "auto",
    record: list | None = None,
    first=None,
):
    """Unchecked :func:`spectral_network`. ``route``: "auto" (:data:`GRAM_MIN_STACK`), "svd"
    or "gram" (Note [Gram route]; f(0) = 0 only). Gram route only: ``record``, a list that
    receives ``(lam, W, XW, h)`` of every layer, and ``first``, ``(lam, W)`` of the first
    layer's Gram matrices, for callers that reuse or know them (the factored path); both with
    the leading dimensions flattened and wide inputs transposed."""
    gram = _pick_route(X, act, route)
    return _SpectralNetwork.apply(X, act, squeeze, gram, record, first, *alphas)


class _Ctx:
    """Stands in for autograd's ``ctx`` so that :func:`_spectral_network_parts` can call the
    Function's forward and backward directly."""

    needs_input_grad: tuple[bool, ...]
    saved_tensors: tuple[torch.Tensor, ...]

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors


def _spectral_network_parts(
    X: torch.Tensor, alphas, act: Activation, need_grad: bool, route: str = "auto"
):
    """A whole SNN without autograd (the hand-written full objective, ``_full.py``):
    ``(out (..., d1, d2), backward)`` where ``backward(G) -> (dL/dX, [dL/dalpha_i])`` for the
    output gradient ``G`` (None without ``need_grad``). Call under ``torch.no_grad()``; the
    values and gradients are those of :func:`_spectral_network` with ``squeeze=True``."""
    ctx = _Ctx()
    out = _SpectralNetwork.forward(
        ctx, X, act, True, _pick_route(X, act, route), None, None, *alphas
    )
    if not need_grad:
        return out, None
    ctx.needs_input_grad = (True, False, False, False, False, False) + (True,) * len(alphas)

    def backward(G):
        gX, *rest = _SpectralNetwork.backward(ctx, G)
        return gX, rest[5:]

    return out, backward
