r"""What gradient descent converged to: the nuclear-norm minimiser, KKT certificates, the
gradient-flow ODE of the reduced system, and exponential-rate fits (docs/math.md sections 5-6).

The target of Theorem 3 is

.. math::  \min \|X\|_*  \quad\text{s.t.}\quad \mathcal{A}(X) = \hat y,

where :math:`\hat y` is ``y`` projected onto the range of :math:`\mathcal{A}` (equal to ``y``
when the measurements are consistent, e.g. ``m`` below the number of unknowns; with noisy,
over-determined measurements the constraint set is the set of least-squares solutions, which is
where gradient descent ends).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import torch

from ._kkt import Certificate, certificate
from ._validation import check_array, check_bool, check_choice, check_int, check_matrix, check_real
from .errors import ConvergenceWarning, InputError, InputTypeError

__all__ = [
    "Certificate",
    "NuclearNormSolution",
    "fit_rate",
    "gradient_flow",
    "kkt_certificate",
    "min_frobenius_interpolant",
    "min_nuclear_norm",
    "projected_y",
]

SOLVERS = ("auto", "lp", "cvxpy", "admm")


@dataclasses.dataclass(frozen=True)
class NuclearNormSolution:
    """How :func:`min_nuclear_norm` got its answer, and whether it can be trusted.

    ``method`` is the solver actually used (``"lp"``, ``"cvxpy"`` or ``"admm"``, never
    ``"auto"``); ``converged`` is False when the solver stopped before its tolerance (ADMM at
    ``max_iter``, SCS "optimal_inaccurate"), in which case ``X`` is only an approximation and a
    :class:`~spectralnn.errors.ConvergenceWarning` was issued.  ``status`` is the solver's own
    word (``"optimal"``, ``"optimal_inaccurate"``, ``"max_iter"``...), ``iterations`` its
    iteration count and ``residual`` its stopping residual (ADMM: the larger relative primal or
    dual residual; SCS: the larger of its primal and dual residuals; ``None`` for the LP).
    """

    X: torch.Tensor = dataclasses.field(repr=False)
    method: str
    nuclear_norm: float
    feasibility: float  # ||A(X) - y_hat|| / ||y_hat||
    converged: bool
    status: str
    iterations: int | None = None
    residual: float | None = None


def _check_problem(problem, where: str):
    from .sensing import Problem

    if not isinstance(problem, Problem):
        raise InputTypeError(
            f"The 'problem' parameter of {where} must be a Problem. Got "
            f"{type(problem).__name__} instead."
        )
    return problem


def projected_y(problem) -> torch.Tensor:
    """``y`` projected onto the range of the operator (``A A^+ y``); ``y`` itself when the
    operator is onto (full row rank), which spares a least-squares solve and its rounding."""
    op, y = _check_problem(problem, "projected_y").operator, problem.y
    if op.is_onto():
        return y
    M = op.range_matrix()
    m, n = M.shape
    rank = int(torch.linalg.matrix_rank(M))
    if m <= n and rank == m:
        return y
    if rank == n:  # over-determined, full column rank: normal equations by Cholesky, which
        # (unlike LAPACK's lstsq in MKL) give the same bits in every process
        L = torch.linalg.cholesky(M.mT @ M)
        return M @ torch.cholesky_solve((M.mT @ y).unsqueeze(-1), L).squeeze(-1)
    return M @ torch.linalg.lstsq(M, y.unsqueeze(-1)).solution.squeeze(-1)


def min_frobenius_interpolant(problem) -> torch.Tensor:
    """The minimum-Frobenius-norm least-squares solution ``A^+ y`` (a non-answer to compare)."""
    op = _check_problem(problem, "min_frobenius_interpolant").operator
    return op.min_norm_solution(problem.y)


def _cvxpy(problem, y_hat, tol):
    import cvxpy as cp

    op = problem.operator
    M = op.dense().reshape(op.m, -1).cpu().numpy()
    X = cp.Variable(op.shape)
    cons = [M @ cp.vec(X, order="C") == y_hat.cpu().numpy()]
    prob = cp.Problem(cp.Minimize(cp.normNuc(X)), cons)
    with warnings.catch_warnings():  # cvxpy's own "may be inaccurate": reported below instead
        warnings.simplefilter("ignore")
        prob.solve(solver=cp.SCS, eps=tol, max_iters=200_000)
    if X.value is None:
        raise RuntimeError(f"cvxpy/SCS failed: status {prob.status}")
    stats = prob.solver_stats
    scs = (stats.extra_stats or {}).get("info", {}) if isinstance(stats.extra_stats, dict) else {}
    res = [scs[k] for k in ("res_pri", "res_dual") if isinstance(scs.get(k), float)]
    info = {
        "status": str(prob.status),
        "converged": prob.status == cp.OPTIMAL,
        "iterations": stats.num_iters,
        "residual": max(res) if res else None,
    }
    return torch.from_numpy(np.asarray(X.value)).to(y_hat), info


def _svt(Z, tau):
    U, s, Vh = torch.linalg.svd(Z, full_matrices=False)
    return (U * (s - tau).clamp_min(0)) @ Vh


def _admm(problem, y_hat, tol, max_iter, rho=None):
    """ADMM on min ||Z||_* s.t. X = Z, A(X) = y_hat: an affine projection and an SVT per step."""
    op = problem.operator
    eye = torch.eye(op.m, dtype=y_hat.dtype)
    gram = op(op.adjoint(eye))  # (m, m) = A A^*
    chol = torch.linalg.cholesky(gram + 1e-12 * gram.diagonal().mean() * eye)

    def project(V):  # onto {X : A(X) = y_hat}
        corr = torch.cholesky_solve((op(V) - y_hat).unsqueeze(-1), chol).squeeze(-1)
        return V - op.adjoint(corr)

    X = project(torch.zeros(op.shape, dtype=y_hat.dtype))
    rho = rho or 1.0 / max(torch.linalg.matrix_norm(X, 2).item(), 1e-12)
    Z, W = X.clone(), torch.zeros_like(X)
    for it in range(1, max_iter + 1):
        X = project(Z - W)
        Z_old = Z
        Z = _svt(X + W, 1.0 / rho)
        W = W + X - Z
        scale = max(torch.linalg.matrix_norm(X).item(), 1e-12)
        primal = torch.linalg.matrix_norm(X - Z).item() / scale
        dual = rho * torch.linalg.matrix_norm(Z - Z_old).item() / scale
        if primal < tol and dual < tol:
            return X, {
                "status": "optimal",
                "converged": True,
                "iterations": it,
                "residual": max(primal, dual),
            }
    return X, {
        "status": "max_iter",
        "converged": False,
        "iterations": max_iter,
        "residual": max(primal, dual),
    }


def min_nuclear_norm(
    problem,
    *,
    method: str = "auto",
    tol: float = 1e-8,
    max_iter: int = 20_000,
    return_info: bool = False,
):
    r"""The nuclear-norm minimiser over the matrices that fit the measurements.

    Parameters
    ----------
    problem : Problem
    method : {"auto", "lp", "cvxpy", "admm"}, default="auto"
        ``lp``: aligned operators only, the exact linear program
        :math:`\min \|x\|_1` s.t. :math:`Sx = \hat y` (scipy HiGHS), any size;
        ``cvxpy``: the semidefinite-representable problem with SCS (small problems);
        ``admm``: ADMM with singular value thresholding, stopping at relative primal and dual
        residuals below ``tol``. ``auto``: ``lp`` when aligned, ``cvxpy`` up to 900 unknowns,
        ``admm`` above.
    tol : float, default=1e-8
        Solver tolerance (SCS ``eps``; ADMM relative residuals), in ``(0, 1)``.
    max_iter : int, default=20000
        ADMM iterations at most.
    return_info : bool, default=False
        Also return a :class:`NuclearNormSolution`: the method used, whether it converged, its
        status, iterations and residual, and the feasibility of ``X``.

    Returns
    -------
    torch.Tensor, shape (d1, d2)  (and the info when ``return_info``)

    Warns
    -----
    ConvergenceWarning
        When the solver stops before its tolerance (ADMM reaches ``max_iter``; SCS reports
        "optimal_inaccurate"): the returned matrix is then only an approximation.
    """
    where = "min_nuclear_norm"
    _check_problem(problem, where)
    check_choice(method, "method", where, SOLVERS)
    check_real(tol, "tol", where, low=0.0, high=1.0, low_open=True)
    check_int(max_iter, "max_iter", where, low=1)
    check_bool(return_info, "return_info", where)
    op = problem.operator
    if method == "auto":
        d1, d2 = op.shape
        method = "lp" if op.exact_lp else "cvxpy" if d1 * d2 <= 900 else "admm"
    if method == "lp" and not op.exact_lp:
        raise ValueError(
            f"method='lp' needs an aligned problem (an operator with an exact LP). "
            f"Got {type(op).__name__}."
        )
    y_hat = projected_y(problem)
    if method == "lp":
        X, info = op.nuclear_lp(y_hat)
    elif method == "cvxpy":
        X, info = _cvxpy(problem, y_hat, tol)
    else:
        X, info = _admm(problem, y_hat, tol, max_iter)
    if not info["converged"]:
        res = info.get("residual")
        warnings.warn(
            f"min_nuclear_norm: the {method} solver did not converge (status "
            f"{info['status']!r} after {info.get('iterations')} iterations, residual "
            f"{'n/a' if res is None else f'{res:.2e}'} > tol={tol:g}); the result "
            "is only an approximation of the minimiser.",
            ConvergenceWarning,
            stacklevel=2,
        )
    if not return_info:
        return X
    feas = (torch.linalg.vector_norm(op(X) - y_hat) / torch.linalg.vector_norm(y_hat)).item()
    nuc = torch.linalg.svdvals(X).sum().item()
    return X, NuclearNormSolution(
        X,
        method,
        nuc,
        feas,
        info["converged"],
        info["status"],
        info.get("iterations"),
        info.get("residual"),
    )


def kkt_certificate(
    X: torch.Tensor, problem, *, method: str = "auto", rank_tol: float = 1e-3, tol: float = 1e-3
) -> Certificate:
    r"""Certify that ``X`` solves :math:`\min \|X\|_*` s.t. :math:`\mathcal{A}(X) = \hat y`.

    Parameters
    ----------
    X : torch.Tensor, shape (d1, d2)
    problem : Problem
    method : {"auto", "lstsq", "exact", "aligned"}, default="auto"
        ``lstsq``: the fast sufficient check, ``nu`` the least-squares solution of the tangent
        equation; ``exact``: ``nu`` minimising the normal-space spectral norm subject to the
        tangent equation (cvxpy; small problems); ``aligned``/``auto`` on an aligned problem with
        an aligned ``X``: the exact LP over ``S^T nu`` (docs/math.md section 5). ``auto`` otherwise
        means ``lstsq``.
    rank_tol : float, default=1e-3
        Singular values (aligned: coordinates) below ``rank_tol`` times the largest count as 0.
    tol : float, default=1e-3
        Allowed feasibility and tangent residuals, and slack on ``normal_norm <= 1``.

    Returns
    -------
    Certificate
        With ``method`` the dual actually used and ``status`` its solver's word.

    Warns
    -----
    ConvergenceWarning
        When the requested dual solve fails and the least-squares dual is used instead
        (``method`` then ends in ``-fallback``), or ``method="aligned"`` is asked for an ``X``
        that is not aligned.
    """
    where = "kkt_certificate"
    _check_problem(problem, where)
    X = check_matrix(X, "X", where)
    if tuple(X.shape) != tuple(problem.shape):
        raise InputError(
            f"The 'X' parameter of {where} must have the problem's shape "
            f"{tuple(problem.shape)}. Got shape {tuple(X.shape)} instead."
        )
    check_choice(method, "method", where, ("auto", "lstsq", "exact", "aligned"))
    check_real(rank_tol, "rank_tol", where, low=0.0, high=1.0, low_open=True)
    check_real(tol, "tol", where, low=0.0, low_open=True)
    if method == "aligned" and not problem.operator.exact_lp:
        raise InputError(
            f"The 'method' parameter of {where} can be 'aligned' only for an "
            f"aligned problem (an operator with an exact LP). Got 'aligned' for a "
            f"{type(problem.operator).__name__} instead."
        )
    return certificate(X, problem, projected_y(problem), method=method, rank_tol=rank_tol, tol=tol)


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
        warnings.warn(
            f"gradient_flow: {method} stopped at t={sol.t[-1] if len(sol.t) else 0:g} "
            f"of {t_max:g}: {sol.message}",
            ConvergenceWarning,
            stacklevel=2,
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
