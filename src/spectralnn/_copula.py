r"""Column marginals of a Gaussian-copula refinement (``_gaussian.py``; docs/math.md section 8).

Each column's observed values define a step distribution: knots ``u_1 < ... < u_m`` (the
distinct values, or at most :data:`KNOTS` quantile bins holding their mean value) with
cumulative probabilities ``F_1 < ... < F_m = 1``. A value ``u_k`` has the latent (normal)
score of its mid-rank, ``Phi^{-1}((F_{k-1} + F_k) / 2)``, and a latent normal ``z`` maps back
to ``u_k`` when ``a_{k-1} < z <= a_k`` with ``a_k = Phi^{-1}(F_k)``. The expectation of that
map under ``z ~ N(m, v)`` is exact:

.. math:: E[x] = u_1 + \sum_{k<m} (u_{k+1} - u_k)\,\bigl(1 - \Phi((a_k - m)/\sqrt{v})\bigr),

so an entry the model knows nothing about (``m = 0, v = 1`` on the latent scale) gets the
column's observed mean, and every estimate lies in the column's observed range. The mixture
works on the scores, whose observed mean and standard deviation map them to that latent scale
(:meth:`Marginals.expectation`). For a mixture of several Gaussians ``(m, v)`` are its
predictive mean and variance, so the expectation is that of the moment-matched Gaussian, not
the mixture's own (exact for one component).

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
    center: torch.Tensor  # (d,) mean of the observed values' scores
    spread: torch.Tensor  # (d,) their standard deviation (1 for a column of one value)

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
        mids, center, spread = [], np.zeros(d), np.ones(d)
        for j, (u, F) in enumerate(zip(cols_u, cols_F)):
            knots[j, : len(u)], knots[j, len(u) :] = u, u[-1]
            edges[j, : len(u) - 1] = ndtri(F[:-1])
            prev = np.concatenate([[0.0], F[:-1]])
            mid = ndtri((prev + F) / 2)
            mids.append(mid)
            weight = F - prev  # each knot's share of the observed values
            center[j] = weight @ mid
            sd = np.sqrt(weight @ (mid - center[j]) ** 2)
            spread[j] = sd if sd > 0 else 1.0
        t = torch.from_numpy
        return cls(t(knots), t(edges), mids, t(center), t(spread))

    def latent(self, X: np.ndarray) -> np.ndarray:
        """Latent scores of ``X``: knots get their mid-rank scores, values between knots are
        interpolated and values outside the observed range get the end knots' scores."""
        Z = np.empty_like(X, dtype=np.float64)
        for j, mid in enumerate(self.mids):
            u = self.knots[j, : len(mid)].numpy()
            Z[:, j] = np.interp(X[:, j], u, mid) if len(u) > 1 else 0.0
        return Z

    def expectation(self, mean: torch.Tensor, var: torch.Tensor, cols: torch.Tensor):
        """``E[x]`` for a score ``N(mean, var)`` of entries in columns ``cols`` (in batches of
        at most 2^22 entry-knot pairs).

        Scores are put on the standard normal scale of the edges first, by their observed
        mean and standard deviation: a column with ties has scores of mean != 0 and variance
        < 1 (90% zeros and 10% ones: variance 0.28), and without this an entry the model knew
        nothing about came out near the commonest value (0.009 where the mean was 0.097)."""
        mean = (mean - self.center[cols]) / self.spread[cols]
        var = var / self.spread[cols] ** 2
        out = torch.empty(len(mean), dtype=self.knots.dtype)
        step = max(1, 2**22 // self.knots.shape[1])
        for s in range(0, len(mean), step):
            sl = slice(s, s + step)
            sd = var[sl].clamp_min(1e-24).sqrt()[:, None]
            u = self.knots[cols[sl]]
            tail = torch.special.ndtr((mean[sl, None] - self.edges[cols[sl]]) / sd)
            out[sl] = u[:, 0] + ((u[:, 1:] - u[:, :-1]) * tail[:, :-1]).sum(1)
        return out
