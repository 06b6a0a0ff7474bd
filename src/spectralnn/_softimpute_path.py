"""The ``lam`` path of SoftImpute (:mod:`spectralnn._softimpute`): the held-out split
(:func:`holdout`), the centring by the mean and shrunk row and column biases (:func:`biases`),
and the warm-started path scored on the held-out entries (:func:`fit_path`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._softimpute_als import Entries, LowRank, lambda_max, solve

__all__ = ["Path", "biases", "fit_path", "holdout"]


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


def _centred(entries: Entries, shrinkage):
    mu, a, b = biases(entries, shrinkage)
    return entries.with_values(entries.vals - mu - a[entries.rows] - b[entries.cols]), mu, a, b


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
