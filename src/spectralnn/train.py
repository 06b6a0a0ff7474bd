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

from ._optim import Optimizer
from ._reduced import ReducedObjective, ReducedSNN, reduced_unsupported
from ._validation import check_choice, check_int, check_positive
from .metrics import snapshot

__all__ = ["fit", "fit_runs", "lr_search", "FitResult", "Status", "LR_GRID", "OPTIMIZERS"]

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
    snapshots: dict = dataclasses.field(default_factory=dict)  # step -> X, see snapshot_steps

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}

    def column(self, key: str) -> list:
        return [rec.get(key) for rec in self.history]


def _save_checkpoint(path, module, opt, step, runs, lrs):
    """Atomically save the state after ``step`` completed updates (records of later steps
    are dropped so that a resumed run records them again)."""
    tmp = f"{path}.tmp"
    state = {"model": module.state_dict(), "optimizer": opt.state_dict(), "step": step,
             "runs": [r.state(step) for r in runs], "lr": lrs}
    torch.save(state, tmp)
    os.replace(tmp, path)


def _progress(total: int, initial: int, enabled: bool | None):
    enabled = sys.stderr.isatty() if enabled is None else enabled
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="fit", unit="step", leave=False)


class _FullObjective:
    """Train the model itself with autograd: ``forward() -> X ([R,] d1, d2)``."""

    method = "full"

    def __init__(self, model, problem):
        self.module, self.problem = model, problem
        self.params = [p for p in model.parameters() if p.requires_grad]

    def evaluate(self, need_grad):
        for p in self.params:
            p.grad = None
        with torch.set_grad_enabled(need_grad):
            out = self.module()
            losses = self.problem.loss(out)
        return out, losses.reshape(-1), losses

    def grads(self, graph_losses, active):
        losses = graph_losses.reshape(-1)
        total = losses.sum() if all(active) else losses[torch.tensor(active)].sum()
        total.backward()
        return [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]

    def snapshot(self, out, grad_norm):
        return snapshot(out, self.problem, grad_norm)

    def finish(self, model):
        with torch.no_grad():
            return model().detach()


class _ReducedObjective(ReducedObjective):
    """Train the coordinatewise system of MATH.md section 4 (see ``_reduced.py``)."""

    method = "reduced"

    def __init__(self, model, problem):
        super().__init__(problem)
        self.module = ReducedSNN(model)
        self.params = list(self.module.parameters())
        self._grads = None

    def evaluate(self, need_grad):
        x, losses, self._grads = self.module.loss_and_grads(self.op.S, self.y, need_grad)
        return x, losses.reshape(-1), None

    def grads(self, graph_losses, active):
        return self._grads

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


class _Run:
    """Bookkeeping of one run: history, status, where it stopped."""

    def __init__(self):
        self.history, self.status, self.diverged_at, self.stopped = [], Status.MAX_STEPS, None, None
        self.snapshots = {}

    @property
    def active(self) -> bool:
        return self.stopped is None

    def state(self, step):
        return {"history": [r for r in self.history if r["step"] < step], "status": self.status,
                "diverged_at": self.diverged_at, "stopped": self.stopped,
                "snapshots": {k: v for k, v in self.snapshots.items() if k < step}}

    def load(self, st):
        self.history, self.status = st["history"], st["status"]
        self.diverged_at, self.stopped = st["diverged_at"], st["stopped"]
        self.snapshots = st["snapshots"]


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
        raise ValueError(f"The 'lr' parameter of fit_runs must have one rate per run "
                         f"({runs}). Got {len(lrs)} rates instead.")
    return lrs


def _train(model, problem, lrs, steps, *, optimizer="gd", method="auto", record_every=None,
           tol=None, divergence_factor=1e12, checkpoint=None, checkpoint_every=None,
           resume=True, progress=None, snapshot_steps=()) -> list[FitResult]:
    """The training loop behind :func:`fit` and :func:`fit_runs`."""
    where = "fit"
    batched = getattr(model, "runs", None) is not None
    lrs = _check_lrs(lrs, getattr(model, "runs", None))
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
    opt = Optimizer(optimizer, obj.params, torch.tensor(lrs, dtype=first.dtype,
                                                        device=first.device), batched)
    initial = [p.detach().clone() for p in obj.params]
    runs = [_Run() for _ in lrs]
    start = 0
    if checkpoint is not None and resume and os.path.exists(checkpoint):
        state = torch.load(checkpoint, weights_only=False)
        obj.module.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start = state["step"]
        for i, (run, st) in enumerate(zip(runs, state["runs"])):
            run.load(st)
            if run.status == Status.MAX_STEPS:  # ran out of steps: continue up to `steps`
                run.stopped = None
                opt.set_lr(i, lrs[i])
    elapsed = max((r.history[-1]["time"] for r in runs if r.history), default=0.0)
    t0 = time.perf_counter() - elapsed
    loss0 = [r.history[0]["train_loss"] if r.history else None for r in runs]
    bar = _progress(steps, start, progress)

    snapshot_steps = set(snapshot_steps)

    def record(run, i, out, gnorm):
        rec = obj.snapshot(out[i] if batched else out, gnorm)
        run.history.append({"step": step, **rec, "time": time.perf_counter() - t0})

    def keep_matrix(run, i, out):
        X = obj.matrix(out) if obj.method == "reduced" else out.detach()
        run.snapshots[step] = (X[i] if batched else X).clone()

    resets = []  # diverged runs to put back at their start after this step's update

    def stop(i, status):
        runs[i].status, runs[i].stopped = status, step
        opt.freeze(i)
        if status == Status.DIVERGED and batched:  # keep the batch finite for the others
            resets.append(i)

    def apply_resets():
        with torch.no_grad():
            for i in resets:
                for p, p0 in zip(obj.params, initial):
                    p[i] = p0[i]
                opt.reset_run(i)
        resets.clear()

    step = done = start
    try:
        for step in range(start, steps + 1):
            active = [r.active for r in runs]
            if not any(active):
                break
            out, losses, graph = obj.evaluate(need_grad=step < steps)
            lv = losses.tolist()
            for i, run in enumerate(runs):
                if not run.active:
                    continue
                if step in snapshot_steps:
                    keep_matrix(run, i, out)
                loss0[i] = lv[i] if loss0[i] is None else loss0[i]
                if not math.isfinite(lv[i]) or lv[i] > divergence_factor * max(loss0[i], 1e-300):
                    run.diverged_at = step
                    stop(i, Status.DIVERGED)
                elif step == steps or (tol is not None and lv[i] <= tol):
                    record(run, i, out, None)
                    stop(i, Status.CONVERGED if tol is not None and lv[i] <= tol
                         else Status.MAX_STEPS)
            active = [r.active for r in runs]
            if not any(active):
                break
            grads = obj.grads(graph, active)
            if resets:  # after backward: the graph of this step saw the old values
                apply_resets()
            if step % record_every == 0:
                norms = _grad_norms(grads, batched)
                for i, run in enumerate(runs):
                    if run.active:
                        record(run, i, out, norms[i])
            opt.step(grads)
            done = step + 1
            if checkpoint is not None and done % checkpoint_every == 0:
                _save_checkpoint(checkpoint, obj.module, opt, done, runs, lrs)
            if bar is not None:
                bar.update(1)
                if step % record_every == 0:
                    bar.set_postfix(loss=f"{min(v for v, a in zip(lv, active) if a):.3e}")
    except KeyboardInterrupt:
        if checkpoint is not None:
            _save_checkpoint(checkpoint, obj.module, opt, done, runs, lrs)
        raise
    finally:
        if bar is not None:
            bar.close()
    if checkpoint is not None:
        _save_checkpoint(checkpoint, obj.module, opt, done, runs, lrs)
    X = obj.finish(model)
    wall = time.perf_counter() - t0
    return [FitResult(X[i] if batched else X, run.history, lrs[i], run.status, run.diverged_at,
                      run.stopped if run.stopped is not None else done, wall, obj.method,
                      run.snapshots)
            for i, run in enumerate(runs)]


def fit(model: nn.Module, problem, lr: float, steps: int, *, optimizer: str = "gd",
        method: str = "auto", record_every: int | None = None, tol: float | None = None,
        divergence_factor: float = 1e12, checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int | None = None, resume: bool = True,
        progress: bool | None = None, snapshot_steps=()) -> FitResult:
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
    snapshot_steps : iterable of int, optional
        Steps at which to keep a copy of ``X`` in ``FitResult.snapshots``.

    Returns
    -------
    FitResult
    """
    if getattr(model, "runs", None) is not None:
        raise ValueError(f"The 'model' parameter of fit has runs={model.runs}; use fit_runs "
                         "for a model with a runs dimension.")
    return _train(model, problem, [lr], steps, optimizer=optimizer, method=method,
                  record_every=record_every, tol=tol, divergence_factor=divergence_factor,
                  checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume,
                  progress=progress, snapshot_steps=snapshot_steps)[0]


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
        raise ValueError("The 'model' parameter of fit_runs needs a runs dimension; build it "
                         "with runs=len(lrs).")
    return _train(model, problem, lrs, steps, **kwargs)


def lr_search(make_model, problem, steps: int, *, grid=LR_GRID, keep: int = 1,
              probe_steps: int | None = None, **fit_kwargs) -> tuple[list[FitResult], list[float]]:
    """The paper's learning-rate protocol: try ``grid`` largest first, discard runs that diverge,
    keep the first ``keep`` that do not.

    ``make_model(runs)`` returns a fresh model (same seed each time) with ``runs`` copies, or
    without a runs dimension for ``runs=None``. Rates are first probed one at a time for
    ``probe_steps`` (default ``min(steps, 500)``; a diverging run stops at once, so too-large
    rates cost little); the ``keep`` survivors then train together for ``steps`` in one batched
    run. A rate that diverges there too is discarded and the next rates of the grid are tried.
    Returns the kept results (largest rate first) and every rate that diverged.
    """
    check_int(keep, "keep", "lr_search", 1)
    probe_steps = min(steps, 500) if probe_steps is None else min(steps, probe_steps)
    pending, kept, diverged = sorted(grid, reverse=True), [], []
    while len(kept) < keep and pending:
        candidates = []
        while pending and len(candidates) < keep - len(kept):
            lr = pending.pop(0)
            probe = fit(make_model(None), problem, lr, probe_steps, record_every=probe_steps,
                        **{k: v for k, v in fit_kwargs.items() if k in ("optimizer", "method")})
            (diverged if probe.status == Status.DIVERGED else candidates).append(lr)
        if not candidates:
            break
        for res in fit_runs(make_model(len(candidates)), problem, candidates, steps,
                            **fit_kwargs):
            (diverged.append(res.lr) if res.status == Status.DIVERGED else kept.append(res))
    kept.sort(key=lambda r: -r.lr)
    return kept, sorted(diverged, reverse=True)
