"""Shared analytic problems and helpers (see STYLE.md rule 12)."""

import pytest
import torch

import spectralnn as snn

# Per-dtype tolerances for identities that should hold to rounding.
TOL = {torch.float32: 1e-4, torch.float64: 1e-10}


def finite_difference_grad(fn, X, W, eps=1e-6):
    """Central differences of <fn(X), W> w.r.t. every entry of X (float64)."""
    g = torch.zeros_like(X)
    flat = g.view(-1)
    for i in range(X.numel()):
        E = torch.zeros_like(X).view(-1)
        E[i] = eps
        E = E.view_as(X)
        flat[i] = ((fn(X + E) * W).sum() - (fn(X - E) * W).sum()) / (2 * eps)
    return g


def random_orthogonal(n, generator, dtype=torch.float64):
    return torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=dtype)).Q


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def small_gaussian_problem():
    return snn.make_problem("gaussian", (8, 8), 1, 40, seed=3)
