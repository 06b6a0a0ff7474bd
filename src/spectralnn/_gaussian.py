r"""Gaussian-mixture refinement of a completed table (many more rows than columns; docs/math.md
section 8).

A table with ``d1 >> d2`` (patients x measurements, images x features) determines the
``d2 x d2`` covariances of its columns well, and the best prediction of a row's missing entries
from its observed ones under a Gaussian is the conditional mean

.. math:: x_m = \mu_m - P_{mm}^{-1} P_{mo} (x_o - \mu_o), \qquad P = (\Sigma + \rho I)^{-1}

(standardised units, ``rho`` a ridge), the result clipped to each column's observed range.
Starting from the SNN's completion, the EM iterations of a mixture of ``K`` such Gaussians
refill the missing entries: each row's missing block is the responsibility-weighted average of
the components' conditional means, where a row's responsibilities come from the likelihood of
its *observed* entries under each component, and each component's covariance adds the rows'
conditional covariances (the E-step's second moments). Component covariances are shrunk
toward the pooled one by ``d2`` pseudo-rows. With ``copula=True`` the mixture models the
columns' normal scores instead (``_copula.py``) and each estimate is the exact expected value
back on the column's own scale.

Why: a low-rank model alone is the wrong prior for a table (its columns are correlated, not
few): on scikit-learn's tables at 20-30% hidden the SNN alone was 1.2-1.9x IterativeImputer's
error. One Gaussian (``K = 1``) brought it to 0.7-1.0x, but lost to KNNImputer on digits (a
table of ten clusters: 0.311 vs 0.296); a mixture, ``K`` chosen on held-out entries, handles
clustered rows (``benchmarks/imputers.py``).

Each row's conditional solve works on the smaller of its missing and observed blocks
(``_gaussian_rows.py``): a pass costs ``O(n b^3)`` per component for blocks of ``b``."""

from __future__ import annotations

import math

import numpy as np
import torch

from . import _copula
from . import _gaussian_rows as _rows

RIDGES = (1e-3, 1e-2, 0.1, 1.0)
"""Ridge grid (on the standardised scale), chosen on held-out entries with one component."""

COMPONENTS = (1, 2, 4, 8, 16)
"""Mixture sizes tried on held-out entries (those with at least ``d2`` rows per component).
The scikit-learn tables chose 1-4 (iris, wine, breast_cancer, diabetes) and 16 (digits);
256 x 256 photos' patch matrices 1 (camera, astronaut, coffee) and 16 (brick)."""

PASSES = 20
"""EM passes of the final refinement. Measured with one Gaussian: 10 were as accurate overall
(wine 30% 0.2485 vs 0.2497) but left columns worse than their mean fill (breast_cancer 30%:
worst column 1.45x its mean fill with 10 passes, 0.72x with 20)."""

CHOICE_PASSES = 8
"""EM passes of each candidate (ridge, components) on the held-out entries."""

WARM_PASSES = 4
"""EM passes of each final refinement started from a part's chosen mixture; the recipe
averages one such refinement per part. Against one refinement of 20 passes from k-means:
digits (1797 x 64) at 20% / 30% hidden 0.247 / 0.269 relative error instead of 0.253 / 0.276
(wine at 20%: 0.190 both) in 10-15% less time."""

DEFAULT_RIDGE = 1e-2
"""The ridge of a table too small for a held-out part (the value chosen most often on the
scikit-learn tables); such a table gets one component."""

NEGLIGIBLE = 1e-8
"""A row's component whose responsibility fell below this in the last pass is left out of the
next (its share of the row's estimate is below it too): most rows of a mixture belong to one
or two components, and solving each row's block under every component cost ``K`` times the
work (digits at 20% hidden, 16 components: 8 passes took 1.52 s with every component and
0.72 s this way, the estimates within 3e-4 of each other on a 0..16 scale). Every
:data:`FULL_EVERY`-th pass, the first included, uses every component, so a component a row
was leaving can win it back (sparse EM, Neal and Hinton 1998)."""

FULL_EVERY = 4
"""Every this many passes one uses every component for every row (:data:`NEGLIGIBLE`)."""

CHUNK_ROWS = 512
"""Rows solved per batch, at most: the temporaries are ``K x rows x b x d`` for blocks of
``b`` (see :func:`_chunk_rows`)."""


def tall(shape) -> bool:
    """At least three rows per column, at most 200 columns: the covariances are well
    determined, and the refinement applies even without held-out entries to judge it."""
    return shape[1] <= 200 and shape[0] >= 3 * shape[1]


def applies(shape, judged: bool) -> bool:
    """Whether a completion is refined: a tall table (:func:`tall`), or a table with at least
    as many rows as columns (at most 200) whose held-out entries can judge the refinement
    (``judged``; it is kept only where it beats the SNN there). Such shorter tables gain as
    much (scikit-learn's tables cut to fewer rows, 20% hidden: breast_cancer 80 x 30 0.099 ->
    0.044 relative error, its worst column 195x -> 0.98x its mean fill; digits 80 x 64 0.407
    -> 0.395), and a low-rank matrix keeps the SNN's completion. Wider than that, the
    covariances are too loosely determined to try."""
    return tall(shape) or (judged and shape[1] <= 200 and shape[0] >= shape[1])


def refine(
    X0: np.ndarray,
    observed: np.ndarray,
    ridge: float,
    components: int = 1,
    passes: int = PASSES,
    seed: int = 0,
    copula: bool = False,
    init=None,
) -> np.ndarray:
    """Refill the entries where ``observed`` is False; observed entries are kept as in ``X0``.
    ``copula``: model the columns' normal scores (``_copula.py``) instead of their values;
    ``init``: start from these mixture statistics (of
    :func:`spectralnn._gaussian_choice.choose`) instead of k-means."""
    return _refine(X0, observed, ridge, components, passes, seed, copula, init)[0]


def _refine(X0, observed, ridge, components, passes, seed, copula, init, at=None):
    """:func:`refine`'s estimates and the mixture's final statistics (None if nothing is
    missing). ``at``: ``(rows, cols)``, the only missing entries a copula maps back (the others
    keep ``X0``'s values): the choice on held-out entries reads no others, and mapping every
    missing entry back was half a copula run's time (a photo's 3969 x 64 patch matrix at 50%
    missing: 0.85 of 1.9 s)."""
    X0 = np.asarray(X0, dtype=np.float64)
    observed = np.asarray(observed, dtype=bool)
    if observed.all():
        return X0.copy(), None
    marg = _copula.Marginals.fit(X0, observed) if copula else None
    X = torch.as_tensor(marg.latent(X0) if marg is not None else X0)
    miss = torch.as_tensor(~observed)
    mu0 = X.mean(0)
    sd = X.std(0).clamp_min(1e-12 * float(X.abs().max().clamp_min(1e-300)))
    Z = (X - mu0) / sd
    chunks = _rows.chunks(miss, _chunk_rows(components, X.shape[1]))
    stats = _initial_stats(Z, components, seed) if init is None else init
    var = torch.zeros_like(Z)  # predictive variances (of the last pass; none without passes)
    resp = None  # the last pass's responsibilities: which components each row needs
    for k in range(passes):  # only the copula's back-transform reads the variances
        last = marg is not None and k == passes - 1
        active = None if k % FULL_EVERY == 0 or resp is None else resp > NEGLIGIBLE
        Z, stats, v, resp = _em_pass(Z, miss, chunks, stats, ridge, last, active)
        var = var if v is None else v
    if marg is None:
        low, high = _observed_range(Z, miss)
        Z = torch.minimum(torch.maximum(Z, low), high)
        return np.where(observed, X0, (Z * sd + mu0).numpy()), stats
    if at is not None:
        wanted = torch.zeros_like(miss)
        wanted[torch.as_tensor(at[0]), torch.as_tensor(at[1])] = True
        miss = miss & wanted
    i, j = torch.nonzero(miss, as_tuple=True)
    out = X0.copy()
    out[i, j] = marg.expectation(Z[i, j] * sd[j] + mu0[j], var[i, j] * sd[j] ** 2, j).numpy()
    unseen = ~observed.any(0)  # a column without observed values keeps X0's values
    out[:, unseen] = X0[:, unseen]
    return out, stats


def _chunk_rows(K, d) -> int:
    """Rows per batch: :data:`CHUNK_ROWS`, fewer when ``K`` components' ``(rows, b, d)``
    temporaries (``b <= d`` the block size) would pass 2^24 numbers (128 MiB)."""
    return int(max(16, min(CHUNK_ROWS, 2**24 // max(K * d * d, 1))))


def _observed_range(Z, miss):
    """Each column's smallest and largest observed value (no bound for a column without any):
    a conditional mean outside them is an extrapolation (breast_cancer 30%: two rows imputed
    at 3.9 in a column observed in 0.05..0.16, 28x the column's mean-fill error) and the
    result is clipped to them. (The EM never reads a missing entry back, so clipping once at
    the end is the same as clipping every pass.)"""
    inf = torch.tensor(math.inf, dtype=Z.dtype)
    seen = (~miss).any(0)
    low = torch.where(seen, torch.where(miss, inf, Z).min(0).values, -inf)
    high = torch.where(seen, torch.where(miss, -inf, Z).max(0).values, inf)
    return low, high


def _initial_stats(Z, K, seed):
    """Sufficient statistics of a hard k-means++ split of the completed rows."""
    R = _kmeans(Z, K, seed) if K > 1 else torch.ones(len(Z), 1, dtype=Z.dtype)
    W = R.sum(0)
    S1 = R.mT @ Z
    S2 = torch.einsum("ik,ia,ib->kab", R, Z, Z)
    return W, S1, S2


def _kmeans(Z, K, seed, iters=20):
    g = torch.Generator().manual_seed(int(seed))
    C = Z[torch.randint(len(Z), (1,), generator=g)]
    for _ in range(1, K):
        d2 = torch.cdist(Z, C).min(1).values ** 2
        C = torch.cat([C, Z[torch.multinomial(d2 + 1e-300, 1, generator=g)]])
    for _ in range(iters):
        lab = torch.cdist(Z, C).argmin(1)
        C = torch.stack([Z[lab == k].mean(0) if bool((lab == k).any()) else C[k] for k in range(K)])
    return torch.nn.functional.one_hot(torch.cdist(Z, C).argmin(1), K).to(Z.dtype)


def _parameters(stats, ridge, n):
    """Means, covariances (ridge added), precisions, log-determinants of the precisions and
    log-weights of the components."""
    W, S1, S2 = stats
    d = S1.shape[1]
    Wc = W.clamp_min(1e-12)
    mu = S1 / (Wc + 1e-9)[:, None]
    cov = S2 / Wc[:, None, None] - mu[:, :, None] * mu[:, None, :]
    pooled = (W[:, None, None] * cov).sum(0) / n
    cov = (W[:, None, None] * cov + d * pooled) / (W + d)[:, None, None]
    cov = cov + ridge * torch.eye(d, dtype=cov.dtype)
    P = torch.linalg.inv(cov)
    P = (P + P.mT) / 2
    return mu, cov, P, torch.linalg.slogdet(P)[1], torch.log(Wc / n)


def _em_pass(Z, miss, chunks, stats, ridge, variance=False, active=None):
    """One EM pass: parameters from ``stats``, then every row's responsibilities and
    conditional means, the next statistics, (``variance``) each missing entry's predictive
    variance under the mixture (zero on observed entries; else None) and the responsibilities
    of the rows with missing entries (zero elsewhere). ``active``: ``(n, K)``, the components
    each row is solved under (default all; :data:`NEGLIGIBLE`)."""
    n, d = Z.shape
    mu, cov, P, logdetP, logpi = _parameters(stats, ridge, n)
    K = len(mu)
    pads = {"precision": _rows.padded(P), "covariance": _rows.padded(cov)}
    out = Z.clone()
    W = torch.zeros(K, dtype=Z.dtype)
    S1 = torch.zeros(K, d, dtype=Z.dtype)
    S2 = torch.zeros(K, d, d, dtype=Z.dtype)
    cond = torch.zeros(K, (d + 1) ** 2, dtype=Z.dtype)  # conditional covariances, padded
    inv_obs = torch.zeros(K, (d + 1) ** 2, dtype=Z.dtype)  # inverses of observed blocks
    weight_obs = torch.zeros(K, dtype=Z.dtype)
    var = torch.zeros_like(Z) if variance else None
    resp = torch.zeros(n, K, dtype=Z.dtype)
    for chunk in chunks:
        rows, m = chunk.rows, miss[chunk.rows]
        zk = torch.zeros(len(rows), K, d, dtype=Z.dtype)
        ll = torch.full((len(rows), K), -math.inf, dtype=Z.dtype)
        parts = []  # (the chunk's rows solved under component k, their sub-chunk, C)
        for k in range(K):
            sel = _rows.ALL if active is None else torch.nonzero(active[rows, k])[:, 0]
            sub = chunk.subset(sel)
            if len(sub.rows) == 0:
                continue
            zc = torch.where(m[sel], 0.0, Z[sub.rows] - mu[k])
            z, lk, C = sub.solve(zc, m[sel], P[k], pads[chunk.form][k], logdetP[k])
            zk[sel, k] = z + mu[k]
            ll[sel, k] = lk + logpi[k]
            parts.append((k, sel, sub, C))
        R = torch.softmax(ll, 1)  # (rows, K); zero where a component was left out
        resp[rows] = R
        out[rows] = (R[:, :, None] * zk).sum(1)
        if var is not None:  # E[z^2] - E[z]^2 over the components, on the missing entries
            second = torch.zeros(len(rows), d, dtype=Z.dtype)
            for k, sel, sub, C in parts:
                v = sub.variance(C, pads[chunk.form][k], m[sel]) + zk[sel, k] ** 2
                second[sel] += R[sel, k, None] * v
            var[rows] = torch.where(m, (second - out[rows] ** 2).clamp_min(0.0), 0.0)
        W += R.sum(0)
        S1 += torch.einsum("ik,ika->ka", R, zk)
        S2 += torch.einsum("ik,ika,ikb->kab", R, zk, zk)
        for k, sel, sub, C in parts:
            sub.add_covariance(cond[k], inv_obs[k], weight_obs[k : k + 1], R[sel, k], C)
    S2 += _rows.conditional_sum(cond, inv_obs, weight_obs, cov)
    full = torch.ones(n, dtype=torch.bool)
    for chunk in chunks:
        full[chunk.rows] = False
    if bool(full.any()):  # rows without missing entries: responsibilities only
        W, S1, S2 = _complete_rows(Z[full], mu, P, logdetP, logpi, (W, S1, S2))
    return out, (W, S1, S2), var, resp


def _complete_rows(Zf, mu, P, logdetP, logpi, stats):
    W, S1, S2 = stats
    D = Zf[:, None, :] - mu[None]  # (r, K, d)
    quad = torch.einsum("rka,kab,rkb->rk", D, P, D)
    R = torch.softmax(-0.5 * quad + 0.5 * logdetP + logpi, 1)
    W = W + R.sum(0)
    S1 = S1 + R.mT @ Zf
    S2 = S2 + torch.einsum("rk,ra,rb->kab", R, Zf, Zf)
    return W, S1, S2
