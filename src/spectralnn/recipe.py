r"""The no-tuning training recipe: :func:`fit_recipe` (any problem) and :func:`complete`
(a matrix with missing entries).

What a user's data needs before gradient descent on an SNN works, and what the recipe does:

1. **Normalise.** Completion data are centred by the mean ``offset`` of the observed entries,
   then every problem is scaled by ``scale`` so that the *estimated full matrix* has unit
   Frobenius norm: :math:`\|X\|_F^2 \approx \|y\|^2 d_1 d_2 / \sum_i \|A_i\|_F^2`
   (for completion :math:`\|y\|^2 d_1 d_2 / m`; the denominator is estimated with Gaussian probes
   for other operators). Results are mapped back, ``X = scale * X_n + offset``, and every
   number reported (errors, history) is in the user's units or says it is normalised.
2. **Initialise relative to the data.** ``init_scale`` is in normalised units (target norm 1),
   so one default serves data in [1, 5], [1e-3, 5e-3] or [1e3, 5e3].
3. **Learning rate from the curvature.** The loss is :math:`\frac{1}{2m}\|A(X)-y\|^2`; its
   Hessian in ``X`` is :math:`A^*A/m` with largest eigenvalue ``lam`` (``1/m`` for completion
   without repeated entries, found by power iteration otherwise). A factorised model of a
   unit-norm matrix sees about that curvature, so ``lr = c / lam`` (``c * m`` for completion) with
   ``c`` a small grid of factors (``lr_factors``). The factors race on a held-out part of the
   observations (``validation_fraction``) and the one with the lowest held-out loss wins -- not
   the largest that does not diverge.
4. **Early stopping and best iterate.** Training runs in chunks; after each chunk the held-out
   loss is evaluated and the best parameters kept. Once a run has left the plateau of its small
   initialisation (training loss halved, or held-out error down 10% from the mean fill), it stops
   when its held-out relative RMS error fell by less than ``tol`` over ``patience`` chunks.
5. **Refit.** With ``refit=True`` the winner is retrained from scratch on all observations for the
   number of steps that was best on the held-out part.
6. **Warnings.** :class:`StallWarning` when the training loss has not moved (relative decrease
   below 1e-3) after ``stall_fraction`` of the steps; :class:`StillImprovingWarning` when the
   held-out loss still improved by more than 1% over the last tenth of the steps at the step limit.

Defaults and the measurements that chose them (60x40 rank-3 ratings matrix, values 1..5, 30%
observed, ``benchmarks/ratings_example.py``; relative error on the missing entries, 3000 GD
steps, float64):

* lr factor ``c`` (widths (1,), init 1e-3): 0.5 -> 1.75%, 1 -> 1.81%, 2 -> 1.93%, 4 -> 1.24%,
  8 -> diverged: GD is stable up to ``c`` of a few. On held-out entries the race picks ``c = 1``
  (ratings, 0.34%) or ``0.5`` (the same with noise 0.1; camera 64x64 inpainting); grids (2, 1, 0.5)
  and (1, 0.5, 0.25) gave identical answers, (4, 2, 1) ended on a coarser early stop on images
  (-0.4 dB). Hence ``(2, 1, 0.5)`` with a held-out check every 1% of ``max_steps``.
* init scale (widths (1,), c=4): 1e-3 -> 1.24%, 1e-6 -> 0.65%, 1e-8 -> 0.25% (the error falls
  slowly as the init shrinks, the plateau before learning grows like ``log(1/init)``).
* depth (init 1e-3, c=4): widths (1,) 1.24%, (2,) 1.61%, (1, 1) 1.21%, (2, 2) 0.40%;
  (2, 2) with init 1e-4: 0.22%, with 1e-6: 0.054%. Hence ``init_scale=1e-4``: well under 1% and
  converged (held-out loss flat) within about 1000 steps. Smaller inits are slower to leave the
  plateau and on camera 64x64 inpainting worse (1e-6: -1 dB).
* widths on camera 64x64, 50% missing (PSNR; SoftImpute 23.81 dB): (2, 2) 23.73 dB, (3, 3)
  24.66, (4, 4) 24.65 dB at about 1.2x the time of (2, 2); on the ratings (4, 4) gives 0.32%
  (noise 0.1: 3.4%). Hence ``widths=(4, 4)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import warnings

import torch

from ._validation import check_int, check_positive, check_real
from .errors import StallWarning, StillImprovingWarning
from .models import make_model
from .sensing import Problem
from .train import Status, fit_runs

__all__ = [
    "DEFAULTS",
    "Normalization",
    "RecipeResult",
    "StallWarning",
    "StillImprovingWarning",
    "complete",
    "curvature",
    "fit_recipe",
    "normalize",
]


DEFAULTS = {
    "snn": {"widths": (4, 4), "init_scale": 1e-4, "lr_factors": (2.0, 1.0, 0.5)},
    "deep": {"depth": 3, "init_scale": 1e-1, "lr_factors": (1.0, 0.5, 0.25)},
    "factor": {"init_scale": 1e-3, "lr_factors": (1.0, 0.5, 0.25)},
    "free": {"lr_factors": (1.0,)},
}
"""Per-model defaults of the recipe (see the module docstring for the measurements)."""


@dataclasses.dataclass(frozen=True)
class Normalization:
    """``X_user = scale * X_normalised + offset``."""

    offset: float
    scale: float

    def inverse(self, X: torch.Tensor) -> torch.Tensor:
        return X * self.scale + self.offset


def _sq_norm_sum(op, seed: int = 0) -> float:
    """``sum_i ||A_i||_F^2`` (:meth:`~spectralnn.AbstractOperator.sq_norm_sum`: exact for
    completion/dense/rank-one, else 8 Gaussian probes drawn from ``seed``)."""
    return op.sq_norm_sum(seed)


def curvature(operator, iters: int = 30, seed: int = 0) -> float:
    """Largest eigenvalue of the loss Hessian ``A^* A / m``
    (:meth:`~spectralnn.AbstractOperator.curvature`: power iteration; exact for completion, the
    largest multiplicity of an observed entry over ``m``)."""
    return operator.curvature(iters, seed)


def normalize(problem: Problem, center: bool | None = None, seed: int = 0):
    """The normalised problem and its :class:`Normalization` (module docstring, step 1).

    ``center=None`` centres where the operator says so (``center_by_default``: completion
    problems only)."""
    op = problem.operator
    center = op.center_by_default if center is None else center
    offset = 0.0
    if center:
        ones = torch.ones(op.shape, dtype=op.dtype)
        a1 = op(ones)
        offset = float((a1 @ problem.y) / (a1 @ a1).clamp_min(1e-300))
    ones_y = op(torch.full(op.shape, offset, dtype=op.dtype))
    yc = problem.y - ones_y
    denom = _sq_norm_sum(op, seed)
    scale = math.sqrt(float((yc**2).sum()) * op.shape[0] * op.shape[1] / max(denom, 1e-300))
    if not scale > 0 or not math.isfinite(scale):
        scale = 1.0  # all observations equal the offset: the matrix is the constant
    norm = Normalization(offset, scale)

    def n(X):
        return None if X is None else (X - offset) / scale

    y_test = None
    if problem.test_operator is not None:
        assert problem.y_test is not None  # a Problem with a test operator has test data
        t1 = problem.test_operator(torch.full(op.shape, offset, dtype=op.dtype))
        y_test = (problem.y_test - t1) / scale
    return Problem(
        op, yc / scale, n(problem.X_true), problem.test_operator, y_test, dict(problem.meta)
    ), norm


def _subset(op, idx):
    """The operator of the measurements ``idx``, or None where it cannot be restricted."""
    return op.subset(idx)


def _validation_indices(op, fraction, gen) -> torch.Tensor | None:
    """Held-out indices: ``fraction`` of the observations, chosen by the operator's
    :meth:`~spectralnn.AbstractOperator.holdout` (completion: never a row's or column's last
    one); None when fewer than 5 would be held out or kept."""
    n_val = round(fraction * op.m)
    if n_val < 5 or op.m - n_val < 5:
        return None
    perm = torch.randperm(op.m, generator=gen)
    chosen = op.holdout(perm, n_val)
    return chosen if chosen.numel() >= 5 else None


def split(problem: Problem, fraction: float, seed: int = 0):
    """``(train, validation)`` problems, or ``(problem, None)`` when no split is possible."""
    gen = torch.Generator().manual_seed(seed)
    idx = _validation_indices(problem.operator, fraction, gen) if fraction > 0 else None
    val_op = None if idx is None else _subset(problem.operator, idx)
    if val_op is None:
        return problem, None
    keep = torch.ones(problem.m, dtype=torch.bool)
    keep[idx] = False
    train = Problem(
        _subset(problem.operator, keep.nonzero().squeeze(1)),
        problem.y[keep],
        problem.X_true,
        meta=dict(problem.meta),
    )
    return train, Problem(val_op, problem.y[idx])


@dataclasses.dataclass
class RecipeResult:
    """What :func:`fit_recipe` returns. ``X`` is in the user's units, ``X_normalized`` not.

    ``history``: one record per chunk of the winning run (``step``, ``train_loss``,
    ``val_loss``, ``nuclear_norm``, ``singular_values``; losses and norms normalised),
    followed by the refit's records (``phase="refit"``) when there was one.
    ``candidates`` maps each tried lr to its best held-out loss (``inf``: diverged).
    ``validation_error``: relative error ``||X - y||/||y||`` on the held-out observations in the
    user's units (before the refit; None without a held-out part).
    """

    X: torch.Tensor
    X_normalized: torch.Tensor
    model: torch.nn.Module
    normalization: Normalization
    lr: float
    lr_factor: float
    candidates: dict
    history: list
    status: str
    best_step: int
    validation_error: float | None
    init_scale: float | None
    refit: bool
    wall_time: float
    warnings: list = dataclasses.field(default_factory=list)


def _state(model, i):
    return {k: v.detach()[i].clone() for k, v in model.state_dict().items()}


def _warn(result_warnings, cls, msg):
    result_warnings.append(msg)
    warnings.warn(msg, cls, stacklevel=3)


class _Race:
    """Candidate rates trained together in chunks, scored on the held-out part after each.

    Scores are relative RMS errors ``e = sqrt(loss / loss_at_start)`` (held-out loss, or the
    training loss without a held-out part). A run has converged when its best ``e`` fell by less
    than ``tol`` over the last ``patience`` chunks (after it left its starting plateau).
    """

    def __init__(self, model, lrs, train, val, patience, tol):
        self.model, self.lrs, self.train, self.val = model, list(lrs), train, val
        # Held-out scores come from fit's own records (test_loss): no dense X per chunk.
        self.scored = (
            train
            if val is None
            else Problem(
                train.operator, train.y, train.X_true, val.operator, val.y, dict(train.meta)
            )
        )
        ref = train.y if val is None else val.y
        self.zero_score = max(float(0.5 * (ref * ref).mean()), 1e-300)  # the loss of X = 0
        self.patience, self.tol = patience, tol
        k = len(lrs)
        self.ids = list(range(k))  # candidate index of each run still in the batch
        self.best, self.best_step = [math.inf] * k, [0] * k
        self.best_state = [_state(model, i) for i in range(k)]
        self.trace = [[] for _ in range(k)]  # best e after each chunk
        self.dead, self.moved = [False] * k, [False] * k
        self.loss0, self.score0 = [None] * k, [None] * k
        self.hist = [[] for _ in range(k)]
        self.last_train = [math.inf] * k

    def _score(self, res):
        return float(res.final["test_loss" if self.val is not None else "train_loss"])

    def chunk(self, step, n):
        lrs = [self.lrs[c] for c in self.ids]
        results = fit_runs(self.model, self.scored, lrs, n, record_every=n, progress=False)
        for j, (c, res) in enumerate(zip(self.ids, results)):
            if self.dead[c] or res.status == Status.DIVERGED:
                self.dead[c] = True
                continue
            if self.loss0[c] is None:
                self.loss0[c] = res.history[0]["train_loss"]
                self.score0[c] = self.zero_score
            score = self._score(res)
            rec = {k: v for k, v in res.final.items() if k not in ("test_loss", "step")}
            self.hist[c].append(
                dict(rec, step=step + n, val_loss=score if self.val is not None else None)
            )
            self.last_train[c] = rec.get("train_loss", math.inf)
            if score < self.best[c]:
                self.best[c], self.best_step[c] = score, step + n
                self.best_state[c] = _state(self.model, j)
            self.trace[c].append(math.sqrt(self.best[c] / self.score0[c]))
            # Past the plateau of a small init: the fit halved or the held-out error fell 10%.
            self.moved[c] = self.moved[c] or (
                self.last_train[c] < 0.5 * self.loss0[c] or self.trace[c][-1] < 0.9
            )
        return step + n

    def converged(self, c) -> bool:
        t = self.trace[c]
        return self.moved[c] and len(t) > self.patience and t[-1 - self.patience] - t[-1] < self.tol

    def leader(self) -> int:
        return min(range(len(self.lrs)), key=lambda c: (self.dead[c], self.best[c]))

    def narrow(self, model_name, shape, kwargs) -> None:
        """Keep only the leader: continue it alone (cheaper than the whole batch)."""
        c = self.leader()
        j = self.ids.index(c)
        state = {k: v.detach()[j : j + 1].clone() for k, v in self.model.state_dict().items()}
        self.model = _build(model_name, shape, 1, kwargs)
        self.model.load_state_dict(state)
        self.ids = [c]


def _matrix(model) -> torch.Tensor:
    """The model's X: through the factored cores where ``method="auto"`` would train there
    (a d1 x d2 spectral map of a large matrix costs O(d^3)), else ``model()``."""
    from ._factored import factored_faster, factored_matrix

    with torch.no_grad():
        big = hasattr(model, "snn") and factored_faster(model, None)
        X = factored_matrix(model) if big else None
        return model().detach() if X is None else X


def _build(model_name, shape, runs, kwargs):
    return make_model(model_name, shape, runs=runs, **kwargs)


@contextlib.contextmanager
def _small_threads(shape):
    """One intra-op thread for small matrices (restored after): measured on 2 busy cores, a
    60x40 SNN step took 33 ms of CPU with 2 threads (OpenMP spinning) and 2.1 ms with 1."""
    n = torch.get_num_threads()
    small = shape[0] * shape[1] <= SMALL_MATRIX
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small:
            torch.set_num_threads(n)


SMALL_MATRIX = 256 * 256
LARGE_SIDE = 256
"""From this smallest side on, the SNN's factors get rank ``min(d) / (4 L0)`` (factored path)."""
MAX_RANK = 32
"""...but at most this rank (cores of ``L0 * MAX_RANK`` columns; 128 with the default widths)."""
"""Matrices with at most this many entries are trained on one thread (see ``_small_threads``)."""


def fit_recipe(
    problem: Problem,
    model: str = "snn",
    *,
    init_scale: float | None = None,
    lr_factors=None,
    max_steps: int = 2000,
    chunk: int | None = None,
    patience: int = 4,
    validation_fraction: float = 0.1,
    refit: bool = True,
    stall_fraction: float = 0.25,
    center: bool | None = None,
    seed: int = 0,
    race_fraction: float = 0.2,
    tol: float = 1e-3,
    progress=None,
    **model_kwargs,
) -> RecipeResult:
    """Train ``model`` on ``problem`` with the recipe of this module's docstring.

    Parameters
    ----------
    problem : Problem
        Any sensing problem; completion problems are centred as well as scaled.
    model : {"snn", "deep", "factor", "free"}, default="snn"
    init_scale : float, optional
        In normalised units (the estimated matrix has unit Frobenius norm); default per model
        (:data:`DEFAULTS`).
    lr_factors : sequence of float, optional
        ``lr = factor / curvature``; the factors race on the held-out part.
    max_steps : int, default=2000
        Step limit of the race (the refit runs for the best step count).
    chunk : int, optional
        Steps between held-out evaluations (default ``max(10, max_steps // 100)``).
    patience : int, default=4
        A run has converged when its held-out relative RMS error (normalised units) fell by less
        than ``tol`` over the last ``patience`` chunks.
    validation_fraction : float, default=0.1
    refit : bool, default=True
    stall_fraction : float, default=0.25
        Stop with :class:`StallWarning` when no training loss has moved by then.
    race_fraction : float, default=0.2
        After this fraction of ``max_steps`` only the leading rate continues.
    tol : float, default=1e-3
    center : bool, optional
        Centre the data (default: completion problems only).
    seed : int, default=0
    progress : callable, optional
        ``progress(step, max_steps, best_val_loss)`` after each chunk.
    **model_kwargs
        Passed to :func:`~spectralnn.make_model` (``widths``, ``fn``, ``depth``, ``rank``, ...).

    Returns
    -------
    RecipeResult

    Examples
    --------
    >>> import spectralnn as snn
    >>> from spectralnn.recipe import fit_recipe
    >>> p = snn.make_problem("completion", (12, 10), 1, 80, seed=0)
    >>> res = fit_recipe(p, max_steps=600)
    >>> bool(snn.metrics.relative_error(res.X, p.X_true) < 0.05)
    True
    """
    with _small_threads(problem.shape):
        return _fit_recipe(
            problem,
            model,
            init_scale,
            lr_factors,
            max_steps,
            chunk,
            patience,
            validation_fraction,
            refit,
            stall_fraction,
            center,
            seed,
            race_fraction,
            tol,
            progress,
            model_kwargs,
        )


def _fit_recipe(
    problem,
    model,
    init_scale,
    lr_factors,
    max_steps,
    chunk,
    patience,
    validation_fraction,
    refit,
    stall_fraction,
    center,
    seed,
    race_fraction,
    tol,
    progress,
    model_kwargs,
):
    where = "fit_recipe"
    t0 = time.perf_counter()
    max_steps = check_int(max_steps, "max_steps", where, 1)
    chunk = max(10, max_steps // 100) if chunk is None else check_int(chunk, "chunk", where, 1)
    check_int(patience, "patience", where, 1)
    check_real(validation_fraction, "validation_fraction", where, low=0.0, high=0.5)
    check_real(stall_fraction, "stall_fraction", where, low=1e-9, high=1.0)
    check_real(race_fraction, "race_fraction", where, low=0.0, high=1.0)
    check_positive(tol, "tol", where)
    defaults = DEFAULTS.get(model, {})
    kwargs = {k: v for k, v in defaults.items() if k != "lr_factors"}
    kwargs.update({k: v for k, v in model_kwargs.items() if v is not None})
    if init_scale is not None:
        kwargs["init_scale"] = check_positive(init_scale, "init_scale", where)
    factors = tuple(defaults.get("lr_factors", (1.0,)) if lr_factors is None else lr_factors)
    for f in factors:
        check_positive(f, "lr_factors", where)
    if model == "snn" and kwargs.get("rank") is None and min(problem.shape) >= LARGE_SIDE:
        # Low-rank factors, so that fit(method="auto") takes the factored path (cost follows
        # the rank, not d^3; auto picks it for 4 L0 rank <= min(d)): measured at 300x260 with
        # widths (4, 4) on one thread, 600 ms/step full (rank 260), 67 ms/step factored (16).
        # Capped at MAX_RANK: the cores are L0 * rank square, and their SVDs dominate a step.
        kwargs["rank"] = max(
            1, min(MAX_RANK, min(problem.shape) // (4 * next(iter(kwargs["widths"]))))
        )
    kwargs.setdefault("seed", seed)
    kwargs.setdefault("dtype", problem.dtype)
    norm_problem, norm = normalize(problem, center, seed)
    train, val = split(norm_problem, validation_fraction, seed)
    lam = curvature(train.operator)
    lrs = [f / lam for f in factors]
    notes: list = []
    race = _Race(_build(model, problem.shape, len(lrs), kwargs), lrs, train, val, patience, tol)
    step, stalled = 0, False
    while step < max_steps:
        step = race.chunk(step, min(chunk, max_steps - step))
        if progress is not None:
            progress(step, max_steps, min(race.best))
        if all(race.dead) or race.converged(race.leader()):
            break
        if len(race.ids) > 1 and step >= race_fraction * max_steps:
            race.narrow(model, problem.shape, kwargs)
        if step >= stall_fraction * max_steps and not any(
            race.last_train[c] < (1 - 1e-3) * race.loss0[c]
            for c in race.ids
            if race.loss0[c] is not None
        ):
            stalled = True
            break
    win = race.leader()
    status = "converged" if race.converged(win) else "max_steps"
    if all(race.dead):
        status = "diverged"
        _warn(
            notes,
            StallWarning,
            f"every learning rate diverged ({[f'{x:.3g}' for x in lrs]}); "
            "the data may hold huge outliers or lr_factors is too large",
        )
    elif stalled:
        status = "stalled"
        _warn(
            notes,
            StallWarning,
            f"the training loss did not move in {step} steps (lr "
            f"{[f'{x:.3g}' for x in lrs]}, init_scale {kwargs.get('init_scale')}): the run "
            "never left its initial point; raise lr_factors or init_scale",
        )
    elif status == "max_steps":
        t, tail = race.trace[win], max(1, len(race.trace[win]) // 10)
        if len(t) > tail and t[-1 - tail] - t[-1] >= tol:
            _warn(
                notes,
                StillImprovingWarning,
                f"the held-out error was still falling at the "
                f"step limit ({max_steps} steps); raise max_steps",
            )
    final = _build(model, problem.shape, None, kwargs)
    final.load_state_dict(race.best_state[win])
    history = list(race.hist[win])
    val_error = None
    if val is not None and status != "diverged":
        with torch.no_grad():
            Xv = norm.inverse(_matrix(final))
            yv = val.y * norm.scale + val.operator(
                torch.full(problem.shape, norm.offset, dtype=problem.dtype)
            )
            val_error = float(
                torch.linalg.vector_norm(val.operator(Xv) - yv)
                / torch.linalg.vector_norm(yv).clamp_min(1e-300)
            )
    did_refit = bool(refit and val is not None and status in ("converged", "max_steps"))
    best_step = race.best_step[win]
    if did_refit:
        final, hist = _refit(
            model, problem.shape, kwargs, norm_problem, factors[win], max(best_step, chunk)
        )
        history += [dict(r, phase="refit") for r in hist]
    Xn = _matrix(final)
    cands = {lr: race.best[i] if not race.dead[i] else math.inf for i, lr in enumerate(lrs)}
    return RecipeResult(
        norm.inverse(Xn),
        Xn,
        final,
        norm,
        lrs[win],
        factors[win],
        cands,
        history,
        status,
        best_step,
        val_error,
        kwargs.get("init_scale"),
        did_refit,
        time.perf_counter() - t0,
        notes,
    )


def _refit(model, shape, kwargs, problem, factor, steps):
    from .train import fit

    m = _build(model, shape, None, kwargs)
    lr = factor / curvature(problem.operator)
    res = fit(m, Problem(problem.operator, problem.y), lr, steps, progress=False)
    if res.status == Status.DIVERGED:  # keep the validated iterate's rate but be safe
        m = _build(model, shape, None, kwargs)
        res = fit(m, Problem(problem.operator, problem.y), lr / 2, steps, progress=False)
    return m, [{k: v for k, v in r.items() if k != "test_loss"} for r in res.history]


def complete(M, model: str = "snn", **kwargs):
    """Complete a 2-D array (numpy or torch, NaN = missing): the completion recipe.

    See :mod:`spectralnn._complete` for the recipe and the measurements behind its defaults;
    keyword arguments as in :func:`spectralnn._complete.complete` (``widths``, ``rank``,
    ``init_scale``, ``lr_factor``, ``max_steps``, ``folds``, ``validation_fraction``,
    ``column_scale``, ``clip``, ``max_time``, ``seed``, ``dtype``, ``progress``). Returns a
    :class:`~spectralnn._complete.CompletionResult` (``X`` in the user's units, ``predict``).

    Examples
    --------
    >>> import numpy as np
    >>> from spectralnn.recipe import complete
    >>> M = np.outer(np.arange(1.0, 9.0), np.arange(1.0, 7.0))
    >>> M[::3, ::2] = np.nan
    >>> res = complete(M, max_steps=600)
    >>> res.X.shape
    torch.Size([8, 6])
    """
    from ._complete import complete as _complete

    return _complete(M, model, **kwargs)
