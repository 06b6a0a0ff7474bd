"""SoftImpute by alternating ridge regressions (softImpute-ALS).

Hastie, Mazumder, Lee and Zadeh (2015), "Matrix completion and low-rank SVD via fast alternating
least squares", JMLR 16. For a fixed ``lam`` the estimate solves

    min_Z  1/2 sum_{(i,j) observed} (x_ij - z_ij)^2 + lam ||Z||_*,

represented as ``Z = A B^T`` with ``A = U D``, ``B = V D`` (``U``, ``V`` orthonormal, ``D``
diagonal, ``D^2`` the singular values of ``Z``). One iteration solves two ridge regressions
against the filled-in matrix ``X* = P_obs(X - Z) + Z`` -- a sparse matrix (the observed
residual) plus the low-rank ``Z`` -- and re-orthogonalises with an SVD of a ``d x r`` matrix:
``O(m r + (d1 + d2) r^2)`` per iteration for ``m`` observed entries and rank ``r``, never a
dense ``d1 x d2`` matrix. At convergence a last step (``X* V`` and its SVD, soft-thresholded by
``lam``) gives the exact soft-thresholded-SVD fixed point ``Z = SVT_lam(X*)`` whenever the
solution's rank is below ``r``.

:func:`fit_path` runs a decreasing, geometric ``lam`` path with warm starts, growing the rank as
the solutions fill it (up to a cap), and scores each ``lam`` on held-out entries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = [
    "Entries",
    "LowRank",
    "als",
    "biases",
    "complete",
    "fit_path",
    "holdout",
    "lambda_max",
    "solve",
]


@dataclass
class LowRank:
    """``Z = U diag(s) V^T`` with orthonormal ``U`` (d1, r), ``V`` (d2, r) and ``s >= 0``."""

    U: np.ndarray
    s: np.ndarray
    V: np.ndarray

    @property
    def rank(self) -> int:
        return int((self.s > 0).sum())

    def dense(self) -> np.ndarray:
        return (self.U * self.s) @ self.V.T

    def at(self, rows, cols) -> np.ndarray:
        return np.einsum("ij,ij->i", self.U[rows] * self.s, self.V[cols])


class Entries:
    """Observed entries of a ``shape`` matrix, sorted by row then column (a fixed CSR layout:
    a residual on the entries becomes a ``scipy.sparse`` matrix without re-sorting)."""

    def __init__(self, rows, cols, vals, shape):
        order = np.lexsort((cols, rows))
        self.rows = np.asarray(rows, dtype=np.int64)[order]
        self.cols = np.asarray(cols, dtype=np.int64)[order]
        self.vals = np.asarray(vals, dtype=np.float64)[order]
        self.shape = (int(shape[0]), int(shape[1]))
        self.indptr = np.concatenate(
            [[0], np.cumsum(np.bincount(self.rows, minlength=self.shape[0]))]
        )

    @property
    def m(self) -> int:
        return self.vals.size

    def sparse(self, values) -> sp.csr_matrix:
        return sp.csr_matrix((values, self.cols, self.indptr), shape=self.shape)

    def with_values(self, vals) -> Entries:
        out = object.__new__(Entries)
        out.rows, out.cols, out.indptr, out.shape = self.rows, self.cols, self.indptr, self.shape
        out.vals = np.asarray(vals, dtype=np.float64)
        return out


def holdout(rows, cols, shape, fraction, seed) -> np.ndarray:
    """Boolean mask over the entries: ``round(fraction * m)`` of them held out at random, never
    a row's or a column's last observation. All False when fewer than 5 could be held out or
    fewer than 5 would remain."""
    m = len(rows)
    out = np.zeros(m, dtype=bool)
    n_val = round(fraction * m)
    if n_val < 5 or m - n_val < 5:
        return out
    rows_left = np.bincount(rows, minlength=shape[0])
    cols_left = np.bincount(cols, minlength=shape[1])
    chosen = 0
    for i in np.random.default_rng(seed).permutation(m).tolist():
        r, c = rows[i], cols[i]
        if rows_left[r] > 1 and cols_left[c] > 1:
            out[i] = True
            rows_left[r] -= 1
            cols_left[c] -= 1
            chosen += 1
            if chosen == n_val:
                break
    if chosen < 5:
        out[:] = False
    return out


def biases(entries: Entries, shrinkage: float | None, sweeps: int = 10):
    """``(mean, row_bias, col_bias)`` of the observed entries: the mean, then (``shrinkage`` not
    None) ridge-shrunk row and column offsets, ``a_i = sum_j (x_ij - mu - b_j) / (n_i +
    shrinkage)`` and likewise ``b_j``, by a few alternating sweeps."""
    d1, d2 = entries.shape
    mu = float(entries.vals.mean())
    a, b = np.zeros(d1), np.zeros(d2)
    if shrinkage is None:
        return mu, a, b
    n_r = np.bincount(entries.rows, minlength=d1)
    n_c = np.bincount(entries.cols, minlength=d2)
    r = entries.vals - mu
    for _ in range(sweeps):
        a = np.bincount(entries.rows, r - b[entries.cols], minlength=d1) / (n_r + shrinkage)
        b = np.bincount(entries.cols, r - a[entries.rows], minlength=d2) / (n_c + shrinkage)
    return mu, a, b


def lambda_max(entries: Entries) -> float:
    """The largest singular value of the observed-entries matrix (zeros elsewhere): the
    smallest ``lam`` whose SoftImpute solution is 0."""
    if not np.any(entries.vals):
        return 0.0
    S = entries.sparse(entries.vals)
    if min(entries.shape) <= 20:
        return float(np.linalg.norm(S.toarray(), 2))
    from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, svds

    v0 = np.random.default_rng(0).standard_normal(min(entries.shape))  # deterministic start
    try:
        return float(svds(S, k=1, return_singular_vectors=False, v0=v0, tol=1e-8)[0])
    except (ArpackError, ArpackNoConvergence):  # pragma: no cover - power iterations instead
        v, top = v0 / np.linalg.norm(v0), 0.0
        tall = S.shape[0] >= S.shape[1]
        for _ in range(500):
            w = S.T @ (S @ v) if tall else S @ (S.T @ v)
            top, v = math.sqrt(np.linalg.norm(w)), w / max(np.linalg.norm(w), 1e-300)
        return top


def _residual(entries: Entries, Z: LowRank) -> sp.csr_matrix:
    return entries.sparse(entries.vals - Z.at(entries.rows, entries.cols))


def _change(old: LowRank, new: LowRank) -> float:
    """``||Z_old - Z_new||_F / ||Z_old||_F`` from the factors (``new.U``, ``new.V``
    orthonormal). The cheap form ``|Z_o|^2 + |Z_n|^2 - 2 <Z_o, Z_n>`` loses the digits of a change
    below ~1e-8; below 1e-5 the change is recomputed without cancellation: with
    ``U_o = U_n P + E_u`` and ``V_o = V_n Q + E_v`` (``E_u`` orthogonal to ``U_n``, ``E_v`` to
    ``V_n``) the difference splits into four mutually orthogonal terms."""
    ss = np.outer(old.s, old.s)
    n_old = float(np.sum(ss * (old.U.T @ old.U) * (old.V.T @ old.V)))
    if n_old == 0.0:
        return 0.0 if not np.any(new.s) else math.inf
    P, Q = new.U.T @ old.U, new.V.T @ old.V
    n_new = float(np.sum(new.s**2))
    cross = float(np.sum(P * Q * np.outer(new.s, old.s)))
    cheap = max(n_old + n_new - 2.0 * cross, 0.0) / n_old
    if cheap > 1e-10:
        return math.sqrt(cheap)
    E_u, E_v = old.U - new.U @ P, old.V - new.V @ Q
    G_u, G_v = E_u.T @ E_u, E_v.T @ E_v
    core = np.diag(new.s) - (P * old.s) @ Q.T
    diff = (
        np.sum(core**2)
        + np.sum(ss * (P.T @ P) * G_v)
        + np.sum(ss * G_u * (Q.T @ Q))
        + np.sum(ss * G_u * G_v)
    )
    return math.sqrt(max(float(diff), 0.0) / n_old)


def _cleanup(entries: Entries, Z: LowRank, lam: float) -> LowRank:
    """The soft-thresholded SVD of ``X* V`` (Hastie et al. 2015, Algorithm 3.1, last step)."""
    M = _residual(entries, Z) @ Z.V + Z.U * Z.s  # X* V, as Z V = U diag(s)
    U, sig, Rt = np.linalg.svd(M, full_matrices=False)
    s = np.maximum(sig - lam, 0.0)
    return LowRank(U, s, Z.V @ Rt.T)


def als(entries: Entries, lam: float, start: LowRank, *, max_iter: int = 100, tol: float = 1e-5):
    """softImpute-ALS at one ``lam`` from ``start`` (``U`` orthonormal, ``s > 0`` where the
    component may grow, ``V`` orthonormal or with zero columns for new directions).

    Returns ``(solution, iterations, converged)``; the solution is the exact soft-thresholded SVD
    of the filled-in matrix restricted to the rank-``r`` row space found."""
    Z = start
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (it is read after the loop)
        old = Z
        # B step: B = X*^T A (A^T A + lam)^-1 with A = U D, X*^T U = R^T U + V D^2.
        d = np.sqrt(Z.s)
        B = (_residual(entries, Z).T @ Z.U + Z.V * Z.s) * (d / (Z.s + lam))
        V, s, Rt = np.linalg.svd(B * d, full_matrices=False)  # B D = V~ D~^2 R^T
        Z = LowRank(Z.U @ Rt.T, s, V)
        # A step: A = X* B (B^T B + lam)^-1 with B = V D, X* V = R V + U D^2.
        d = np.sqrt(Z.s)
        A = (_residual(entries, Z) @ Z.V + Z.U * Z.s) * (d / (Z.s + lam))
        U, s, Rt = np.linalg.svd(A * d, full_matrices=False)
        Z = LowRank(U, s, Z.V @ Rt.T)
        if _change(old, Z) < tol:
            converged = True
            break
    return _cleanup(entries, Z, lam), it, converged


def warm_start(Z: LowRank | None, shape, rank: int, lam: float, rng) -> LowRank:
    """``Z``'s nonzero components padded to ``rank`` with random directions orthogonal to its
    ``U`` (zero ``V``, so ``Z`` is unchanged; weight ``lam``, where a ridge step grows a new
    component fastest)."""
    d1, d2 = shape
    if Z is None:
        U0, s0, V0 = np.zeros((d1, 0)), np.zeros(0), np.zeros((d2, 0))
    else:
        keep = Z.s > 0
        U0, s0, V0 = Z.U[:, keep], Z.s[keep], Z.V[:, keep]
        order = np.argsort(-s0)[:rank]
        U0, s0, V0 = U0[:, order], s0[order], V0[:, order]
    k = rank - s0.size
    if k <= 0:
        return LowRank(U0, s0, V0)
    G = rng.standard_normal((d1, k))
    G -= U0 @ (U0.T @ G)
    Q, _ = np.linalg.qr(G)
    Q -= U0 @ (U0.T @ Q)  # once more for orthogonality to U0
    Q, _ = np.linalg.qr(Q)
    return LowRank(
        np.hstack([U0, Q]),
        np.concatenate([s0, np.full(k, lam)]),
        np.hstack([V0, np.zeros((d2, k))]),
    )


def solve(
    entries: Entries,
    lam: float,
    *,
    rank: int,
    start: LowRank | None = None,
    max_rank: int | None = None,
    max_iter: int = 100,
    tol: float = 1e-5,
    seed: int = 0,
):
    """SoftImpute at one ``lam``: ALS at ``rank`` (warm from ``start``), the rank doubled while
    the solution fills it (up to ``max_rank``). Returns ``(solution, iterations, converged)``."""
    d1, d2 = entries.shape
    cap = min(d1, d2) if max_rank is None else min(max_rank, d1, d2)
    rank = max(1, min(rank, cap))
    rng = np.random.default_rng(seed)
    total = 0
    while True:
        Z, it, converged = als(
            entries, lam, warm_start(start, (d1, d2), rank, lam, rng), max_iter=max_iter, tol=tol
        )
        total += it
        if Z.rank < rank or rank >= cap:
            return Z, total, converged
        start, rank = Z, min(cap, 2 * rank)


@dataclass
class Path:
    lambdas: np.ndarray
    errors: np.ndarray  # held-out RMSE per lambda (NaN: not reached)
    solutions: list  # LowRank per lambda (None: not reached)
    ranks: list
    iterations: int


def fit_path(
    entries: Entries,
    lambdas,
    *,
    val_rows=None,
    val_cols=None,
    val_y=None,
    max_rank: int = 100,
    max_iter: int = 100,
    tol: float = 1e-5,
    patience: int = 2,
    seed: int = 0,
    top: float | None = None,
) -> Path:
    """Warm-started solutions along the decreasing ``lambdas``. With held-out entries
    (``val_*``, in the units of ``entries``), each solution is scored by its RMSE there and the
    path stops once ``patience`` consecutive ``lam`` did worse than the best so far."""
    d1, d2 = entries.shape
    n = len(lambdas)
    errors = np.full(n, np.nan)
    sols: list = [None] * n
    ranks = [0] * n
    top = lambda_max(entries) if top is None else top
    Z, total, best, worse = None, 0, math.inf, 0
    for k, lam in enumerate(lambdas):
        if lam >= top:  # the solution is 0
            Z = LowRank(np.zeros((d1, 0)), np.zeros(0), np.zeros((d2, 0)))
        else:
            want = Z.rank + max(3, Z.rank // 4) if Z is not None else 3
            Z, it, _ = solve(
                entries,
                lam,
                rank=want,
                start=Z,
                max_rank=max_rank,
                max_iter=max_iter,
                tol=tol,
                seed=seed + k,
            )
            total += it
        sols[k], ranks[k] = Z, Z.rank
        if val_y is None:
            continue
        errors[k] = math.sqrt(float(np.mean((Z.at(val_rows, val_cols) - val_y) ** 2)))
        if errors[k] < best:
            best, worse = errors[k], 0
        else:
            worse += 1
            if worse >= patience:
                break
    return Path(np.asarray(lambdas, dtype=np.float64), errors, sols, ranks, total)


@dataclass
class Completion:
    """What :func:`complete` returns (``X`` dense, in the user's units)."""

    X: np.ndarray
    lam: float
    lambdas: np.ndarray
    validation_errors: np.ndarray  # relative held-out error per lambda (NaN: not reached)
    validation_error: float | None
    validation_rmse: float | None
    rank: int
    iterations: int
    converged: bool
    offset: float
    row_bias: np.ndarray
    col_bias: np.ndarray
    lambda_max: float
    bias_shrinkage: float | None


def _centred(entries: Entries, shrinkage):
    mu, a, b = biases(entries, shrinkage)
    return entries.with_values(entries.vals - mu - a[entries.rows] - b[entries.cols]), mu, a, b


def complete(
    arr,
    *,
    n_lambdas=20,
    lambda_ratio=1e-4,
    max_rank=50,
    max_iter=50,
    tol=1e-3,
    validation_fraction=0.1,
    bias_shrinkage="auto",
    patience=2,
    seed=0,
) -> Completion:
    """SoftImpute on ``arr`` (NaN = missing): centre (mean, plus ridge-shrunk row and column
    biases unless ``bias_shrinkage`` is None; ``"auto"``: shrinkage 5, and on matrices up to
    ``AUTO_BOTH`` cells with a held-out part also the mean alone, the better path kept), run
    the warm-started ``lam`` path on all but a
    held-out ``validation_fraction`` of the entries, pick the ``lam`` with the lowest held-out
    error, and refit on all entries at that ``lam`` from the path's solution.

    BLAS runs on one thread: the products and SVDs are of ``d x r`` matrices, where more threads
    gain little and lose much on a loaded machine (an SVD of 1682 x 100 took 8 ms on one OpenBLAS
    thread and 100 ms on two, with the two cores shared)."""
    with _one_blas_thread():
        return _complete(
            arr,
            n_lambdas=n_lambdas,
            lambda_ratio=lambda_ratio,
            max_rank=max_rank,
            max_iter=max_iter,
            tol=tol,
            validation_fraction=validation_fraction,
            bias_shrinkage=bias_shrinkage,
            patience=patience,
            seed=seed,
        )


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


AUTO_BOTH = 100_000
"""``bias_shrinkage="auto"`` compares both centrings on matrices up to this many cells."""

AUTO_SHRINKAGE = 5.0


def _complete(
    arr,
    *,
    n_lambdas,
    lambda_ratio,
    max_rank,
    max_iter,
    tol,
    validation_fraction,
    bias_shrinkage,
    patience,
    seed,
) -> Completion:
    d1, d2 = arr.shape
    mask = ~np.isnan(arr)
    rows, cols = np.nonzero(mask)
    vals = arr[rows, cols]
    val = (
        holdout(rows, cols, arr.shape, validation_fraction, seed)
        if validation_fraction > 0
        else np.zeros(rows.size, dtype=bool)
    )
    has_val = bool(val.any())
    if bias_shrinkage == "auto":
        both = has_val and d1 * d2 <= AUTO_BOTH
        candidates = [AUTO_SHRINKAGE, None] if both else [AUTO_SHRINKAGE]
    else:
        candidates = [bias_shrinkage]
    vr, vc = rows[val], cols[val]
    runs = []
    for shrink in candidates:
        train, mu, a, b = _centred(Entries(rows[~val], cols[~val], vals[~val], arr.shape), shrink)
        top = lambda_max(train)
        lambdas = (
            top * np.geomspace(1.0, lambda_ratio, n_lambdas)
            if n_lambdas > 1
            else np.array([top * lambda_ratio])
        )
        vy = vals[val] - mu - a[vr] - b[vc] if has_val else None
        path = fit_path(
            train,
            lambdas,
            val_rows=vr,
            val_cols=vc,
            val_y=vy,
            max_rank=max_rank,
            max_iter=max_iter,
            tol=tol,
            patience=patience,
            seed=seed,
            top=top,
        )
        best = (
            int(np.nanargmin(path.errors))
            if has_val
            else (len(lambdas) // 2 if n_lambdas > 1 else 0)
        )
        runs.append((path.errors[best] if has_val else 0.0, shrink, top, lambdas, path, best))
    _, shrink, top, lambdas, path, best = min(runs, key=lambda run: run[0])
    iterations = sum(run[4].iterations for run in runs)
    if has_val:
        scale = float(np.linalg.norm(vals[val]))
        rel = path.errors * math.sqrt(int(val.sum())) / max(scale, 1e-300)
    else:
        rel = path.errors
    lam = float(lambdas[best])
    start = path.solutions[best]
    full, mu, a, b = _centred(Entries(rows, cols, vals, arr.shape), shrink)
    if lam >= lambda_max(full):
        Z, it, conv = LowRank(np.zeros((d1, 0)), np.zeros(0), np.zeros((d2, 0))), 0, True
    else:
        Z, it, conv = solve(
            full,
            lam,
            rank=start.rank + max(3, start.rank // 4),
            start=start,
            max_rank=max_rank,
            max_iter=max_iter,
            tol=tol,
            seed=seed + 7919,
        )
    X = Z.dense() + mu + a[:, None] + b[None, :]
    return Completion(
        X,
        lam,
        lambdas,
        rel,
        float(rel[best]) if has_val else None,
        float(path.errors[best]) if has_val else None,
        Z.rank,
        iterations + it,
        conv,
        mu,
        a,
        b,
        top,
        shrink,
    )
