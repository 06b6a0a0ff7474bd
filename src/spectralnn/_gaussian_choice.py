"""Choosing the Gaussian-mixture refinement's settings on held-out entries (``_gaussian.py``):
the ridge, whether to model the columns' normal scores (the copula) and the number of
components."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._gaussian import CHOICE_PASSES, COMPONENTS, RIDGES, _refine
from ._preprocess import judged
from ._threads import parallel_map


class Choice(NamedTuple):
    """What :func:`choose` found: the settings, the held-out predictions with them and the
    mixture's statistics (a start for the final refinement)."""

    ridge: float
    components: int
    copula: bool
    predictions: np.ndarray
    stats: tuple | None


class Judged(NamedTuple):
    """The refinement's settings and columns' weights, judged on every part's held-out entries
    (``_Finish._choose_mixture`` of ``_complete_finish.py``)."""

    ridge: float
    components: int
    copula: bool
    weight: np.ndarray  # per column, in [0, 1]: see ``_column_weights``
    worse: np.ndarray  # per column: the refinement lost to the mean, or could not be judged
    rmse: float = math.nan
    better: bool = True
    stats: tuple = ()  # the chosen mixture of every part: the final refinements' starts


def choose(X0, observed, held_rows, held_cols, target, scales, seed=0, others=()) -> Choice:
    """The settings with the lowest held-out error (the sum of the two judges of
    :func:`spectralnn._preprocess.judged`): the ridge of :data:`RIDGES` with one component on
    the values, then the copula (normal scores) if it does better on *both* judges on these
    and the ``others``' held-out entries (``(X0, observed, rows, cols, target)`` of the other
    parts), then the mixture size of :data:`COMPONENTS` (at least ``d2`` rows per component,
    doubled while the error falls). The copula cannot extrapolate past a column's observed
    range, and one part's entries misjudged it on short tables: breast_cancer cut to 40 rows,
    30% hidden, chose it on the first part and got 0.202 relative error, where the other two
    parts showed it losing in data units (0.117 relative error without it)."""

    def run(key):
        ridge, K, copula = key
        at = (held_rows, held_cols)
        X, stats = _refine(X0, observed, ridge, K, CHOICE_PASSES, seed, copula, None, at)
        pred = X[held_rows, held_cols]
        return key, (
            judged(pred - target, held_cols, scales),
            Choice(ridge, K, copula, pred, stats),
        )

    tried = dict(parallel_map(run, [(r, 1, False) for r in RIDGES]))  # independent: at once

    def error(ridge, K, copula=False):
        if (ridge, K, copula) not in tried:
            tried.update([run((ridge, K, copula))])
        return float(tried[ridge, K, copula][0].sum())

    def pooled(ridge, copula):  # one Gaussian's judges on every part's held-out entries
        error(ridge, 1, copula)
        first = tried[ridge, 1, copula][1].predictions - target
        return _pooled(first, ridge, copula, others, seed, scales, held_cols)

    ridge = min(RIDGES, key=lambda r: error(r, 1))
    copula = bool(np.all(pooled(ridge, True) < pooled(ridge, False)))
    n, d = X0.shape
    best, best_err = 1, error(ridge, 1, copula)
    sizes = [K for K in COMPONENTS[1:] if K * d <= n]
    for i, K in enumerate(sizes):  # doubling stops at the first size that does not help
        if i % 2 == 0:  # two sizes at once: the larger is often next (digits: 2, 4, 8, 16)
            pair = [(ridge, k, copula) for k in sizes[i : i + 2]]
            tried.update(parallel_map(run, [key for key in pair if key not in tried]))
        err = error(ridge, K, copula)
        if err >= best_err:
            break
        best, best_err = K, err
    return tried[ridge, best, copula][1]


def _pooled(first, ridge, copula, others, seed, scales, cols):
    """The judges of one Gaussian (``ridge``, ``copula``) on the first part's held-out
    residuals ``first`` (in columns ``cols``) and the ``others``' together."""

    def part(p):
        X, _ = _refine(p[0], p[1], ridge, 1, CHOICE_PASSES, seed, copula, None, (p[2], p[3]))
        return X[p[2], p[3]] - p[4], p[3]

    runs = [(first, cols)]
    runs += parallel_map(part, others)
    return judged(
        np.concatenate([r for r, _ in runs]), np.concatenate([c for _, c in runs]), scales
    )
