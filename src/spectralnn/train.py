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

from . import _checkpoint
from ._objective import make_objective
from ._optim import Optimizer
from ._validation import check_choice, check_int, check_positive, check_real
from .errors import InputError, InputTypeError
from .sensing import Problem

__all__ = ["LR_GRID", "OPTIMIZERS", "FitResult", "Status", "fit", "fit_runs", "lr_search"]

LR_GRID = tuple(c * 10.0**e for e in range(1, -12, -1) for c in (5, 1))
"""The paper's protocol: {5, 1} x 10^e for e = 1, 0, ..., -11, largest first."""

OPTIMIZERS = ("gd", "momentum", "adam")


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
    ``method`` is the objective that trained it. A factored fit also returns
    ``factors = (L, R)`` with ``X = L R^T``; its ``X`` is None above
    ``_factored.DENSE_X_LIMIT`` entries (the dense matrix is never formed).
    """

    X: torch.Tensor | None
    history: list
    lr: float
    status: Status
    diverged_at: int | None
    steps: int
    wall_time: float
    method: str = "full"
    snapshots: dict = dataclasses.field(default_factory=dict)  # step -> X, see snapshot_steps
    factors: tuple | None = None  # factored fits: (L, R) with X = L R^T

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}

    def column(self, key: str) -> list:
        return [rec.get(key) for rec in self.history]


def _progress(total: int, initial: int, enabled: bool | None):
    enabled = sys.stderr.isatty() if enabled is None else enabled
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="fit", unit="step", leave=False)


class _Run:
    """Bookkeeping of one run: history, status, where it stopped."""

    def __init__(self):
        self.history, self.status, self.diverged_at, self.stopped = [], Status.MAX_STEPS, None, None
        self.snapshots = {}

    @property
    def active(self) -> bool:
        return self.stopped is None

    def state(self, step):
        """Plain data for a checkpoint (records of steps >= ``step`` are dropped so that a
        resumed run records them again)."""
        return {
            "history": [r for r in self.history if r["step"] < step],
            "status": str(self.status),
            "diverged_at": self.diverged_at,
            "stopped": self.stopped,
            "snapshots": {k: v for k, v in self.snapshots.items() if k < step},
        }

    def load(self, st):
        self.history, self.status = list(st["history"]), Status(st["status"])
        self.diverged_at, self.stopped = st["diverged_at"], st["stopped"]
        self.snapshots = dict(st["snapshots"])


def _grad_norms(grads, batched) -> list[float]:
    if not batched:
        return [math.sqrt(sum(float((g * g).sum()) for g in grads))]
    sq = sum((g * g).reshape(g.shape[0], -1).sum(1) for g in grads)
    return sq.sqrt().tolist()


def _check_lrs(lrs, runs):
    if isinstance(lrs, (int, float)):
        lrs = [lrs] * (runs or 1)
    lrs = [check_positive(lr, "lr", "fit") for lr in lrs]
    if len(lrs) != (runs or 1):
        raise InputError(
            f"The 'lr' parameter of fit_runs must have one rate per run "
            f"({runs}). Got {len(lrs)} rates instead."
        )
    return lrs


def _check_model_and_problem(model, problem, where: str):
    if not isinstance(model, nn.Module):
        raise InputTypeError(
            f"The 'model' parameter of {where} must be an nn.Module with "
            f"forward() -> X. Got {type(model).__name__} instead."
        )
    if not isinstance(problem, Problem):
        raise InputTypeError(
            f"The 'problem' parameter of {where} must be a Problem. Got "
            f"{type(problem).__name__} instead."
        )
    shape = getattr(model, "shape", None)
    if shape is not None and tuple(shape) != tuple(problem.shape):
        raise InputError(
            f"The 'model' parameter of {where} must have the problem's shape "
            f"{tuple(problem.shape)}. Got a model of shape {tuple(shape)} instead."
        )
    first = next(iter(model.parameters()), None)
    if first is None:
        raise InputError(f"The 'model' parameter of {where} has no trainable parameters.")
    return first


class _Loop:
    """One training run of :func:`_train`: the state the steps share (no closures)."""

    def __init__(self, obj, opt, lrs, batched, divergence_factor, tol):
        self.obj, self.opt, self.lrs, self.batched = obj, opt, lrs, batched
        self.divergence_factor, self.tol = divergence_factor, tol
        self.runs = [_Run() for _ in lrs]
        self.initial = [p.detach().clone() for p in obj.params]
        self.resets = []  # diverged runs to put back at their start after this step's update
        self.t0 = time.perf_counter()
        self.loss0 = [None] * len(lrs)

    def resume_from(self, state):
        self.obj.module.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        for i, (run, st) in enumerate(zip(self.runs, state["runs"])):
            run.load(st)
            if run.status == Status.MAX_STEPS:  # ran out of steps: continue up to `steps`
                run.stopped = None
                self.opt.set_lr(i, self.lrs[i])
        elapsed = max((r.history[-1]["time"] for r in self.runs if r.history), default=0.0)
        self.t0 = time.perf_counter() - elapsed
        self.loss0 = [r.history[0]["train_loss"] if r.history else None for r in self.runs]
        return state["step"]

    def record(self, i, step, grad_norm):
        rec = self.obj.record(i, grad_norm)
        self.runs[i].history.append({"step": step, **rec, "time": time.perf_counter() - self.t0})

    def stop(self, i, step, status):
        self.runs[i].status, self.runs[i].stopped = status, step
        self.opt.freeze(i)
        if status == Status.DIVERGED and self.batched:  # keep the batch finite for the others
            self.resets.append(i)

    def check(self, step, steps, losses, snapshot_steps):
        """Stop runs that diverged, converged or reached ``steps``; keep snapshots."""
        for i, run in enumerate(self.runs):
            if not run.active:
                continue
            if step in snapshot_steps:
                run.snapshots[step] = self.obj.matrix(i).clone()
            v = losses[i]
            self.loss0[i] = v if self.loss0[i] is None else self.loss0[i]
            if not math.isfinite(v) or v > self.divergence_factor * max(self.loss0[i], 1e-300):
                run.diverged_at = step
                self.stop(i, step, Status.DIVERGED)
            elif step == steps or (self.tol is not None and v <= self.tol):
                self.record(i, step, None)
                converged = self.tol is not None and v <= self.tol
                self.stop(i, step, Status.CONVERGED if converged else Status.MAX_STEPS)

    @torch.no_grad()
    def apply_resets(self):
        for i in self.resets:
            for p, p0 in zip(self.obj.params, self.initial):
                p[i] = p0[i]
            self.opt.reset_run(i)
        self.resets.clear()


def _check_train_args(
    steps, optimizer, record_every, checkpoint_every, tol, divergence_factor, where="fit"
):
    steps = check_int(steps, "steps", where, 0)
    check_choice(optimizer, "optimizer", where, OPTIMIZERS)
    record_every = (
        max(1, steps // 100)
        if record_every is None
        else check_int(record_every, "record_every", where, 1)
    )
    checkpoint_every = (
        record_every
        if checkpoint_every is None
        else check_int(checkpoint_every, "checkpoint_every", where, 1)
    )
    if tol is not None:
        tol = check_real(tol, "tol", where, low=0.0)
    divergence_factor = check_real(
        divergence_factor, "divergence_factor", where, low=1.0, low_open=True
    )
    return steps, record_every, checkpoint_every, tol, divergence_factor


def _train(
    model,
    problem,
    lrs,
    steps,
    *,
    optimizer="gd",
    method="auto",
    record_every=None,
    tol=None,
    divergence_factor=1e12,
    checkpoint=None,
    checkpoint_every=None,
    resume=True,
    progress=None,
    snapshot_steps=(),
) -> list[FitResult]:
    """The training loop behind :func:`fit` and :func:`fit_runs`."""
    first = _check_model_and_problem(model, problem, "fit")
    batched = getattr(model, "runs", None) is not None
    lrs = _check_lrs(lrs, getattr(model, "runs", None))
    steps, record_every, checkpoint_every, tol, divergence_factor = _check_train_args(
        steps, optimizer, record_every, checkpoint_every, tol, divergence_factor
    )
    snapshot_steps = set(snapshot_steps)
    problem = problem.to(dtype=first.dtype, device=first.device)
    obj = make_objective(method, model, problem, optimizer)
    opt = Optimizer(
        optimizer, obj.params, torch.tensor(lrs, dtype=first.dtype, device=first.device), batched
    )
    loop = _Loop(obj, opt, lrs, batched, divergence_factor, tol)
    head = _checkpoint.header(obj, model, optimizer, problem, lrs)
    start = 0
    if checkpoint is not None and resume and os.path.exists(checkpoint):
        start = loop.resume_from(_checkpoint.load(checkpoint, head, first.device, steps))

    def save(done):
        _checkpoint.save(checkpoint, head, obj.module, opt, done, loop.runs, lrs)

    bar = _progress(steps, start, progress)
    done = start
    try:
        for step in range(start, steps + 1):
            if not any(r.active for r in loop.runs):
                break
            losses = obj.evaluate(need_grad=step < steps).tolist()
            loop.check(step, steps, losses, snapshot_steps)
            active = [r.active for r in loop.runs]
            if not any(active):
                break
            grads = obj.grads(active)
            if loop.resets:  # after backward: the graph of this step saw the old values
                loop.apply_resets()
            if step % record_every == 0:
                norms = _grad_norms(grads, batched)
                for i, run in enumerate(loop.runs):
                    if run.active:
                        loop.record(i, step, norms[i])
            opt.step(grads)
            done = step + 1
            if checkpoint is not None and done % checkpoint_every == 0:
                save(done)
            if bar is not None:
                bar.update(1)
                if step % record_every == 0:
                    bar.set_postfix(loss=f"{min(v for v, a in zip(losses, active) if a):.3e}")
    except KeyboardInterrupt:
        if checkpoint is not None:
            save(done)
        raise
    finally:
        if bar is not None:
            bar.close()
    if checkpoint is not None:
        save(done)
    X, factors = obj.finish(model)
    wall = time.perf_counter() - loop.t0
    return [
        FitResult(
            X[i] if batched and X is not None else X,
            run.history,
            lrs[i],
            run.status,
            run.diverged_at,
            run.stopped if run.stopped is not None else done,
            wall,
            obj.method,
            run.snapshots,
            None if factors is None else tuple(f[i] if batched else f for f in factors),
        )
        for i, run in enumerate(loop.runs)
    ]


def fit(
    model: nn.Module,
    problem,
    lr: float,
    steps: int,
    *,
    optimizer: str = "gd",
    method: str = "auto",
    record_every: int | None = None,
    tol: float | None = None,
    divergence_factor: float = 1e12,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = True,
    progress: bool | None = None,
    snapshot_steps=(),
) -> FitResult:
    r"""Train ``model`` (``forward() -> X``) on ``L(X) = 1/(2m) ||A(X) - y||^2`` by full-batch GD.

    Parameters
    ----------
    model : nn.Module
        A matrix model such as :class:`~spectralnn.SNNFactorization` (without ``runs``; see
        :func:`fit_runs` for many runs at once).
    problem : Problem
        Moved to the model's dtype and device.
    lr : float
        Learning rate (> 0).
    steps : int
        Total number of optimizer steps (a resumed run continues up to this number).
    optimizer : {"gd", "momentum", "adam"}, default="gd"
    method : {"auto", "full", "reduced", "factored"}, default="auto"
        ``full`` differentiates ``model()`` itself. ``reduced`` trains the exact coordinatewise
        system of docs/math.md section 4 (aligned problem, spectral init, odd activation, gd or
        momentum): the same trajectory at O(m r) per step; the trained state is written back
        into ``model``. ``factored`` (an :class:`~spectralnn.SNNFactorization` with
        ``L0 * rank < min(d1, d2)`` and ``f(0) = 0``; completion, rank-one, aligned or dense
        operators) runs the network on ``r x r`` cores, ``r <= L0 * rank``, with exact
        gradients and without forming ``X`` (docs/math.md section 7, ``_factored.py``). ``auto``
        picks reduced when it applies (after checking that ``U, V`` still have the spectral
        form), else factored where it is measured to be faster, else full.
    record_every : int, optional
        Cadence of the history; default about 100 records per run.
    tol : float, optional
        Stop with status ``"converged"`` once the train loss is ``<= tol`` (finite, >= 0).
    divergence_factor : float, default=1e12
        A non-finite loss, or one above ``divergence_factor`` (finite, > 1) times the initial
        loss, ends the run with status ``"diverged"``; the history recorded so far is kept.
    checkpoint : path, optional
        Write a resumable checkpoint there every ``checkpoint_every`` (>= 1) steps (default:
        every record), at the end, and on Ctrl-C. With ``resume=True`` an existing checkpoint is
        loaded and training continues from its step. Checkpoints hold tensors and plain data
        only and are read with ``torch.load(weights_only=True)``; a file that is not one, or
        one written for another model, shape, method, optimizer or problem, raises ValueError.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).
    snapshot_steps : iterable of int, optional
        Steps at which to keep a copy of ``X`` in ``FitResult.snapshots``.

    Returns
    -------
    FitResult
    """
    if getattr(model, "runs", None) is not None:
        raise InputError(
            f"The 'model' parameter of fit has runs={model.runs}; use fit_runs "
            "for a model with a runs dimension."
        )
    return _train(
        model,
        problem,
        [lr],
        steps,
        optimizer=optimizer,
        method=method,
        record_every=record_every,
        tol=tol,
        divergence_factor=divergence_factor,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        resume=resume,
        progress=progress,
        snapshot_steps=snapshot_steps,
    )[0]


def fit_runs(model: nn.Module, problem, lrs, steps: int, **kwargs) -> list[FitResult]:
    """Train the ``model.runs`` copies of a model at once, run ``i`` with rate ``lrs[i]``.

    One batched computation per step; each run keeps its own history and status, and a run that
    diverges is frozen (reset to its initial point) without stopping the others. Keyword
    arguments as in :func:`fit`. Returns one :class:`FitResult` per run.

    Examples
    --------
    >>> import spectralnn as snn
    >>> p = snn.make_problem("gaussian", (6, 6), 1, 24, seed=0)
    >>> model = snn.FreeMatrix((6, 6), runs=3)
    >>> [r.status.value for r in snn.fit_runs(model, p, [0.1, 0.01, 100.0], 200)]
    ['max_steps', 'max_steps', 'diverged']
    """
    if getattr(model, "runs", None) is None:
        raise InputError(
            "The 'model' parameter of fit_runs needs a runs dimension; build it with runs=len(lrs)."
        )
    return _train(model, problem, lrs, steps, **kwargs)


def lr_search(
    make_model,
    problem,
    steps: int,
    *,
    grid=LR_GRID,
    keep: int = 1,
    probe_steps: int | None = None,
    **fit_kwargs,
) -> tuple[list[FitResult], list[float]]:
    """The paper's learning-rate protocol: try ``grid`` largest first, discard runs that diverge,
    keep the first ``keep`` that do not.

    ``make_model(runs)`` returns a fresh model (same seed each time) with ``runs`` copies, or
    without a runs dimension for ``runs=None``. Rates are first probed one at a time for
    ``probe_steps`` (default ``min(steps, 500)``; a diverging run stops at once, so too-large
    rates cost little); the ``keep`` survivors then train together for ``steps`` in one batched
    run. A rate that diverges there too is discarded and the next rates of the grid are tried.
    Returns the kept results (largest rate first) and every rate that diverged.

    With ``checkpoint=path`` in ``fit_kwargs``, each batched run checkpoints there (also on
    Ctrl-C); rerunning the same search resumes the interrupted batched run. The probes are
    cheap and are not checkpointed. A checkpoint that was there before the search and was
    written for other rates is never deleted nor overwritten (unless ``resume=False``): the
    rounds it does not match run without a checkpoint; a file that is not a checkpoint of this
    problem raises InputError. The search replaces only the checkpoints it wrote itself.
    """
    where = "lr_search"
    check_int(keep, "keep", where, 1)
    steps = check_int(steps, "steps", where, 0)
    if probe_steps is not None:
        probe_steps = check_int(probe_steps, "probe_steps", where, 1)
    if not callable(make_model):
        raise InputTypeError(
            f"The 'make_model' parameter of {where} must be a callable "
            f"runs -> model. Got {type(make_model).__name__} instead."
        )
    try:
        grid = [check_positive(lr, "grid", where) for lr in grid]
    except TypeError:
        raise InputTypeError(
            f"The 'grid' parameter of {where} must be a sequence of positive "
            f"numbers. Got {type(grid).__name__} instead."
        ) from None
    if not grid:
        raise InputError(
            f"The 'grid' parameter of {where} must hold at least one rate. Got an "
            "empty grid instead."
        )
    checkpoint = fit_kwargs.get("checkpoint")
    resume = fit_kwargs.get("resume", True)
    probe_steps = min(steps, 500) if probe_steps is None else min(steps, probe_steps)
    pending = sorted(grid, reverse=True)
    kept: list[FitResult] = []
    diverged: list[float] = []
    ours = False  # the checkpoint file now holds a batch this call wrote
    while len(kept) < keep and pending:
        candidates: list[float] = []
        while pending and len(candidates) < keep - len(kept):
            lr = pending.pop(0)
            probe = fit(
                make_model(None),
                problem,
                lr,
                probe_steps,
                record_every=probe_steps,
                **{k: v for k, v in fit_kwargs.items() if k in ("optimizer", "method")},
            )
            (diverged if probe.status == Status.DIVERGED else candidates).append(lr)
        if not candidates:
            break
        kwargs = dict(fit_kwargs)
        if checkpoint is not None and resume and os.path.exists(checkpoint):
            if ours:  # a spent batch of an earlier round of this search: start afresh over it
                kwargs["resume"] = False
            elif _checkpoint.saved_lrs(checkpoint) != [float(v) for v in candidates]:
                kwargs["checkpoint"] = None  # not this batch's: leave the file alone
        for res in fit_runs(make_model(len(candidates)), problem, candidates, steps, **kwargs):
            (diverged.append(res.lr) if res.status == Status.DIVERGED else kept.append(res))
        ours = ours or kwargs.get("checkpoint") is not None
    kept.sort(key=lambda r: -r.lr)
    return kept, sorted(diverged, reverse=True)
