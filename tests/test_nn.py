import pytest
import torch

import spectralnn as snn
from spectralnn.functional import spectral_apply


def test_spectral_activation_module_equals_functional(gen):
    X = torch.randn(3, 4, 5, generator=gen)
    mod = snn.SpectralActivation("sin")
    torch.testing.assert_close(mod(X), spectral_apply(X, "sin"))
    assert "fn='sin'" in repr(mod)


def test_block_is_weighted_sum_of_spectral_maps(gen):
    block = snn.SNNBlock(3, "tanh", generator=gen, dtype=torch.float64)
    X = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64)
    out = block(X)
    assert out.shape == (2, 4, 5)
    expected = sum(block.alpha[k, 0] * spectral_apply(X[:, k], "tanh") for k in range(3))
    torch.testing.assert_close(out, expected)
    assert sum(p.numel() for p in block.parameters()) == 3


def test_layer_shapes_and_parameters(gen):
    layer = snn.SNNLayer(2, 5, "tanh", generator=gen)
    X = torch.randn(7, 2, 3, 6, generator=gen)
    assert layer(X).shape == (7, 5, 3, 6)
    assert layer.alpha.shape == (2, 5)
    assert ((0 <= layer.alpha) & (layer.alpha <= 1)).all()  # alpha ~ U(0, 1)
    with pytest.raises(ValueError, match=r"must have shape \(\.\.\., 2, d1, d2\)"):
        layer(torch.randn(3, 3, 6))


def test_snn_depth_widths_and_batching(gen):
    net = snn.SNN((2, 2, 2, 2), "tanh", generator=gen, dtype=torch.float64)
    assert len(net.layers) == 4
    assert [tuple(layer.alpha.shape) for layer in net.layers] == [(2, 2)] * 3 + [(2, 1)]
    assert sum(p.numel() for p in net.parameters()) == 14
    X = torch.randn(3, 2, 5, 4, generator=gen, dtype=torch.float64)
    out = net(X)
    assert out.shape == (3, 5, 4)
    for i in range(3):
        torch.testing.assert_close(out[i], net(X[i]))


def test_snn_gradients_finite_at_identity_like_inputs():
    net = snn.SNN((2, 3), "tanh", generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    X = (1e-4 * torch.eye(5, dtype=torch.float64)).expand(2, 5, 5).clone().requires_grad_()
    net(X).sum().backward()
    assert torch.isfinite(X.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


def test_snn_rejects_bad_widths():
    with pytest.raises(ValueError, match="'widths' parameter of SNN"):
        snn.SNN((), "tanh")
    with pytest.raises(ValueError, match=r"'widths' parameter of SNN must be an int in the range"):
        snn.SNN((2, 0), "tanh")
