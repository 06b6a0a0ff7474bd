"""scikit-learn style matrix completers: :class:`SNNCompleter` and baselines with one interface.

``Completer(**hyperparameters).fit_transform(X)`` takes a 2-D numpy array, torch tensor or pandas
DataFrame with NaN for missing entries and returns the completed matrix (a DataFrame with the same
index and columns for a DataFrame, a numpy array otherwise). Observed entries are kept as given
(``keep_observed=True``) or replaced by the model's fit. Fitted attributes end in ``_``.

* :class:`SNNCompleter` -- a spectral neural network trained by the no-tuning recipe
  (:mod:`spectralnn.recipe`);
* :class:`FreeCompleter`, :class:`DeepCompleter` -- the free matrix ("linear regression": the
  observed entries, the mean elsewhere) and the deep linear factorisation, same recipe;
* :class:`ConvexCompleter` -- the nuclear-norm minimiser that interpolates the observed entries
  (:func:`spectralnn.theory.min_nuclear_norm`, ADMM without cvxpy);
* :class:`SoftImputeCompleter` -- SoftImpute (Mazumder, Hastie and Tibshirani 2010): iterative
  singular value thresholding, lambda chosen on held-out entries.
"""

from __future__ import annotations

import contextlib
import inspect
import time

import numpy as np
import torch

from .recipe import SMALL_MATRIX, _small_threads, split
from .recipe import complete as _recipe_complete

__all__ = [
    "COMPLETERS",
    "ConvexCompleter",
    "DeepCompleter",
    "FreeCompleter",
    "SNNCompleter",
    "SoftImputeCompleter",
]

try:  # scikit-learn is an optional extra: match its protocol without it
    from sklearn.base import BaseEstimator as _Base
except ImportError:  # pragma: no cover - exercised only without scikit-learn
    class _Base:
        """get_params / set_params as in scikit-learn's BaseEstimator."""

        @classmethod
        def _get_param_names(cls):
            sig = inspect.signature(cls.__init__)
            return sorted(p for p in sig.parameters if p != "self")

        def get_params(self, deep=True):
            return {k: getattr(self, k) for k in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for k, v in params.items():
                if k not in valid:
                    raise ValueError(f"Invalid parameter {k!r} for {type(self).__name__}. "
                                     f"Valid parameters: {valid}.")
                setattr(self, k, v)
            return self

        def __repr__(self):
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
            return f"{type(self).__name__}({args})"


@contextlib.contextmanager
def _blas_threads(shape):
    """One BLAS thread for small matrices (numpy SVDs of SoftImpute; see ``recipe``)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        threadpool_limits = None
    if threadpool_limits is None or shape[0] * shape[1] > SMALL_MATRIX:
        yield
        return
    with threadpool_limits(limits=1):
        yield


def _as_matrix(X, where: str):
    """``(float64 array, DataFrame-or-None)``; validates a 2-D finite-or-NaN matrix."""
    frame = None
    if type(X).__module__.startswith("pandas") and hasattr(X, "columns"):
        frame = X
        try:
            arr = X.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            raise TypeError(f"The 'X' parameter of {where} must be numeric (NaN = missing). "
                            "Got a DataFrame with non-numeric columns instead.") from None
    elif isinstance(X, torch.Tensor):
        arr = X.detach().cpu().to(torch.float64).numpy()
    else:
        try:
            arr = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"The 'X' parameter of {where} must be a numeric 2-D array, tensor "
                            f"or DataFrame. Got {type(X).__name__} instead.") from None
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"The 'X' parameter of {where} must be a non-empty 2-D matrix. Got "
                         f"shape {arr.shape} instead.")
    obs = ~np.isnan(arr)
    if not obs.any():
        raise ValueError(f"The 'X' parameter of {where} has no observed entry (all NaN).")
    if np.isinf(arr).any():
        raise ValueError(f"The 'X' parameter of {where} must hold finite numbers or NaN. "
                         "Got inf instead.")
    return arr, frame


class _Completer(_Base):
    """Shared fit / transform / fit_transform; subclasses implement ``_complete(arr)``."""

    def fit(self, X, y=None):
        """Complete ``X`` (NaN = missing); the result is ``completed_``."""
        where = f"{type(self).__name__}.fit"
        arr, _ = _as_matrix(X, where)
        mask = ~np.isnan(arr)
        t0 = time.perf_counter()
        with _small_threads(arr.shape), _blas_threads(arr.shape):
            completed = np.asarray(self._complete(arr), dtype=np.float64)
        self.time_ = time.perf_counter() - t0
        self.mask_ = mask
        self.shape_ = arr.shape
        self.observed_fraction_ = float(mask.mean())
        self.empty_rows_ = np.flatnonzero(~mask.any(1)).tolist()
        self.empty_cols_ = np.flatnonzero(~mask.any(0)).tolist()
        self.fitted_ = completed
        self.completed_ = np.where(mask, arr, completed) if self.keep_observed else completed
        return self

    def transform(self, X):
        """The completion of the fitted matrix, with ``X``'s observed entries where kept."""
        if not hasattr(self, "completed_"):
            raise ValueError(f"This {type(self).__name__} is not fitted yet; call fit first.")
        arr, frame = _as_matrix(X, f"{type(self).__name__}.transform")
        if arr.shape != self.shape_:
            raise ValueError(f"The 'X' parameter of {type(self).__name__}.transform must have "
                             f"the fitted shape {self.shape_}. Got {arr.shape} instead.")
        out = np.where(~np.isnan(arr), arr, self.fitted_) if self.keep_observed else self.fitted_
        return self._wrap(out.copy(), frame)

    def fit_transform(self, X, y=None):
        """``fit(X)`` then the completed matrix (DataFrame in, DataFrame out; numpy otherwise)."""
        _, frame = _as_matrix(X, f"{type(self).__name__}.fit_transform")
        return self._wrap(self.fit(X).completed_.copy(), frame)

    @staticmethod
    def _wrap(out, frame):
        if frame is None:
            return out
        return type(frame)(out, index=frame.index, columns=frame.columns)


class _Bar:
    """A tqdm bar fed by the recipe's ``progress(step, max_steps, best)`` callback."""

    def __init__(self):
        self.bar = None

    def __call__(self, step, total, best):
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="fit", unit="step", leave=False)
        self.bar.update(step - self.bar.n)
        self.bar.set_postfix(held_out=f"{best:.3e}")

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _progress_bar(verbose):
    return _Bar() if verbose else None


class _RecipeCompleter(_Completer):
    _model = "snn"

    def _recipe_kwargs(self) -> dict:
        return {}

    def _complete(self, arr):
        bar = _progress_bar(self.verbose)
        res = _recipe_complete(arr, self._model, init_scale=getattr(self, "init_scale", None),
                               lr_factors=self.lr_factors, max_steps=self.max_steps,
                               validation_fraction=self.validation_fraction, refit=self.refit,
                               seed=self.random_state, tol=self.tol,
                               progress=bar, **self._recipe_kwargs())
        if bar is not None:
            bar.close()
        self.result_ = res
        self.history_ = res.history
        self.lr_, self.lr_factor_ = res.lr, res.lr_factor
        self.scale_, self.offset_ = res.normalization.scale, res.normalization.offset
        self.status_ = res.status
        self.validation_error_ = res.validation_error
        self.n_iter_ = res.best_step
        self.candidates_ = res.candidates
        self.init_scale_ = res.init_scale
        return res.X.numpy()


class SNNCompleter(_RecipeCompleter):
    """Matrix completion by a spectral neural network with the no-tuning recipe.

    Parameters
    ----------
    widths : tuple of int, default=(4, 4)
        SNN widths (:class:`~spectralnn.SNNFactorization`).
    fn : str, default="tanh"
        Spectral activation.
    init_scale : float, default=1e-4
        Initial factor scale in normalised units (the estimated matrix has unit norm).
    rank : int, optional
        Inner dimension of the factors (default ``min(d1, d2)``; smaller is cheaper on big
        matrices).
    lr_factors : tuple of float, optional
        Candidate rates in units of ``1 / curvature`` (``m`` for completion); default (2, 1, 0.5).
    max_steps : int, default=2000
    validation_fraction : float, default=0.1
        Held-out observed entries for the lr choice and early stopping.
    refit : bool, default=True
        Retrain on all observed entries for the best step count.
    keep_observed : bool, default=True
        Return the observed entries as given (else as fitted).
    random_state : int, default=0

    Attributes
    ----------
    completed_ : ndarray (d1, d2)
    history_ : list of dict
    lr_, lr_factor_ : float
    scale_, offset_ : float
        ``X = scale_ * X_normalised + offset_``.
    status_ : str
        ``"converged"``, ``"max_steps"``, ``"stalled"`` or ``"diverged"``.
    validation_error_ : float or None
        Relative error on the held-out observed entries (user's units).
    n_iter_ : int
        The step count that was best on the held-out entries.

    Examples
    --------
    >>> import numpy as np
    >>> from spectralnn import SNNCompleter
    >>> rng = np.random.default_rng(0)
    >>> M = rng.standard_normal((12, 1)) @ rng.standard_normal((1, 10))
    >>> X = np.where(rng.random(M.shape) < 0.7, M, np.nan)
    >>> out = SNNCompleter(max_steps=600).fit_transform(X)
    >>> bool(np.linalg.norm(out - M) / np.linalg.norm(M) < 0.05)
    True
    """

    _model = "snn"

    def __init__(self, widths=(4, 4), fn="tanh", init_scale=1e-4, rank=None, lr_factors=None,
                 max_steps=2000, validation_fraction=0.1, refit=True, keep_observed=True,
                 random_state=0, tol=1e-3,
                 verbose=False):
        self.widths = widths
        self.fn = fn
        self.init_scale = init_scale
        self.rank = rank
        self.lr_factors = lr_factors
        self.max_steps = max_steps
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.keep_observed = keep_observed
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose

    def _recipe_kwargs(self):
        return {"widths": tuple(self.widths), "fn": self.fn, "rank": self.rank}


class DeepCompleter(_RecipeCompleter):
    """Deep linear factorisation ``W_1 ... W_depth`` with the recipe (parameters as
    :class:`SNNCompleter`; ``init_scale`` default 0.1, so ``X`` starts at 1e-3 ``I``)."""

    _model = "deep"

    def __init__(self, depth=3, init_scale=1e-1, lr_factors=None, max_steps=2000,
                 validation_fraction=0.1, refit=True, keep_observed=True, random_state=0, tol=1e-3,
                 verbose=False):
        self.depth = depth
        self.init_scale = init_scale
        self.lr_factors = lr_factors
        self.max_steps = max_steps
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.keep_observed = keep_observed
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose

    def _recipe_kwargs(self):
        return {"depth": self.depth}


class FreeCompleter(_RecipeCompleter):
    """The free matrix ("linear regression") with the recipe: GD from the mean fits the observed
    entries and leaves the others at the observed mean (the paper's baseline)."""

    _model = "free"

    def __init__(self, lr_factors=None, max_steps=2000, validation_fraction=0.1, refit=True,
                 keep_observed=True, random_state=0, tol=1e-3,
                 verbose=False):
        self.lr_factors = lr_factors
        self.max_steps = max_steps
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.keep_observed = keep_observed
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose


class ConvexCompleter(_Completer):
    """The nuclear-norm minimiser among matrices equal to ``X`` on its observed entries.

    Uses :func:`spectralnn.theory.min_nuclear_norm` (``method="auto"``: cvxpy/SCS when installed
    and the problem is small, else ADMM with an SVD per iteration). It interpolates noise: use it
    as the exact-data reference. Fitted: ``method_``, ``converged_``, ``n_iter_``,
    ``residual_``.
    """

    def __init__(self, method="auto", tol=1e-6, max_iter=5000, keep_observed=True):
        self.method = method
        self.tol = tol
        self.max_iter = max_iter
        self.keep_observed = keep_observed

    def _complete(self, arr):
        from .sensing import CompletionOperator, Problem
        from .theory import min_nuclear_norm

        rows, cols = np.nonzero(~np.isnan(arr))
        p = Problem(CompletionOperator(rows, cols, arr.shape), torch.from_numpy(arr[rows, cols]))
        kw = {"tol": self.tol, "max_iter": self.max_iter, "return_info": True}
        try:
            X, info = min_nuclear_norm(p, method=self.method, **kw)
        except ImportError:  # "auto" picked cvxpy for a small problem, and it is not installed
            X, info = min_nuclear_norm(p, method="admm", **kw)
        self.method_ = info.method
        self.converged_ = bool(getattr(info, "converged", True))
        self.n_iter_ = getattr(info, "iterations", None)
        self.residual_ = getattr(info, "feasibility", None)
        return X.cpu().numpy()


def _svt(Z, tau):
    U, s, Vt = np.linalg.svd(Z, full_matrices=False)
    s = np.maximum(s - tau, 0.0)
    k = int((s > 0).sum())
    return (U[:, :k] * s[:k]) @ Vt[:k], k


def soft_impute(arr, lam, *, Z0=None, max_iter=500, tol=1e-5):
    """SoftImpute: ``Z <- SVT_lam(P_obs(X) + P_miss(Z))`` until the relative change is below
    ``tol``. Returns ``(Z, iterations)``; ``arr`` has NaN for missing entries."""
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
    """SoftImpute with ``lambda`` chosen on held-out observed entries, then refit on all.

    Data are centred by the observed mean. The grid is ``n_lambdas`` values from
    ``sigma_max(P_obs(X))`` down to ``1e-4`` times it (warm starts); the value with the lowest
    held-out error is refit on all entries along the same path. Fitted: ``lambda_``, ``lambdas_``,
    ``validation_errors_``, ``validation_error_``, ``n_iter_``, ``rank_``.
    """

    def __init__(self, n_lambdas=20, max_iter=300, tol=1e-5, validation_fraction=0.1,
                 keep_observed=True, random_state=0):
        self.n_lambdas = n_lambdas
        self.max_iter = max_iter
        self.tol = tol
        self.validation_fraction = validation_fraction
        self.keep_observed = keep_observed
        self.random_state = random_state

    def _complete(self, arr):
        from .sensing import CompletionOperator, Problem

        mask = ~np.isnan(arr)
        offset = float(arr[mask].mean())
        centred = arr - offset
        rows, cols = np.nonzero(mask)
        p = Problem(CompletionOperator(rows, cols, arr.shape), torch.from_numpy(centred[mask]))
        train, val = split(p, self.validation_fraction, self.random_state)
        tr = np.full(arr.shape, np.nan)
        tr[train.operator.rows.numpy(), train.operator.cols.numpy()] = train.y.numpy()
        top = np.linalg.norm(np.nan_to_num(tr), 2)
        lambdas = top * np.logspace(0, -4, self.n_lambdas)
        errors, Z = [], None
        if val is not None:
            vr, vc, vy = val.operator.rows.numpy(), val.operator.cols.numpy(), val.y.numpy()
            for lam in lambdas:
                Z, _ = soft_impute(tr, lam, Z0=Z, max_iter=self.max_iter, tol=self.tol)
                errors.append(float(np.linalg.norm(Z[vr, vc] - vy)
                                    / np.linalg.norm(vy + offset)))
            best = int(np.argmin(errors))
        else:
            best = len(lambdas) // 2
        self.lambdas_, self.validation_errors_ = lambdas.tolist(), errors
        self.lambda_ = float(lambdas[best])
        self.validation_error_ = errors[best] if errors else None
        Z, self.n_iter_ = None, 0  # refit on all entries along the same warm-started path
        for lam in lambdas[:best + 1]:
            Z, it = soft_impute(centred, lam, Z0=Z, max_iter=self.max_iter, tol=self.tol)
            self.n_iter_ += it
        self.rank_ = int(np.linalg.matrix_rank(Z)) if np.isfinite(Z).all() else None
        self.offset_ = offset
        return Z + offset


COMPLETERS = {"snn": SNNCompleter, "convex": ConvexCompleter, "softimpute": SoftImputeCompleter,
              "free": FreeCompleter, "deep": DeepCompleter}
"""Names used by ``spectralnn complete --model``."""
