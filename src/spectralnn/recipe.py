r"""The no-tuning training recipe: :func:`fit_recipe` (any problem) and :func:`complete`
(a matrix with missing entries).

What a user's data needs before gradient descent on an SNN works, and what the recipe does:

1. **Normalise.** Completion data are centred by the mean ``offset`` of the observed entries,
   then every problem is scaled by ``scale`` so that the *estimated full matrix* has unit
   Frobenius norm: :math:`\|X\|_F^2 \approx \|y\|^2 d_1 d_2 / \sum_i \|A_i\|_F^2`
   (for completion :math:`\|y\|^2 d_1 d_2 / m`; the denominator is estimated with Gaussian probes
   for other operators). Results are mapped back, ``X = scale * X_n + offset``, and every
   number reported (errors, history) is in the user's units or says it is normalised.
2. **Initialise relative to the data.** ``init_scale`` is in normalised units (target norm 1),
   so one default serves data in [1, 5], [1e-3, 5e-3] or [1e3, 5e3].
3. **Learning rate from the curvature.** The loss is :math:`\frac{1}{2m}\|A(X)-y\|^2`; its
   Hessian in ``X`` is :math:`A^*A/m` with largest eigenvalue ``lam`` (``1/m`` for completion
   without repeated entries, found by power iteration otherwise). A factorised model of a
   unit-norm matrix sees about that curvature, so ``lr = c / lam`` (``c * m`` for completion) with
   ``c`` a small grid of factors (``lr_factors``). The factors race on a held-out part of the
   observations (``validation_fraction``) and the one with the lowest held-out loss wins -- not
   the largest that does not diverge.
4. **Early stopping and best iterate.** Training runs in chunks; after each chunk the held-out
   loss is evaluated and the best parameters kept. Once a run has left the plateau of its small
   initialisation (training loss halved, or held-out error down 10% from the mean fill), it stops
   when its held-out relative RMS error fell by less than ``tol`` over ``patience`` chunks.
5. **Refit.** With ``refit=True`` the winner is retrained from scratch on all observations for the
   number of steps that was best on the held-out part.
6. **Warnings.** :class:`StallWarning` when the training loss has not moved (relative decrease
   below 1e-3) after ``stall_fraction`` of the steps; :class:`StillImprovingWarning` when the
   held-out loss still improved by more than 1% over the last tenth of the steps at the step limit.

The defaults (:data:`DEFAULTS`) and the measurements that chose them: ``_recipe_steps.py``.
"""

from __future__ import annotations

import time

from ._defaults import MAX_STEPS, SEED, TOL, VALIDATION_FRACTION
from ._patches import InpaintResult, inpaint
from ._race import (  # noqa: F401 (re-exported: used by the estimators and tests)
    LARGE_SIDE,
    MAX_RANK,
    SMALL_MATRIX,
    _build,
    _matrix,
    _Race,
    _small_threads,
    _warn,
)
from ._recipe_normalize import (  # noqa: F401 (re-exported: public names of this module)
    Normalization,
    _sq_norm_sum,
    _subset,
    _validation_indices,
    curvature,
    normalize,
    split,
)
from ._recipe_steps import (
    DEFAULTS,
    RecipeResult,
    _finish,
    _race_loop,
    _race_status,
    _settings,
    _validation_error,
)
from .errors import ColumnWarning, MaskWarning, StallWarning, StillImprovingWarning
from .sensing import Problem

__all__ = [
    "DEFAULTS",
    "InpaintResult",
    "Normalization",
    "RecipeResult",
    "ColumnWarning",
    "MaskWarning",
    "StallWarning",
    "StillImprovingWarning",
    "complete",
    "curvature",
    "fit_recipe",
    "inpaint",
    "normalize",
]


def fit_recipe(
    problem: Problem,
    model: str = "snn",
    *,
    init_scale: float | None = None,
    lr_factors=None,
    max_steps: int = MAX_STEPS,
    chunk: int | None = None,
    patience: int = 4,
    validation_fraction: float = VALIDATION_FRACTION,
    refit: bool = True,
    stall_fraction: float = 0.25,
    center: bool | None = None,
    seed: int = SEED,
    race_fraction: float = 0.2,
    tol: float = TOL,
    progress=None,
    **model_kwargs,
) -> RecipeResult:
    """Train ``model`` on ``problem`` with the recipe of this module's docstring.

    Parameters
    ----------
    problem : Problem
        Any sensing problem; completion problems are centred as well as scaled.
    model : {"snn", "deep", "factor", "free"}, default="snn"
    init_scale : float, optional
        In normalised units (the estimated matrix has unit Frobenius norm); default per model
        (:data:`DEFAULTS`).
    lr_factors : sequence of float, optional
        ``lr = factor / curvature``; the factors race on the held-out part.
    max_steps : int, default=2000
        Step limit of the race (the refit runs for the best step count).
    chunk : int, optional
        Steps between held-out evaluations (default ``max(10, max_steps // 100)``).
    patience : int, default=4
        A run has converged when its held-out relative RMS error (normalised units) fell by less
        than ``tol`` over the last ``patience`` chunks.
    validation_fraction : float, default=0.1
    refit : bool, default=True
    stall_fraction : float, default=0.25
        Stop with :class:`StallWarning` when no training loss has moved by then.
    race_fraction : float, default=0.2
        After this fraction of ``max_steps`` only the leading rate continues.
    tol : float, default=1e-3
    center : bool, optional
        Centre the data (default: completion problems only).
    seed : int, default=0
    progress : callable, optional
        ``progress(step, max_steps, best_val_loss)`` after each chunk.
    **model_kwargs
        Passed to :func:`~spectralnn.make_model` (``widths``, ``fn``, ``depth``, ``rank``, ...).

    Returns
    -------
    RecipeResult

    Examples
    --------
    >>> import spectralnn as snn
    >>> from spectralnn.recipe import fit_recipe
    >>> p = snn.make_problem("completion", (12, 10), 1, 80, seed=0)
    >>> res = fit_recipe(p, max_steps=600)
    >>> bool(snn.metrics.relative_error(res.X, p.X_true) < 0.05)
    True
    """
    with _small_threads(problem.shape):
        return _fit_recipe(
            problem,
            model,
            init_scale,
            lr_factors,
            max_steps,
            chunk,
            patience,
            validation_fraction,
            refit,
            stall_fraction,
            center,
            seed,
            race_fraction,
            tol,
            progress,
            model_kwargs,
        )


def _fit_recipe(
    problem,
    model,
    init_scale,
    lr_factors,
    max_steps,
    chunk,
    patience,
    validation_fraction,
    refit,
    stall_fraction,
    center,
    seed,
    race_fraction,
    tol,
    progress,
    model_kwargs,
):
    t0 = time.perf_counter()
    max_steps, chunk, kwargs, factors = _settings(
        problem,
        model,
        init_scale,
        lr_factors,
        max_steps,
        chunk,
        patience,
        validation_fraction,
        stall_fraction,
        race_fraction,
        tol,
        seed,
        model_kwargs,
    )
    norm_problem, norm = normalize(problem, center, seed)
    train, val = split(norm_problem, validation_fraction, seed)
    lrs = [f / curvature(train.operator) for f in factors]
    notes: list = []
    race = _Race(_build(model, problem.shape, len(lrs), kwargs), lrs, train, val, patience, tol)
    step, stalled = _race_loop(
        race,
        model,
        problem.shape,
        kwargs,
        max_steps,
        chunk,
        race_fraction,
        stall_fraction,
        progress,
    )
    win = race.leader()
    status = _race_status(race, win, lrs, kwargs, step, stalled, max_steps, tol, notes)
    final = _build(model, problem.shape, None, kwargs)
    final.load_state_dict(race.best_state[win])
    history = list(race.hist[win])
    val_error = None
    if val is not None and status != "diverged":
        val_error = _validation_error(final, val, norm, problem)
    return _finish(
        problem,
        model,
        kwargs,
        norm,
        norm_problem,
        race,
        win,
        final,
        lrs,
        factors,
        status,
        history,
        val_error,
        refit and val is not None,
        chunk,
        notes,
        t0,
    )


def complete(M, model: str = "snn", **kwargs):
    """Complete a 2-D array (numpy or torch, NaN = missing): the completion recipe.

    See :mod:`spectralnn._complete` for the recipe and the measurements behind its defaults;
    keyword arguments as in :func:`spectralnn._complete.complete` (``widths``, ``rank``,
    ``init_scale``, ``lr_factor``, ``max_steps``, ``folds``, ``validation_fraction``,
    ``column_scale``, ``clip``, ``max_time``, ``seed``, ``dtype``, ``progress``). Returns a
    :class:`~spectralnn._complete.CompletionResult` (``X`` in the user's units, ``predict``).

    Examples
    --------
    >>> import numpy as np
    >>> from spectralnn.recipe import complete
    >>> M = np.outer(np.arange(1.0, 9.0), np.arange(1.0, 7.0))
    >>> M[::3, ::2] = np.nan
    >>> res = complete(M, max_steps=600)
    >>> res.X.shape
    torch.Size([8, 6])
    """
    from ._complete import complete as _complete

    return _complete(M, model, **kwargs)
