r"""What gradient descent converged to: the nuclear-norm minimiser, KKT certificates, the
gradient-flow ODE of the reduced system, and exponential-rate fits (docs/math.md sections 5-6).

The target of Theorem 3 is

.. math::  \min \|X\|_*  \quad\text{s.t.}\quad \mathcal{A}(X) = \hat y,

where :math:`\hat y` is ``y`` projected onto the range of :math:`\mathcal{A}` (equal to ``y``
when the measurements are consistent, e.g. ``m`` below the number of unknowns; with noisy,
over-determined measurements the constraint set is the set of least-squares solutions, which is
where gradient descent ends).

The minimiser and its solvers are in :mod:`spectralnn._nuclear`, the rate fits and the gradient
flow in :mod:`spectralnn._flow`; both are re-exported here.
"""

from __future__ import annotations

import torch

from ._flow import _check_flow_args as _check_flow_args
from ._flow import fit_rate, gradient_flow
from ._kkt import Certificate, certificate
from ._nuclear import SOLVERS as SOLVERS
from ._nuclear import NuclearNormSolution, _check_problem, min_nuclear_norm, projected_y
from ._nuclear import _admm as _admm
from ._nuclear import _cvxpy as _cvxpy
from ._nuclear import _svt as _svt
from ._validation import check_choice, check_matrix, check_real
from .errors import InputError

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


def min_frobenius_interpolant(problem) -> torch.Tensor:
    """The minimum-Frobenius-norm least-squares solution ``A^+ y`` (a non-answer to compare)."""
    op = _check_problem(problem, "min_frobenius_interpolant").operator
    return op.min_norm_solution(problem.y)


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
