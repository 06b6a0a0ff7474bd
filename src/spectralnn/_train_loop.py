"""The training loop behind :func:`spectralnn.train.fit` and :func:`~spectralnn.train.fit_runs`."""

from __future__ import annotations

import math
import os
import sys
import time

import torch

from . import _checkpoint
from ._fit_result import FitResult, Status
from ._objective import make_objective
from ._optim import Optimizer
from ._train_checks import _check_lrs, _check_model_and_problem, _check_train_args


class _Lines:
    """A bar-shaped adapter that sends ``progress(event)`` dicts (phase "train", step, max_steps,
    elapsed, ETA from the pace so far, the current loss) to a callable such as
    :class:`spectralnn._progress.ProgressPrinter`."""

    def __init__(self, fn, total: int, initial: int):
        self.fn, self.total, self.n, self.start = fn, total, initial, initial
        self.t0 = time.perf_counter()

    def update(self, k: int) -> None:
        self.n += k

    def set_postfix(self, loss: str) -> None:
        elapsed = time.perf_counter() - self.t0
        done = self.n - self.start
        eta = (self.total - self.n) * elapsed / done if done > 0 else None
        self.fn(
            {
                "phase": "train",
                "step": self.n,
                "max_steps": self.total,
                "held_out": None,
                "elapsed": elapsed,
                "eta": eta,
                "loss": loss,
            }
        )

    def close(self) -> None:
        close = getattr(self.fn, "close", None)
        if close is not None:
            close()


def _progress(total: int, initial: int, enabled):
    """A tqdm bar (``enabled`` True, or None on a terminal), progress lines through a callable
    ``enabled``, or nothing."""
    if callable(enabled):
        return _Lines(enabled, total, initial)
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


class _Checkpointer:
    """Where and when a run writes its checkpoint (nothing when ``path`` is None)."""

    def __init__(self, path, every, head, loop):
        self.path, self.every, self.head, self.loop = path, every, head, loop

    def save(self, done):
        if self.path is not None:
            loop = self.loop
            _checkpoint.save(
                self.path, self.head, loop.obj.module, loop.opt, done, loop.runs, loop.lrs
            )

    def after_step(self, done):
        if self.path is not None and done % self.every == 0:
            self.save(done)


def _step(loop, step, active, record_every):
    """Gradients, resets of diverged runs, the record of ``step``, the optimizer's update."""
    grads = loop.obj.grads(active)
    if loop.resets:  # after backward: the graph of this step saw the old values
        loop.apply_resets()
    if step % record_every == 0:
        norms = _grad_norms(grads, loop.batched)
        for i, run in enumerate(loop.runs):
            if run.active:
                loop.record(i, step, norms[i])
    loop.opt.step(grads)


def _run_steps(loop, ckpt, start, steps, record_every, snapshot_steps, bar):
    """Steps ``start..steps`` until every run stopped; returns the number of steps done."""
    done = start
    try:
        for step in range(start, steps + 1):
            if not any(r.active for r in loop.runs):
                break
            losses = loop.obj.evaluate(need_grad=step < steps).tolist()
            loop.check(step, steps, losses, snapshot_steps)
            active = [r.active for r in loop.runs]
            if not any(active):
                break
            _step(loop, step, active, record_every)
            done = step + 1
            ckpt.after_step(done)
            if bar is not None:
                bar.update(1)
                if step % record_every == 0:
                    bar.set_postfix(loss=f"{min(v for v, a in zip(losses, active) if a):.3e}")
    except KeyboardInterrupt:
        ckpt.save(done)
        raise
    finally:
        if bar is not None:
            bar.close()
    return done


def _results(model, loop, done) -> list[FitResult]:
    """One :class:`FitResult` per run, from the finished objective."""
    X, factors = loop.obj.finish(model)
    wall = time.perf_counter() - loop.t0
    batched = loop.batched
    return [
        FitResult(
            X[i] if batched and X is not None else X,
            run.history,
            loop.lrs[i],
            run.status,
            run.diverged_at,
            run.stopped if run.stopped is not None else done,
            wall,
            loop.obj.method,
            run.snapshots,
            None if factors is None else tuple(f[i] if batched else f for f in factors),
        )
        for i, run in enumerate(loop.runs)
    ]


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
    ckpt = _Checkpointer(checkpoint, checkpoint_every, head, loop)
    start = 0
    if checkpoint is not None and resume and os.path.exists(checkpoint):
        start = loop.resume_from(_checkpoint.load(checkpoint, head, first.device, steps))
    bar = _progress(steps, start, progress)
    done = _run_steps(loop, ckpt, start, steps, record_every, snapshot_steps, bar)
    ckpt.save(done)
    return _results(model, loop, done)
