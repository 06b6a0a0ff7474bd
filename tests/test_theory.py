import numpy as np
import pytest
import torch

import spectralnn as snn
from spectralnn import theory


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
    model = snn.SNNFactorization((10, 10), (1,), init="spectral", init_scale=1e-3,
                                 problem=underdetermined, seed=0)
    res = snn.fit(model, underdetermined, 0.5, 12000)
    assert res.method == "reduced"
    assert _rel(res.X, X_star) < 1e-2
    cert = theory.kkt_certificate(res.X, underdetermined)
    assert cert.holds and cert.normal_norm < 1
    frob = theory.kkt_certificate(theory.min_frobenius_interpolant(underdetermined),
                                  underdetermined)
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
        return snn.SNNFactorization((7, 6), widths, init="spectral", init_scale=0.5,
                                    problem=p, seed=1)

    full_model, red_model = model(), model()
    full = snn.fit(full_model, p, 0.05, 300, method="full", record_every=20)
    red = snn.fit(red_model, p, 0.05, 300, method="reduced", record_every=20)
    assert full.method == "full" and red.method == "reduced"
    torch.testing.assert_close(red.X, full.X, rtol=0, atol=1e-10)
    for key in ("train_loss", "test_loss", "rel_error", "nuclear_norm", "grad_norm"):
        np.testing.assert_allclose(red.column(key)[:-1] if key == "grad_norm" else
                                   red.column(key), full.column(key)[:-1] if key == "grad_norm"
                                   else full.column(key), rtol=1e-9, atol=1e-12)
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
        return snn.SNNFactorization((6, 6), (1,), init="spectral", init_scale=0.5, problem=p,
                                    seed=0)

    flow = theory.gradient_flow(model(), p, t_max=20.0, n_eval=11)
    gaps = []
    for lr in (0.1, 0.01):
        res = snn.fit(model(), p, lr, int(20.0 / lr), record_every=int(2.0 / lr))
        gaps.append(np.abs(np.array(res.column("train_loss")) - flow["loss"]).max())
    assert gaps[1] < gaps[0] / 5  # GD -> flow as lr -> 0 (first order in lr)
    assert flow["loss"][-1] < flow["loss"][0]
