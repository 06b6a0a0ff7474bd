r"""The no-tuning completion recipe behind :func:`spectralnn.recipe.complete`.

1. **Hold out.** ``folds`` disjoint parts of ``validation_fraction`` of the observed entries
   (never a row's or column's last observation).
2. **Normalise** (``_preprocess.py``): per-column units for tables whose columns differ
   (``column_scale="auto"``: tried both ways on the first part for matrices of at most
   :data:`TABLE_COLUMNS` columns, kept when its column-standardised held-out error is lower);
   the mean and ridge-shrunk row and column effects with the shrinkage chosen on the first part;
   the residual scaled to a unit-norm matrix.
3. **Train** one SNN per part on the other entries (``_completion.py``): identity init of
   ``init_scale``, gradient descent at ``lr = c m``, the best iterate on the part kept, early stop
   once the held-out error stops falling.
4. **Average** the parts' predictions in the user's units and clip them to the observed range.
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

import contextlib
import dataclasses
import math
import time
import warnings
from typing import Any

import numpy as np
import torch

from . import _gaussian, _preprocess
from ._completion import STALL_STEPS, held_out_parts, refine_rows, train_fold
from ._validation import check_int, check_positive, check_real
from .errors import InputError, StallWarning, StillImprovingWarning

TABLE_COLUMNS = 200
"""``column_scale="auto"`` tries per-column units on matrices with at most this many columns."""

AVERAGE_BELOW = 150_000
"""``folds="auto"``: three averaged parts below this many observed entries, one from there on
(averaging gained 0.002 RMSE on MovieLens-100k, 80k ratings, at 3x the time; a 2000 x 2000
rank-10 matrix with 200k entries trains 2000 steps per part)."""

FLOAT32_ENTRIES = 20_000
"""From this many observed entries on, the SNN trains in float32 (``dtype=None``)."""

DENSE_LIMIT = 2**25
"""The dense completed matrix ``X`` is formed up to this many entries (else ``X`` is None)."""

SNN_DEFAULTS = {
    "widths": (4, 4),
    "fn": "tanh",
    "init": "orthogonal",
    "init_scale": 1e-4,
    "lr_factor": 2.0,
}
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "snn": SNN_DEFAULTS,
    "deep": {"depth": 3, "init_scale": 1e-1, "lr_factor": 0.5},
    "factor": {"init_scale": 1e-3, "lr_factor": 0.5},
    "free": {"lr_factor": 1.0},
}


class ColumnWarning(UserWarning):
    """On held-out entries some column was predicted worse than by its own mean."""


@dataclasses.dataclass
class CompletionResult:
    """What :func:`complete` returns.

    ``X`` is the completed matrix in the user's units (torch, ``None`` past
    :data:`DENSE_LIMIT` entries: use :meth:`predict`); ``folds`` the trained parts;
    ``validation_error`` the mean held-out RMSE of the parts in the user's units;
    ``history`` one record per held-out check (``fold``, ``step``, ``train_loss`` normalised,
    ``val_rmse`` in the user's units).
    """

    X: torch.Tensor | None
    normalization: _preprocess.Normalization
    folds: list
    history: list
    status: str
    validation_error: float | None
    column_scale: bool
    lr: float
    lr_factor: float
    init_scale: float | None
    best_step: int
    wall_time: float
    warnings: list
    shape: tuple
    clip: bool = True
    refit: bool = False
    candidates: dict = dataclasses.field(default_factory=dict)
    refined: float | None = None
    """The ridge of the conditional-Gaussian refinement of a tall table (None: not refined)."""

    @property
    def model(self):
        return self.folds[0].fit.model

    @property
    def X_normalized(self):
        return (
            None
            if self.X is None
            else torch.as_tensor(
                self.folds[0]
                .norm.forward(self.X.numpy().ravel(), *np.indices(self.shape).reshape(2, -1))
                .reshape(self.shape)
            )
        )

    def predict(self, rows, cols, clip: bool | None = None) -> np.ndarray:
        """Predictions at integer positions ``rows, cols`` (1-D, the user's units)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        cols = np.asarray(cols, dtype=np.int64).reshape(-1)
        if self.refined is not None and self.X is not None:
            return self.X.numpy()[rows, cols]
        live = [f for f in self.folds if f.fit.status != "diverged"] or self.folds
        out = np.mean(
            [f.norm.inverse_at(f.fit.predict(rows, cols), rows, cols, clip=False) for f in live],
            axis=0,
        )
        return self._clip(out, cols) if (self.clip if clip is None else clip) else out

    def _clip_dense(self, X):
        return self._clip(X, np.arange(X.shape[1])[None, :])

    def _clip(self, u, cols):
        n = self.normalization
        if n.low is None:
            return u
        lo = n.low[cols] if isinstance(n.low, np.ndarray) else n.low
        hi = n.high[cols] if isinstance(n.high, np.ndarray) else n.high
        return np.clip(u, lo, hi)


@dataclasses.dataclass
class _Fold:
    fit: object
    norm: _preprocess.Normalization
    held: np.ndarray | None


@contextlib.contextmanager
def _one_thread(shape):
    """One intra-op thread up to 2^22 entries (restored on exit): measured on 2 busy cores, a
    MovieLens step took 15 ms with 1 thread and 300 ms with 2 (OpenMP threads spinning)."""
    n = torch.get_num_threads()
    small = shape[0] * shape[1] <= 2**22 and n > 1
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small:
            torch.set_num_threads(n)


def _observed(M, where):
    arr = (
        M.detach().cpu().to(torch.float64).numpy()
        if isinstance(M, torch.Tensor)
        else np.array(M, dtype=np.float64)
    )
    if arr.ndim != 2 or 0 in arr.shape:
        raise InputError(
            f"The 'M' parameter of {where} must be a non-empty 2-D matrix. Got "
            f"shape {arr.shape} instead."
        )
    obs = ~np.isnan(arr)
    if not obs.any():
        raise InputError(f"The 'M' parameter of {where} has no observed entry (all NaN).")
    if not np.isfinite(arr[obs]).all():
        raise InputError(
            f"The 'M' parameter of {where} must hold finite numbers or NaN. Got inf instead."
        )
    rows, cols = np.nonzero(obs)
    return rows, cols, arr[rows, cols]


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
    max_steps: int = 2000,
    validation_fraction: float = 0.1,
    folds="auto",
    column_scale="auto",
    clip: bool = True,
    max_time: float | None = None,
    patience: int = 5,
    tol: float = 1e-3,
    seed: int = 0,
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
        The rate in units of the inverse curvature (``lr = lr_factor * m``); default 2 for the
        SNN. ``lr_factors`` (a sequence) is accepted for compatibility: its largest entry.
    max_steps : int, default=2000
        Gradient steps per part (at most 10**7).
    validation_fraction : float, default=0.1
        Size of each held-out part.
    folds : int or "auto", default="auto"
        Number of averaged parts (``"auto"``: 3 below :data:`AVERAGE_BELOW` observed entries,
        else 1).
    column_scale : {"auto", True, False}, default="auto"
        Per-column units (``"auto"``: chosen on held-out entries for tables).
    clip : bool, default=True
        Clip predictions to a rating scale or at zero (:func:`_preprocess.bounds_of`).
    max_time : float, optional
        Wall-time budget in seconds; parts stop at it and keep their best iterates.
    patience, tol :
        Early stopping (``_completion._done``).
    seed : int, default=0
    dtype : torch.dtype, optional
        Default: float32 from :data:`FLOAT32_ENTRIES` observed entries on, else float64.
    progress : callable, optional
        Called with a dict (phase, step, max_steps, held_out, elapsed, eta) at every check.
    refine : bool, default=True
        The ridge re-fit of rows and the conditional-Gaussian step of tall tables; False gives
        the averaged SNN parts alone.
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
    >>> X = rng.standard_normal((30, 2)) @ rng.standard_normal((2, 20))
    >>> M = np.where(rng.random(X.shape) < 0.6, X, np.nan)
    >>> res = complete(M)
    >>> bool(np.linalg.norm(res.X.numpy() - X) / np.linalg.norm(X) < 0.05)
    True
    """
    where = "complete"
    t0 = time.perf_counter()
    from .models import MODELS

    if model not in MODEL_DEFAULTS:
        raise InputError(
            f"The 'model' parameter of {where} must be one of "
            f"{sorted(MODEL_DEFAULTS)}. Got {model!r} instead."
        )
    assert model in MODELS
    max_steps = check_int(max_steps, "max_steps", where, 1, 10**7)
    if folds != "auto":
        folds = check_int(folds, "folds", where, 1, 20)
    patience = check_int(patience, "patience", where, 1)
    check_real(validation_fraction, "validation_fraction", where, low=0.0, high=0.5)
    check_positive(tol, "tol", where)
    if column_scale not in ("auto", True, False):
        raise InputError(
            f"The 'column_scale' parameter of {where} must be 'auto', True or "
            f"False. Got {column_scale!r} instead."
        )
    if max_time is not None:
        check_positive(max_time, "max_time", where)
    rows, cols, values = _observed(M, where)
    if folds == "auto":
        folds = 3 if len(values) < AVERAGE_BELOW else 1
    shape = tuple(np.shape(M))
    defaults = MODEL_DEFAULTS[model]
    if lr_factor is None and lr_factors is not None:
        lr_factor = max(check_positive(f, "lr_factors", where) for f in lr_factors)
    lr_factor = (
        defaults["lr_factor"]
        if lr_factor is None
        else check_positive(lr_factor, "lr_factor", where)
    )
    init_scale = (
        defaults.get("init_scale")
        if init_scale is None
        else check_positive(init_scale, "init_scale", where)
    )
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


def _model_kwargs(model, shape, m, widths, fn, rank, depth, init, init_scale, seed, dtype):
    kw = {"seed": seed, "dtype": dtype, "init_scale": init_scale}
    if model == "snn":
        widths = tuple(SNN_DEFAULTS["widths"] if widths is None else widths)
        if rank is None:
            rank = default_rank(shape, m, widths[0])
        kw.update(
            widths=widths,
            fn=SNN_DEFAULTS["fn"] if fn is None else fn,
            rank=rank,
            init=init,  # None: chosen in _Context.run by the number of parts
        )
    elif model == "deep":
        kw["depth"] = MODEL_DEFAULTS["deep"]["depth"] if depth is None else depth
    elif model == "factor":
        kw["rank"] = rank
    return {k: v for k, v in kw.items() if v is not None}


STEP_BUDGET = 16e6
"""Multiply-adds a factored step may cost, ``m L0 p + (d1 + d2) (L0 p)^2`` (10-15 ms here)."""


def default_rank(shape, m: int, L0: int) -> int:
    """The largest factor rank ``p`` of 32, 16, 8, ... (and at most ``min(d) / (2 L0)``) whose
    factored step stays within :data:`STEP_BUDGET`.

    Measured: MovieLens-100k u1 (72k training entries; p = 16 by this rule) test RMSE 0.937 /
    0.939 / 0.946 at p = 16 / 8 / 4, and p = 32 twice the time for 0.001; 256 x 256 photos
    (p = 32) +0.1-0.4 dB over p = 16; 2000 x 2000 with 200k entries gets p = 8 (true rank 10).
    """
    d1, d2 = shape
    cap = max(1, min(shape) // (2 * L0))
    for p in (32, 16, 8, 4, 2, 1):
        r = L0 * p
        if p <= cap and m * r + (d1 + d2) * r * r <= STEP_BUDGET:
            return p
    return 1


class _Context:
    """One completion: the data, the settings and the fold loop."""

    def __init__(
        self,
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
    ):
        self.shape, self.rows, self.cols, self.values = shape, rows, cols, values
        self.kwargs, self.model, self.lr_factor = kwargs, model, lr_factor
        self.max_steps, self.patience, self.tol = max_steps, patience, tol
        self.deadline, self.progress, self.t0 = deadline, progress, t0
        self.notes: list = []
        self.refine = True

    def build(self, fold: int = 0):
        """The model of part ``fold``: its own seed, so random inits differ between parts."""
        from .models import make_model

        kw = dict(self.kwargs)
        kw["seed"] = kw.get("seed", 0) + fold
        return make_model(self.model, self.shape, **kw)

    def normalization(self, train, held, column_scale, lam=None):
        r, c, v = self.rows[train], self.cols[train], self.values[train]
        if lam is None:
            lam = math.inf
            if held is not None:
                u = v
                if column_scale:
                    center, spread = _preprocess.column_units(v, c, self.shape[1])
                    u = (v - center[c]) / spread[c]
                    uh = (self.values[held] - center[self.cols[held]]) / spread[self.cols[held]]
                else:
                    uh = self.values[held]
                r_all = np.concatenate([r, self.rows[held]])
                c_all = np.concatenate([c, self.cols[held]])
                idx = np.arange(len(r))
                lam = _preprocess.choose_lambda(
                    np.concatenate([u, uh]),
                    r_all,
                    c_all,
                    self.shape,
                    idx,
                    np.arange(len(r), len(r_all)),
                )
        return _preprocess.fit_normalization(
            v, r, c, self.shape, column_scale=column_scale, lam=lam
        )

    def train(self, k, n_folds, train, held, norm):
        y = np.zeros(len(self.values))
        y[train] = norm.forward(self.values[train], self.rows[train], self.cols[train])
        done = time.perf_counter() - self.t0

        def to_user(z, idx):
            return norm.inverse_at(z, self.rows[idx], self.cols[idx])

        def report(step, rmse):
            if self.progress is None:
                return
            elapsed = time.perf_counter() - self.t0
            eta = None if k == 0 else done / k * (n_folds - k) - (elapsed - done)
            self.progress(
                {
                    "phase": f"fold {k + 1}/{n_folds}",
                    "step": step,
                    "max_steps": self.max_steps,
                    "held_out": rmse,
                    "elapsed": elapsed,
                    "eta": None if eta is None else max(eta, 0.0),
                }
            )

        fit = train_fold(
            lambda: self.build(k),
            y,
            self.values,
            self.rows,
            self.cols,
            self.shape,
            train,
            held,
            to_user,
            lr_factor=self.lr_factor,
            max_steps=self.max_steps,
            every=10,
            patience=self.patience,
            tol=self.tol,
            deadline=self.deadline,
            report=report,
            fold=k,
        )
        if self.refine:
            args = (y, self.values, self.rows, self.cols, self.shape, train, held, to_user)
            fit = refine_rows(fit, *args)
        return _Fold(fit, norm, held)

    def run(self, parts, column_scale, clip, fraction) -> CompletionResult:
        if self.model == "snn" and self.kwargs.get("init") is None:
            # Random orthogonal inits make the averaged parts differ (MovieLens u1: 0.9294 vs
            # 0.9314 with identity inits); one model keeps the deterministic identity init
            # (a 12 x 10 rank-1 matrix: 0.001 vs 0.116).
            self.kwargs["init"] = SNN_DEFAULTS["init"] if len(parts) > 1 else "identity"
        m = len(self.values)
        everything = np.arange(m)
        if not parts:  # too few entries to hold out: a table gets column units unasked
            use_cols = bool(column_scale) and self.shape[1] <= TABLE_COLUMNS
            norm = self.normalization(everything, None, use_cols)
            fitted = [self.train(0, 1, everything, None, norm)]
        else:
            fitted, use_cols = self._first(parts[0], column_scale, everything)
            lam = fitted[0].norm.lam
            for k, held in enumerate(parts[1:], start=1):
                if time.perf_counter() > self.deadline:
                    break
                train = np.setdiff1d(everything, held, assume_unique=True)
                norm = self.normalization(train, held, use_cols, lam)
                fitted.append(self.train(k, len(parts), train, held, norm))
        return self._result(fitted, use_cols, clip)

    def _first(self, held, column_scale, everything):
        train = np.setdiff1d(everything, held, assume_unique=True)
        options = (
            [column_scale]
            if column_scale != "auto"
            else ([False, True] if self.shape[1] <= TABLE_COLUMNS else [False])
        )
        best = None
        for option in options:
            norm = self.normalization(train, held, bool(option))
            fold = self.train(0, 1 if len(options) == 1 else 2, train, held, norm)
            score = self._standardised_error(fold)
            if best is None or score < best[0]:
                best = (score, fold, bool(option))
        return [best[1]], best[2]

    def _standardised_error(self, fold) -> float:
        """Held-out MSE with every column weighted by the inverse of its observed variance."""
        if fold.held is None or fold.fit.val_rmse is None:
            return math.inf
        r, c = self.rows[fold.held], self.cols[fold.held]
        pred = fold.norm.inverse_at(fold.fit.predict(r, c), r, c)
        _, spread = _preprocess.column_units(self.values, self.cols, self.shape[1])
        return float(np.mean(((pred - self.values[fold.held]) / spread[c]) ** 2))

    def _result(self, fitted, use_cols, clip) -> CompletionResult:
        norm_all = _preprocess.fit_normalization(
            self.values,
            self.rows,
            self.cols,
            self.shape,
            column_scale=use_cols,
            lam=fitted[0].norm.lam,
            clip=clip,
        )
        res = CompletionResult(
            None,
            norm_all,
            fitted,
            [],
            _status(fitted),
            None,
            use_cols,
            fitted[0].fit.lr,
            self.lr_factor,
            self.kwargs.get("init_scale"),
            int(np.mean([f.fit.best_step for f in fitted])),
            0.0,
            self.notes,
            self.shape,
            clip,
        )
        res.history = [rec for f in fitted for rec in f.fit.history]
        self._warn_status(fitted)
        errs = [f.fit.val_rmse for f in fitted if f.fit.val_rmse is not None]
        res.validation_error = float(np.mean(errs)) if errs else None
        if self.shape[0] * self.shape[1] <= DENSE_LIMIT:
            r, c = np.indices(self.shape).reshape(2, -1)
            res.X = torch.from_numpy(res.predict(r, c).reshape(self.shape))
        if self.refine and _gaussian.tall(self.shape):
            self._gaussian_step(res, fitted[0])
        self._column_check(res, fitted)
        res.wall_time = time.perf_counter() - self.t0
        return res

    def _warn_status(self, fitted):
        states = [f.fit.status for f in fitted]
        lr = fitted[0].fit.lr
        if all(s == "diverged" for s in states):
            self._note(
                StallWarning,
                f"every learning rate diverged (down to {lr:.3g}); the data "
                "may hold huge outliers; the prediction is the row/column effects alone",
            )
        elif "stalled" in states:
            self._note(
                StallWarning,
                f"the training loss did not move in {STALL_STEPS} steps (lr "
                f"{lr:.3g}, init_scale {self.kwargs.get('init_scale')}): the run never "
                "left its initial point; raise lr_factor or init_scale",
            )
        elif "max_steps" in states:
            hist = fitted[0].fit.history
            trace = [
                h["val_rmse"] if h["val_rmse"] is not None else math.sqrt(h["train_loss"])
                for h in hist
            ]
            tail = max(1, len(trace) // 10)
            fitted_well = hist[0]["val_rmse"] is None and trace[-1] < 1e-3 * trace[0]
            if (
                len(trace) > tail
                and not fitted_well
                and min(trace[-tail:]) < 0.99 * min(trace[:-tail])
            ):
                self._note(
                    StillImprovingWarning,
                    f"the held-out error was still falling at "
                    f"the step limit ({self.max_steps} steps); raise max_steps",
                )

    def _note(self, cls, msg):
        self.notes.append(msg)
        warnings.warn(msg, cls, stacklevel=5)

    def _gaussian_step(self, res, first):
        """The conditional-Gaussian refinement of a tall table (``_gaussian.py``), its ridge
        chosen on the first part's held-out entries (:data:`_gaussian.DEFAULT_RIDGE` without
        one)."""
        if first.held is None:
            ridge = _gaussian.DEFAULT_RIDGE
        else:
            ridge = self._choose_ridge(first)
        obs = np.zeros(self.shape, dtype=bool)
        obs[self.rows, self.cols] = True
        assert res.X is not None
        X = res.X.numpy().copy()
        X[self.rows, self.cols] = self.values
        res.X = torch.from_numpy(res._clip_dense(_gaussian.refine(X, obs, ridge)))
        res.refined = ridge

    def _choose_ridge(self, first) -> float:
        train = np.ones(len(self.values), dtype=bool)
        train[first.held] = False
        obs = np.zeros(self.shape, dtype=bool)
        obs[self.rows[train], self.cols[train]] = True
        X0 = first.norm.inverse(first.fit.dense().double().numpy())
        X0[self.rows[train], self.cols[train]] = self.values[train]
        _, spread = _preprocess.column_units(self.values, self.cols, self.shape[1])
        h = first.held
        return _gaussian.choose_ridge(
            X0, obs, self.rows[h], self.cols[h], self.values[h], spread[self.cols[h]]
        )

    def _column_check(self, res, fitted):
        held = [f.held for f in fitted if f.held is not None]
        if not held or self.shape[1] > TABLE_COLUMNS:  # a table's columns, not a ratings matrix's
            return
        idx = np.concatenate(held)
        r, c, v = self.rows[idx], self.cols[idx], self.values[idx]
        err = (res.predict(r, c) - v) ** 2
        d2 = self.shape[1]
        n = np.bincount(c, minlength=d2)
        mean = np.bincount(self.cols, self.values, d2) / np.maximum(
            np.bincount(self.cols, minlength=d2), 1
        )
        worse = np.flatnonzero(
            (n >= 10) & (np.bincount(c, err, d2) > np.bincount(c, (mean[c] - v) ** 2, d2))
        )
        if len(worse):
            msg = (
                f"on held-out entries, {len(worse)} column(s) were predicted worse than by "
                f"their own mean (columns {worse[:5].tolist()}"
                f"{' ...' if len(worse) > 5 else ''}); their values may not follow the "
                "low-rank structure of the rest"
            )
            self._note(ColumnWarning, msg)


def _status(fitted) -> str:
    states = [f.fit.status for f in fitted]
    for s in ("diverged", "stalled", "time", "max_steps"):
        if s in states:
            return s
    return "converged"
