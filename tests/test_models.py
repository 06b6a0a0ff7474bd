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
        snn.SNNFactorization((8, 6), init="spectral",
                             problem=snn.make_problem("gaussian", (8, 6), 2, 10))


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
