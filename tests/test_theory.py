import numpy as np
import pytest
import torch

import spectralnn as snn
from spectralnn import theory
from spectralnn.errors import ConvergenceWarning


def _rel(A, B):
    return (torch.linalg.matrix_norm(A - B) / torch.linalg.matrix_norm(B)).item()


@pytest.fixture(scope="module")
def underdetermined():
    # m = 4 measurements of an aligned operator of rank r = 10 (m < r).
    return snn.make_problem("aligned", (10, 10), 2, 4, seed=2)


def test_lp_solution_is_feasible_and_beats_other_interpolants(underdetermined):
    X, info = theory.min_nuclear_norm(underdetermined, return_info=True)
    assert info.method == "lp" and info.feasibility < 1e-10
    F = theory.min_frobenius_interpolant(underdetermined)
    assert snn.nuclear_norm(X).item() <= snn.nuclear_norm(F).item() + 1e-12
    assert theory.kkt_certificate(X, underdetermined).holds


def test_gd_from_small_spectral_init_reaches_the_nuclear_norm_minimiser(underdetermined):
    X_star = theory.min_nuclear_norm(underdetermined)
    model = snn.SNNFactorization(
        (10, 10), (1,), init="spectral", init_scale=1e-3, problem=underdetermined, seed=0
    )
    res = snn.fit(model, underdetermined, 0.5, 12000)
    assert res.method == "reduced"
    assert _rel(res.X, X_star) < 1e-2
    cert = theory.kkt_certificate(res.X, underdetermined)
    assert cert.holds and cert.normal_norm < 1
    frob = theory.kkt_certificate(
        theory.min_frobenius_interpolant(underdetermined), underdetermined
    )
    assert not frob.holds and frob.tangent_residual > 0.1


def test_min_nuclear_norm_gaussian_matches_direct_cvxpy_and_admm():
    import cvxpy as cp

    p = snn.make_problem("gaussian", (10, 10), 2, 40, noise=0.01, seed=0)
    X = theory.min_nuclear_norm(p)
    A, y = p.operator.A.numpy(), p.y.numpy()
    Z = cp.Variable((10, 10))
    cons = [cp.sum(cp.multiply(A[i], Z)) == y[i] for i in range(40)]
    cp.Problem(cp.Minimize(cp.normNuc(Z)), cons).solve(solver=cp.CLARABEL)
    assert _rel(X, torch.from_numpy(Z.value)) < 1e-4
    X_admm, info = theory.min_nuclear_norm(p, method="admm", return_info=True)
    assert info.method == "admm" and info.feasibility < 1e-8
    assert _rel(X_admm, X) < 1e-5


def test_kkt_fast_and_exact_on_gaussian_and_a_non_optimal_point():
    p = snn.make_problem("gaussian", (8, 8), 1, 30, seed=1)
    X = theory.min_nuclear_norm(p, method="admm")
    fast = theory.kkt_certificate(X, p)
    exact = theory.kkt_certificate(X, p, method="exact")
    assert fast.holds and exact.holds and exact.normal_norm <= fast.normal_norm + 1e-6
    bad = theory.kkt_certificate(theory.min_frobenius_interpolant(p), p)
    assert not bad.holds


@pytest.mark.parametrize("widths", [(1,), (2, 2, 2)])
def test_reduced_equals_full_dynamics(widths):
    p = snn.make_problem("aligned", (7, 6), 3, 20, noise=0.01, seed=0)

    def model():
        return snn.SNNFactorization(
            (7, 6), widths, init="spectral", init_scale=0.5, problem=p, seed=1
        )

    full_model, red_model = model(), model()
    full = snn.fit(full_model, p, 0.05, 300, method="full", record_every=20)
    red = snn.fit(red_model, p, 0.05, 300, method="reduced", record_every=20)
    assert full.method == "full" and red.method == "reduced"
    torch.testing.assert_close(red.X, full.X, rtol=0, atol=1e-10)
    for key in ("train_loss", "test_loss", "rel_error", "nuclear_norm", "grad_norm"):
        np.testing.assert_allclose(
            red.column(key)[:-1] if key == "grad_norm" else red.column(key),
            full.column(key)[:-1] if key == "grad_norm" else full.column(key),
            rtol=1e-9,
            atol=1e-12,
        )
    for a, b in zip(full_model.parameters(), red_model.parameters()):  # written back
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
    assert snn.metrics.alignment(full.X, p.operator.Phi, p.operator.Psi) < 1e-12


def test_reduced_refuses_when_invalid():
    p = snn.make_problem("gaussian", (5, 5), 1, 10)
    with pytest.raises(ValueError, match="method='reduced' does not apply: .*init='spectral'"):
        snn.fit(snn.SNNFactorization((5, 5), (1,)), p, 0.1, 1, method="reduced")
    res = snn.fit(snn.SNNFactorization((5, 5), (1,)), p, 0.1, 1)
    assert res.method == "full"


def test_rate_fit_recovers_a_known_exponential():
    t = np.arange(0, 200, 2.0)
    L = 3.0 * np.exp(-0.05 * t) + 1e-12
    out = theory.fit_rate(t, L)
    assert out["rate"] == pytest.approx(0.05, rel=1e-3) and out["r2"] > 0.999


def test_gradient_flow_is_the_small_lr_limit_of_gd():
    p = snn.make_problem("aligned", (6, 6), 2, 12, seed=3)

    def model():
        return snn.SNNFactorization(
            (6, 6), (1,), init="spectral", init_scale=0.5, problem=p, seed=0
        )

    flow = theory.gradient_flow(model(), p, t_max=20.0, n_eval=11)
    gaps = []
    for lr in (0.1, 0.01):
        res = snn.fit(model(), p, lr, int(20.0 / lr), record_every=int(2.0 / lr))
        gaps.append(np.abs(np.array(res.column("train_loss")) - flow["loss"]).max())
    assert gaps[1] < gaps[0] / 5  # GD -> flow as lr -> 0 (first order in lr)
    assert flow["loss"][-1] < flow["loss"][0]


# ----------------------------------------------------------------------------- honest solvers


@pytest.fixture(scope="module")
def gaussian10():
    return snn.make_problem("gaussian", (10, 10), 2, 40, noise=0.01, seed=0)


def test_admm_stopped_early_warns_and_says_not_converged(gaussian10):
    X, info = theory.min_nuclear_norm(gaussian10, method="admm", return_info=True)
    assert info.converged and info.status == "optimal" and info.residual < 1e-8
    assert 1 < info.iterations < 20_000
    with pytest.warns(ConvergenceWarning, match="admm solver did not converge.*'max_iter'"):
        _, info3 = theory.min_nuclear_norm(gaussian10, method="admm", max_iter=3, return_info=True)
    assert not info3.converged and info3.status == "max_iter" and info3.iterations == 3
    assert info3.residual > 1e-3
    # the early stop is really worse: a larger nuclear norm than the converged minimiser
    assert info3.nuclear_norm > info.nuclear_norm * 1.1
    assert info.nuclear_norm == pytest.approx(snn.nuclear_norm(X).item(), rel=1e-12)


def test_scs_inaccurate_is_reported_not_returned_as_solved(gaussian10, monkeypatch):
    import cvxpy as cp

    _, info = theory.min_nuclear_norm(gaussian10, return_info=True)
    assert info.method == "cvxpy" and info.converged and info.status == "optimal"
    solve = cp.Problem.solve

    def starved(self, *args, **kwargs):  # SCS with 3 iterations: "optimal_inaccurate"
        return solve(self, *args, **{**kwargs, "max_iters": 3})

    monkeypatch.setattr(cp.Problem, "solve", starved)
    with pytest.warns(ConvergenceWarning, match="optimal_inaccurate"):
        _, bad = theory.min_nuclear_norm(gaussian10, method="cvxpy", return_info=True)
    assert not bad.converged and bad.status == "optimal_inaccurate" and bad.iterations == 3
    assert bad.feasibility > 1e-3


def test_exact_kkt_is_really_exact_and_its_fallback_is_labelled(gaussian10, monkeypatch):
    import cvxpy as cp

    X = theory.min_nuclear_norm(gaussian10)
    fast = theory.kkt_certificate(X, gaussian10)
    exact = theory.kkt_certificate(X, gaussian10, method="exact")
    assert (fast.method, fast.status) == ("lstsq", "least-squares")
    assert (exact.method, exact.status) == ("exact", "optimal") and exact.holds
    # the exact dual minimises the normal norm: strictly below the least-squares dual's here
    assert exact.normal_norm < fast.normal_norm - 1e-3

    def broken(self, *args, **kwargs):
        raise cp.error.SolverError("simulated failure")

    monkeypatch.setattr(cp.Problem, "solve", broken)
    with pytest.warns(ConvergenceWarning, match="exact .* dual solve failed"):
        fb = theory.kkt_certificate(X, gaussian10, method="exact")
    assert fb.method == "lstsq-fallback" and fb.status.startswith("solver error")
    assert fb.normal_norm == pytest.approx(fast.normal_norm, rel=1e-9)


def test_exact_kkt_refutes_a_non_optimal_point(gaussian10):
    F = theory.min_frobenius_interpolant(gaussian10)
    cert = theory.kkt_certificate(F, gaussian10, method="exact", rank_tol=1e-6)
    assert cert.method == "exact" and not cert.holds


def test_kkt_aligned_method(underdetermined):
    X, info = theory.min_nuclear_norm(underdetermined, return_info=True)
    assert info.method == "lp" and info.converged and info.status == "optimal"
    cert = theory.kkt_certificate(X, underdetermined, method="aligned")
    assert cert.holds and (cert.method, cert.status) == ("aligned-lp", "optimal")
    # the dual really certifies: S^T nu is sign(x) on the support and at most 1 off it
    op = underdetermined.operator
    x = op.coordinates(X)
    z = op.S.mT @ cert.dual
    supp = x.abs() > 1e-3 * x.abs().max()
    torch.testing.assert_close(z[supp], torch.sign(x[supp]), rtol=0, atol=1e-8)
    assert z[~supp].abs().max() <= 1 + 1e-8
    # a non-aligned X: refused as aligned, with a warning, and labelled for what was used
    noisy = X + 1e-2 * torch.randn(
        X.shape, generator=torch.Generator().manual_seed(0), dtype=X.dtype
    )
    with pytest.warns(ConvergenceWarning, match="not aligned"):
        other = theory.kkt_certificate(noisy, underdetermined, method="aligned")
    assert other.method == "lstsq"


def test_kkt_aligned_proves_a_wrong_sign_pattern_is_not_optimal(underdetermined):
    F = theory.min_frobenius_interpolant(underdetermined)
    cert = theory.kkt_certificate(F, underdetermined, method="aligned")
    assert not cert.holds and cert.method == "aligned-lp"
    assert cert.status in ("infeasible", "optimal")
    if cert.status == "optimal":  # a dual exists for the support but violates |.| <= 1
        assert cert.normal_norm > 1


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"method": "admmm"}, "method"),
        ({"tol": 0.0}, "tol"),
        ({"tol": float("nan")}, "tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"max_iter": 2.5}, "max_iter"),
        ({"return_info": "yes"}, "return_info"),
    ],
)
def test_min_nuclear_norm_refuses_bad_arguments(underdetermined, kwargs, name):
    with pytest.raises((ValueError, TypeError), match=f"'{name}' parameter of min_nuclear_norm"):
        theory.min_nuclear_norm(underdetermined, **kwargs)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"method": "exactly"}, "method"),
        ({"rank_tol": 0.0}, "rank_tol"),
        ({"tol": -1.0}, "tol"),
    ],
)
def test_kkt_certificate_refuses_bad_arguments(underdetermined, kwargs, name):
    X = theory.min_nuclear_norm(underdetermined)
    with pytest.raises((ValueError, TypeError), match=f"'{name}' parameter of kkt_certificate"):
        theory.kkt_certificate(X, underdetermined, **kwargs)


def test_public_theory_functions_refuse_bad_arguments(underdetermined):
    X = theory.min_nuclear_norm(underdetermined)
    for func in (theory.projected_y, theory.min_frobenius_interpolant, theory.min_nuclear_norm):
        with pytest.raises(TypeError, match="'problem' parameter of .* must be a Problem"):
            func({"A": 1})
    with pytest.raises(TypeError, match="'X' parameter of kkt_certificate"):
        theory.kkt_certificate(X.numpy(), underdetermined)
    with pytest.raises(
        ValueError,
        match=r"'X' parameter of kkt_certificate must have the "
        r"problem's shape \(10, 10\)",
    ):
        theory.kkt_certificate(X[:, :9], underdetermined)
    with pytest.raises(ValueError, match="'X' parameter of kkt_certificate must be finite"):
        theory.kkt_certificate(X * float("nan"), underdetermined)
    gaussian = snn.make_problem("gaussian", (4, 4), 1, 8)
    with pytest.raises(
        ValueError, match="'method' parameter of kkt_certificate can be 'aligned' only"
    ):
        theory.kkt_certificate(torch.zeros(4, 4, dtype=torch.float64), gaussian, method="aligned")
    with pytest.raises(ValueError, match=r"'losses' parameter of fit_rate must have shape"):
        theory.fit_rate([0, 1, 2], [1.0, 0.5])
    with pytest.raises(ValueError, match="'floor' parameter of fit_rate"):
        theory.fit_rate([0, 1, 2], [1.0, 0.5, 0.2], floor=float("inf"))
    model = snn.SNNFactorization((10, 10), (1,), init="spectral", problem=underdetermined)
    for kwargs, name in (
        ({"t_max": 0.0}, "t_max"),
        ({"t_max": 1.0, "n_eval": 1}, "n_eval"),
        ({"t_max": 1.0, "method": "euler"}, "method"),
        ({"t_max": 1.0, "rtol": -1.0}, "rtol"),
    ):
        with pytest.raises(ValueError, match=f"'{name}' parameter of gradient_flow"):
            theory.gradient_flow(model, underdetermined, **kwargs)
    with pytest.raises(ValueError, match="'model' parameter of gradient_flow must admit"):
        theory.gradient_flow(snn.SNNFactorization((10, 10), (1,)), underdetermined, 1.0)


def test_fast_certificate_needs_the_normal_bound():
    """A point that fits the data and solves the tangent equation still fails the (fast, only
    sufficient) certificate when its dual's normal part has spectral norm above 1: ``holds``
    requires ``normal_norm <= 1 + tol`` as well as the other two conditions."""
    p = snn.make_problem("gaussian", (6, 6), 1, 20, seed=0)
    X = theory.min_nuclear_norm(p)
    cert = theory.kkt_certificate(X, p)
    assert cert.feasibility <= 1e-3 and cert.tangent_residual <= 1e-3
    assert cert.normal_norm > 1.05
    assert not cert.holds
