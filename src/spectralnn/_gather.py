"""Completion's gather kernels: ``<L[rows_i], R[cols_i]>`` for every observed entry, in
cache-sized chunks, with hand-written backward passes (used by
:class:`~spectralnn.sensing.CompletionOperator`'s ``measure_low_rank`` and
``measure_low_rank_outside``)."""

from __future__ import annotations

import torch

CHUNK = 1 << 13  # observed entries per gather in completion (cache-sized blocks)


class _SampledProduct(torch.autograd.Function):
    """``out[..., i] = <L[..., rows_i, :], R[..., cols_i, :]>`` in chunks (memory O(chunk k))."""

    @staticmethod
    def forward(ctx, L, R, rows, cols):
        ctx.save_for_backward(L, R, rows, cols)
        m = rows.shape[0]
        out = L.new_empty(*L.shape[:-2], m)
        for a in range(0, m, CHUNK):
            r, c = rows[a : a + CHUNK], cols[a : a + CHUNK]
            out[..., a : a + CHUNK] = (L.index_select(-2, r) * R.index_select(-2, c)).sum(-1)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        L, R, rows, cols = ctx.saved_tensors
        gL = torch.zeros_like(L) if ctx.needs_input_grad[0] else None
        gR = torch.zeros_like(R) if ctx.needs_input_grad[1] else None
        for a in range(0, rows.shape[0], CHUNK):
            r, c = rows[a : a + CHUNK], cols[a : a + CHUNK]
            ga = g[..., a : a + CHUNK].unsqueeze(-1)
            if gL is not None:
                gL.index_add_(-2, r, ga * R.index_select(-2, c))
            if gR is not None:
                gR.index_add_(-2, c, ga * L.index_select(-2, r))
        return gL, gR, None, None


class _SampledWithOutside(torch.autograd.Function):
    """Completion of ``X = P Q2^T + Q1 E12`` where ``E12t`` is a zero-valued outside part:
    the forward gathers ``P`` and ``Q2`` only (the ``E12`` term is 0), the backward returns the
    exact derivatives for ``P`` and ``E12t`` (constants ``Q1, Q2``). Half the memory traffic of
    :class:`_SampledProduct` on the stacked ``[P, Q1] [Q2, E12t]^T``."""

    @staticmethod
    def forward(ctx, P, E12t, Q1, Q2, rows, cols):
        m = rows.shape[0]
        d1, d2 = P.shape[-2], Q2.shape[-2]
        ctx.shapes = (P.shape, E12t.shape)
        ctx.dense = _dense_route(d1, d2, m, P.shape[-1])
        if ctx.dense:  # many entries per row: one GEMM beats m gathers of width r
            flat = rows * d2 + cols
            ctx.save_for_backward(Q1, Q2, flat)
            return (P @ Q2.mT).flatten(-2).index_select(-1, flat)
        out = P.new_empty(*P.shape[:-2], m)
        Q2c = Q2.new_empty(*Q2.shape[:-2], m, Q2.shape[-1])  # Q2[cols], kept for backward
        for a in range(0, m, CHUNK):
            r, c = rows[a : a + CHUNK], cols[a : a + CHUNK]
            torch.index_select(Q2, -2, c, out=Q2c[..., a : a + CHUNK, :]) if Q2.ndim == 2 else Q2c[
                ..., a : a + CHUNK, :
            ].copy_(Q2.index_select(-2, c))
            out[..., a : a + CHUNK] = (P.index_select(-2, r) * Q2c[..., a : a + CHUNK, :]).sum(-1)
        ctx.save_for_backward(Q1, Q2c, rows, cols)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        if ctx.dense:
            Q1, Q2, flat = ctx.saved_tensors
            (d1, _), d2 = ctx.shapes[0][-2:], ctx.shapes[1][-2]
            G = g.new_zeros(*g.shape[:-1], d1 * d2).index_add_(-1, flat, g).unflatten(-1, (d1, d2))
            return G @ Q2, G.mT @ Q1, None, None, None, None
        Q1, Q2c, rows, cols = ctx.saved_tensors
        gP, gE = g.new_zeros(ctx.shapes[0]), g.new_zeros(ctx.shapes[1])
        for a in range(0, rows.shape[0], CHUNK):
            r, c = rows[a : a + CHUNK], cols[a : a + CHUNK]
            ga = g[..., a : a + CHUNK].unsqueeze(-1)
            gP.index_add_(-2, r, ga * Q2c[..., a : a + CHUNK, :])
            gE.index_add_(-2, c, ga * Q1.index_select(-2, r))
        return gP, gE, None, None, None, None


DENSE_ROUTE_LIMIT = 2**23
"""Completion losses of matrices up to this many entries use one dense product when the gathers
would move more data (``m r >= d1 d2 / 4``): 512 x 512 at 50% observed, not 10,000 x 10,000."""


def _dense_route(d1: int, d2: int, m: int, r: int) -> bool:
    return d1 * d2 <= DENSE_ROUTE_LIMIT and 4 * m * r >= d1 * d2
