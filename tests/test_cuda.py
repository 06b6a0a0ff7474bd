"""The CUDA path (skipped without a GPU): same numbers as the CPU, finite degenerate gradients."""

import pytest
import torch

import spectralnn as snn
from spectralnn.functional import _svd

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(5, 10, 10), (3, 28, 28), (300, 64, 64), (2, 96, 40)])
def test_spectral_apply_and_backward_match_cpu(shape, dtype):
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(shape, generator=gen, dtype=dtype)
    G = torch.randn(shape, generator=gen, dtype=dtype)
    out = {}
    for dev in ("cpu", "cuda"):
        Xd = X.detach().clone().to(dev).requires_grad_()
        y = snn.spectral_apply(Xd, "tanh")
        (y * G.to(dev)).sum().backward()
        out[dev] = (y.detach().cpu(), Xd.grad.cpu())
    tol = 1e-4 if dtype == torch.float32 else 1e-9
    torch.testing.assert_close(out["cuda"][0], out["cpu"][0], rtol=tol, atol=tol)
    torch.testing.assert_close(out["cuda"][1], out["cpu"][1], rtol=tol, atol=tol)


def test_svd_routes_give_a_valid_thin_svd():
    for n, batch in ((10, 7), (28, 4), (64, 300), (200, 3)):
        X = torch.randn(batch, n, n, device="cuda", dtype=torch.float64)
        U, s, Vh = _svd(X)
        assert U.is_cuda and s.is_cuda and Vh.is_cuda
        torch.testing.assert_close((U * s.unsqueeze(-2)) @ Vh, X, rtol=1e-9, atol=1e-9)


def test_identity_init_gradient_finite_on_cuda():
    X = (1e-4 * torch.eye(6, device="cuda", dtype=torch.float64)).requires_grad_()
    snn.spectral_apply(X, "tanh").sum().backward()
    torch.testing.assert_close(X.grad.cpu(), torch.ones(6, 6, dtype=torch.float64))


def test_fit_on_cuda_matches_cpu():
    p = snn.make_problem("gaussian", (8, 8), 2, 40, seed=0)
    res = {}
    for dev in ("cpu", "cuda"):
        model = snn.SNNFactorization((8, 8), (2, 2), init_scale=1e-3, seed=0, runs=2).to(dev)
        res[dev] = snn.fit_runs(model, p, [0.05, 0.02], 300)
    for a, b in zip(res["cpu"], res["cuda"]):
        torch.testing.assert_close(b.X.cpu(), a.X, rtol=1e-7, atol=1e-9)


def test_reduced_path_on_cuda():
    p = snn.make_problem("aligned", (8, 8), 3, 20, seed=0)
    model = snn.SNNFactorization(
        (8, 8), (2, 2), init="spectral", init_scale=0.5, problem=p, seed=0
    ).to("cuda")
    res = snn.fit(model, p, 0.01, 200)
    assert res.method == "reduced" and res.X.is_cuda and res.status == "max_steps"
