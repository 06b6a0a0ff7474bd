"""The fold loop of the completion recipe: normalise, train and (for tables) compare units."""

from __future__ import annotations

import math
import time

import numpy as np

from . import _preprocess
from ._complete_defaults import SNN_DEFAULTS, TABLE_COLUMNS, UNITS_SPAN
from ._complete_finish import _Finish
from ._complete_result import CompletionResult, _Fold
from ._completion import FITTED, train_fold
from ._refine import refine_rows

SMALL_PATIENCE = 10
"""The parts of a small matrix (:data:`_preprocess.SMALL_SHARE`) wait this many times the
``patience`` before stopping: 50 held-out entries wobble, and an exactly rank-2 30 x 14 matrix
at 20% hidden stopped on a flat stretch in two of six masks (0.04-0.05 relative error; with
this, at most 0.002)."""


TINY_FITTED = 1e-3
"""The training RMS, as a fraction of its first value, that stops a part of a tiny matrix
(:func:`_preprocess.tiny_matrix`; :data:`spectralnn._completion.FITTED` elsewhere). Parts
holding out a quarter of 80-200 entries crawl toward an exact fit (a 12 x 10 rank-1 matrix:
training RMS 3e-4 of its first value after 2000 steps, the held-out error still falling by
1e-5 a check), and there nothing but the refit's step count rests on them: the units and the
effects are fixed, and a refit after parts stopped this way trains to its own fit. Elsewhere
the parts also choose the units, and stopped this early on 30 x 20 rank-2 matrices they chose
differently (one of four came out 0.04 off instead of 4e-4)."""


class _Context(_Finish):
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
        self.done: list = []  # (seconds, steps) of each finished training
        self.post: list = []  # seconds of each part's work after training (its re-fit)
        self.n_parts = 1
        self.refine = True
        self.effects = True  # row/column effects chosen on held-out entries (not on tiny ones)
        self.fitted = FITTED  # training RMS (a fraction of the first) that stops a part

    def build(self, fold: int = 0):
        """The model of part ``fold``: its own seed, so random inits differ between parts."""
        from .models import make_model

        kw = dict(self.kwargs)
        kw["seed"] = kw.get("seed", 0) + fold
        return make_model(self.model, self.shape, **kw)

    def normalization(self, train, held, column_scale, lam=None):
        r, c, v = self.rows[train], self.cols[train], self.values[train]
        if lam is None:  # no row/column effects without held-out entries to choose them on
            use = held is not None and self.effects
            lam = self._shrinkage(r, c, v, held, column_scale) if use else math.inf
        return _preprocess.fit_normalization(
            v, r, c, self.shape, column_scale=column_scale, lam=lam
        )

    def _shrinkage(self, r, c, v, held, column_scale) -> float:
        """The effects' shrinkage chosen on the ``held`` entries (:func:`choose_lambda`), in
        column units when ``column_scale``."""
        u, uh = v, self.values[held]
        if column_scale:
            center, spread, flat = _preprocess.column_units(v, c, self.shape[1])
            held = held[~flat[self.cols[held]]]  # a column flat in training has no unit
            if len(held) == 0:  # nothing left to judge the effects on
                return math.inf
            u = (v - center[c]) / spread[c]
            uh = (self.values[held] - center[self.cols[held]]) / spread[self.cols[held]]
        r_all = np.concatenate([r, self.rows[held]])
        c_all = np.concatenate([c, self.cols[held]])
        return _preprocess.choose_lambda(
            np.concatenate([u, uh]),
            r_all,
            c_all,
            self.shape,
            np.arange(len(r)),
            np.arange(len(r), len(r_all)),
        )

    def _eta(self, k, step, spent) -> float | None:
        """Seconds left: the parts still to train at the pace of the finished ones, scaled by
        how much slower this part runs than they did (None before any part has finished)."""
        if not self.done:
            return None
        secs = sum(t for t, _ in self.done) / len(self.done)
        steps = max(sum(n for _, n in self.done) / len(self.done), 1.0)
        pace = spent / step if step > 0 else secs / steps
        slower = max(pace / (secs / steps), 1.0) if secs > 0 else 1.0
        left = max(steps - step, 0.0) * pace + max(self.n_parts - k - 1, 0) * secs * slower
        # the re-fit of this part and of each part still to come
        post = sum(self.post) / len(self.post) if self.post else 0.0
        return max(left + post * (self.n_parts - k) * slower, 0.0)

    def train(self, k, label, train, held, norm):
        y = np.zeros(len(self.values))
        y[train] = norm.forward(self.values[train], self.rows[train], self.cols[train])
        done = time.perf_counter() - self.t0

        def to_user(z, idx):
            return norm.inverse_at(z, self.rows[idx], self.cols[idx])

        def report(step, rmse):
            if self.progress is None:
                return
            elapsed = time.perf_counter() - self.t0
            self.progress(
                {
                    "phase": label,
                    "step": step,
                    "max_steps": self.max_steps,
                    "held_out": rmse,
                    "elapsed": elapsed,
                    "eta": self._eta(k, step, elapsed - done),
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
            fitted=self.fitted,
        )
        trained = time.perf_counter() - self.t0
        self.done.append((trained - done, fit.history[-1]["step"]))
        if self.refine:
            args = (y, self.values, self.rows, self.cols, self.shape, train, held, to_user)
            fit = refine_rows(fit, *args)
        self.post.append(time.perf_counter() - self.t0 - trained)
        return _Fold(fit, norm, held)

    def run(self, parts, column_scale, clip, fraction) -> CompletionResult:
        if self.model == "snn" and self.kwargs.get("init") is None:
            # Random orthogonal inits make the averaged parts differ (MovieLens u1: 0.9294 vs
            # 0.9314 with identity inits); one model keeps the deterministic identity init
            # (a 12 x 10 rank-1 matrix: 0.001 vs 0.116).
            self.kwargs["init"] = SNN_DEFAULTS["init"] if len(parts) > 1 else "identity"
        m = len(self.values)
        self.n_parts = max(len(parts), 1)
        everything = np.arange(m)
        if not parts:  # too few entries to hold out: column units where the units differ
            use_cols = self._units_differ(column_scale)
            norm = self.normalization(everything, None, use_cols)
            fitted = [self.train(0, "all entries", everything, None, norm)]
        else:
            small = _preprocess.small_matrix(m, fraction)  # parts of MIN_HELD entries, or fewer
            if small and _preprocess.tiny_matrix(m):  # too few to choose the normalization
                column_scale, self.effects = self._units_differ(column_scale), False
                self.fitted = TINY_FITTED
            if small:  # stops on 50 entries are noisy; training so small a matrix is cheap
                self.patience *= SMALL_PATIENCE
            fitted, use_cols = self._first(parts[0], column_scale, everything)
            lam = fitted[0].norm.lam
            for k, held in enumerate(parts[1:], start=1):
                if time.perf_counter() > self.deadline:
                    break
                train = np.setdiff1d(everything, held, assume_unique=True)
                norm = self.normalization(train, held, use_cols, lam)
                fitted.append(self.train(k, f"part {k + 1}/{len(parts)}", train, held, norm))
            if small and time.perf_counter() < self.deadline:  # refit on all entries
                refit = self._refit(fitted, use_cols)
                if refit.fit.status in ("time", "diverged", "stalled"):  # the parts stand
                    return self._result(fitted, use_cols, clip, late=refit)
                return self._result(fitted, use_cols, clip, refit)
        return self._result(fitted, use_cols, clip)

    def _units_differ(self, column_scale) -> bool:
        """``column_scale`` decided without held-out entries: column units on a table whose
        columns' spreads span more than :data:`UNITS_SPAN` (``"auto"``)."""
        use_cols = bool(column_scale) and self.shape[1] <= TABLE_COLUMNS
        if column_scale == "auto" and use_cols:
            n = np.bincount(self.cols, minlength=self.shape[1])
            _, spread, flat = _preprocess.column_units(self.values, self.cols, self.shape[1])
            spread = spread[(n > 0) & ~flat]  # columns with a spread of their own
            use_cols = len(spread) > 0 and spread.max() > UNITS_SPAN * spread.min()
        return use_cols

    def _refit(self, fitted, use_cols):
        """One model on every entry, trained for the parts' median best step: the parts of a
        small matrix (:data:`_preprocess.SMALL_SHARE`) hold out a large share of its entries,
        and one of them stopping early on its 50 held-out entries spoils their average (a
        30 x 14 rank-2 matrix at 20% hidden: parts stopped at steps 170, 1010 and 2000, their
        average 0.034 off; this refit 3e-4). A part whose held-out error was best at its last
        check found no stopping point and counts as the step limit (the refit then stops on its
        own fit); a diverged part is left out, and so is one best at step 0 unless all are: on
        a tiny matrix one part in three can learn a 12 x 10 rank-2 table in units from 1 to
        1000 where the others, short of a quarter of the entries, only overfit, and a median
        step of 0 returned the row/column baseline (0.75 off; 3e-4 with the learning part)."""
        live = [f for f in fitted if f.fit.status != "diverged"] or fitted
        best = [
            f.fit.best_step if f.fit.best_step < f.fit.history[-1]["step"] else self.max_steps
            for f in live
        ]
        best = [b for b in best if b > 0] or [0]
        steps = max(int(np.median(best)), 1)
        everything = np.arange(len(self.values))
        norm = self.normalization(everything, None, use_cols, fitted[0].norm.lam)
        kept, self.max_steps = self.max_steps, steps
        try:
            return self.train(len(fitted), "all entries", everything, None, norm)
        finally:
            self.max_steps = kept

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
            label = f"part 1/{self.n_parts}" + (
                "" if len(options) == 1 else (" (column units)" if option else " (one scale)")
            )
            fold = self.train(0, label, train, held, norm)
            score = self._standardised_error(fold)
            if best is None or score < best[0]:
                best = (score, fold, bool(option))
        return [best[1]], best[2]

    def _standardised_error(self, fold) -> float:
        """The fold's held-out error: the sum of :func:`_preprocess.judged`'s two judges."""
        if fold.held is None or fold.fit.val_rmse is None:
            return math.inf
        r, c = self.rows[fold.held], self.cols[fold.held]
        pred = fold.norm.inverse_at(fold.fit.predict(r, c), r, c)
        scales = _preprocess.judge_scales(self.values, self.cols, self.shape[1])
        return float(_preprocess.judged(pred - self.values[fold.held], c, scales).sum())
