"""The end of a completion: the result and its warnings."""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from . import _gaussian, _preprocess
from ._column_weights import _column_means, _column_weights, _one_value_fill, _worse_than_mean
from ._complete_defaults import DENSE_LIMIT, TABLE_COLUMNS
from ._complete_mixture import _Mixture
from ._complete_result import ColumnWarning, CompletionResult, _status
from ._completion import STALL_STEPS
from .errors import StallWarning, StillImprovingWarning, warn_user


class _Finish(_Mixture):
    """The methods of :class:`spectralnn._complete_run._Context` that build the result (the
    refinement of a table: :class:`spectralnn._complete_mixture._Mixture`)."""

    shape: tuple
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    kwargs: dict
    model: str
    lr_factor: float
    max_steps: int
    notes: list
    _worse_columns: np.ndarray
    refine: bool
    t0: float
    progress: object

    def _result(self, fitted, use_cols, clip, refit=None, late=None) -> CompletionResult:
        """The result of the parts ``fitted``; its predictions are ``refit``'s (a model trained
        on every entry) when given, and the parts' average otherwise (``late``: a refit that
        ran out of time, diverged or stalled; the result's status says "time" for the first)."""
        folds = fitted if refit is None else [refit]
        broke = [late] if late is not None and late.fit.status == "time" else []
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
            folds,
            [],
            _status(fitted + broke),
            None,
            use_cols,
            fitted[0].fit.lr,
            self.lr_factor,
            self.kwargs.get("init_scale"),
            int(np.mean([f.fit.best_step for f in folds])),
            0.0,
            self.notes,
            self.shape,
            clip,
        )
        trained = fitted if refit is None else [*fitted, refit]
        res.history = [rec for f in trained for rec in f.fit.history]
        res.refit = refit is not None
        self._warn_status(fitted + broke)
        errs = [f.fit.val_rmse for f in fitted if f.fit.val_rmse is not None]
        res.validation_error = float(np.mean(errs)) if errs else None
        if self.shape[0] * self.shape[1] <= DENSE_LIMIT:
            r, c = np.indices(self.shape).reshape(2, -1)
            res.X = torch.from_numpy(res.predict(r, c).reshape(self.shape))
        if self.refine and _gaussian.applies(self.shape, fitted[0].held is not None):
            self._gaussian_step(res, fitted)
        if res.refined is None and res.X is not None and self.shape[1] <= TABLE_COLUMNS:
            self._pull_to_means(res, fitted)
            X, res.mean_columns, res.filled = _one_value_fill(
                res.X.numpy(), self.values, self.rows, self.cols
            )
            res.X = torch.from_numpy(X)
            if res.weights is not None:  # columns of weight 0 are filled by their mean too
                zero = np.flatnonzero(res.weights == 0)
                res.mean_columns = np.union1d(res.mean_columns, zero).astype(np.int64)
        self._column_check(res, fitted)
        res.wall_time = time.perf_counter() - self.t0
        return res

    def _pull_to_means(self, res, fitted) -> None:
        """Pull each column of a table left unrefined that its parts predicted worse than its mean
        on their held-out entries (each part's against the mean of its own training entries) toward
        that mean, by the weight that fits those entries best, lowered by its standard error where
        they do not show a sure gain (:func:`_column_weights`), as a refined table's columns are
        (``_complete_mixture.py``). Wine at 20% hidden, mask seed 10: the refinement lost to the SNN
        on held-out entries, and the SNN's magnesium came out 1.20x its mean fill's RMSE on the
        hidden entries. The other columns keep weight 1: pulled too, on scikit-learn's tables
        unrefined (``refine=False``), the relative error rose on half of them (wine at 30% hidden:
        0.2904 -> 0.2988), as weights fitted to one part's predictions over-shrink the parts'
        average."""
        live = [f for f in fitted if f.held is not None and f.fit.status != "diverged"]
        if not live:
            return
        d2, bases = self.shape[1], []
        for f in live:
            train = np.ones(len(self.values), dtype=bool)
            train[f.held] = False
            bases.append(_column_means(self.values[train], self.cols[train], d2)[self.cols[f.held]])
        held, pred = self._held_predictions(live)
        v, c, base = self.values[held], self.cols[held], np.concatenate(bases)
        worse = _worse_than_mean(pred, base, v, c, d2)
        w = np.where(worse, _column_weights(pred, base, v, c, d2), 1.0)
        if np.all(w == 1.0):
            return
        res.weights, res.column_means = w, _column_means(self.values, self.cols, d2)
        r, c = np.indices(self.shape).reshape(2, -1)
        res.X = torch.from_numpy(res.predict(r, c).reshape(self.shape))

    def _held_predictions(self, live):
        """``(entries, predictions)``: the parts ``live``'s held-out entries, one part after
        another, and each part's predictions of its own (user units)."""
        pred = []
        for f in live:
            r, c = self.rows[f.held], self.cols[f.held]
            pred.append(f.norm.inverse_at(f.fit.predict(r, c), r, c))
        return np.concatenate([f.held for f in live]), np.concatenate(pred)

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

    def _note(self, cls, msg, **attributes):
        self.notes.append(msg)
        warning = cls(msg)
        for name, value in attributes.items():
            setattr(warning, name, value)
        warn_user(warning)

    def _column_check(self, res, fitted):
        live = [f for f in fitted if f.held is not None and f.fit.status != "diverged"]
        held = [f.held for f in live]
        if not held or self.shape[1] > TABLE_COLUMNS:  # a table's columns, not a ratings matrix's
            return
        if res.refined is not None:  # the held-out entries are observed in X
            worse, what = self._worse_columns, " or held out at one value"
            how = (
                "they are filled by their mean or pulled toward it (CompletionResult.weights; "
                "SNNCompleter.result_.weights)"
            )
        else:  # each part's own predictions of the entries it did not see
            idx, pred = self._held_predictions(live)
            c, v = self.cols[idx], self.values[idx]
            d2 = self.shape[1]
            mean = _column_means(self.values, self.cols, d2)
            worse = np.flatnonzero(_worse_than_mean(pred, mean[c], v, c, d2))
            filled = [] if res.mean_columns is None else res.mean_columns  # by their mean
            worse = np.setdiff1d(worse, filled)
            how, what = "their values may not follow the low-rank structure of the rest", ""
            if res.weights is not None:  # _pull_to_means
                how = (
                    "they are pulled toward their mean by a weight fitted on those entries "
                    "(CompletionResult.weights; SNNCompleter.result_.weights)"
                )
        if len(worse):
            msg = (
                f"on held-out entries, {len(worse)} column(s) were predicted worse than by "
                f"their own mean{what} (columns {worse[:5].tolist()}"
                f"{' ...' if len(worse) > 5 else ''}); {how}"
            )
            self._note(ColumnWarning, msg, columns=[int(j) for j in worse])
