import itertools

import pytest
import torch

import spectralnn as snn
from spectralnn.functional import spectral_apply, spectral_network

from conftest import finite_difference_grad


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


# ----------------------------------------------------------------------------- fused network
# spectral_network (what SNN, SNNLayer and SNNBlock run) is one autograd node for all layers;
# it must equal the composition of spectral_apply and the alpha mixing, values and gradients.


def _unfused(X, alphas, fn):
    for alpha in alphas:
        X = torch.einsum("...kj,...kab->...jab", alpha, spectral_apply(X, fn))
    return X


def _alphas(widths, gen, runs=()):
    sizes = (*widths, 1)
    return [
        torch.rand(*runs, a, b, generator=gen, dtype=torch.float64)
        for a, b in itertools.pairwise(sizes)
    ]


def _values_and_grads(f, X, alphas, W):
    X = X.detach().clone().requires_grad_()
    alphas = [a.detach().clone().requires_grad_() for a in alphas]
    out = f(X, alphas)
    (out * W).sum().backward()
    return out.detach(), X.grad, [a.grad for a in alphas]


CASES = [  # widths, batch dimensions of X, runs dimensions of alpha, (d1, d2)
    ((2, 2, 2, 2), (), (), (10, 10)),
    ((2, 2, 2, 2), (3,), (3,), (6, 6)),  # runs: alpha (R, K_in, K_out)
    ((4, 8, 16), (), (), (7, 5)),  # tall
    ((3, 1), (2,), (), (4, 9)),  # wide, batch shared alphas
    ((1,), (), (), (5, 3)),
    ((2, 3), (2, 3), (3,), (5, 6)),  # two leading dims, alphas broadcast
]


@pytest.mark.parametrize("widths,batch,runs,shape", CASES)
@pytest.mark.parametrize("fn", ["tanh", "sin", "sigmoid_centered"])
def test_fused_network_equals_layer_by_layer(widths, batch, runs, shape, fn, gen):
    X = torch.randn(*batch, widths[0], *shape, generator=gen, dtype=torch.float64)
    alphas = _alphas(widths, gen, runs)
    W = torch.randn(*batch, 1, *shape, generator=gen, dtype=torch.float64)
    fused = _values_and_grads(lambda Z, al: spectral_network(Z, al, fn), X, alphas, W)
    ref = _values_and_grads(lambda Z, al: _unfused(Z, al, fn), X, alphas, W)
    torch.testing.assert_close(fused[0], ref[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused[1], ref[1], rtol=1e-12, atol=1e-12)
    for ga, gr in zip(fused[2], ref[2]):
        torch.testing.assert_close(ga, gr, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(6, 6), (6, 4), (3, 5)])
def test_fused_network_at_degenerate_inputs(shape, gen):
    """Identity-like, zero and rank-deficient inputs: finite, equal to the unfused path and to
    central finite differences (autograd through the SVD is NaN at the first two)."""
    d1, d2 = shape
    low = torch.randn(d1, 1, generator=gen, dtype=torch.float64) @ torch.randn(
        1, d2, generator=gen, dtype=torch.float64
    )
    eye = 1e-4 * torch.eye(d1, d2, dtype=torch.float64)
    X = torch.stack([eye, torch.zeros(d1, d2, dtype=torch.float64), low, eye])
    alphas = _alphas((4, 3, 2), gen)
    W = torch.randn(1, d1, d2, generator=gen, dtype=torch.float64)
    fused = _values_and_grads(lambda Z, al: spectral_network(Z, al, "tanh"), X, alphas, W)
    ref = _values_and_grads(lambda Z, al: _unfused(Z, al, "tanh"), X, alphas, W)
    assert torch.isfinite(fused[1]).all()
    torch.testing.assert_close(fused[1], ref[1], rtol=1e-12, atol=1e-12)
    for ga, gr in zip(fused[2], ref[2]):
        torch.testing.assert_close(ga, gr, rtol=1e-12, atol=1e-12)
    fd = finite_difference_grad(lambda Z: spectral_network(Z, alphas, "tanh"), X, W)
    assert (fused[1] - fd).norm() / fd.norm() < 1e-7


def test_fused_network_gradcheck(gen):
    X = torch.randn(2, 2, 4, 3, generator=gen, dtype=torch.float64).requires_grad_()
    alphas = [a.requires_grad_() for a in _alphas((2, 3), gen, (2,))]
    assert torch.autograd.gradcheck(
        lambda Z, a, b: spectral_network(Z, [a, b], "tanh"), (X, *alphas), atol=1e-6, rtol=1e-5
    )


def test_fused_network_gradients_only_where_asked(gen):
    X = torch.randn(2, 5, 5, generator=gen, dtype=torch.float64)  # no grad
    alphas = _alphas((2, 2), gen)
    alphas[0].requires_grad_()
    spectral_network(X, alphas, "tanh").sum().backward()
    assert alphas[0].grad is not None and alphas[1].grad is None


def test_snn_modules_run_the_fused_network(gen):
    net = snn.SNN((2, 3), "tanh", generator=gen, dtype=torch.float64, runs=4)
    X = torch.randn(4, 2, 5, 3, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(
        net(X),
        _unfused(X, [la.alpha for la in net.layers], "tanh").squeeze(-3),
        rtol=1e-12,
        atol=1e-12,
    )
    with torch.no_grad():
        assert net(X).shape == (4, 5, 3)


def test_spectral_network_rejects_bad_alphas(gen):
    X = torch.randn(2, 4, 4, generator=gen)
    with pytest.raises(
        ValueError,
        match=r"'alphas' parameter of spectral_network.*entry 1 "
        r"should have K_in = 3. Got \(2, 1\) instead",
    ):
        spectral_network(X, [torch.rand(2, 3), torch.rand(2, 1)])
    with pytest.raises(ValueError, match="entry 0"):
        spectral_network(X, [torch.rand(3)])
    with pytest.raises(ValueError, match="must be finite"):
        spectral_network(torch.full((2, 4, 4), float("nan")), [torch.rand(2, 1)])


def test_fused_network_frees_its_saved_tensors_and_guards_alphas(gen):
    X = torch.randn(2, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    alphas = [a.requires_grad_() for a in _alphas((2, 2), gen)]
    out = spectral_network(X, alphas, "tanh")
    out.sum().backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        out.sum().backward()  # the SVDs of every layer were released after the first
    out = spectral_network(X, alphas, "tanh")
    with torch.no_grad():
        alphas[1].add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


# --------------------------------------------------------------------------- the Gram route
ROUTE_CASES = [  # widths, batch, runs, shape: square, tall, wide, runs, one layer
    ((2, 2, 2, 2), (), (), (10, 10)),
    ((4, 8, 16), (), (), (7, 5)),
    ((3, 1), (2,), (), (4, 9)),
    ((2, 3), (2, 3), (3,), (5, 6)),
    ((1,), (), (), (5, 3)),
]


@pytest.mark.parametrize("widths,batch,runs,shape", ROUTE_CASES)
@pytest.mark.parametrize("fn", ["tanh", "sin", "softsign", "identity"])
def test_gram_route_equals_svd_route_and_layer_by_layer(widths, batch, runs, shape, fn, gen):
    """The Gram route (X h(X^T X), one eigh) against the SVD route and against composing
    spectral_apply (SVD) layer by layer: values and all gradients."""
    X = torch.randn(*batch, widths[0], *shape, generator=gen, dtype=torch.float64)
    alphas = _alphas(widths, gen, runs)
    W = torch.randn(*batch, 1, *shape, generator=gen, dtype=torch.float64)
    got = {
        r: _values_and_grads(lambda Z, al, r=r: spectral_network(Z, al, fn, route=r), X, alphas, W)
        for r in ("gram", "svd")
    }
    ref = _values_and_grads(lambda Z, al: _unfused(Z, al, fn), X, alphas, W)
    for r in ("gram", "svd"):
        torch.testing.assert_close(got[r][0], ref[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(got[r][1], ref[1], rtol=1e-11, atol=1e-12)
        for ga, gr in zip(got[r][2], ref[2]):
            torch.testing.assert_close(ga, gr, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("shape", [(6, 6), (6, 4), (3, 5)])
@pytest.mark.parametrize("fn", ["tanh", "soft_threshold", "sigmoid_centered"])
def test_gram_route_at_degenerate_inputs(shape, fn, gen):
    """Identity-like (all singular values equal), zero, rank-one and repeated-singular-value
    inputs: the Gram route is finite and equals the SVD route and central finite differences."""
    d1, d2 = shape
    low = torch.randn(d1, 1, generator=gen, dtype=torch.float64) @ torch.randn(
        1, d2, generator=gen, dtype=torch.float64
    )
    eye = 1e-4 * torch.eye(d1, d2, dtype=torch.float64)
    Q = torch.linalg.qr(torch.randn(d1, d1, generator=gen, dtype=torch.float64)).Q
    rep = Q @ torch.eye(d1, d2, dtype=torch.float64) * 0.7  # orthogonal-like: s all 0.7
    X = torch.stack([eye, torch.zeros(d1, d2, dtype=torch.float64), low, rep])
    alphas = _alphas((4, 3, 2), gen)
    W = torch.randn(1, d1, d2, generator=gen, dtype=torch.float64)
    gram = _values_and_grads(lambda Z, al: spectral_network(Z, al, fn, route="gram"), X, alphas, W)
    svd = _values_and_grads(lambda Z, al: spectral_network(Z, al, fn, route="svd"), X, alphas, W)
    assert all(torch.isfinite(t).all() for t in (gram[0], gram[1], *gram[2]))
    torch.testing.assert_close(gram[0], svd[0], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(gram[1], svd[1], rtol=1e-11, atol=1e-12)
    for ga, gr in zip(gram[2], svd[2]):
        torch.testing.assert_close(ga, gr, rtol=1e-11, atol=1e-12)
    if fn != "soft_threshold":  # (its kink at s = 0.1 is not under the inputs here, but the
        # finite difference of a piecewise map is only checked where it is smooth)
        fd = finite_difference_grad(lambda Z: spectral_network(Z, alphas, fn, route="gram"), X, W)
        assert (gram[1] - fd).norm() / fd.norm() < 1e-7


def test_gram_route_gradcheck(gen):
    X = torch.randn(2, 2, 4, 3, generator=gen, dtype=torch.float64).requires_grad_()
    alphas = [a.requires_grad_() for a in _alphas((2, 3), gen, (2,))]
    assert torch.autograd.gradcheck(
        lambda Z, a, b: spectral_network(Z, [a, b], "tanh", route="gram"),
        (X, *alphas),
        atol=1e-6,
        rtol=1e-5,
    )


@pytest.mark.parametrize("top", [1.0, 10.0, 1e3])
def test_gram_route_with_widely_spread_singular_values(top, gen):
    """Singular values from ``top`` down to 1e-8: the Gram route stays within
    ``16 eps top^2`` of the SVD route (its stated roundoff: the Gram matrix carries an absolute
    error ``eps ||X||^2``; Note [Gram route]), i.e. 1e-13 at the scale of the paper's runs."""
    Q1 = torch.linalg.qr(torch.randn(8, 8, generator=gen, dtype=torch.float64)).Q
    Q2 = torch.linalg.qr(torch.randn(8, 8, generator=gen, dtype=torch.float64)).Q
    s = torch.logspace(torch.log10(torch.tensor(top)).item(), -8, 8, dtype=torch.float64)
    X = (Q1 * s) @ Q2.mT
    X = torch.stack([X, X.mT])
    alphas = _alphas((2, 2), gen)
    W = torch.randn(1, 8, 8, generator=gen, dtype=torch.float64)
    out = {
        r: _values_and_grads(
            lambda Z, al, r=r: spectral_network(Z, al, "tanh", route=r), X, alphas, W
        )
        for r in ("gram", "svd")
    }
    bound = 16 * torch.finfo(torch.float64).eps * max(top, 1.0) ** 2
    assert (out["gram"][0] - out["svd"][0]).abs().max() < bound
    assert (out["gram"][1] - out["svd"][1]).abs().max() < bound * out["svd"][1].abs().max()


def test_route_is_validated():
    X = torch.randn(2, 3, 3, dtype=torch.float64)
    alphas = [torch.ones(2, 1, dtype=torch.float64)]
    with pytest.raises(ValueError, match="'route'.*'cholesky'"):
        spectral_network(X, alphas, "tanh", route="cholesky")
    with pytest.raises(ValueError, match="'route'.*f\\(0\\) != 0"), pytest.warns(UserWarning):
        spectral_network(X, alphas, "sigmoid", route="gram")
