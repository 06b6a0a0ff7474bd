r"""The no-tuning completion recipe behind :func:`spectralnn.recipe.complete`.

1. **Hold out.** ``folds`` disjoint parts of ``validation_fraction`` of the observed entries
   (never a row's or column's last observation); 50 entries each on a small matrix
   (:func:`_preprocess.small_matrix`), none when it cannot spare them.
2. **Normalise** (``_preprocess.py``): per-column units for tables whose columns differ
   (``column_scale="auto"``: tried both ways on the first part for matrices of at most
   :data:`TABLE_COLUMNS` columns, kept when its held-out error, column-standardised plus in
   data units, is lower);
   the mean and ridge-shrunk row and column effects with the shrinkage chosen on the first part;
   the residual scaled to a unit-norm matrix.
3. **Train** one SNN per part on the other entries (``_completion.py``): identity init of
   ``init_scale``, gradient descent at ``lr = c m`` (halved whenever a step raises the training
   loss), the best iterate on the part kept, early stop once the held-out error has left its
   start and stopped falling.
4. **Average** the parts' predictions in the user's units (a small matrix: one model refit on
   all entries for the parts' median best step) and clip them to the observed range.
5. **Warn** when, on the held-out parts, some column is predicted worse than by its own mean.

Measured (2-core machine shared with other jobs; relative error on hidden entries unless said;
``benchmarks/movielens.py`` and ``benchmarks/imputers.py`` give the tables in the README):

* MovieLens-100k u1 (943 x 1682), one part: row/column effects with shrinkage 2-5 -> 0.934,
  10 -> 0.937, 25 -> 0.946, none -> 0.936; lr factor 0.5 / 1 / 2 -> 0.9381 / 0.9387 / 0.9384
  (the same path, more or fewer steps: one rate, no race); factor rank 4 / 8 / 16 -> 0.946 /
  0.939 / 0.937; init 1e-2 / 1e-4 / 1e-6 -> 0.949 / 0.939 / 0.940; heavy-ball momentum 0.941
  (fewer steps, worse); weight decay 1e-3 per step: no change, 3e-3: 0.956.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from ._complete_defaults import (  # noqa: F401 (re-exported: the recipe's public constants)
    AVERAGE_BELOW,
    DENSE_LIMIT,
    FLOAT32_ENTRIES,
    MODEL_DEFAULTS,
    SNN_DEFAULTS,
    STEP_BUDGET,
    TABLE_COLUMNS,
    _model_kwargs,
    _observed,
    _one_thread,
    default_rank,
)
from ._complete_result import ColumnWarning, CompletionResult, _Fold  # noqa: F401 (re-exported)
from ._complete_run import _Context
from ._defaults import MAX_STEPS, SEED, TOL, VALIDATION_FRACTION
from ._preprocess import held_out_parts
from ._validation import check_int, check_positive, check_real
from .errors import InputError


def complete(
    M,
    model: str = "snn",
    *,
    widths=None,
    fn=None,
    rank=None,
    depth=None,
    init=None,
    init_scale=None,
    lr_factor=None,
    lr_factors=None,
    max_steps: int = MAX_STEPS,
    validation_fraction: float = VALIDATION_FRACTION,
    folds="auto",
    column_scale="auto",
    clip: bool = True,
    max_time: float | None = None,
    patience: int = 5,
    tol: float = TOL,
    seed: int = SEED,
    dtype=None,
    progress=None,
    refine: bool = True,
    refit=None,
) -> CompletionResult:
    """Complete ``M`` (2-D, NaN = missing) by the recipe of this module's docstring.

    Parameters
    ----------
    M : array-like or torch.Tensor of shape (d1, d2)
        NaN marks a missing entry; every other entry must be finite.
    model : {"snn", "deep", "factor", "free"}, default="snn"
    widths, fn, rank, depth, init, init_scale :
        Model settings (:func:`~spectralnn.make_model`); ``None`` takes the recipe's default
        (widths (4, 4), tanh, :func:`default_rank`, orthogonal inits when parts are averaged,
        ``init_scale`` 1e-4 in normalised units).
    lr_factor : float, optional
        The starting rate in units of the inverse curvature (``lr = lr_factor * m``), halved
        whenever a step raises the training loss; default 2 for the SNN. ``lr_factors`` (a
        sequence) is accepted for compatibility: its largest entry.
    max_steps : int, default=2000
        Gradient steps per part (at most 10**7).
    validation_fraction : float, default=0.1
        Size of each held-out part; 50 entries on a matrix of 200-500 entries where that is
        more (:func:`_preprocess.small_matrix`: the result is then one model refit on all
        entries, :attr:`CompletionResult.refit`); 0 holds none out.
    folds : int or "auto", default="auto"
        Number of averaged parts (``"auto"``: 3 below :data:`AVERAGE_BELOW` observed entries,
        else 1).
    column_scale : {"auto", True, False}, default="auto"
        Per-column units (``"auto"``: chosen on held-out entries for tables).
    clip : bool, default=True
        Clip predictions to a rating scale or at zero (:func:`_preprocess.bounds_of`).
    max_time : float, optional
        Wall-time budget in seconds; parts stop at it and keep their best iterates (a small
        matrix's refit too late to finish is dropped for its parts' average).
    patience, tol :
        Early stopping (``_completion._done``).
    seed : int, default=0
    dtype : torch.dtype, optional
        Default: float32 from :data:`FLOAT32_ENTRIES` observed entries on, else float64.
    progress : callable, optional
        Called with a dict (phase, step, max_steps, held_out, elapsed, eta) at every check.
    refine : bool, default=True
        The ridge re-fit of rows and the Gaussian-mixture step of tables
        (:func:`spectralnn._gaussian.applies`); False gives
        the averaged SNN parts (or a small matrix's refit) alone.
    refit : ignored
        Kept for callers of the earlier recipe.

    Returns
    -------
    CompletionResult

    Examples
    --------
    >>> import numpy as np
    >>> from spectralnn.recipe import complete
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 2)) @ rng.standard_normal((2, 30))
    >>> noisy = X + 0.1 * rng.standard_normal(X.shape)
    >>> M = np.where(rng.random(X.shape) < 0.6, noisy, np.nan)
    >>> res = complete(M)
    >>> bool(np.linalg.norm(res.X.numpy() - X) / np.linalg.norm(X) < 0.1)
    True
    """
    where = "complete"
    t0 = time.perf_counter()
    _check_arguments(
        model, max_steps, folds, patience, validation_fraction, tol, column_scale, max_time
    )
    rows, cols, values = _observed(M, where)
    if folds == "auto":
        folds = 3 if len(values) < AVERAGE_BELOW else 1
    shape = tuple(np.shape(M))
    defaults = MODEL_DEFAULTS[model]
    if lr_factor is None and lr_factors is not None:
        lr_factor = max(check_positive(f, "lr_factors", where) for f in lr_factors)
    if lr_factor is None:
        lr_factor = defaults["lr_factor"]
    lr_factor = check_positive(lr_factor, "lr_factor", where)
    if init_scale is None:
        init_scale = defaults.get("init_scale")
    else:
        init_scale = check_positive(init_scale, "init_scale", where)
    if dtype is None:  # measured on MovieLens u1: float32 0.9316 vs float64 0.9318, 2x faster
        dtype = torch.float32 if len(values) >= FLOAT32_ENTRIES else torch.float64
    kwargs = _model_kwargs(
        model, shape, len(values), widths, fn, rank, depth, init, init_scale, seed, dtype
    )
    deadline = math.inf if max_time is None else t0 + max_time
    ctx = _Context(
        shape,
        rows,
        cols,
        values,
        kwargs,
        model,
        lr_factor,
        max_steps,
        patience,
        tol,
        deadline,
        progress,
        t0,
    )
    ctx.refine = bool(refine)
    with _one_thread(shape):
        parts = held_out_parts(rows, cols, shape, folds, validation_fraction, seed)
        return ctx.run(parts, column_scale, clip, validation_fraction)


def _check_arguments(
    model, max_steps, folds, patience, validation_fraction, tol, column_scale, max_time
) -> None:
    """Refuse bad settings of :func:`complete` before any work (InputError naming them)."""
    where = "complete"
    if model not in MODEL_DEFAULTS:
        raise InputError(
            f"The 'model' parameter of {where} must be one of "
            f"{sorted(MODEL_DEFAULTS)}. Got {model!r} instead."
        )
    check_int(max_steps, "max_steps", where, 1, 10**7)
    if folds != "auto":
        check_int(folds, "folds", where, 1, 20)
    check_int(patience, "patience", where, 1)
    check_real(validation_fraction, "validation_fraction", where, low=0.0, high=0.5)
    check_positive(tol, "tol", where)
    if column_scale not in ("auto", True, False):
        raise InputError(
            f"The 'column_scale' parameter of {where} must be 'auto', True or "
            f"False. Got {column_scale!r} instead."
        )
    if max_time is not None:
        check_positive(max_time, "max_time", where)
