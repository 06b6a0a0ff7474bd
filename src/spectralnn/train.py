"""Full-batch training of a matrix model on a sensing problem: :func:`fit` and the lr search.

The result types live in ``_fit_result``, the loop in ``_train_loop`` (its argument checks in
``_train_checks``); their names are re-exported here.
"""

from __future__ import annotations

import os

from torch import nn

from . import _checkpoint
from ._fit_result import FitResult, Status
from ._train_checks import OPTIMIZERS
from ._train_checks import _check_lrs as _check_lrs
from ._train_checks import _check_model_and_problem as _check_model_and_problem
from ._train_checks import _check_train_args as _check_train_args
from ._train_loop import _grad_norms as _grad_norms
from ._train_loop import _Loop as _Loop
from ._train_loop import _progress as _progress
from ._train_loop import _Run as _Run
from ._train_loop import _train
from ._validation import check_int, check_positive
from .errors import InputError, InputTypeError

__all__ = ["LR_GRID", "OPTIMIZERS", "FitResult", "Status", "fit", "fit_runs", "lr_search"]

LR_GRID = tuple(c * 10.0**e for e in range(1, -12, -1) for c in (5, 1))
"""The paper's protocol: {5, 1} x 10^e for e = 1, 0, ..., -11, largest first."""


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
    progress=None,
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
    progress : bool or callable, optional
        Show a progress bar (default: when stderr is a terminal); a callable instead gets a
        dict per record (phase, step, max_steps, elapsed, eta, loss), e.g. a
        ``spectralnn._progress.ProgressPrinter`` for plain lines on stderr.
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
