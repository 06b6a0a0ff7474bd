r"""KKT certificates for :math:`\min\|X\|_*` s.t. :math:`\mathcal{A}(X)=\hat y` (docs/math.md s. 5).

``X = U_r S_r V_r^T`` is optimal iff it is feasible and some :math:`\nu` has
:math:`\mathcal{A}^*(\nu) = U_r V_r^\top + W` with :math:`U_r^\top W = 0`, :math:`W V_r = 0`,
:math:`\|W\|_2 \le 1`.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import torch

from .errors import ConvergenceWarning, warn_user


@dataclasses.dataclass(frozen=True)
class Certificate:
    """Outcome of :func:`spectralnn.theory.kkt_certificate`.

    ``holds`` is ``feasibility <= tol and tangent_residual <= tol and normal_norm <= 1 + tol``.
    ``method`` is how the dual ``nu`` was actually found: ``"aligned-lp"``, ``"exact"`` (the
    conic program solved to optimality), ``"lstsq"`` (asked for, or ``auto`` off the aligned
    case), or ``"lstsq-fallback"`` / ``"aligned-lstsq-fallback"`` when the requested solve
    failed and a least-squares dual was used instead (a sufficient check only; a
    :class:`~spectralnn.errors.ConvergenceWarning` is issued).  ``status`` is the dual solver's
    word: ``"optimal"``, ``"least-squares"``, ``"infeasible"`` (aligned LP: no dual matches the
    signs of ``x``; exact: no dual meets the tangent tolerance; so no certificate exists and
    ``dual`` is the least-squares attempt) or the failed solver's status.
    """

    holds: bool
    tangent_residual: float  # ||P_T(A* nu) - U V^T||_F / ||U V^T||_F
    normal_norm: float  # ||P_T_perp(A* nu)||_2, must be <= 1
    feasibility: float  # ||A(X) - y_hat|| / ||y_hat||
    rank: int
    dual: torch.Tensor
    method: str
    status: str


def _rank_split(X, rank_tol):
    U, s, Vh = torch.linalg.svd(X, full_matrices=False)
    r = int((s > rank_tol * s[0]).sum()) if s[0] > 0 else 0
    return U[:, :r], Vh[:r].mT, r


def _tangent_maps(U, V):
    def p_t(Z):
        UZ = U @ (U.mT @ Z)
        return UZ + (Z @ V) @ V.mT - U @ ((U.mT @ Z @ V) @ V.mT)

    return p_t, (lambda Z: Z - p_t(Z))


def _lstsq_dual(op, U, V):
    """nu minimising ||P_T(A* nu) - U V^T||_F (minimum-norm least squares)."""
    p_t, _ = _tangent_maps(U, V)
    A = op.dense()  # (m, d1, d2)
    M = p_t(A).reshape(op.m, -1).mT  # (d1 d2, m)
    E = (U @ V.mT).reshape(-1, 1)
    return torch.linalg.lstsq(M, E, driver="gelsd").solution.squeeze(-1)


def _exact_dual(op, U, V, slack):
    """nu minimising ||P_T_perp(A* nu)||_2 subject to ||P_T(A* nu) - U V^T||_F <= slack.

    Solved with cvxpy (Clarabel).  The tangent equation holds with a slack because ``U, V``
    come from a numerically computed ``X``: asked exactly it is infeasible in floating point
    whenever ``m`` exceeds the tangent space's dimension.  Returns ``(nu, status)``; ``nu`` is
    None when the solver failed, and on "infeasible" (no dual meets the tangent tolerance).
    """
    import cvxpy as cp

    p_t, p_n = _tangent_maps(U, V)
    A = op.dense()
    Mt = p_t(A).reshape(op.m, -1).mT.cpu().numpy()
    Mn = p_n(A).reshape(op.m, -1).mT.cpu().numpy()
    E = (U @ V.mT).reshape(-1).cpu().numpy()
    nu = cp.Variable(op.m)
    d1, d2 = op.shape
    normal = cp.reshape(Mn @ nu, (d1, d2), order="C")
    prob = cp.Problem(cp.Minimize(cp.sigma_max(normal)), [cp.norm(Mt @ nu - E, 2) <= slack])
    with warnings.catch_warnings():  # cvxpy's own warnings: the status is reported instead
        warnings.simplefilter("ignore")
        try:
            prob.solve(solver=cp.CLARABEL)
        except cp.error.SolverError as exc:
            return None, f"solver error: {str(exc).splitlines()[0]}"
    if nu.value is None or prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        return None, str(prob.status)
    return torch.from_numpy(np.asarray(nu.value)).to(A), str(prob.status)


def _fallback(what: str, status: str) -> None:
    warn_user(
        ConvergenceWarning(
            f"kkt_certificate: the {what} dual solve failed ({status}); falling back to "
            "a least-squares dual, which is only a sufficient check (a False 'holds' "
            "does not prove X non-optimal)."
        )
    )


def _general_case(op, X, method, rank_tol, tol):
    if method == "aligned":
        warn_user(
            ConvergenceWarning(
                "kkt_certificate: method='aligned' but X is not aligned with the "
                "operator's bases; using the least-squares dual."
            )
        )
    U, V, r = _rank_split(X, rank_tol)
    if method != "exact":
        return U, V, r, _lstsq_dual(op, U, V), "lstsq", "least-squares"
    nu, status = _exact_dual(op, U, V, 0.5 * tol * max(r, 1) ** 0.5)
    if nu is not None:
        if status != "optimal":
            warn_user(
                ConvergenceWarning(
                    f"kkt_certificate: the exact dual solve ended {status!r}; the "
                    "residuals reported are those of its nu."
                )
            )
        return U, V, r, nu, "exact", status
    if status in ("infeasible", "infeasible_inaccurate"):  # no dual meets the tolerance
        return U, V, r, _lstsq_dual(op, U, V), "exact", status
    _fallback("exact (cvxpy/Clarabel)", status)
    return U, V, r, _lstsq_dual(op, U, V), "lstsq-fallback", status


def certificate(X, problem, y_hat, *, method="auto", rank_tol=1e-3, tol=1e-3) -> Certificate:
    op = problem.operator
    X = X.detach().to(op.dtype)
    feas = (torch.linalg.vector_norm(op(X) - y_hat) / torch.linalg.vector_norm(y_hat)).item()
    case = op.kkt_lp(X, rank_tol, tol) if op.exact_lp and method in ("auto", "aligned") else None
    U, V, r, nu, used, status = (
        case if case is not None else _general_case(op, X, method, rank_tol, tol)
    )
    p_t, p_n = _tangent_maps(U, V)
    Z = op.adjoint(nu)
    E = U @ V.mT
    tangent = (torch.linalg.matrix_norm(p_t(Z) - E) / max(r, 1) ** 0.5).item()
    normal = torch.linalg.matrix_norm(p_n(Z), 2).item()
    holds = feas <= tol and tangent <= tol and normal <= 1 + tol
    return Certificate(bool(holds), tangent, normal, feas, r, nu, used, status)
