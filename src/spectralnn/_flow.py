"""The dynamics side of :mod:`spectralnn.theory`: exponential-rate fits of loss curves and the
gradient-flow ODE of the reduced system."""

from __future__ import annotations

import math

import numpy as np
import torch

from ._nuclear import _check_problem
from ._validation import check_array, check_choice, check_int, check_real
from .errors import ConvergenceWarning, InputError, warn_user


def fit_rate(steps, losses, *, floor: float | None = None) -> dict:
    r"""Fit :math:`L(t) - L_\infty \approx C e^{-c t}` by least squares on the log excess loss.

    ``floor`` is :math:`L_\infty` (default 0: fit :math:`\log L` itself, with the window
    ending at 10 times the final loss). The window is the descent phase: excess below 10% of the
    initial excess and above ``1e-9`` of it (rounding). Returns ``rate`` (per step), ``r2`` and
    the ``window`` of steps used (``rate`` is NaN when fewer than 3 points qualify).
    """
    where = "fit_rate"
    steps, losses = (np.asarray(v) if isinstance(v, (list, tuple)) else v for v in (steps, losses))
    t = check_array(
        steps, "steps", where, ndim=1, layout="(n,)", cast_ints=True, dtype=torch.float64
    ).numpy()
    L = check_array(
        losses,
        "losses",
        where,
        ndim=1,
        layout=f"(n,) = ({len(t)},)",
        cast_ints=True,
        dtype=torch.float64,
        finite=False,
    ).numpy()
    if len(L) != len(t):
        raise InputError(
            f"The 'losses' parameter of {where} must have shape (n,) = "
            f"({len(t)},), one loss per step. Got shape {L.shape} instead."
        )
    if floor is not None:
        floor = check_real(floor, "floor", where)
    if floor is None:
        floor, low = 0.0, 10 * L[-1]
    else:
        low = 1e-9 * (L[0] - floor)
    E = L - floor
    sel = (E < 0.1 * E[0]) & (E > low) & np.isfinite(E) & (E > 0)
    if sel.sum() < 3:
        return {"rate": math.nan, "r2": math.nan, "window": None}
    tt, ll = t[sel], np.log(E[sel])
    slope, icpt = np.polyfit(tt, ll, 1)
    pred = slope * tt + icpt
    ss = ((ll - ll.mean()) ** 2).sum()
    r2 = 1 - ((ll - pred) ** 2).sum() / ss if ss > 0 else 1.0
    return {"rate": -slope, "r2": r2, "window": [float(tt[0]), float(tt[-1])]}


def _check_flow_args(problem, t_max, n_eval, method, rtol, atol) -> None:
    where = "gradient_flow"
    _check_problem(problem, where)
    check_real(t_max, "t_max", where, low=0.0, low_open=True)
    check_int(n_eval, "n_eval", where, low=2)
    check_choice(method, "method", where, ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA"))
    check_real(rtol, "rtol", where, low=0.0, low_open=True)
    check_real(atol, "atol", where, low=0.0, low_open=True)


def gradient_flow(
    model,
    problem,
    t_max: float,
    *,
    n_eval: int = 200,
    method: str = "LSODA",
    rtol: float = 1e-9,
    atol: float = 1e-12,
) -> dict:
    r"""Integrate the gradient flow :math:`\dot\theta = -\nabla L(\theta)` of the reduced system.

    Needs what ``fit(method="reduced")`` needs (aligned problem, spectral init, odd activation).
    Uses ``scipy.integrate.solve_ivp`` with a stiff-capable ``method``. Returns ``t``, ``loss``
    (at ``n_eval`` times in ``[0, t_max]``), the final coordinates ``x`` and the solver's status
    (0 success; -1, with a :class:`~spectralnn.errors.ConvergenceWarning`, when the integrator
    failed before ``t_max`` and ``t``, ``loss`` stop early).
    """
    from scipy.integrate import solve_ivp

    from ._reduced import ReducedObjective, ReducedSNN, reduced_unsupported

    _check_flow_args(problem, t_max, n_eval, method, rtol, atol)
    why = reduced_unsupported(model, problem)
    if why is not None:
        raise InputError(
            f"The 'model' parameter of gradient_flow must admit the reduced system: {why}."
        )
    problem = problem.to(dtype=torch.float64)
    red = ReducedSNN(model).double()
    obj = ReducedObjective(problem)
    params = list(red.parameters())
    theta0 = torch.cat([p.detach().reshape(-1) for p in params]).numpy()

    def load(theta):
        i = 0
        for p in params:
            p.data.copy_(torch.from_numpy(theta[i : i + p.numel()]).reshape(p.shape))
            i += p.numel()

    def rhs(_t, theta):
        load(theta)
        grads = torch.autograd.grad(obj.loss(red()), params)
        return -torch.cat([g.reshape(-1) for g in grads]).numpy()

    t_eval = np.linspace(0.0, t_max, n_eval)
    sol = solve_ivp(rhs, (0.0, t_max), theta0, method=method, t_eval=t_eval, rtol=rtol, atol=atol)
    if sol.status != 0:
        warn_user(
            ConvergenceWarning(
                f"gradient_flow: {method} stopped at t={sol.t[-1] if len(sol.t) else 0:g} "
                f"of {t_max:g}: {sol.message}"
            )
        )
    losses = []
    for k in range(sol.y.shape[1]):
        load(sol.y[:, k])
        losses.append(obj.loss(red()).item())
    with torch.no_grad():
        x = red().clone()
    return {
        "t": sol.t,
        "loss": np.array(losses),
        "x": x,
        "status": sol.status,
        "message": sol.message,
    }
