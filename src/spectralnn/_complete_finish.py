"""The end of a completion: the result, its warnings and the refinement of a tall table."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import torch

from . import _gaussian, _preprocess
from ._complete_defaults import DENSE_LIMIT, TABLE_COLUMNS
from ._complete_result import ColumnWarning, CompletionResult, _status
from ._completion import STALL_STEPS
from .errors import StallWarning, StillImprovingWarning


class _Finish:
    """The methods of :class:`spectralnn._complete_run._Context` that build the result."""

    shape: tuple
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    kwargs: dict
    model: str
    lr_factor: float
    max_steps: int
    notes: list
    refine: bool
    t0: float

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
                    f"the step limit ({self.max_steps} steps); raise max_steps "
                    "(--max-steps of spectralnn complete, --steps of recover)",
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
