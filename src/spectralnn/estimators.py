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

from ._baseline_completers import ConvexCompleter, SoftImputeCompleter
from ._baseline_completers import _svt as _svt
from ._baseline_completers import soft_impute as soft_impute
from ._estimator_base import NotFittedError
from ._estimator_base import _Completer as _Completer
from ._estimator_input import _as_matrix as _as_matrix
from ._estimator_input import _seed as _seed
from ._recipe_completers import DeepCompleter, FreeCompleter, SNNCompleter
from ._recipe_completers import _RecipeCompleter as _RecipeCompleter

__all__ = [
    "COMPLETERS",
    "ConvexCompleter",
    "DeepCompleter",
    "FreeCompleter",
    "NotFittedError",
    "SNNCompleter",
    "SoftImputeCompleter",
]

COMPLETERS = {
    "snn": SNNCompleter,
    "convex": ConvexCompleter,
    "softimpute": SoftImputeCompleter,
    "free": FreeCompleter,
    "deep": DeepCompleter,
}
"""Names used by ``spectralnn complete --model``."""
