"""The hand-written full objective of an SNNFactorization equals autograd through the model."""

import pytest
import torch

import spectralnn as snn
from spectralnn._full import FullObjective, SNNFullObjective
from spectralnn._objective import make_objective

PROBLEMS = [
    ("gaussian", (10, 10), 3, 60),
    ("completion", (9, 7), 2, 40),
    ("rank_one", (6, 8), 2, 30),
    ("aligned", (8, 8), 3, 40),
]


@pytest.mark.parametrize("kind,shape,rank,m", PROBLEMS)
@pytest.mark.parametrize("widths,fn", [((2, 2, 2, 2), "tanh"), ((3, 1), "sin"), ((1,), "sigmoid")])
@pytest.mark.parametrize("runs", [None, 3])
def test_by_hand_equals_autograd(kind, shape, rank, m, widths, fn, runs):
    p = snn.make_problem(kind, shape, rank, m, seed=1)
    kw = {
        "widths": widths,
        "fn": fn,
        "init": "gaussian",
        "init_scale": 0.3,
        "seed": 2,
        "runs": runs,
    }
    with pytest.warns(UserWarning) if fn == "sigmoid" else _nothing():
        a, b = snn.SNNFactorization(shape, **kw), snn.SNNFactorization(shape, **kw)
    if runs:  # different copies, so that a run mix-up would show
        with torch.no_grad():
            for q in (a.U, b.U):
                q += 0.1 * torch.arange(runs, dtype=q.dtype)[:, None, None, None]
    ref, hand = FullObjective(a, p), SNNFullObjective(b, p)
    active = [True] * (runs or 1)
    if runs:
        active[1] = False
    torch.testing.assert_close(hand.evaluate(True), ref.evaluate(True), rtol=1e-13, atol=1e-15)
    for g_hand, g_ref in zip(hand.grads(active), ref.grads(active)):
        torch.testing.assert_close(g_hand, g_ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(hand.matrix(0), ref.matrix(0), rtol=1e-13, atol=1e-15)
    assert hand.record(0, None)["train_loss"] == pytest.approx(
        ref.record(0, None)["train_loss"], rel=1e-13
    )


def test_full_method_uses_it_for_snn_models_only():
    p = snn.make_problem("gaussian", (6, 6), 2, 30, seed=0)
    model = snn.SNNFactorization((6, 6), (2, 2), seed=0)
    assert isinstance(make_objective("full", model, p, "gd"), SNNFullObjective)
    free = snn.FreeMatrix((6, 6))
    assert type(make_objective("full", free, p, "gd")) is FullObjective


def test_fit_with_it_matches_autograd_over_a_trajectory():
    """200 GD steps of the Figure-3 setting (10 x 10, widths (2, 2, 2, 2)), by hand and by a
    plain autograd loop: the losses agree to 1e-10."""
    p = snn.make_problem("gaussian", (10, 10), 6, 75, noise=0.01, scale=10.0, seed=42)
    a = snn.SNNFactorization((10, 10), (2, 2, 2, 2), init="gaussian", init_scale=0.1, seed=0)
    b = snn.SNNFactorization((10, 10), (2, 2, 2, 2), init="gaussian", init_scale=0.1, seed=0)
    res = snn.fit(a, p, 1e-2, 200, method="full", record_every=200, progress=False)
    params = list(b.parameters())
    for _ in range(200):
        for q in params:
            q.grad = None
        p.loss(b()).backward()
        with torch.no_grad():
            for q in params:
                q -= 1e-2 * q.grad
    with torch.no_grad():
        final = p.loss(b()).item()
    assert res.final["train_loss"] == pytest.approx(final, rel=1e-10)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("runs", [None, 4])
def test_model_route_is_honoured_and_routes_agree(runs, monkeypatch):
    """``model.snn.route`` reaches both full objectives (the SVD route takes no eigh, the
    Gram route no SVD); the routes' losses and gradients agree to 1e-12, and a bad route is
    refused naming the parameter."""
    p = snn.make_problem("gaussian", (10, 10), 3, 60, seed=1)
    calls = {"svd": 0, "eigh": 0}
    for name in calls:
        real = getattr(torch.linalg, name)

        def counted(*a, _real=real, _name=name, **k):
            calls[_name] += 1
            return _real(*a, **k)

        monkeypatch.setattr(torch.linalg, name, counted)
    out = {}
    for route in ("svd", "gram"):
        for cls in (FullObjective, SNNFullObjective):
            model = snn.SNNFactorization(
                (10, 10), (2, 2), init="gaussian", init_scale=0.3, seed=2, runs=runs
            )
            model.snn.route = route
            obj = cls(model, p)
            calls.update(svd=0, eigh=0)
            out[route, cls] = (obj.evaluate(True), obj.grads([True] * (runs or 1)))
            assert calls == ({"svd": 2, "eigh": 0} if route == "svd" else {"svd": 0, "eigh": 2}), (
                route,
                cls,
            )
    ref = out["svd", FullObjective]
    for losses, grads in out.values():
        torch.testing.assert_close(losses, ref[0], rtol=1e-12, atol=0)
        for g, r in zip(grads, ref[1]):
            torch.testing.assert_close(g, r, rtol=1e-11, atol=1e-13)
    model = snn.SNNFactorization((10, 10), (2, 2), seed=0)
    with pytest.raises(ValueError, match="'route'.*'qr'"):
        model.snn.route = "qr"


def test_the_recipe_trains_tiny_matrices_on_the_full_path_with_the_same_iterates(monkeypatch):
    """Below ``FULL_BELOW`` the completion recipe takes the full path (cheaper there); forcing
    the factored path instead gives the same completion to roundoff, and a larger matrix keeps
    the factored path."""
    import warnings

    import numpy as np

    from spectralnn import _completion
    from spectralnn.recipe import complete

    real, used = _completion._method, []

    def spy(model, problem):
        used.append(real(model, problem))
        return used[-1]

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2)) @ rng.standard_normal((2, 10))
    M = np.where(rng.random(X.shape) < 0.8, X, np.nan)
    monkeypatch.setattr(_completion, "_method", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = complete(M, refine=False, folds=1, max_steps=150, column_scale=False)
    assert 40 * 10 * 10 < _completion.FULL_BELOW and set(used) == {"full"}
    monkeypatch.setattr(_completion, "_method", lambda model, problem: "factored")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        factored = complete(M, refine=False, folds=1, max_steps=150, column_scale=False)
    assert full.history[-1]["step"] == factored.history[-1]["step"]
    assert torch.allclose(full.X, factored.X, rtol=0, atol=1e-9 * float(full.X.abs().max()))

    used.clear()
    monkeypatch.setattr(_completion, "_method", spy)
    big = rng.standard_normal((60, 2)) @ rng.standard_normal((2, 40))  # 96,000: factored
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        complete(np.where(rng.random(big.shape) < 0.8, big, np.nan), refine=False, max_steps=5)
    assert set(used) == {"factored"}
