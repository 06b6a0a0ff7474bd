import warnings

import pytest
import torch

import spectralnn as snn

from conftest import TOL, finite_difference_grad, random_orthogonal

ODD = ["tanh", "sin", "softsign", "sigmoid_centered", "identity"]


def _degenerate_points(gen):
    d = torch.float64
    low_rank = torch.randn(6, 2, generator=gen, dtype=d) @ torch.randn(2, 4, generator=gen, dtype=d)
    repeated = torch.diag(torch.tensor([0.7, 0.7, 0.3, 0.0], dtype=d))
    return {
        "zero": torch.zeros(5, 5, dtype=d),
        "0.1I": 0.1 * torch.eye(5, dtype=d),
        "1e-4I": 1e-4 * torch.eye(6, dtype=d),
        "rank2_tall": low_rank,
        "rank2_wide": low_rank.mT.contiguous(),
        "repeated": repeated,
        "generic_tall": torch.randn(5, 3, generator=gen, dtype=d),
        "generic_wide": torch.randn(2, 5, generator=gen, dtype=d),
    }


@pytest.mark.parametrize("fn", ["tanh", "sin", "sigmoid_centered"])
def test_backward_matches_finite_differences_at_degenerate_points(fn, gen):
    for name, X in _degenerate_points(gen).items():
        W = torch.randn(X.shape, generator=gen, dtype=X.dtype)
        Xg = X.clone().requires_grad_()
        (snn.spectral_apply(Xg, fn) * W).sum().backward()
        fd = finite_difference_grad(lambda Z: snn.spectral_apply(Z, fn), X, W)
        assert torch.isfinite(Xg.grad).all(), name
        err = (Xg.grad - fd).norm() / fd.norm()
        assert err < 1e-7, f"{fn} at {name}: relative error {err:.2e}"


def test_autograd_through_svd_is_nan_where_ours_is_finite():
    X = (1e-4 * torch.eye(4, dtype=torch.float64)).requires_grad_()
    U, s, Vh = torch.linalg.svd(X)
    ((U * torch.tanh(s)) @ Vh).sum().backward()
    assert not torch.isfinite(X.grad).all()  # the failure spectralnn exists to avoid
    Y = (1e-4 * torch.eye(4, dtype=torch.float64)).requires_grad_()
    snn.spectral_apply(Y, "tanh").sum().backward()
    assert torch.isfinite(Y.grad).all()


def test_gradcheck_generic_and_degenerate(gen):
    for X in [
        torch.randn(4, 3, generator=gen, dtype=torch.float64),
        torch.randn(2, 3, 5, generator=gen, dtype=torch.float64),
        0.1 * torch.eye(4, dtype=torch.float64),
    ]:
        assert torch.autograd.gradcheck(
            lambda Z: snn.spectral_apply(Z, "tanh"), (X.requires_grad_(),), atol=1e-6, rtol=1e-5
        )


def test_agrees_with_autograd_at_generic_points(gen):
    X = torch.randn(3, 6, 4, generator=gen, dtype=torch.float64).requires_grad_()
    G = torch.randn(3, 6, 4, generator=gen, dtype=torch.float64)
    (snn.spectral_apply(X, "sin") * G).sum().backward()
    Y = X.detach().clone().requires_grad_()
    U, s, Vh = torch.linalg.svd(Y, full_matrices=False)
    (((U * torch.sin(s).unsqueeze(-2)) @ Vh) * G).sum().backward()
    torch.testing.assert_close(X.grad, Y.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("fn", ODD)
def test_orthogonal_equivariance_and_transpose(fn, dtype, gen):
    X = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    P, Q = random_orthogonal(5, gen), random_orthogonal(3, gen)
    X, P, Q = X.to(dtype), P.to(dtype), Q.to(dtype)
    lhs = snn.spectral_apply(P @ X @ Q, fn)
    torch.testing.assert_close(
        lhs, P @ snn.spectral_apply(X, fn) @ Q, rtol=TOL[dtype], atol=TOL[dtype]
    )
    torch.testing.assert_close(
        snn.spectral_apply(X.mT, fn), snn.spectral_apply(X, fn).mT, rtol=TOL[dtype], atol=TOL[dtype]
    )


def test_identity_returns_input_and_prescribed_singular_values(gen):
    X = torch.randn(2, 4, 7, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(snn.spectral_apply(X, "identity"), X, rtol=1e-12, atol=1e-12)
    U = random_orthogonal(4, gen)[:, :3]
    V = random_orthogonal(3, gen)
    s = torch.tensor([3.0, 1.0, 0.25], dtype=torch.float64)
    Y = snn.spectral_apply((U * s) @ V.mT, "tanh")
    torch.testing.assert_close(torch.linalg.svdvals(Y), torch.tanh(s), rtol=1e-12, atol=1e-12)


def test_batched_equals_looped(gen):
    X = torch.randn(3, 2, 5, 4, generator=gen, dtype=torch.float64)
    batched = snn.spectral_apply(X, "tanh")
    for i in range(3):
        for j in range(2):
            torch.testing.assert_close(batched[i, j], snn.spectral_apply(X[i, j], "tanh"))


def test_float32_gradients_finite_at_init_point():
    X = (1e-4 * torch.eye(6)).requires_grad_()
    snn.spectral_apply(X, "tanh").sum().backward()
    torch.testing.assert_close(X.grad, torch.ones(6, 6), rtol=1e-4, atol=1e-4)


def test_bad_input_errors():
    with pytest.raises(TypeError, match="'X' parameter of spectral_apply must be a torch.Tensor"):
        snn.spectral_apply([[1.0]], "tanh")
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*Got shape \(3,\)"):
        snn.spectral_apply(torch.ones(3), "tanh")
    with pytest.raises(TypeError, match="floating dtype.*torch.int64"):
        snn.spectral_apply(torch.ones(3, 3, dtype=torch.long), "tanh")
    with pytest.raises(ValueError, match="must be finite.*1 non-finite"):
        snn.spectral_apply(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), "tanh")
    with pytest.raises(ValueError, match="'fn' parameter must be one of.*Got 'tahn'.*'tanh'"):
        snn.spectral_apply(torch.eye(2), "tahn")
    with pytest.raises(TypeError, match="'fn' parameter"):
        snn.spectral_apply(torch.eye(2), 3)


def test_plain_sigmoid_warns_and_is_discontinuous():
    with pytest.warns(UserWarning, match="discontinuous at every rank-deficient"):
        Y0 = snn.spectral_apply(torch.zeros(3, 3, dtype=torch.float64), "sigmoid")
    assert torch.allclose(torch.linalg.svdvals(Y0), torch.full((3,), 0.5, dtype=torch.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        snn.spectral_apply(torch.zeros(3, 3), "sigmoid_centered")  # odd: no warning


def test_register_custom_activation(gen):
    act = snn.register_activation(
        "test_cubic", lambda s: s + s**3, lambda s: 1 + 3 * s**2, overwrite=True
    )
    assert snn.ACTIVATIONS["test_cubic"] is act
    X = torch.randn(4, 4, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(snn.spectral_apply(X, "test_cubic"), X + X @ X.mT @ X)
    with pytest.raises(ValueError, match="already registered"):
        snn.register_activation("test_cubic", torch.sin, torch.cos)
    torch.testing.assert_close(
        snn.spectral_apply(X, (torch.sin, torch.cos)), snn.spectral_apply(X, "sin")
    )


def test_metrics_nuclear_norm_and_effective_rank():
    X = torch.diag(torch.tensor([2.0, 1.0, 1.0, 0.0], dtype=torch.float64))
    assert snn.nuclear_norm(X).item() == pytest.approx(4.0)
    p = torch.tensor([0.5, 0.25, 0.25])
    assert snn.effective_rank(X).item() == pytest.approx(torch.exp(-(p * p.log()).sum()).item())
    assert snn.effective_rank(torch.zeros(3, 3)).item() == 0.0
