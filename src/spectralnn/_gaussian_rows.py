"""Row solvers of the Gaussian-mixture refinement (``_gaussian.py``): each row's conditional
mean, the log-likelihood of its observed entries and its conditional covariance.

Rows are grouped in chunks by how many entries they miss, and each chunk works on the smaller
side: rows missing at most half their entries solve with their missing block of the precision
``P`` (``q x q`` for ``q`` missing entries), rows missing more with their observed block of the
covariance (``o x o``). Blocks are padded to the chunk's largest with one extra slot, index
``d``, that holds 1 on the diagonal and 0 elsewhere, so padded rows and columns decouple.
(A photo's patch matrix at 80% missing: 13 observed of 64 a row; solving 51 x 51 precision
blocks took 4x as long as 13 x 13 covariance blocks.) The covariance form's conditional
covariances are summed through the inverses of the observed blocks
(:func:`conditional_sum`), never formed row by row: a 3000 x 150 matrix at 20% observed took
2.2 s a refinement that way and 0.95 s this way.
"""

from __future__ import annotations

import dataclasses
import math

import torch


def padded(M: torch.Tensor) -> torch.Tensor:
    """``(K, d, d)`` matrices embedded as flat ``(d+1)^2`` rows with the padding slot."""
    K, d, _ = M.shape
    out = torch.zeros(K, d + 1, d + 1, dtype=M.dtype)
    out[:, :d, :d] = M
    out[:, d, d] = 1.0
    return out.reshape(K, -1)


ALL = slice(None)
"""Every row of a chunk (:meth:`Chunk.subset`)."""


@dataclasses.dataclass
class Chunk:
    rows: torch.Tensor
    idx: torch.Tensor  # (n, q): the block's columns, padded with d
    pair: torch.Tensor  # (n, q, q): flat indices of the block in the padded layout
    form: str  # "precision" (idx = missing columns) or "covariance" (idx = observed columns)

    def subset(self, sel) -> Chunk:
        """The chunk of the rows ``sel`` (indices into this chunk's rows, or :data:`ALL`)."""
        if sel is ALL:
            return self
        return Chunk(self.rows[sel], self.idx[sel], self.pair[sel], self.form)

    def solve(self, zc, m, P, pad, logdetP):
        """``(conditional means, log-likelihoods of the observed entries, C)`` of rows ``zc``
        (centred, zero where missing ``m``) under one component, ``C`` the inverse of each
        row's solved block in the padded layout: ``P_mm^{-1}`` (the conditional covariance)
        for the precision form, ``Sigma_oo^{-1}`` for the covariance form."""
        d = zc.shape[1]
        L = torch.linalg.cholesky(pad[self.pair])
        logdet = 2 * torch.log(torch.diagonal(L, dim1=1, dim2=2)).sum(1)
        n_obs = (~m).sum(1)
        z = torch.nn.functional.pad(zc, (0, 1))
        if self.form == "precision":
            Pz = torch.nn.functional.pad(zc @ P, (0, 1))
            b = torch.gather(Pz, 1, self.idx)
            sol = -torch.cholesky_solve(b[:, :, None], L)[:, :, 0]
            out = z.scatter(1, self.idx, sol)[:, :d]
            quad = (zc * Pz[:, :d]).sum(1) + (b * sol).sum(1)
            ll = -0.5 * (quad - logdetP + logdet + n_obs * math.log(2 * math.pi))
            return out, ll, torch.cholesky_inverse(L)
        zo = torch.gather(z, 1, self.idx)
        alpha = torch.cholesky_solve(zo[:, :, None], L)[:, :, 0]
        Sigma = pad.reshape(d + 1, d + 1)[:d]  # (d, d+1): rows of Sigma, padding column zero
        mean = torch.einsum("io,aio->ia", alpha, Sigma[:, self.idx])
        out = torch.where(m, mean, zc)
        ll = -0.5 * ((zo * alpha).sum(1) + logdet + n_obs * math.log(2 * math.pi))
        return out, ll, torch.cholesky_inverse(L)

    def variance(self, C, pad, m):
        """Each row's conditional variances (``d`` columns; zero where observed) from ``C`` of
        :meth:`solve` and the component's padded matrix ``pad`` of that form."""
        d = m.shape[1]
        if self.form == "precision":
            diag = torch.diagonal(C, dim1=1, dim2=2)
            full = torch.zeros(len(diag), d + 1, dtype=C.dtype).scatter(1, self.idx, diag)
            return full[:, :d]
        Sigma = pad.reshape(d + 1, d + 1)
        S_o = Sigma[self.idx][:, :, :d]  # (n, o, d): Sigma's observed rows
        explained = torch.einsum("ioa,iop,ipa->ia", S_o, C, S_o)
        return torch.where(m, torch.diagonal(Sigma)[:d] - explained, 0.0)

    def add_covariance(self, cond, inv_obs, weight_obs, r, C):
        """Add the rows' ``C``, weighted by ``r``, in the padded layout: into ``cond`` for the
        precision form (conditional covariances); into ``inv_obs``, and ``r``'s sum into
        ``weight_obs``, for the covariance form, whose conditional covariances sum to
        ``weight_obs Sigma - Sigma inv_obs Sigma`` (:func:`conditional_sum`)."""
        target = cond if self.form == "precision" else inv_obs
        target.index_add_(0, self.pair.reshape(-1), (r[:, None, None] * C).reshape(-1))
        if self.form != "precision":
            weight_obs += r.sum()


def conditional_sum(cond, inv_obs, weight_obs, cov):
    """``(K, d, d)`` sums of the rows' conditional covariances from :meth:`Chunk.add_covariance`'s
    accumulators (the padding slot ``d`` dropped): ``O(d^3)`` once instead of ``O(o d^2)`` a
    row for the covariance form."""
    K, d, _ = cov.shape
    A = inv_obs.reshape(K, d + 1, d + 1)[:, :d, :d]
    total = cond.reshape(K, d + 1, d + 1)[:, :d, :d] + weight_obs[:, None, None] * cov
    return total - cov @ A @ cov


def chunks(miss: torch.Tensor, size: int) -> list[Chunk]:
    """Rows with missing entries, sorted by how many they miss, in chunks of ``size``."""
    d = miss.shape[1]
    count = miss.sum(1)
    order = torch.argsort(count, stable=True)
    order = order[count[order] > 0]
    out = []
    for s in range(0, len(order), size):
        rows = order[s : s + size]
        mr = miss[rows]
        q = int(mr.sum(1).max())
        o = int((~mr).sum(1).max())
        form, side = ("precision", mr) if q <= o else ("covariance", ~mr)
        width = q if form == "precision" else o
        if width == 0:  # every row of the chunk is fully missing: no observed block
            form, side, width = "precision", mr, q
        idx = torch.argsort((~side).to(torch.int8), dim=1, stable=True)[:, :width]
        idx = torch.where(torch.gather(side, 1, idx), idx, d)
        pair = idx[:, :, None] * (d + 1) + idx[:, None, :]
        # two different padded positions read slot (d, 0), a zero: the padding is I, not 1 1^T
        off = (idx[:, :, None] == d) & (idx[:, None, :] == d) & ~torch.eye(width, dtype=torch.bool)
        out.append(Chunk(rows, idx, torch.where(off, d * (d + 1), pair), form))
    return out
