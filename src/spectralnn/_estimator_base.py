"""The base of the completers (:mod:`spectralnn.estimators`): scikit-learn's estimator protocol
(its ``BaseEstimator`` and ``NotFittedError`` when installed, an equivalent without it), the
tags, and the shared ``fit`` / ``transform`` / ``predict`` of :class:`_Completer`."""

from __future__ import annotations

import contextlib
import inspect
import time

import numpy as np

from ._estimator_input import (
    _as_matrix,
    _digest,
    _feature_names,
    _is_frame,
    _positions,
    _seed,
)
from .errors import InputError, InputTypeError, warn_user
from .recipe import SMALL_MATRIX, _small_threads

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

        __module__ = "spectralnn.estimators"  # its public home (pickles name it there)

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
            warn_user(
                UserWarning(f"X has feature names, but {name} was fitted without feature names")
            )
        elif fitted is not None and names is None:
            warn_user(
                UserWarning(
                    f"X does not have valid feature names, but {name} was fitted with feature names"
                )
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
