r"""The completion recipe's engine: fold models, each early-stopped on its own held-out part.

:func:`fit_folds` splits the observed entries into ``folds`` disjoint held-out parts (never a
row's or column's last observation), trains one SNN per part on the rest by gradient descent
(``lr = c m``, the inverse curvature of the completion loss), keeps each model's best iterate on
its held-out part, and returns the models; the recipe averages their predictions. The average
of ``k`` early-stopped models sees every observation and is less noisy than one model refit on
all of them (measured on MovieLens-100k u1, 5 folds of 10%: test RMSE 0.9341 with one model,
0.9329 with 2, 0.9319 with 5).

Each model trains with one persistent optimizer and a held-out check every ``every`` steps that
costs ``O(m_val r)`` (predictions at the held-out pairs from the factors), so the check and the
records never dominate a step.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch

STALL_STEPS = 400
"""A run whose training loss has not fallen 0.1% by this step never left its initialisation."""


@dataclasses.dataclass
class FoldFit:
    """One trained fold: ``L @ R.T`` (normalised units) or a dense ``X``."""

    L: torch.Tensor | None
    R: torch.Tensor | None
    X: torch.Tensor | None
    model: torch.nn.Module
    best_step: int
    val_rmse: float | None
    status: str
    lr: float
    history: list

    def predict(self, rows, cols) -> np.ndarray:
        rows = torch.as_tensor(rows, dtype=torch.long)
        cols = torch.as_tensor(cols, dtype=torch.long)
        return _predict(self.L, self.R, self.X, rows, cols).double().numpy()

    def dense(self) -> torch.Tensor:
        if self.X is not None:
            return self.X
        assert self.L is not None and self.R is not None
        return self.L @ self.R.mT


def _snapshot(obj):
    """The current matrix of a one-run objective, as factors ``(L, R)`` or dense ``X``."""
    with torch.no_grad():
        if obj.method == "factored":
            Q1, Q2, C, _ = obj.factors(0)
            return Q1 @ C, Q2, None
        return None, None, obj.matrix(0).clone()


def _predict(L, R, X, rows, cols) -> torch.Tensor:
    """Entries ``(rows, cols)`` of ``X``, or of ``L @ R.T`` without forming it (gathered in
    blocks of 2^16 pairs: bounded temporaries)."""
    with torch.no_grad():
        if X is not None:
            return X[rows, cols]
        assert L is not None and R is not None
        out = torch.empty(len(rows), dtype=L.dtype)
        for s in range(0, len(rows), 1 << 16):
            r, c = rows[s : s + (1 << 16)], cols[s : s + (1 << 16)]
            out[s : s + len(r)] = (L[r] * R[c]).sum(-1)
        return out


FITTED = 1e-4
"""A part whose training RMS fell below this fraction of its first value stops, the rule of a
run without held-out entries: its training entries are interpolated and its held-out error
moves only by the slow drift between interpolating solutions (a 12 x 10 rank-1 matrix, 21
entries held out a part: 0.0105 at step 2000 and still falling by 1e-5 a check). A looser
1e-3 stopped parts of 30 x 20 rank-2 matrices early enough to change their choice of column
units (one of four came out 0.04 off instead of 4e-4)."""


def train_fold(
    build,
    y,
    values,
    rows,
    cols,
    shape,
    train,
    held,
    to_user,
    *,
    lr_factor: float,
    max_steps: int,
    every: int,
    patience: int,
    tol: float,
    deadline: float,
    report=None,
    fold: int = 0,
    fitted: float = FITTED,
) -> FoldFit:
    """Train one model on the entries ``train`` and keep its best iterate on ``held``.

    ``values`` are the observed entries in user units; ``to_user(z, idx)`` maps normalised
    predictions at the entries ``idx`` to user units (the held-out RMSE is reported in them).
    A diverging run restarts at half the rate (3 tries). ``fitted``: the training RMS, as a
    fraction of its first value, at which a run with held-out entries stops (:data:`FITTED`).
    """
    data = (build, y, values, rows, cols, shape, train, held, to_user)
    loop = (max_steps, every, patience, tol, deadline, report, fold)
    for attempt in range(3):
        fit = _train_once(_Run(*data, lr_factor / 2**attempt, fitted), *loop)
        if fit.status != "diverged":
            return fit
    return fit
    return fit


class _Run:
    """One training run of a part: the objective, the optimizer and the held-out bookkeeping."""

    def __init__(
        self, build, y, values, rows, cols, shape, train, held, to_user, lr_factor, fitted
    ):
        from ._objective import make_objective
        from ._optim import Optimizer
        from .sensing import CompletionOperator, Problem

        self.model = build()
        self.fitted = fitted  # see train_fold
        self.dtype = next(self.model.parameters()).dtype
        tr = torch.as_tensor(train, dtype=torch.long)
        op = CompletionOperator(
            torch.as_tensor(rows)[tr], torch.as_tensor(cols)[tr], shape, self.dtype
        )
        problem = Problem(op, torch.as_tensor(y, dtype=self.dtype)[tr])
        self.obj = make_objective(_method(self.model, problem), self.model, problem, "gd")
        self.lr = lr_factor * len(train)
        self.opt = Optimizer(
            "gd", self.obj.params, torch.tensor([self.lr], dtype=self.dtype), False
        )
        self.shape, self.values, self.held, self.to_user = shape, values, held, to_user
        if held is not None:
            self.h_rows = torch.as_tensor(rows[held], dtype=torch.long)
            self.h_cols = torch.as_tensor(cols[held], dtype=torch.long)
        self.best: tuple = (math.inf, 0, None)
        self.trace: list = []  # the best held-out error so far, at each check
        self.moved = False  # the held-out error has been off its start by more than PLATEAU
        self.history: list = []
        self.t0 = time.perf_counter()

    def halve(self) -> None:
        """Halve the learning rate from the next step on."""
        self.lr /= 2
        self.opt.scale(0.5)

    def diverged(self, step) -> FoldFit:
        zero_l = torch.zeros(self.shape[0], 1, dtype=self.dtype)
        zero_r = torch.zeros(self.shape[1], 1, dtype=self.dtype)
        return FoldFit(
            zero_l, zero_r, None, self.model, step, None, "diverged", self.lr, self.history
        )

    def check(self, step, loss, fold) -> float | None:
        """Score the current iterate on the held-out part; record it; keep the best."""
        L, R, X = _snapshot(self.obj)
        rmse = None
        if self.held is not None:
            z = _predict(L, R, X, self.h_rows, self.h_cols).double().numpy()
            err = self.to_user(z, self.held) - self.values[self.held]
            rmse = float(np.sqrt(np.mean(err**2)))
            if rmse < self.best[0]:
                self.best = (rmse, step, (L, R, X))
            start = self.history[0]["val_rmse"] if self.history else rmse
            self.moved = self.moved or abs(rmse - start) > PLATEAU * start
            self.trace.append(self.best[0])
        else:  # no held-out part: the last iterate, stopped on the training loss
            self.best = (math.inf, step, (L, R, X))
            t = math.sqrt(loss)
            self.trace.append(min(self.trace[-1], t) if self.trace else t)
        self.history.append(
            {
                "step": step,
                "fold": fold,
                "train_loss": loss,
                "val_rmse": rmse,
                "time": time.perf_counter() - self.t0,
            }
        )
        return rmse

    def stop(self, step, loss, loss0, every, patience, tol) -> str | None:
        """The run's status when it should stop now, else None."""
        if step >= STALL_STEPS and loss > (1 - 1e-3) * loss0:
            return "stalled"
        # Without a held-out part (a small matrix, cheap steps) only a fit to FITTED RMS ends the
        # run early: the flat stretches between the directions a small init learns one by one
        # look converged to any window (30 x 20 rank 2: 0.167 off when stopped so).
        if self.held is None:
            fitted = len(self.trace) > 1 and self.trace[-1] < FITTED * self.trace[0]
            return "converged" if fitted else None
        if loss < self.fitted**2 * loss0:  # the training entries are fitted: too few to learn more
            return "converged"
        if not self.moved:  # still on the starting plateau
            return None
        return "converged" if _done(self.trace, step, self.best[1], every, patience, tol) else None

    def result(self, status, step) -> FoldFit:
        if self.best[2] is None:
            self.best = (self.best[0], step, _snapshot(self.obj))
        _, best_step, (L, R, X) = self.best
        val = self.best[0] if self.held is not None else None
        return FoldFit(L, R, X, self.model, best_step, val, status, self.lr, self.history)


RISE = 1e-6
"""A step that raises the training loss by more than this fraction (rounding aside) halves the
rate: gradient descent at a stable rate never raises the loss, and the default rate (2 /
curvature) sits at the edge of stability. Without it an exactly rank-2 30 x 20 matrix at 80%
observed came back 0.86 off (the loss oscillated for 2000 steps), with it 3e-4; MovieLens and
the photos did not change."""


PLATEAU = 0.01
"""A run has left its starting plateau once its held-out error has been more than this
fraction off its first value, in either direction; before that it is not stopped early (a
small initialisation sits still for a while, then learns). Downward only, runs that overfit
from the start never left it and ran to ``max_steps`` with nothing to gain: diabetes (442 x
10) at 30% hidden, two parts of 2000 steps whose best was at steps 10 and 20 (5.0 s instead
of 0.3 s, the same estimates)."""


def _train_once(run, max_steps, every, patience, tol, deadline, report, fold):
    status, loss0, prev = "max_steps", None, None
    for step in range(max_steps + 1):
        loss = float(run.obj.evaluate(need_grad=step < max_steps)[0])
        loss0 = loss if loss0 is None else loss0
        if not math.isfinite(loss) or loss > 1e6 * max(loss0, 1e-300):
            return run.diverged(step)
        last = step == max_steps or time.perf_counter() > deadline
        if step % every == 0 or last:
            rmse = run.check(step, loss, fold)
            if report is not None:
                report(step, rmse)
            stop = run.stop(step, loss, loss0, every, patience, tol)
            if stop is None and last:
                stop = "time" if step < max_steps else "max_steps"
            if stop is not None:
                status = stop
                break
        if prev is not None and loss > prev * (1 + RISE) and loss > 1e-12 * loss0:
            run.halve()  # the step overshot: a stable gradient step never raises the loss
        prev = loss
        run.opt.step(run.obj.grads([True]))
    return run.result(status, step)


def _done(trace, step, best_step, every, patience, tol) -> bool:
    """Early stop of a run that has left its starting plateau (:data:`PLATEAU`): the best
    held-out error is older than ``patience`` checks and than half the steps
    taken (no improvement by more than ``tol`` relative since). Patience that grows with the
    run: a small matrix learns its directions one after another with flat stretches between
    them, and a fixed window stopped it on one (measured on a 12 x 10 rank-1 matrix: relative
    error 0.073 with a window of 5 checks, 0.028 with this rule)."""
    if len(trace) < 2:
        return False
    if trace[-1] < 1e-4 * trace[0]:  # the data are fitted to 0.01% (RMS): nothing left to learn
        return True
    since = step - best_step
    if since < max(patience * every, 0.5 * best_step):
        return False
    k = max(1, min(len(trace) - 1, int(since // every)))
    return trace[-1 - k] - trace[-1] <= tol * trace[-1 - k]


def _method(model, problem) -> str:
    """The factored path whenever the model allows it (its cost follows the rank; measured on
    1797 x 64 and 943 x 1682: cheaper than the full path) and the matrix is not tiny
    (:data:`FULL_BELOW`), else the full one. Both give the same iterates to roundoff."""
    from ._factored import factored_unsupported

    d1, d2 = problem.operator.shape
    if d1 * d2 * min(d1, d2) < FULL_BELOW:
        return "full"
    return "factored" if factored_unsupported(model, problem) is None else "full"


FULL_BELOW = 36_000
"""``d1 d2 min(d1, d2)`` below which the full path (one small SVD a layer) is cheaper per step
than the factored one (its QRs, Gram decompositions and outside parts cost more than the
whole matrix there). Measured per step, 300 steps, one thread: 12 x 10 3.15 -> 1.38 ms,
40 x 10 2.84 -> 1.25 ms, 178 x 13 (30,082) 3.41 -> 2.42 ms; at 442 x 10 (44,200) the full path
is slower (4.05 vs 3.12 ms), at 80 x 30 too (3.93 vs 2.95 ms)."""
