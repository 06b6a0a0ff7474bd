"""The nuclear-norm minimiser of :mod:`spectralnn.theory` (the target of Theorem 3): the range
projection of ``y`` and the three solvers (exact LP, cvxpy/SCS, ADMM)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import torch

from ._validation import check_bool, check_choice, check_int, check_real
from .errors import ConvergenceWarning, InputTypeError, warn_user

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
        warn_user(
            ConvergenceWarning(
                f"min_nuclear_norm: the {method} solver did not converge (status "
                f"{info['status']!r} after {info.get('iterations')} iterations, residual "
                f"{'n/a' if res is None else f'{res:.2e}'} > tol={tol:g}); the result "
                "is only an approximation of the minimiser."
            )
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
