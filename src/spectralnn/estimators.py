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

The estimator contract (scikit-learn's, kept with or without scikit-learn installed)
-----------------------------------------------------------------------------------
* Hyperparameters are keyword-only, stored unchanged by ``__init__`` and checked by ``fit``.
* A completer completes *one whole matrix*: the rows are the samples and the columns the
  features, but every entry informs every other. ``fit(X)`` sets ``n_features_in_`` (and
  ``feature_names_in_`` for a DataFrame with string column names).
* ``transform(X)`` on the fitted matrix (same shape, same observed entries and values) returns
  the fitted completion. On any other matrix with the fitted columns it returns
  ``fit_transform(X)`` of a fresh copy with the same hyperparameters and the same seed
  (``seed_``) and leaves this estimator unchanged: a completion of one matrix says nothing
  about another, so an old fit is never returned for a different matrix. A matrix with another
  number of columns, or other column names, is refused as in scikit-learn.
* ``predict(rows, cols)`` gives the fitted values at integer positions (1-D array);
  ``predict(X)`` with one 2-D matrix is ``transform(X)``, for code that calls ``predict(X)``.
* ``random_state`` is an int, None (numpy's global random state) or a numpy
  ``Generator``/``RandomState``; ``fit`` draws one int seed from it (``seed_``).
* Complex input is refused. Sparse input (``scipy.sparse``, sparse tensors) is refused too: an
  entry that a sparse matrix does not store means zero to numpy, scipy and scikit-learn, not
  "missing", so reading unstored entries as missing would silently give the same object another
  meaning. Pass a dense array with NaN for missing entries (``X.toarray()`` when the zeros are
  values).
* Unfitted ``transform`` / ``predict`` raise ``NotFittedError`` (scikit-learn's when installed,
  else :class:`NotFittedError` below, a ``ValueError`` and ``AttributeError``).
* Fitted completers pickle (``pickle``, ``joblib``, ``torch.save``) and load in a fresh process.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import numbers
import time
import warnings

import numpy as np
import torch

from .errors import InputError, InputTypeError
from .recipe import SMALL_MATRIX, _small_threads
from .recipe import complete as _recipe_complete

__all__ = [
    "COMPLETERS",
    "ConvexCompleter",
    "DeepCompleter",
    "FreeCompleter",
    "NotFittedError",
    "SNNCompleter",
    "SoftImputeCompleter",
]

try:  # scikit-learn is an optional extra: match its protocol without it
    import sklearn
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted as _sk_check_is_fitted

    _BASES: tuple = (TransformerMixin, BaseEstimator)
    _SKLEARN_VERSION = tuple(int(p) for p in sklearn.__version__.split(".")[:2] if p.isdigit())
except ImportError:  # exercised by tests/test_estimator_contract.py with sklearn hidden
    _sk_check_is_fitted = None
    _SKLEARN_VERSION = None  # type: ignore[assignment]

    class NotFittedError(ValueError, AttributeError):  # type: ignore[no-redef]
        """Raised by ``transform`` / ``predict`` before ``fit`` (as scikit-learn's class)."""

    class _Base:
        """get_params / set_params / repr as in scikit-learn's BaseEstimator."""

        @classmethod
        def _get_param_names(cls):
            sig = inspect.signature(cls.__init__)
            return sorted(
                p.name
                for p in sig.parameters.values()
                if p.name != "self" and p.kind != p.VAR_KEYWORD
            )

        def get_params(self, deep=True):
            return {k: getattr(self, k) for k in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for k, v in params.items():
                if k not in valid:
                    raise ValueError(
                        f"Invalid parameter {k!r} for {type(self).__name__}. "
                        f"Valid parameters: {valid}."
                    )
                setattr(self, k, v)
            return self

        def __repr__(self):
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
            return f"{type(self).__name__}({args})"

    _BASES = (_Base,)


class _ComplexInputError(InputTypeError, InputError):
    """Complex ``X``: a TypeError of ours that is also the ValueError scikit-learn expects."""


_MAX_SEED = 2**32 - 1


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


def _is_frame(X) -> bool:
    return type(X).__module__.startswith("pandas") and hasattr(X, "columns")


def _complex_error(where: str, got: str) -> _ComplexInputError:
    return _ComplexInputError(
        f"The 'X' parameter of {where} must be real: Complex data not supported. Got {got} instead."
    )


def _sparse_error(where: str, got: str) -> InputTypeError:
    return InputTypeError(
        f"The 'X' parameter of {where} must be a dense matrix with NaN for missing entries: "
        "sparse input is not supported, because the entries a sparse matrix does not store mean "
        "zero, not missing. Pass X.toarray() if the zeros are values, or a dense array that "
        f"holds NaN where entries are missing. Got {got} instead."
    )


def _as_matrix(X, where: str):
    """``(float64 array, DataFrame-or-None)``; validates a 2-D finite-or-NaN real matrix."""
    frame = None
    if _is_frame(X):
        frame = X
        if any(getattr(dt, "kind", "") == "c" for dt in X.dtypes):
            raise _complex_error(where, "a DataFrame with complex columns")
        if any(type(dt).__name__.startswith("Sparse") for dt in X.dtypes):
            raise _sparse_error(where, "a DataFrame with sparse columns")
        try:
            arr = X.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as err:
            raise InputTypeError(
                f"The 'X' parameter of {where} must be numeric (NaN = missing). Got a DataFrame "
                f"with non-numeric columns instead ({err})."
            ) from None
    elif isinstance(X, torch.Tensor):
        if X.layout != torch.strided:
            raise _sparse_error(where, f"a tensor with layout {X.layout}")
        if X.is_complex():
            raise _complex_error(where, f"a tensor of dtype {X.dtype}")
        arr = X.detach().cpu().to(torch.float64).numpy()
    else:
        if type(X).__module__.startswith("scipy.sparse"):
            raise _sparse_error(where, type(X).__name__)
        try:
            raw = np.asarray(X)
        except (TypeError, ValueError) as err:
            raise InputTypeError(
                f"The 'X' parameter of {where} must be a numeric 2-D array, tensor or DataFrame. "
                f"Got {type(X).__name__} instead ({err})."
            ) from None
        if raw.dtype.kind == "c" or (
            raw.dtype == object
            and any(isinstance(v, (complex, np.complexfloating)) for v in raw.flat)
        ):
            raise _complex_error(where, f"{type(X).__name__} of complex numbers")
        try:
            arr = raw.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise InputTypeError(
                f"The 'X' parameter of {where} must be a numeric 2-D array, tensor or DataFrame. "
                f"Got {type(X).__name__} of dtype {raw.dtype} instead ({err})."
            ) from None
    if arr.ndim != 2:
        raise InputError(
            f"The 'X' parameter of {where} must be a 2-D matrix. Got shape {arr.shape} instead. "
            "Reshape your data with X.reshape(1, -1) for one row or X.reshape(-1, 1) for one "
            "column."
        )
    if 0 in arr.shape:
        what = "sample" if arr.shape[0] == 0 else "feature"
        raise InputError(
            f"The 'X' parameter of {where} must be a non-empty 2-D matrix. Found 0 {what}(s) "
            f"(shape={arr.shape}) while a minimum of 1 is required."
        )
    if np.isinf(arr).any():
        raise InputError(
            f"The 'X' parameter of {where} must hold finite numbers or NaN. Got inf instead."
        )
    return arr, frame


def _feature_names(frame):
    """Column names as an object array when they are all strings (scikit-learn's rule)."""
    if frame is None:
        return None
    cols = list(frame.columns)
    if not cols or not all(isinstance(c, str) for c in cols):
        return None
    return np.asarray(cols, dtype=object)


def _digest(arr: np.ndarray, mask: np.ndarray) -> str:
    """A hash of the shape, the mask and the observed values (-0.0 counted as 0.0)."""
    h = hashlib.blake2b(digest_size=20)
    h.update(np.asarray(arr.shape, dtype=np.int64).tobytes())
    h.update(np.packbits(mask).tobytes())
    h.update(np.ascontiguousarray(np.where(mask, arr, 0.0) + 0.0).tobytes())
    return h.hexdigest()


def _seed(random_state, where: str) -> int:
    """An int seed in ``[0, 2**32 - 1]`` from an int, None, a Generator or a RandomState."""
    if random_state is None:
        return int(np.random.randint(_MAX_SEED, dtype=np.int64))  # numpy's global state
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(_MAX_SEED))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(_MAX_SEED, dtype=np.int64))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if not 0 <= int(random_state) <= _MAX_SEED:
            raise InputError(
                f"The 'random_state' parameter of {where} must be an int in [0, 2**32 - 1], "
                f"None, a numpy Generator or a RandomState. Got {random_state!r} instead."
            )
        return int(random_state)
    raise InputTypeError(
        f"The 'random_state' parameter of {where} must be an int in [0, 2**32 - 1], None, a "
        f"numpy Generator or a RandomState. Got {random_state!r} instead."
    )


def _positions(values, name: str, size: int, where: str) -> np.ndarray:
    """``values`` as a 1-D int64 array of positions in ``[0, size)``."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if (
        arr.ndim > 1
        or arr.dtype == bool
        or not (
            np.issubdtype(arr.dtype, np.integer)
            or arr.dtype == object
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in arr.flat)
        )
    ):
        raise InputTypeError(
            f"The '{name}' parameter of {where} must be an int or a 1-D sequence of ints. Got "
            f"{type(values).__name__} of dtype {arr.dtype} and shape {arr.shape} instead."
        )
    arr = arr.astype(np.int64).reshape(-1)
    bad = (arr < 0) | (arr >= size)
    if bad.any():
        raise InputError(
            f"The '{name}' parameter of {where} must hold positions in [0, {size - 1}]. Got "
            f"{int(arr[bad][0])} instead."
        )
    return arr


class _Completer(*_BASES):  # type: ignore[misc]
    """Shared fit / transform / predict; subclasses implement ``_complete(arr)``.

    ``_complete(arr)`` gets the float64 matrix with NaN for missing entries, returns the fitted
    matrix and may set fitted attributes; the int seed of the fit is ``self.seed_`` (set before
    the call).
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = False
        tags.input_tags.two_d_array = True
        tags.requires_fit = True
        tags.non_deterministic = False  # a fixed seed gives the same completion (CPU float64)
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float64"]
        return tags

    # -- fit -------------------------------------------------------------------------------

    def fit(self, X, y=None):
        """Complete ``X`` (NaN = missing); the result is ``completed_``.

        ``y`` is ignored (present for scikit-learn's API).
        """
        arr, frame = _as_matrix(X, f"{type(self).__name__}.fit")
        return self._fit(arr, frame)

    def _fit(self, arr, frame):
        name = type(self).__name__
        keep = getattr(self, "keep_observed", True)
        if not isinstance(keep, (bool, np.bool_)):
            raise InputTypeError(
                f"The 'keep_observed' parameter of {name} must be a bool. Got {keep!r} instead."
            )
        mask = ~np.isnan(arr)
        if not mask.any():
            raise InputError(f"The 'X' parameter of {name}.fit has no observed entry (all NaN).")
        self.seed_ = _seed(getattr(self, "random_state", 0), name)
        t0 = time.perf_counter()
        with _small_threads(arr.shape), _blas_threads(arr.shape):
            completed = np.asarray(self._complete(arr), dtype=np.float64)
        self.time_ = time.perf_counter() - t0
        self.n_features_in_ = arr.shape[1]
        names = _feature_names(frame)
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.mask_ = mask
        self.shape_ = arr.shape
        self.observed_fraction_ = float(mask.mean())
        self.empty_rows_ = np.flatnonzero(~mask.any(1)).tolist()
        self.empty_cols_ = np.flatnonzero(~mask.any(0)).tolist()
        self.fitted_ = completed
        self.completed_ = np.where(mask, arr, completed) if keep else completed
        self._fit_digest = _digest(arr, mask)
        return self

    def fit_transform(self, X, y=None, **fit_params):
        """``fit(X)`` then the completed matrix (DataFrame in, DataFrame out; numpy otherwise)."""
        arr, frame = _as_matrix(X, f"{type(self).__name__}.fit_transform")
        return self._wrap(self._fit(arr, frame).completed_.copy(), frame)

    # -- after fit -------------------------------------------------------------------------

    def _check_fitted(self):
        if _sk_check_is_fitted is not None:
            _sk_check_is_fitted(self, "completed_")
        elif not hasattr(self, "completed_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def _check_columns(self, arr, frame, where):
        """scikit-learn's checks of the number and names of the columns against the fit."""
        name = type(self).__name__
        if arr.shape[1] != self.n_features_in_:
            raise InputError(
                f"The 'X' parameter of {where} must have the fitted columns: X has "
                f"{arr.shape[1]} features, but {name} is expecting {self.n_features_in_} "
                "features as input."
            )
        fitted = getattr(self, "feature_names_in_", None)
        names = _feature_names(frame)
        if fitted is None and names is not None:
            warnings.warn(
                f"X has feature names, but {name} was fitted without feature names",
                UserWarning,
                stacklevel=3,
            )
        elif fitted is not None and names is None:
            warnings.warn(
                f"X does not have valid feature names, but {name} was fitted with feature names",
                UserWarning,
                stacklevel=3,
            )
        elif fitted is not None and not np.array_equal(fitted, names):
            unseen = [c for c in names if c not in set(fitted)]
            missing = [c for c in fitted if c not in set(names)]
            msg = "The feature names should match those that were passed during fit.\n"
            if unseen:
                msg += "Feature names unseen at fit time:\n" + "".join(f"- {c}\n" for c in unseen)
            if missing:
                msg += "Feature names seen at fit time, yet now missing:\n" + "".join(
                    f"- {c}\n" for c in missing
                )
            if not unseen and not missing:
                msg += "Feature names must be in the same order as they were in fit.\n"
            raise InputError(msg)

    def transform(self, X):
        """The completion of ``X``.

        On the fitted matrix (same shape, observed entries and values) this is ``completed_``.
        On another matrix with the fitted columns it is ``fit_transform(X)`` of a fresh
        estimator with the same hyperparameters and seed (``seed_``); this estimator is left
        as it is. DataFrame in, DataFrame out; numpy otherwise.
        """
        self._check_fitted()
        where = f"{type(self).__name__}.transform"
        arr, frame = _as_matrix(X, where)
        self._check_columns(arr, frame, where)
        mask = ~np.isnan(arr)
        if arr.shape == self.shape_ and _digest(arr, mask) == self._fit_digest:
            return self._wrap(self.completed_.copy(), frame)
        if not mask.any():
            raise InputError(f"The 'X' parameter of {where} has no observed entry (all NaN).")
        params = self.get_params(deep=False)
        if "random_state" in params:
            params["random_state"] = self.seed_
        twin = type(self)(**params)
        return self._wrap(twin._fit(arr, frame).completed_.copy(), frame)

    def predict(self, rows, cols=None):
        """The fitted values at positions ``(rows[i], cols[i])``, a 1-D float64 array.

        The model's values, also at observed positions (``transform`` keeps the observed
        entries). ``rows`` and ``cols`` are ints or 1-D sequences of ints of the same length,
        in ``[0, d1)`` and ``[0, d2)``. With one 2-D matrix and no ``cols``,
        ``predict(X)`` is ``transform(X)``.
        """
        self._check_fitted()
        where = f"{type(self).__name__}.predict"
        if cols is None:
            if _is_frame(rows) or np.ndim(rows) == 2:
                return self.transform(rows)
            raise InputError(
                f"The 'cols' parameter of {where} is required with 'rows' of shape "
                f"{np.shape(rows)}: call predict(rows, cols) for entries, or predict(X) with a "
                "2-D matrix X (as transform). Reshape your data with X.reshape(1, -1) for one "
                "row of a matrix."
            )
        r = _positions(rows, "rows", self.shape_[0], where)
        c = _positions(cols, "cols", self.shape_[1], where)
        if r.shape != c.shape:
            raise InputError(
                f"The 'cols' parameter of {where} must have the length of 'rows' ({r.size}). "
                f"Got {c.size} instead."
            )
        return self._predict_entries(r, c)

    def _predict_entries(self, rows, cols):
        return self.fitted_[rows, cols].copy()

    def get_feature_names_out(self, input_features=None):
        """The output columns are the input columns: ``feature_names_in_`` or ``x0, x1, ...``."""
        self._check_fitted()
        fitted = getattr(self, "feature_names_in_", None)
        if input_features is not None:
            given = np.asarray(input_features, dtype=object)
            if given.shape != (self.n_features_in_,) or (
                fitted is not None and not np.array_equal(given, fitted)
            ):
                raise InputError(
                    f"The 'input_features' parameter of {type(self).__name__}."
                    "get_feature_names_out must equal feature_names_in_ (or hold "
                    f"n_features_in_ = {self.n_features_in_} names). Got {list(given)} instead."
                )
            return given
        if fitted is not None:
            return fitted.copy()
        return np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)

    @staticmethod
    def _wrap(out, frame):
        if frame is None:
            return out
        return type(frame)(out, index=frame.index, columns=frame.columns)


if _SKLEARN_VERSION is not None and _SKLEARN_VERSION < (1, 6):  # pragma: no cover
    # scikit-learn < 1.6 reads tags from _more_tags (1.6+ reads __sklearn_tags__).
    _Completer._more_tags = lambda self: {
        "allow_nan": True,
        "preserves_dtype": [np.float64],
        "requires_fit": True,
        "non_deterministic": False,
    }


def _progress_bar(verbose):
    """Progress lines on stderr (phase, step, held-out RMSE in the data's units, ETA)."""
    if not verbose:
        return None
    from ._progress import ProgressPrinter

    return ProgressPrinter(prefix="fit")


class _RecipeCompleter(_Completer):
    _model = "snn"

    def _recipe_kwargs(self) -> dict:
        return {}

    def _complete(self, arr):
        bar = _progress_bar(self.verbose)
        try:
            res = _recipe_complete(
                arr,
                self._model,
                init_scale=getattr(self, "init_scale", None),
                lr_factors=self.lr_factors,
                max_steps=self.max_steps,
                validation_fraction=self.validation_fraction,
                folds=self.folds,
                max_time=self.max_time,
                seed=self.seed_,
                tol=self.tol,
                progress=bar,
                **self._recipe_kwargs(),
            )
        finally:
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

    def _predict_entries(self, rows, cols):
        if hasattr(self.result_, "predict"):  # the model's values in user units
            out = self.result_.predict(rows, cols)
            if isinstance(out, torch.Tensor):
                out = out.detach().cpu().numpy()
            return np.asarray(out, dtype=np.float64).reshape(-1)
        return super()._predict_entries(rows, cols)


class SNNCompleter(_RecipeCompleter):
    """Matrix completion by a spectral neural network with the no-tuning recipe.

    Parameters (keyword-only)
    -------------------------
    widths : tuple of int, default=(4, 4)
        SNN widths (:class:`~spectralnn.SNNFactorization`).
    fn : str, default="tanh"
        Spectral activation.
    init_scale : float, default=1e-4
        Initial factor scale in normalised units (the estimated matrix has unit norm).
    rank : int, optional
        Inner dimension of each input's factors (default ``min(16, min(d1, d2) // (2 L0))``;
        the network's output has rank at most ``L0 * rank``).
    lr_factors : tuple of float, optional
        The rate in units of ``1 / curvature`` (``m`` for completion; the largest factor is
        used, halved on divergence); default 2.
    max_steps : int, default=2000
    validation_fraction : float, default=0.1
        Held-out observed entries of each part, for early stopping.
    folds : int or "auto", default="auto"
        Held-out parts; one model is trained per part (on the other entries) and their
        predictions averaged ("auto": 3 below 150,000 observed entries, else 1).
    max_time : float, optional
        Wall-time budget in seconds; training stops at it and keeps the best iterates so far.
    keep_observed : bool, default=True
        Return the observed entries as given (else as fitted).
    random_state : int, None, numpy Generator or RandomState, default=0
        Seeds the held-out split and the initialisation; ``fit`` draws one int seed from it
        (``seed_``; None uses numpy's global random state).
    tol : float, default=1e-3
        Early-stopping tolerance of the recipe.
    verbose : bool, default=False
        Progress lines on stderr while training.

    Attributes
    ----------
    completed_ : ndarray (d1, d2)
    fitted_ : ndarray (d1, d2)
        The model's matrix (``completed_`` with the observed entries replaced by the model's).
    n_features_in_ : int
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        Only when fitted on a DataFrame with string column names.
    seed_ : int
    result_ : spectralnn.recipe.RecipeResult
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

    Notes
    -----
    See the module docstring for ``transform`` on another matrix, ``predict(rows, cols)``,
    and why sparse input is refused.

    Examples
    --------
    >>> import numpy as np
    >>> from spectralnn import SNNCompleter
    >>> rng = np.random.default_rng(0)
    >>> M = rng.standard_normal((12, 1)) @ rng.standard_normal((1, 10))
    >>> X = np.where(rng.random(M.shape) < 0.7, M, np.nan)
    >>> est = SNNCompleter(max_steps=600)
    >>> out = est.fit_transform(X)
    >>> bool(np.linalg.norm(out - M) / np.linalg.norm(M) < 0.05)
    True
    >>> est.predict([0, 11], [9, 0]).shape
    (2,)
    """

    _model = "snn"

    def __init__(
        self,
        *,
        widths=(4, 4),
        fn="tanh",
        init_scale=1e-4,
        rank=None,
        lr_factors=None,
        max_steps=2000,
        validation_fraction=0.1,
        folds="auto",
        max_time=None,
        keep_observed=True,
        random_state=0,
        tol=1e-3,
        verbose=False,
    ):
        self.widths = widths
        self.fn = fn
        self.init_scale = init_scale
        self.rank = rank
        self.lr_factors = lr_factors
        self.max_steps = max_steps
        self.validation_fraction = validation_fraction
        self.folds = folds
        self.max_time = max_time
        self.keep_observed = keep_observed
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose

    def _recipe_kwargs(self):
        widths = self.widths
        if isinstance(widths, numbers.Integral) and not isinstance(widths, bool):
            widths = (widths,)
        try:
            widths = tuple(widths)
        except TypeError:
            raise InputTypeError(
                f"The 'widths' parameter of {type(self).__name__} must be a "
                f"tuple of ints. Got {widths!r} instead."
            ) from None
        return {"widths": widths, "fn": self.fn, "rank": self.rank}


class DeepCompleter(_RecipeCompleter):
    """Deep linear factorisation ``W_1 ... W_depth`` with the recipe (parameters as
    :class:`SNNCompleter`, keyword-only; ``init_scale`` default 0.1, so ``X`` starts at
    1e-3 ``I``)."""

    _model = "deep"

    def __init__(
        self,
        *,
        depth=3,
        init_scale=1e-1,
        lr_factors=None,
        max_steps=2000,
        validation_fraction=0.1,
        folds="auto",
        max_time=None,
        keep_observed=True,
        random_state=0,
        tol=1e-3,
        verbose=False,
    ):
        self.depth = depth
        self.init_scale = init_scale
        self.lr_factors = lr_factors
        self.max_steps = max_steps
        self.validation_fraction = validation_fraction
        self.folds = folds
        self.max_time = max_time
        self.keep_observed = keep_observed
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose

    def _recipe_kwargs(self):
        return {"depth": self.depth}


class FreeCompleter(_RecipeCompleter):
    """The free matrix ("linear regression") with the recipe: GD from the mean fits the observed
    entries and leaves the others at the observed mean (the paper's baseline). Parameters as
    :class:`SNNCompleter` (keyword-only)."""

    _model = "free"

    def __init__(
        self,
        *,
        lr_factors=None,
        max_steps=2000,
        validation_fraction=0.1,
        folds="auto",
        max_time=None,
        keep_observed=True,
        random_state=0,
        tol=1e-3,
        verbose=False,
    ):
        self.lr_factors = lr_factors
        self.max_steps = max_steps
        self.validation_fraction = validation_fraction
        self.folds = folds
        self.max_time = max_time
        self.keep_observed = keep_observed
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose


class ConvexCompleter(_Completer):
    """The nuclear-norm minimiser among matrices equal to ``X`` on its observed entries.

    Uses :func:`spectralnn.theory.min_nuclear_norm` (``method="auto"``: cvxpy/SCS when installed
    and the problem is small, else ADMM with an SVD per iteration). It interpolates noise: use it
    as the exact-data reference. Keyword-only parameters ``method``, ``tol``, ``max_iter``,
    ``keep_observed``. Fitted: ``method_``, ``converged_``, ``n_iter_`` (iterations of the
    solver, at least 1), ``residual_``, and those of :class:`SNNCompleter`'s contract
    (``completed_``, ``n_features_in_``, ...). Deterministic: ``seed_`` is always 0.
    """

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

    def __init__(
        self,
        *,
        n_lambdas=20,
        lambda_ratio=1e-4,
        max_rank=50,
        max_iter=50,
        tol=1e-3,
        validation_fraction=0.1,
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


COMPLETERS = {
    "snn": SNNCompleter,
    "convex": ConvexCompleter,
    "softimpute": SoftImputeCompleter,
    "free": FreeCompleter,
    "deep": DeepCompleter,
}
"""Names used by ``spectralnn complete --model``."""
