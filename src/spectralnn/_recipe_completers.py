"""The completers trained by the no-tuning recipe (:func:`spectralnn.recipe.complete`):
:class:`SNNCompleter`, :class:`DeepCompleter` and :class:`FreeCompleter`. Public through
:mod:`spectralnn.estimators`."""

from __future__ import annotations

import numbers

import numpy as np
import torch

from ._defaults import (
    DEEP_DEPTH,
    DEEP_INIT_SCALE,
    FN,
    MAX_STEPS,
    SEED,
    SNN_INIT_SCALE,
    SNN_WIDTHS,
    TOL,
    VALIDATION_FRACTION,
)
from ._estimator_base import _Completer
from .errors import InputTypeError
from .recipe import complete as _recipe_complete


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

    __module__ = "spectralnn.estimators"  # the public home: pickles and docs name it there

    _model = "snn"

    def __init__(
        self,
        *,
        widths=SNN_WIDTHS,
        fn=FN,
        init_scale=SNN_INIT_SCALE,
        rank=None,
        lr_factors=None,
        max_steps=MAX_STEPS,
        validation_fraction=VALIDATION_FRACTION,
        folds="auto",
        max_time=None,
        keep_observed=True,
        random_state=SEED,
        tol=TOL,
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

    __module__ = "spectralnn.estimators"  # the public home: pickles and docs name it there

    _model = "deep"

    def __init__(
        self,
        *,
        depth=DEEP_DEPTH,
        init_scale=DEEP_INIT_SCALE,
        lr_factors=None,
        max_steps=MAX_STEPS,
        validation_fraction=VALIDATION_FRACTION,
        folds="auto",
        max_time=None,
        keep_observed=True,
        random_state=SEED,
        tol=TOL,
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

    __module__ = "spectralnn.estimators"  # the public home: pickles and docs name it there

    _model = "free"

    def __init__(
        self,
        *,
        lr_factors=None,
        max_steps=MAX_STEPS,
        validation_fraction=VALIDATION_FRACTION,
        folds="auto",
        max_time=None,
        keep_observed=True,
        random_state=SEED,
        tol=TOL,
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
