"""The steps of the sensing recipe's :func:`spectralnn.recipe.fit_recipe`: settings, the race
loop, its status and warnings, the held-out error, the refit and the result.

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

import dataclasses
import math
import time

import torch

from ._defaults import (
    DEEP_DEPTH,
    DEEP_INIT_SCALE,
    FACTOR_INIT_SCALE,
    SENSING_LR_FACTORS,
    SNN_INIT_SCALE,
    SNN_WIDTHS,
)
from ._race import LARGE_SIDE, MAX_RANK, _build, _matrix, _warn
from ._recipe_normalize import Normalization, curvature
from ._validation import check_int, check_positive, check_real
from .errors import StallWarning, StillImprovingWarning
from .sensing import Problem
from .train import Status

DEFAULTS = {
    "snn": {
        "widths": SNN_WIDTHS,
        "init_scale": SNN_INIT_SCALE,
        "lr_factors": SENSING_LR_FACTORS["snn"],
    },
    "deep": {
        "depth": DEEP_DEPTH,
        "init_scale": DEEP_INIT_SCALE,
        "lr_factors": SENSING_LR_FACTORS["deep"],
    },
    "factor": {"init_scale": FACTOR_INIT_SCALE, "lr_factors": SENSING_LR_FACTORS["factor"]},
    "free": {"lr_factors": SENSING_LR_FACTORS["free"]},
}
"""Per-model defaults of the recipe (values in ``_defaults.py``; the measurements in this
module's docstring)."""


def _settings(
    problem,
    model,
    init_scale,
    lr_factors,
    max_steps,
    chunk,
    patience,
    validation_fraction,
    stall_fraction,
    race_fraction,
    tol,
    seed,
    model_kwargs,
):
    """Checked settings: ``(max_steps, chunk, model kwargs, lr factors)``."""
    where = "fit_recipe"
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
    return max_steps, chunk, kwargs, factors


def _race_loop(
    race, model, shape, kwargs, max_steps, chunk, race_fraction, stall_fraction, progress
):
    """Run the race in chunks until it converges, stalls or hits the limit: ``(step, stalled)``."""
    step = 0
    while step < max_steps:
        step = race.chunk(step, min(chunk, max_steps - step))
        if progress is not None:
            progress(step, max_steps, min(race.best))
        if all(race.dead) or race.converged(race.leader()):
            return step, False
        if len(race.ids) > 1 and step >= race_fraction * max_steps:
            race.narrow(model, shape, kwargs)
        if step >= stall_fraction * max_steps and not any(
            race.last_train[c] < (1 - 1e-3) * race.loss0[c]
            for c in race.ids
            if race.loss0[c] is not None
        ):
            return step, True
    return step, False


def _race_status(race, win, lrs, kwargs, step, stalled, max_steps, tol, notes) -> str:
    """The run's status, with its warning."""
    status = "converged" if race.converged(win) else "max_steps"
    rates = [f"{x:.3g}" for x in lrs]
    if all(race.dead):
        _warn(
            notes,
            StallWarning,
            f"every learning rate diverged ({rates}); the data may "
            "hold huge outliers or lr_factors is too large",
        )
        return "diverged"
    if stalled:
        _warn(
            notes,
            StallWarning,
            f"the training loss did not move in {step} steps (lr "
            f"{rates}, init_scale {kwargs.get('init_scale')}): the run never left its "
            "initial point; raise lr_factors or init_scale",
        )
        return "stalled"
    if status == "max_steps":
        t, tail = race.trace[win], max(1, len(race.trace[win]) // 10)
        if len(t) > tail and t[-1 - tail] - t[-1] >= tol:
            _warn(
                notes,
                StillImprovingWarning,
                f"the held-out error was still falling at the "
                f"step limit ({max_steps} steps); raise max_steps",
            )
    return status


def _validation_error(final, val, norm, problem) -> float:
    """Relative error on the held-out measurements, in the user's units."""
    with torch.no_grad():
        Xv = norm.inverse(_matrix(final))
        yv = val.y * norm.scale + val.operator(
            torch.full(problem.shape, norm.offset, dtype=problem.dtype)
        )
        return float(
            torch.linalg.vector_norm(val.operator(Xv) - yv)
            / torch.linalg.vector_norm(yv).clamp_min(1e-300)
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


def _finish(
    problem,
    model,
    kwargs,
    norm,
    norm_problem,
    race,
    win,
    final,
    lrs,
    factors,
    status,
    history,
    val_error,
    refit,
    chunk,
    notes,
    t0,
) -> RecipeResult:
    """The refit (when asked and the race ended well) and the :class:`RecipeResult`."""
    did_refit = bool(refit and status in ("converged", "max_steps"))
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
