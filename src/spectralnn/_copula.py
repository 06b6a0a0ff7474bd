r"""Column marginals of a Gaussian-copula refinement (``_gaussian.py``; docs/math.md section 8).

Each column's observed values define a step distribution: knots ``u_1 < ... < u_m`` (the
distinct values, or at most :data:`KNOTS` quantile bins holding their mean value) with
cumulative probabilities ``F_1 < ... < F_m = 1``. A value ``u_k`` has the latent (normal)
score of its mid-rank, ``Phi^{-1}((F_{k-1} + F_k) / 2)``, and a latent normal ``z`` maps back
to ``u_k`` when ``a_{k-1} < z <= a_k`` with ``a_k = Phi^{-1}(F_k)``. The expectation of that
map under ``z ~ N(m, v)`` is exact:

.. math:: E[x] = u_1 + \sum_{k<m} (u_{k+1} - u_k)\,\bigl(1 - \Phi((a_k - m)/\sqrt{v})\bigr),

so an entry the model knows nothing about (``m = 0, v = 1`` on the latent scale) gets the
column's observed mean, and every estimate lies in the column's observed range.

The mixture models the scores themselves and ``(m, v)`` are its predictive mean and variance
on their scale (for several components, of the moment-matched Gaussian: exact for one). Where
values tie, the scores have variance below 1 (a column of 90% zeros: 0.28) and an entry the
model knows nothing about leans toward the commonest value (0.009 for that column, whose mean
is 0.097); the recipe's column weights, fitted on held-out entries, catch such a column (its
weight is 0). Rescaling the scores to mean 0 and variance 1 before the expectation removes the
lean but blurs confident estimates across the narrow middle intervals, and measured worse on
scikit-learn's tables (digits at 20% hidden 0.253 vs 0.247 relative error, breast_cancer at
20% 0.0423 vs 0.0415; variance-only rescaling: digits 0.267), so the scores are used as they
are.

Why: the conditional mean of a Gaussian extrapolates from a row's extreme observed values
(breast_cancer at 20% hidden: one row imputed at the column's largest observed value, 10x the
truth, which alone made that column 1.7x its mean fill's error); heavy-tailed and spiky
columns (digits' border pixels, mostly 0) are not Gaussian, and their normal scores are.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from scipy.special import ndtri

KNOTS = 256
"""Most knots per column: finer quantile bins change no estimate by more than a bin's width."""


@dataclasses.dataclass
class Marginals:
    knots: torch.Tensor  # (d, m) knot values, each row padded by repeating its last knot
    edges: torch.Tensor  # (d, m) latent upper edges a_k (+inf from the last real knot on)
    mids: list  # per column: the latent scores of its knots

    @classmethod
    def fit(cls, X: np.ndarray, observed: np.ndarray) -> Marginals:
        d = X.shape[1]
        cols_u, cols_F = [], []
        for j in range(d):
            seen = np.sort(X[observed[:, j], j])
            if len(seen) == 0:  # no observed value: a standard normal column, identity map
                seen = np.array([0.0])
            u, counts = np.unique(seen, return_counts=True)
            if len(u) > KNOTS:  # quantile bins of equal count, each at its mean value
                bins = np.minimum((np.cumsum(counts) - counts) * KNOTS // len(seen), KNOTS - 1)
                w = np.bincount(bins, counts, KNOTS)
                u = np.bincount(bins, u * counts, KNOTS)[w > 0] / w[w > 0]
                counts = w[w > 0]
            cols_u.append(u)
            cols_F.append(np.cumsum(counts) / counts.sum())
        m = max(len(u) for u in cols_u)
        knots = np.empty((d, m))
        edges = np.full((d, m), np.inf)
        mids = []
        for j, (u, F) in enumerate(zip(cols_u, cols_F)):
            knots[j, : len(u)], knots[j, len(u) :] = u, u[-1]
            edges[j, : len(u) - 1] = ndtri(F[:-1])
            mids.append(ndtri((np.concatenate([[0.0], F[:-1]]) + F) / 2))
        return cls(torch.from_numpy(knots), torch.from_numpy(edges), mids)

    def latent(self, X: np.ndarray) -> np.ndarray:
        """Latent scores of ``X``: knots get their mid-rank scores, values between knots are
        interpolated and values outside the observed range get the end knots' scores."""
        Z = np.empty_like(X, dtype=np.float64)
        for j, mid in enumerate(self.mids):
            u = self.knots[j, : len(mid)].numpy()
            Z[:, j] = np.interp(X[:, j], u, mid) if len(u) > 1 else 0.0
        return Z

    def expectation(self, mean: torch.Tensor, var: torch.Tensor, cols: torch.Tensor):
        """``E[x]`` for latent ``z ~ N(mean, var)`` of entries in columns ``cols`` (in
        batches of at most 2^22 entry-knot pairs)."""
        out = torch.empty(len(mean), dtype=self.knots.dtype)
        step = max(1, 2**22 // self.knots.shape[1])
        for s in range(0, len(mean), step):
            sl = slice(s, s + step)
            sd = var[sl].clamp_min(1e-24).sqrt()[:, None]
            u = self.knots[cols[sl]]
            tail = torch.special.ndtr((mean[sl, None] - self.edges[cols[sl]]) / sd)
            out[sl] = u[:, 0] + ((u[:, 1:] - u[:, :-1]) * tail[:, :-1]).sum(1)
        return out
