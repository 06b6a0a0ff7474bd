import math

import pytest
import torch

import spectralnn as snn


def test_snn_factorization_identity_init_and_shapes():
    model = snn.SNNFactorization((6, 4), widths=(2, 2, 2, 2), init_scale=1e-4, seed=0)
    assert model.U.shape == (2, 6, 4) and model.V.shape == (2, 4, 4)
    torch.testing.assert_close(model.inputs()[0], 1e-8 * torch.eye(6, 4, dtype=torch.float64))
    assert model().shape == (6, 4)
    n_alpha = 3 * 4 + 2
    assert sum(p.numel() for p in model.parameters()) == 2 * (6 * 4 + 4 * 4) + n_alpha
    model().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("init", ["gaussian", "orthogonal"])
def test_random_inits_are_seeded(init):
    a = snn.SNNFactorization((5, 5), (2,), init=init, init_scale=0.1, seed=7)
    b = snn.SNNFactorization((5, 5), (2,), init=init, init_scale=0.1, seed=7)
    c = snn.SNNFactorization((5, 5), (2,), init=init, init_scale=0.1, seed=8)
    torch.testing.assert_close(a(), b())
    assert not torch.allclose(a(), c())


def test_orthogonal_init_is_scaled_orthonormal():
    m = snn.SNNFactorization((6, 3), (1,), init="orthogonal", init_scale=0.5)
    torch.testing.assert_close(m.U[0].mT @ m.U[0], 0.25 * torch.eye(3, dtype=torch.float64))


def test_spectral_init_is_aligned_with_the_measurements():
    p = snn.make_problem("aligned", (8, 6), 3, 20, seed=1)
    m = snn.SNNFactorization((8, 6), (2, 2), init="spectral", init_scale=1.0, problem=p)
    Phi, Psi = p.operator.Phi, p.operator.Psi
    for X in (*m.inputs(), m().detach()):
        assert snn.metrics.alignment(X, Phi, Psi) < 1e-12
    with pytest.raises(ValueError, match="needs an aligned problem"):
        snn.SNNFactorization(
            (8, 6), init="spectral", problem=snn.make_problem("gaussian", (8, 6), 2, 10)
        )


def test_baseline_models():
    free = snn.FreeMatrix((3, 4))
    assert torch.equal(free(), torch.zeros(3, 4, dtype=torch.float64))
    deep = snn.DeepFactorization((3, 4), depth=3, init_scale=0.1)
    assert [tuple(f.shape) for f in deep.factors] == [(3, 4), (4, 4), (4, 4)]
    torch.testing.assert_close(deep(), 1e-3 * torch.eye(3, 4, dtype=torch.float64))
    fac = snn.Factorization((3, 4), rank=2, init_scale=0.1)
    assert fac().shape == (3, 4) and fac.U.shape == (3, 2)


def test_make_model_and_errors():
    assert isinstance(snn.make_model("free", (2, 2), widths=(2,)), snn.FreeMatrix)
    with pytest.raises(ValueError, match="'model' parameter of make_model must be one of"):
        snn.make_model("snnn", (2, 2))
    with pytest.raises(ValueError, match="'init' parameter of SNNFactorization.*'identity'"):
        snn.SNNFactorization((2, 2), init="identiy")
    with pytest.raises(ValueError, match="'shape' parameter of FreeMatrix"):
        snn.FreeMatrix((2, 0))
    with pytest.raises(ValueError, match="'init_scale' parameter of SNNFactorization"):
        snn.SNNFactorization((2, 2), init_scale=-1.0)


def test_constructor_errors_name_the_argument():
    with pytest.raises(TypeError, match="'shape' parameter of FreeMatrix must be a pair"):
        snn.FreeMatrix(3)
    with pytest.raises(
        TypeError,
        match=r"'init_scal' parameter of make_model is not a known "
        r"keyword argument.*Did you mean 'init_scale'\?",
    ):
        snn.make_model("snn", (3, 3), init_scal=0.5)
    with pytest.raises(TypeError, match="'seed' parameter of SNNFactorization must be an int"):
        snn.SNNFactorization((2, 2), seed="abc")
    with pytest.raises(TypeError, match="'dtype' parameter of Factorization must be torch.float32"):
        snn.Factorization((2, 2), dtype=torch.float16)
    with pytest.raises(ValueError, match=r"'runs' parameter of DeepFactorization.*\[1, inf\]"):
        snn.DeepFactorization((2, 2), runs=0)
    # a keyword another model takes is dropped (one set of CLI options serves every model)
    assert snn.make_model("free", (2, 2), depth=3, widths=(2,)).shape == (2, 2)


def test_factorization_is_u_v_transpose():
    fac = snn.Factorization((4, 3), rank=2, init="gaussian", init_scale=0.5, seed=4)
    assert fac.U.shape == (4, 2) and fac.V.shape == (3, 2)
    X = fac()
    expected = torch.stack(
        [
            torch.stack([sum(fac.U[i, k] * fac.V[j, k] for k in range(2)) for j in range(3)])
            for i in range(4)
        ]
    )
    torch.testing.assert_close(X, expected, rtol=1e-14, atol=0)
    again = snn.Factorization((4, 3), rank=2, init="gaussian", init_scale=0.5, seed=4)
    assert torch.equal(again(), X)
    ident = snn.Factorization((4, 3), init_scale=0.1)  # rank min(d1, d2) = 3, c^2 I
    torch.testing.assert_close(ident(), 0.01 * torch.eye(4, 3, dtype=torch.float64))
    runs = snn.Factorization((4, 3), rank=2, init="gaussian", seed=4, init_scale=0.5, runs=3)
    Xr = runs().detach()
    assert Xr.shape == (3, 4, 3) and torch.equal(Xr[0], Xr[2])  # copies start equal
    torch.testing.assert_close(Xr[1], X.detach(), rtol=1e-14, atol=0)


def test_deep_factorization_is_the_product_of_its_factors():
    deep = snn.DeepFactorization((3, 2), depth=3, init="gaussian", init_scale=1.0, seed=0)
    W1, W2, W3 = (f.detach() for f in deep.factors)
    assert W1.shape == (3, 3) and W2.shape == (3, 3) and W3.shape == (3, 2)
    torch.testing.assert_close(deep().detach(), W1 @ W2 @ W3, rtol=1e-14, atol=0)


def test_float32_fit_follows_the_float64_trajectory():
    import copy

    p64 = snn.make_problem("gaussian", (6, 6), 1, 30, seed=1)
    m32 = snn.SNNFactorization((6, 6), (2,), init_scale=1e-2, seed=2, dtype=torch.float32)
    m64 = copy.deepcopy(m32).double()  # the same starting point (same alphas, U, V)
    r32 = snn.fit(m32, p64.to(torch.float32), 0.1, 300, record_every=50)
    r64 = snn.fit(m64, p64, 0.1, 300, record_every=50)
    assert r32.X.dtype == torch.float32 and r64.X.dtype == torch.float64
    losses = r32.column("train_loss")
    assert all(map(math.isfinite, losses)) and losses[-1] < 1e-3 * losses[0]  # it learns
    torch.testing.assert_close(r32.X.double(), r64.X, rtol=0, atol=1e-5)
    assert r32.final["rel_error"] == pytest.approx(r64.final["rel_error"], rel=1e-4)


def test_fit_refuses_a_model_of_another_shape():
    p = snn.make_problem("gaussian", (2, 3), 1, 4, seed=0)
    with pytest.raises(ValueError, match=r"shape"):
        snn.fit(snn.FreeMatrix((3, 2)), p, 0.1, 5)
