"""Conventions shared with the paper authors' code (issue 13, fidelity)."""

import pytest
import torch

import spectralnn as snn


def _ubar_vbar(model):
    Phi, Psi, G = model.spectral_basis
    ubar = torch.diagonal(Phi.mT @ model.U.detach() @ G.mT, dim1=-2, dim2=-1)
    vbar = torch.diagonal(Psi.mT @ model.V.detach() @ G.mT, dim1=-2, dim2=-1)
    return ubar, vbar


def test_spectral_init_orders_ubar_vbar_ascending_like_the_authors():
    p = snn.make_problem("aligned", (10, 10), 6, 75, seed=42, scale=10.0)
    m = snn.SNNFactorization(
        (10, 10), (2, 2, 2, 2), init="spectral", init_scale=1.0, problem=p, seed=42
    )
    assert m.spectral_order == "ascending"
    ubar, vbar = _ubar_vbar(m)
    r = p.operator.Phi.shape[-1]
    assert ubar.shape == vbar.shape == (2, r)
    assert torch.all(ubar.diff(dim=-1) > 0) and torch.all(vbar.diff(dim=-1) > 0)
    assert torch.all((ubar > 0) & (ubar < 1))
    # U_k really is Phi diag(ubar_k) G: nothing off the aligned basis
    Phi, _, G = m.spectral_basis
    assert torch.allclose(Phi @ torch.diag_embed(ubar) @ G, m.U.detach(), atol=1e-14)


def test_descending_order_is_an_option_with_the_same_values():
    p = snn.make_problem("aligned", (8, 8), 3, 20, seed=1)
    kw = {"widths": (2, 2), "init": "spectral", "init_scale": 0.5, "problem": p, "seed": 3}
    up, _ = _ubar_vbar(snn.SNNFactorization((8, 8), **kw))
    down, _ = _ubar_vbar(snn.SNNFactorization((8, 8), spectral_order="descending", **kw))
    assert torch.all(down.diff(dim=-1) < 0)
    assert torch.allclose(up, down.flip(-1), atol=1e-14)  # same draws, other order


def test_spectral_order_is_validated():
    with pytest.raises(ValueError, match="'spectral_order' parameter of SNNFactorization"):
        snn.SNNFactorization((4, 4), spectral_order="up")
