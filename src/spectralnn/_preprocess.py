r"""What the completion recipe does to a user's entries before the SNN sees them, and back.

A completion problem is a list of observed entries ``v_i`` at ``(r_i, c_i)`` of a ``d1 x d2``
matrix. The model is

.. math:: M_{ij} \approx \mu_j + \sigma_j \bigl(m + a_i + b_j + s\, Z_{ij}\bigr),

* ``mu_j, sigma_j`` (*column units*): per-column centre and spread, used for tables whose columns
  have different units (``column_scale=True``): each column's own observed mean and standard
  deviation, nothing pooled across columns (:func:`column_units`); otherwise
  ``mu_j = 0, sigma_j = 1``;
* ``m + a_i + b_j`` (*effects*): the mean and ridge-shrunk row and column effects
  (``a_i = sum (v - m - b) / (n_i + lam)``, alternating, as in a baseline recommender); the
  shrinkage ``lam`` is chosen on held-out entries (``inf`` = no effect);
* ``s Z`` (*the low-rank part*): the residual scaled so that the estimated full matrix ``Z`` has
  unit Frobenius norm (``s^2 = ||z||^2 d1 d2 / m``), what the SNN is trained on.

:class:`Normalization` maps both ways and clips to the observed range (per column in column
units, else overall): predictions never leave the range the data showed (ratings stay in
[1, 5], a non-negative measurement stays non-negative; :func:`bounds_of`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._defaults import VALIDATION_FRACTION

MIN_HELD = 50
"""Fewer held-out entries than this make early stopping a coin toss (measured on a 12 x 10
rank-1 matrix with 9 held-out entries: parts stopped at steps 100-2000 and the average was
0.073 off): a part holds out at least this many (:data:`SMALL_SHARE`), fewer only on a
:func:`tiny_matrix`, whose parts stop on fewer entries but whose completion is a model refit
on all entries for their median best step."""


SMALL_SHARE = 0.25
"""A matrix of fewer than 500 entries, too few for ``fraction`` of them to make a
:data:`MIN_HELD`-entry part, holds out :data:`MIN_HELD` entries a part while they are at most
this share of its entries (this share of them on a :func:`tiny_matrix`), and is then trained
once more on all of them (``_complete_run``; :func:`small_matrix`). Without parts, tables of
25-36 rows trained on everything with no stopping rule came out worse than their column means
(wine cut to 36 x 13 at 20% hidden: 0.68 relative error, its mean fill 0.34)."""

MIN_TINY = 20
"""The fewest entries a part of a :func:`tiny_matrix` holds out; smaller matrices (under 80
entries) get no parts."""


LAMBDAS = (0.5, 2.0, 5.0, 15.0, 50.0, math.inf)
"""Shrinkage grid for the row/column effects (``inf``: no effect), chosen on held-out entries."""

RANGE = 8.0
"""A column's spread is at least its observed range over this (:func:`column_units`)."""

FLOOR = 1e-9
"""A column's spread is at least this fraction of its largest observed magnitude; a column at
that floor counts as flat (:func:`column_units`)."""


@dataclasses.dataclass(frozen=True)
class Normalization:
    """``M = mu_col + sigma_col * (offset + row_effect + col_effect + scale * Z)``, clipped.

    ``offset`` and ``scale`` are the global mean and scale (in column units when
    ``column_scale``); the arrays are ``None`` when unused.
    """

    offset: float
    scale: float
    row_effect: np.ndarray | None = None
    col_effect: np.ndarray | None = None
    col_center: np.ndarray | None = None
    col_scale: np.ndarray | None = None
    low: np.ndarray | float | None = None
    high: np.ndarray | float | None = None
    lam: float = math.inf

    def baseline(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``offset + a_i + b_j`` at the pairs (column units)."""
        out = np.full(len(rows), self.offset, dtype=np.float64)
        if self.row_effect is not None:
            out += self.row_effect[rows]
        if self.col_effect is not None:
            out += self.col_effect[cols]
        return out

    def forward(self, values, rows, cols) -> np.ndarray:
        """User values at the pairs -> the SNN's normalised targets ``Z``."""
        u = np.asarray(values, dtype=np.float64)
        if self.col_scale is not None and self.col_center is not None:
            u = (u - self.col_center[cols]) / self.col_scale[cols]
        return (u - self.baseline(rows, cols)) / self.scale

    def inverse_at(self, Z, rows, cols, clip: bool = True) -> np.ndarray:
        """Normalised values ``Z`` at the pairs -> user units (clipped to the observed range)."""
        u = np.asarray(Z, dtype=np.float64) * self.scale + self.baseline(rows, cols)
        if self.col_scale is not None and self.col_center is not None:
            u = u * self.col_scale[cols] + self.col_center[cols]
        return self.clip(u, cols) if clip else u

    def clip(self, u, cols) -> np.ndarray:
        """User-unit values ``u`` in columns ``cols`` clipped to the range (:func:`bounds_of`)."""
        if self.low is None:
            return u
        lo = self.low[cols] if isinstance(self.low, np.ndarray) else self.low
        hi = self.high[cols] if isinstance(self.high, np.ndarray) else self.high
        return np.clip(u, lo, hi)

    def inverse(self, Z, clip: bool = True) -> np.ndarray:
        """A dense normalised matrix ``Z (d1, d2)`` -> user units."""
        Z = np.asarray(Z, dtype=np.float64)
        rows, cols = np.indices(Z.shape)
        return self.inverse_at(Z.ravel(), rows.ravel(), cols.ravel(), clip).reshape(Z.shape)


def column_units(values, cols, d2: int):
    """Per-column centre and spread: each column's own observed mean, and its own standard
    deviation but at least ``1 / RANGE`` of its observed range; and which columns are *flat*
    (observed, all at one value).

    Nothing is pooled across columns: their units may differ (a table with columns from 1e-3
    to 4e3), and a pooled spread put a small-unit column's values hundreds of its own standard
    deviations off. The range floor is for columns that are nearly always one value (a border
    pixel 0 in all but 30 of 1,400 rows): measured in their tiny deviation, the rare other
    values lie 20-50 units out and dominate the training loss and every comparison. Every
    spread is at least ``FLOOR`` times the column's largest magnitude (1e-300 at zero), and a
    column at that floor is flat (0.3 with some entries 0.1 + 0.2 = 0.30000000000000004 is):
    its entries normalise to (nearly) zero and its predictions stay at its value, where its
    rounding noise measured in its own 2.6e-16 spread dominated every comparison. A column
    without observations gets centre 0 and spread 1.
    """
    n = np.bincount(cols, minlength=d2).astype(np.float64)
    center = np.bincount(cols, values, d2) / np.maximum(n, 1)
    dev = values - center[cols]
    spread = np.sqrt(np.bincount(cols, dev * dev, d2) / np.maximum(n, 1))
    high, low, size = np.full(d2, -np.inf), np.full(d2, np.inf), np.zeros(d2)
    np.maximum.at(high, cols, values)
    np.minimum.at(low, cols, values)
    np.maximum.at(size, cols, np.abs(values))
    floor = np.maximum(FLOOR * size, 1e-300)
    spread = np.maximum(np.maximum(spread, (high - low) / RANGE), floor)
    flat = (n > 0) & (spread <= floor * (1 + 1e-9))  # one value, up to rounding
    return center, np.where(n > 0, spread, 1.0), flat


def judge_scales(values, cols, d2: int) -> np.ndarray:
    """The two per-column divisors of held-out errors when settings are compared
    (:func:`judged`), shape ``(2, d2)``: each column's spread (:func:`column_units`; ``inf``
    for a flat column, whose errors every candidate shares), and the root-mean-square
    deviation of all observed entries from their column means, the same for every column.
    The column-mean fill scores 1 on the second judge on the observed entries, and 1 on the
    first unless a spread is floored (less) or a column is flat (it does not count).

    The first alone ignores that, on a table whose columns have different units, most of the
    user's error sits in the large columns; the second alone ignores the small columns."""
    center, spread, flat = column_units(values, cols, d2)
    dev = values - center[cols]
    rms = math.sqrt(max(float(np.mean(dev * dev)), 1e-300))
    return np.stack([np.where(flat, np.inf, spread), np.full(d2, rms)])


def judged(residual, cols, scales) -> np.ndarray:
    """The mean squared held-out ``residual`` divided by each of :func:`judge_scales`' rows:
    ``[column-standardised, data units]``; settings are compared on their sum."""
    return np.array([float(np.mean((residual / s[cols]) ** 2)) for s in scales])


def effects(values, rows, cols, shape, lam: float, passes: int = 8):
    """Mean and ridge-shrunk row and column effects (``lam = inf``: the mean alone)."""
    d1, d2 = shape
    mean = float(values.mean())
    a, b = np.zeros(d1), np.zeros(d2)
    if math.isinf(lam):
        return mean, a, b
    n_r = np.bincount(rows, minlength=d1) + lam
    n_c = np.bincount(cols, minlength=d2) + lam
    for _ in range(passes):
        a = np.bincount(rows, values - mean - b[cols], d1) / n_r
        b = np.bincount(cols, values - mean - a[rows], d2) / n_c
    return mean, a, b


def choose_lambda(values, rows, cols, shape, train, held):
    """The effect shrinkage with the lowest held-out error (``LAMBDAS``)."""
    best, best_err = math.inf, math.inf
    for lam in LAMBDAS:
        m, a, b = effects(values[train], rows[train], cols[train], shape, lam)
        pred = m + a[rows[held]] + b[cols[held]]
        err = float(np.mean((pred - values[held]) ** 2))
        if err < best_err - 1e-12:
            best, best_err = lam, err
    return best


def fit_normalization(
    values, rows, cols, shape, *, column_scale: bool, lam: float, clip: bool = True
) -> Normalization:
    """The :class:`Normalization` of the observed entries (module docstring)."""
    d1, d2 = shape
    values = np.asarray(values, dtype=np.float64)
    center = spread = None
    u = values
    if column_scale:
        center, spread, _ = column_units(values, cols, d2)
        u = (values - center[cols]) / spread[cols]
    mean, a, b = effects(u, rows, cols, shape, lam)
    unused = math.isinf(lam)
    norm = Normalization(
        mean, 1.0, None if unused else a, None if unused else b, center, spread, lam=lam
    )
    z = norm.forward(values, rows, cols)
    scale = math.sqrt(float((z * z).sum()) * d1 * d2 / len(values))
    if not (scale > 0 and math.isfinite(scale)):
        scale = 1.0  # every entry equals its baseline: the low-rank part is zero
    low: np.ndarray | float | None = None
    high: np.ndarray | float | None = None
    if clip and column_scale:
        bounds = [bounds_of(values[cols == j]) for j in range(d2)]
        low = np.array([lo for lo, _ in bounds])
        high = np.array([hi for _, hi in bounds])
    elif clip:
        low, high = bounds_of(values)
    return dataclasses.replace(norm, scale=scale, low=low, high=high)


LEVELS = 20
"""Values on at most this many distinct levels, each seen 50 times on average (ratings 1..5),
are bounded by their observed minimum and maximum."""


def bounds_of(values) -> tuple[float, float]:
    """The range predictions are clipped to: ``[min, max]`` of values on at most
    :data:`LEVELS` levels (a rating scale), ``[0, inf)`` for non-negative values (a measurement
    that cannot be negative), else unbounded. A plain observed range would cut off entries of
    an exactly low-rank matrix that lie beyond the observed ones (measured: relative error
    0.085 with, 0.009 without it on a 12 x 10 rank-1 matrix)."""
    if len(values) == 0:
        return -np.inf, np.inf
    lo, hi = float(values.min()), float(values.max())
    levels = len(np.unique(values[:100_000]))
    if levels <= LEVELS and len(values) >= 50 * levels:  # each level seen many times: a scale
        return lo, hi
    return (0.0 if lo >= 0 else -np.inf), np.inf


def small_matrix(m: int, fraction: float) -> bool:
    """Whether ``m`` entries make a small matrix (:data:`SMALL_SHARE`): ``fraction`` of them is
    under :data:`MIN_HELD`, but :data:`MIN_HELD` is at most :data:`SMALL_SHARE` of them, and
    there are fewer than ``MIN_HELD / VALIDATION_FRACTION`` (500): a smaller ``fraction`` on a
    larger matrix, or ``fraction = 0``, still means no held-out parts."""
    small = MIN_TINY <= SMALL_SHARE * m and m * VALIDATION_FRACTION < MIN_HELD
    return fraction > 0 and round(fraction * m) < MIN_HELD and small


def tiny_matrix(m: int) -> bool:
    """Fewer than ``MIN_HELD / SMALL_SHARE`` (200) entries: a :func:`small_matrix` whose parts
    hold out :data:`SMALL_SHARE` of its entries, fewer than :data:`MIN_HELD`. Their 20-50
    entries stop the training (tables of 15-20 rows trained to the step limit on every entry:
    diabetes 15 x 10 at 30% hidden 0.44 relative error and a column 8.4x its mean fill's
    error; with these parts 0.17 and 1.4x) but are too few to choose the units and the
    row/column effects (``_complete_run``)."""
    return SMALL_SHARE * m < MIN_HELD


def held_out_parts(rows, cols, shape, folds: int, fraction: float, seed: int):
    """``folds`` disjoint held-out index sets of ``round(fraction m)`` entries each, or of
    :data:`MIN_HELD` on a :func:`small_matrix` (:data:`SMALL_SHARE` of them on a
    :func:`tiny_matrix`).

    One observation of every row and every column is protected (never held out), so no row or
    column loses all of its training entries. Returns a list of index arrays (may be shorter
    than ``folds`` when there are too few entries; empty when no split is possible).
    """
    m = len(rows)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(m)
    protected = np.zeros(m, dtype=bool)
    for axis in (rows, cols):
        _, first = np.unique(axis[perm], return_index=True)
        protected[perm[first]] = True
    free = perm[~protected[perm]]
    small = small_matrix(m, fraction)
    n_val = int(round(fraction * m))
    if small:
        n_val = int(round(SMALL_SHARE * m)) if tiny_matrix(m) else MIN_HELD
    if (n_val < MIN_HELD and not small) or m - n_val < 5:
        return []
    parts = [free[i * n_val : (i + 1) * n_val] for i in range(folds)]
    return [np.sort(p) for p in parts if len(p) >= max(5, n_val // 2)]
