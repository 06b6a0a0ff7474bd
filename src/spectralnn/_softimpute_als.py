"""The ALS core of SoftImpute (:mod:`spectralnn._softimpute`) at one ``lam``: the low-rank
``Z = U diag(s) V^T`` (:class:`LowRank`), the observed entries in a fixed CSR layout
(:class:`Entries`), ``lambda_max``, the softImpute-ALS iterations (:func:`als`, Hastie, Mazumder,
Lee and Zadeh 2015) and :func:`solve`, which grows the rank while the solution fills it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["Entries", "LowRank", "als", "lambda_max", "solve", "warm_start"]


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
