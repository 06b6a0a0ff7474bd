"""Full-batch training of a matrix model on a sensing problem: :func:`fit` and the lr search."""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import sys
import time

import torch
from torch import nn

from ._validation import check_choice, check_int, check_positive
from ._reduced import ReducedObjective, ReducedSNN, reduced_unsupported
from .metrics import snapshot

__all__ = ["fit", "lr_search", "FitResult", "Status", "LR_GRID", "OPTIMIZERS"]

LR_GRID = tuple(c * 10.0**e for e in range(1, -12, -1) for c in (5, 1))
"""The paper's protocol: {5, 1} x 10^e for e = 1, 0, ..., -11, largest first."""

OPTIMIZERS = ("gd", "momentum", "adam")
METHODS = ("auto", "full", "reduced")


class Status(str, enum.Enum):
    """Outcome of :func:`fit`; compares equal to its string value."""

    CONVERGED = "converged"
    MAX_STEPS = "max_steps"
    DIVERGED = "diverged"

    @property
    def message(self) -> str:
        return {
            "converged": "train loss reached the tolerance",
            "max_steps": "ran all steps without reaching the tolerance; raise steps or lr",
            "diverged": "loss became non-finite (or blew up); lower lr or use float64",
        }[self.value]

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What :func:`fit` returns.

    ``history`` is a list of records, one per recorded step, each with ``step, train_loss,
    test_loss, rel_error, nuclear_norm, singular_values, erank, grad_norm, time``.
    """

    X: torch.Tensor
    history: list
    lr: float
    status: Status
    diverged_at: int | None
    steps: int
    wall_time: float
    method: str = "full"

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}

    def column(self, key: str) -> list:
        return [rec.get(key) for rec in self.history]


def _make_optimizer(name, params, lr):
    if name == "gd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    return torch.optim.Adam(params, lr=lr)


def _grad_norm(params) -> float:
    return math.sqrt(sum(float((p.grad.detach() ** 2).sum()) for p in params if p.grad is not None))


def _save_checkpoint(path, model, opt, step, history, lr):
    """Atomically save the state after ``step`` completed updates (records of later steps
    are dropped so that a resumed run records them again)."""
    tmp = f"{path}.tmp"
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
             "history": [rec for rec in history if rec["step"] < step], "lr": lr}
    torch.save(state, tmp)
    os.replace(tmp, path)


def _progress(total: int, initial: int, enabled: bool | None):
    enabled = sys.stderr.isatty() if enabled is None else enabled
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="fit", unit="step", leave=False)


class _FullObjective:
    """Train the model itself: ``forward() -> X (d1, d2)``."""

    method = "full"

    def __init__(self, model, problem):
        self.module, self.problem = model, problem

    def loss(self, X):
        return self.problem.loss(X)

    def snapshot(self, X, grad_norm):
        return snapshot(X, self.problem, grad_norm)

    def finish(self, model):
        with torch.no_grad():
            return model().detach()


class _ReducedObjective(ReducedObjective):
    """Train the coordinatewise system of MATH.md section 4 (see ``_reduced.py``)."""

    method = "reduced"

    def __init__(self, model, problem):
        super().__init__(problem)
        self.module = ReducedSNN(model)

    def finish(self, model):
        self.module.write_back(model)
        with torch.no_grad():
            return self.matrix(self.module())


def _objective(method, model, problem, optimizer):
    check_choice(method, "method", "fit", METHODS)
    why = reduced_unsupported(model, problem, optimizer) if method != "full" else None
    if method == "reduced" and why is not None:
        raise ValueError(f"method='reduced' does not apply: {why}.")
    if method == "full" or why is not None:
        return _FullObjective(model, problem)
    return _ReducedObjective(model, problem)


def fit(model: nn.Module, problem, lr: float, steps: int, *, optimizer: str = "gd",
        method: str = "auto", record_every: int | None = None, tol: float | None = None,
        divergence_factor: float = 1e12, checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int | None = None, resume: bool = True,
        progress: bool | None = None) -> FitResult:
    r"""Train ``model`` (``forward() -> X``) on ``L(X) = 1/(2m) ||A(X) - y||^2`` by full-batch GD.

    Parameters
    ----------
    model : nn.Module
        A matrix model such as :class:`~spectralnn.SNNFactorization`.
    problem : Problem
        Moved to the model's dtype and device.
    lr : float
        Learning rate (> 0).
    steps : int
        Total number of optimizer steps (a resumed run continues up to this number).
    optimizer : {"gd", "momentum", "adam"}, default="gd"
    method : {"auto", "full", "reduced"}, default="auto"
        ``reduced`` trains the exact coordinatewise system of MATH.md section 4 (aligned problem,
        spectral init, odd activation, gd or momentum): the same trajectory at O(m r) per step;
        the trained state is written back into ``model``. ``auto`` picks it when it applies.
    record_every : int, optional
        Cadence of the history; default about 100 records per run.
    tol : float, optional
        Stop with status ``"converged"`` once the train loss is ``<= tol``.
    divergence_factor : float, default=1e12
        A non-finite loss, or one above ``divergence_factor`` times the initial loss, ends the run
        with status ``"diverged"``; the history recorded so far is kept.
    checkpoint : path, optional
        Write a resumable checkpoint there every ``checkpoint_every`` steps (default: every
        record), at the end, and on Ctrl-C. With ``resume=True`` an existing checkpoint is loaded
        and training continues from its step.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).

    Returns
    -------
    FitResult
    """
    where = "fit"
    lr = check_positive(lr, "lr", where)
    steps = check_int(steps, "steps", where, 0)
    check_choice(optimizer, "optimizer", where, OPTIMIZERS)
    record_every = max(1, steps // 100) if record_every is None else check_int(
        record_every, "record_every", where, 1)
    checkpoint_every = record_every if checkpoint_every is None else checkpoint_every
    first = next(iter(model.parameters()), None)
    if first is None:
        raise ValueError("The 'model' parameter of fit has no trainable parameters.")
    problem = problem.to(dtype=first.dtype, device=first.device)
    obj = _objective(method, model, problem, optimizer)
    module = obj.module
    params = [p for p in module.parameters() if p.requires_grad]
    opt = _make_optimizer(optimizer, params, lr)
    start, history = 0, []
    if checkpoint is not None and resume and os.path.exists(checkpoint):
        state = torch.load(checkpoint, weights_only=False)
        module.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, history = state["step"], state["history"]
    t0 = time.perf_counter() - (history[-1]["time"] if history else 0.0)
    loss0 = history[0]["train_loss"] if history else None
    status, diverged_at, step, done = Status.MAX_STEPS, None, start, start
    bar = _progress(steps, start, progress)

    def record(out, gnorm):
        rec = {"step": step, **obj.snapshot(out, gnorm), "time": time.perf_counter() - t0}
        history.append(rec)

    try:
        for step in range(start, steps + 1):
            opt.zero_grad(set_to_none=True)
            out = module()
            loss = obj.loss(out)
            lval = float(loss.detach())
            if loss0 is None:
                loss0 = lval
            if not math.isfinite(lval) or lval > divergence_factor * max(loss0, 1e-300):
                status, diverged_at = Status.DIVERGED, step
                break
            converged = tol is not None and lval <= tol
            if step == steps or converged:
                record(out, None)
                status = Status.CONVERGED if converged else status
                break
            loss.backward()
            if step % record_every == 0:
                record(out, _grad_norm(params))
            opt.step()
            done = step + 1
            if checkpoint is not None and done % checkpoint_every == 0:
                _save_checkpoint(checkpoint, module, opt, done, history, lr)
            if bar is not None:
                bar.update(1)
                if step % record_every == 0:
                    bar.set_postfix(loss=f"{lval:.3e}")
    except KeyboardInterrupt:
        if checkpoint is not None:
            _save_checkpoint(checkpoint, module, opt, done, history, lr)
        raise
    finally:
        if bar is not None:
            bar.close()
    if checkpoint is not None and status != Status.DIVERGED:
        _save_checkpoint(checkpoint, module, opt, done, history, lr)
    X = obj.finish(model)
    return FitResult(X, history, lr, status, diverged_at, step, time.perf_counter() - t0,
                     obj.method)


def lr_search(make_model, problem, steps: int, *, grid=LR_GRID, keep: int = 1,
              **fit_kwargs) -> tuple[list[FitResult], list[float]]:
    """The paper's learning-rate protocol: try ``grid`` largest first, discard runs that diverge,
    keep the first ``keep`` that do not.

    ``make_model()`` must return a fresh model (same seed) for each try. Returns the kept
    results and the learning rates that diverged.
    """
    check_int(keep, "keep", "lr_search", 1)
    kept, diverged = [], []
    for lr in sorted(grid, reverse=True):
        res = fit(make_model(), problem, lr, steps, **fit_kwargs)
        if res.status == Status.DIVERGED:
            diverged.append(lr)
            continue
        kept.append(res)
        if len(kept) == keep:
            break
    return kept, diverged
