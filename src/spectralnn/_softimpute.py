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

from ._defaults import (
    SOFTIMPUTE_LAMBDA_RATIO,
    SOFTIMPUTE_MAX_ITER,
    SOFTIMPUTE_MAX_RANK,
    SOFTIMPUTE_N_LAMBDAS,
    SOFTIMPUTE_TOL,
    VALIDATION_FRACTION,
)
from ._softimpute_als import Entries, LowRank, als, lambda_max, solve
from ._softimpute_als import warm_start as warm_start
from ._softimpute_path import Path as Path
from ._softimpute_path import _centred, biases, fit_path, holdout

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


def complete(
    arr,
    *,
    n_lambdas=SOFTIMPUTE_N_LAMBDAS,
    lambda_ratio=SOFTIMPUTE_LAMBDA_RATIO,
    max_rank=SOFTIMPUTE_MAX_RANK,
    max_iter=SOFTIMPUTE_MAX_ITER,
    tol=SOFTIMPUTE_TOL,
    validation_fraction=VALIDATION_FRACTION,
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


def _candidates(bias_shrinkage, has_val: bool, shape) -> list:
    """The centrings to try: ``[bias_shrinkage]``, or for ``"auto"`` the default shrinkage and,
    on small matrices with a held-out part, the mean alone."""
    if bias_shrinkage == "auto":
        both = has_val and shape[0] * shape[1] <= AUTO_BOTH
        return [AUTO_SHRINKAGE, None] if both else [AUTO_SHRINKAGE]
    return [bias_shrinkage]


def _path_run(
    rows, cols, vals, val, shape, shrink, *, n_lambdas, lambda_ratio, patience, seed, **fit
) -> tuple:
    """One centring's ``lam`` path on the entries not held out (``val`` False):
    ``(held-out error at the best lam, shrink, lambda_max, lambdas, path, best index)``."""
    has_val = bool(val.any())
    vr, vc = rows[val], cols[val]
    train, mu, a, b = _centred(Entries(rows[~val], cols[~val], vals[~val], shape), shrink)
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
        max_rank=fit["max_rank"],
        max_iter=fit["max_iter"],
        tol=fit["tol"],
        patience=patience,
        seed=seed,
        top=top,
    )
    best = (
        int(np.nanargmin(path.errors)) if has_val else (len(lambdas) // 2 if n_lambdas > 1 else 0)
    )
    return (path.errors[best] if has_val else 0.0, shrink, top, lambdas, path, best)


def _refit(full: Entries, lam: float, start: LowRank, *, max_rank, max_iter, tol, seed):
    """The solution on all entries at ``lam``, warm from the path's: ``(Z, iterations,
    converged)``."""
    d1, d2 = full.shape
    if lam >= lambda_max(full):
        return LowRank(np.zeros((d1, 0)), np.zeros(0), np.zeros((d2, 0))), 0, True
    return solve(
        full,
        lam,
        rank=start.rank + max(3, start.rank // 4),
        start=start,
        max_rank=max_rank,
        max_iter=max_iter,
        tol=tol,
        seed=seed + 7919,
    )


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
    mask = ~np.isnan(arr)
    rows, cols = np.nonzero(mask)
    vals = arr[rows, cols]
    val = (
        holdout(rows, cols, arr.shape, validation_fraction, seed)
        if validation_fraction > 0
        else np.zeros(rows.size, dtype=bool)
    )
    has_val = bool(val.any())
    fit = {"max_rank": max_rank, "max_iter": max_iter, "tol": tol}
    runs = [
        _path_run(
            rows,
            cols,
            vals,
            val,
            arr.shape,
            shrink,
            n_lambdas=n_lambdas,
            lambda_ratio=lambda_ratio,
            patience=patience,
            seed=seed,
            **fit,
        )
        for shrink in _candidates(bias_shrinkage, has_val, arr.shape)
    ]
    _, shrink, top, lambdas, path, best = min(runs, key=lambda run: run[0])
    iterations = sum(run[4].iterations for run in runs)
    if has_val:
        scale = float(np.linalg.norm(vals[val]))
        rel = path.errors * math.sqrt(int(val.sum())) / max(scale, 1e-300)
    else:
        rel = path.errors
    lam = float(lambdas[best])
    full, mu, a, b = _centred(Entries(rows, cols, vals, arr.shape), shrink)
    Z, it, conv = _refit(full, lam, path.solutions[best], seed=seed, **fit)
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
