"""The baseline completers: :class:`ConvexCompleter` (the nuclear-norm minimiser) and
:class:`SoftImputeCompleter` (softImpute-ALS), with :func:`soft_impute`, the dense SoftImpute
reference. Public through :mod:`spectralnn.estimators`."""

from __future__ import annotations

import numpy as np
import torch

from ._defaults import (
    SOFTIMPUTE_LAMBDA_RATIO,
    SOFTIMPUTE_MAX_ITER,
    SOFTIMPUTE_MAX_RANK,
    SOFTIMPUTE_N_LAMBDAS,
    SOFTIMPUTE_TOL,
    VALIDATION_FRACTION,
)
from ._estimator_base import _Completer
from .errors import InputError


class ConvexCompleter(_Completer):
    """The nuclear-norm minimiser among matrices equal to ``X`` on its observed entries.

    Uses :func:`spectralnn.theory.min_nuclear_norm` (``method="auto"``: cvxpy/SCS when installed
    and the problem is small, else ADMM with an SVD per iteration). It interpolates noise: use it
    as the exact-data reference. Keyword-only parameters ``method``, ``tol``, ``max_iter``,
    ``keep_observed``. Fitted: ``method_``, ``converged_``, ``n_iter_`` (iterations of the
    solver, at least 1), ``residual_``, and those of :class:`SNNCompleter`'s contract
    (``completed_``, ``n_features_in_``, ...). Deterministic: ``seed_`` is always 0.
    """

    __module__ = "spectralnn.estimators"  # the public home: pickles and docs name it there

    def __init__(self, *, method="auto", tol=1e-6, max_iter=5000, keep_observed=True):
        self.method = method
        self.tol = tol
        self.max_iter = max_iter
        self.keep_observed = keep_observed

    def _complete(self, arr):
        from .sensing import CompletionOperator, Problem
        from .theory import min_nuclear_norm

        # Size limits, checked before any work (measured on a loaded 2-core machine, 50%
        # observed, rank 3): ADMM builds the dense m x (d1 d2) operator matrix and the m x m
        # Gram matrix (with its Cholesky factor) of the m observed entries -- 100 x 100
        # (m = 5,019) 6.9 s, 200 x 30 (m = 3,039) 7.4 s, 569 x 30 (m = 8,495, m d1 d2 = 1.45e8)
        # 71 s; 569 x 30 at 80% (m = 13,664, m d1 d2 = 2.33e8) 141 s and 6.2 GB peak memory
        # (about 27 bytes per unit of m d1 d2). cvxpy/SCS: 30 x 30 0.7 s, 50 x 50 4.7 s.
        admm_limit = 1.5e8  # m * d1 * d2: about 4 GB and one to two minutes
        cvxpy_limit = 2500  # d1 * d2
        rows, cols = np.nonzero(~np.isnan(arr))
        d1, d2 = arr.shape
        m = rows.size
        method = self.method
        if method == "auto":
            method = "cvxpy" if d1 * d2 <= 900 else "admm"
        if method == "cvxpy" and d1 * d2 > cvxpy_limit:
            raise InputError(
                f"The 'X' parameter of ConvexCompleter.fit is too big for method='cvxpy': "
                f"{d1} x {d2} = {d1 * d2} unknowns > {cvxpy_limit} (50 x 50 took 5 s; "
                "the semidefinite program grows with the square of the unknowns). Use "
                "method='admm' or SoftImputeCompleter."
            )
        if method == "admm" and m * d1 * d2 > admm_limit:
            raise InputError(
                f"The 'X' parameter of ConvexCompleter.fit is too big for the nuclear-norm "
                f"minimiser: {d1} x {d2} with m = {m} observed entries needs a dense "
                f"m x (d1 d2) operator matrix and an m x m Cholesky factorisation, about "
                f"{27 * m * d1 * d2 / 1e9:.1f} GB (m * d1 * d2 = {m * d1 * d2:.3g} > limit "
                f"{admm_limit:.3g}; measured: 569 x 30 with m = 8,495 71 s, with "
                "m = 13,664 141 s and 6.2 GB). Use SoftImputeCompleter (sparse, scales to "
                "large matrices) or SNNCompleter."
            )
        p = Problem(CompletionOperator(rows, cols, arr.shape), torch.from_numpy(arr[rows, cols]))
        kw = {"tol": self.tol, "max_iter": self.max_iter, "return_info": True}
        try:
            X, info = min_nuclear_norm(p, method=self.method, **kw)
        except ImportError:  # "auto" picked cvxpy for a small problem, and it is not installed
            X, info = min_nuclear_norm(p, method="admm", **kw)
        self.method_ = info.method
        self.converged_ = bool(getattr(info, "converged", True))
        self.n_iter_ = max(1, int(getattr(info, "iterations", None) or 1))
        self.residual_ = getattr(info, "feasibility", None)
        return X.cpu().numpy()


def _svt(Z, tau):
    U, s, Vt = np.linalg.svd(Z, full_matrices=False)
    s = np.maximum(s - tau, 0.0)
    k = int((s > 0).sum())
    return (U[:, :k] * s[:k]) @ Vt[:k], k


def soft_impute(arr, lam, *, Z0=None, max_iter=500, tol=1e-5):
    """SoftImpute: ``Z <- SVT_lam(P_obs(X) + P_miss(Z))`` until the relative change is below
    ``tol``. Returns ``(Z, iterations)``; ``arr`` has NaN for missing entries.

    The dense reference (Mazumder, Hastie and Tibshirani 2010): a full SVD of the ``d1 x d2``
    matrix per iteration, for small matrices and tests only. :class:`SoftImputeCompleter` uses
    the ALS form (:mod:`spectralnn._softimpute`), which reaches the same fixed point."""
    mask = ~np.isnan(arr)
    filled = np.where(mask, arr, 0.0)
    Z = np.zeros_like(filled) if Z0 is None else Z0
    for it in range(1, max_iter + 1):
        Z_new, _ = _svt(np.where(mask, filled, Z), lam)
        change = np.linalg.norm(Z_new - Z) / max(np.linalg.norm(Z), 1e-300)
        Z = Z_new
        if change < tol:
            return Z, it
    return Z, max_iter


class SoftImputeCompleter(_Completer):
    """SoftImpute by alternating ridge regressions (softImpute-ALS), ``lambda`` chosen on
    held-out observed entries, then refit on all.

    The data are centred by the observed mean and ridge-shrunk row and column biases
    (``bias_shrinkage``; None: the mean only). SoftImpute solves
    ``min_Z 1/2 sum_obs (x - z)^2 + lambda ||Z||_*`` for ``lambda`` on a geometric path of
    ``n_lambdas`` values from ``sigma_max`` of the observed-entries matrix (where ``Z = 0``) down
    to ``lambda_ratio`` times it, warm-started, with the ALS form of Hastie, Mazumder, Lee and
    Zadeh (2015): ``Z = A B^T`` of rank ``r``, each iteration two ridge solves against the
    observed residual (sparse) plus the current low-rank ``Z`` and two SVDs of ``d x r``
    matrices, ``O(m r + (d1 + d2) r^2)`` for ``m`` observed entries; never a dense SVD of the
    matrix. The rank grows as the solutions fill it, up to ``max_rank`` (and ``min(d1, d2)``);
    at the last ALS iterate the soft-thresholded SVD of ``X* V`` makes it the exact fixed point
    ``Z = SVT_lambda(P_obs(X) + P_miss(Z))`` whenever the solution's rank is below the cap. The
    path stops two values after the held-out error stopped improving; unreached values have a
    NaN error.

    Parameters
    ----------
    All keyword-only.

    n_lambdas : int, default=20
        Values on the ``lambda`` path.
    lambda_ratio : float, default=1e-4
        The path's last value as a fraction of its first, in ``(0, 1)``.
    max_rank : int, default=50
        The largest rank of the factors.
    max_iter : int, default=50
        ALS iterations at most per ``lambda`` (and per rank increase).
    tol : float, default=1e-3
        Stop at a relative change ``||Z_new - Z||_F / ||Z||_F`` below ``tol``.
    validation_fraction : float, default=0.1
        Observed entries held out to choose ``lambda`` (never a row's or a column's last one);
        0 takes the middle of the path.
    bias_shrinkage : float, None or "auto", default="auto"
        Row and column offsets ``a_i = sum_j (x_ij - mean - b_j) / (n_i + bias_shrinkage)``
        (likewise ``b_j``), removed before SoftImpute; None: centre by the mean only. ``"auto"``:
        5; on matrices of at most 100,000 cells (with a held-out part) the path is also run
        with the mean alone and the centring with the lower held-out error is kept (biases
        turn a rank-1 matrix into a rank-3 residual, worse on tiny exact matrices).
    keep_observed : bool, default=True
    random_state : int, None, numpy Generator or RandomState, default=0
        Held-out split and the random directions of new components (``seed_``).

    Attributes
    ----------
    lambda_, lambdas_ : float, list of float
    validation_errors_ : list of float
        Relative held-out error ``||z - y|| / ||y||`` (user's units) per ``lambda``; NaN where
        the path stopped before it.
    validation_error_, validation_rmse_ : float or None
        At ``lambda_``.
    rank_, n_iter_, converged_ : int, int, bool
        Rank of the final fit, ALS iterations in all, whether the final fit met ``tol``.
    offset_, row_bias_, col_bias_ : float, ndarray, ndarray
    bias_shrinkage_ : float or None
        The centring used (None: the mean only).

    Notes
    -----
    MovieLens-100k canonical splits (943 x 1682, 80,000 training ratings; RMSE on the 20,000
    ``uK.test`` ratings of the predictions clipped to [1, 5]) with the defaults, on a 2-core
    machine shared with other jobs; wall and CPU (``time.process_time``) seconds per split:

    =====  ======  ======  ========  =======  ================
    split  RMSE    lambda  wall (s)  CPU (s)  iterations, rank
    =====  ======  ======  ========  =======  ================
    u1     0.9279  13.13   19.0      12.9     421, 50
    u2     0.9162  12.84   11.8      8.5      449, 50
    u3     0.9091  13.06   7.8       7.7      444, 50
    u4     0.9106  13.37   8.0       7.9      437, 50
    u5     0.9139  13.23   8.2       8.1      450, 50
    =====  ======  ======  ========  =======  ================

    Wall time follows the machine's load: a rerun of u1 took 25.8 s wall, 15.7 s CPU.
    (``lambda_ratio=0.01`` chose the same ``lambda`` on every split, RMSE within 2e-4, 10-21 s
    wall.)
    On u1 (``lambda_ratio=0.01``, other settings as the defaults): centring by the mean only
    (``bias_shrinkage=None``) 0.9739, shrinkage 5 (the default on large matrices) 0.9279
    (held-out RMSE 0.9161),
    shrinkage 10 0.9304 (0.9177); ``max_rank=100`` with shrinkage 10 0.9300 (29.5 s CPU).
    ``lambda_ratio=1e-3`` reached about the same RMSE (0.9302, ``max_rank=100``,
    shrinkage 10, ``tol=1e-3``) and the default ``tol`` halves the time of ``tol=1e-4`` with the
    same RMSE. BLAS runs on one thread inside the fit (an SVD of 1682 x 100 took 8 ms on one
    OpenBLAS thread, 100 ms on two with the cores shared). The former dense algorithm (an SVD
    of the full matrix per iteration, 20 lambdas) did not finish u1 in 30 minutes
    (issue 18);
    :func:`soft_impute` keeps it as the reference for small matrices.
    """

    __module__ = "spectralnn.estimators"  # the public home: pickles and docs name it there

    def __init__(
        self,
        *,
        n_lambdas=SOFTIMPUTE_N_LAMBDAS,
        lambda_ratio=SOFTIMPUTE_LAMBDA_RATIO,
        max_rank=SOFTIMPUTE_MAX_RANK,
        max_iter=SOFTIMPUTE_MAX_ITER,
        tol=SOFTIMPUTE_TOL,
        validation_fraction=VALIDATION_FRACTION,
        bias_shrinkage="auto",
        keep_observed=True,
        random_state=0,
    ):
        self.n_lambdas = n_lambdas
        self.lambda_ratio = lambda_ratio
        self.max_rank = max_rank
        self.max_iter = max_iter
        self.tol = tol
        self.validation_fraction = validation_fraction
        self.bias_shrinkage = bias_shrinkage
        self.keep_observed = keep_observed
        self.random_state = random_state

    def _complete(self, arr):
        from . import _softimpute
        from ._validation import check_int, check_real

        where = type(self).__name__
        n_lambdas = check_int(self.n_lambdas, "n_lambdas", where, 1)
        ratio = check_real(
            self.lambda_ratio, "lambda_ratio", where, low=0.0, high=1.0, low_open=True
        )
        if ratio >= 1.0:
            raise InputError(
                f"The 'lambda_ratio' parameter of {where} must be a finite number "
                f"in (0, 1). Got {self.lambda_ratio!r} instead."
            )
        max_rank = check_int(self.max_rank, "max_rank", where, 1)
        max_iter = check_int(self.max_iter, "max_iter", where, 1)
        tol = check_real(self.tol, "tol", where, low=0.0, high=1.0, low_open=True)
        frac = check_real(self.validation_fraction, "validation_fraction", where, low=0.0, high=1.0)
        if frac >= 1.0:
            raise InputError(
                f"The 'validation_fraction' parameter of {where} must be a finite "
                f"number in [0, 1). Got {self.validation_fraction!r} instead."
            )
        shrink = self.bias_shrinkage
        if shrink is not None and not (isinstance(shrink, str) and shrink == "auto"):
            if isinstance(shrink, str):
                raise InputError(
                    f"The 'bias_shrinkage' parameter of {where} must be 'auto', "
                    f"None or a number >= 0. Got {shrink!r} instead."
                )
            shrink = check_real(shrink, "bias_shrinkage", where, low=0.0)
        res = _softimpute.complete(
            arr,
            n_lambdas=n_lambdas,
            lambda_ratio=ratio,
            max_rank=max_rank,
            max_iter=max_iter,
            tol=tol,
            validation_fraction=frac,
            bias_shrinkage=shrink,
            seed=self.seed_,
        )
        self.lambda_ = res.lam
        self.lambdas_ = res.lambdas.tolist()
        self.validation_errors_ = res.validation_errors.tolist()
        self.validation_error_ = res.validation_error
        self.validation_rmse_ = res.validation_rmse
        self.rank_ = res.rank
        self.n_iter_ = max(1, res.iterations)
        self.converged_ = res.converged
        self.offset_ = res.offset
        self.row_bias_, self.col_bias_ = res.row_bias, res.col_bias
        self.bias_shrinkage_ = res.bias_shrinkage
        return res.X
