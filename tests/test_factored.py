"""The factored SNN path (MATH.md section 7) against the full path and finite differences."""

import numpy as np
import pytest
import torch

import spectralnn as snn
from spectralnn import _factored
from spectralnn._factored import factored_matrix
from spectralnn.sensing import AbstractOperator, Problem

CASES = {  # kind: (shape, measurements, lr, {init: init_scale})
    "completion": ((48, 40), 960, 500.0, {"gaussian": 0.1, "identity": 0.2}),
    "rank_one": ((30, 30), 120, 0.1, {"gaussian": 0.1, "identity": 0.3}),
}


@pytest.fixture(scope="module")
def problems():
    return {k: snn.make_problem(k, shape, 2, m, seed=0) for k, (shape, m, _, _) in CASES.items()}


def _model(shape, widths, init, scale, **kw):
    return snn.SNNFactorization(shape, widths, init=init, init_scale=scale, rank=4, seed=3, **kw)


@pytest.mark.parametrize("steps", [40, pytest.param(200, marks=pytest.mark.slow)])
@pytest.mark.parametrize("kind", sorted(CASES))
@pytest.mark.parametrize("widths", [(2, 3), (1,)])
@pytest.mark.parametrize("init", ["gaussian", "identity"])
def test_factored_equals_full(problems, kind, widths, init, steps):
    # The must-show runs 200 steps (-m slow); the default suite runs the first 40.
    shape, _, lr, scales = CASES[kind]
    p = problems[kind]
    full = snn.fit(
        _model(shape, widths, init, scales[init]), p, lr, steps, method="full", record_every=10
    )
    fac_model = _model(shape, widths, init, scales[init])
    fac = snn.fit(fac_model, p, lr, steps, method="factored", record_every=10)
    assert fac.method == "factored" and fac.status == full.status == "max_steps"
    assert fac.final["train_loss"] < fac.history[0]["train_loss"]  # it trains
    torch.testing.assert_close(fac.X, full.X, rtol=0, atol=1e-10)
    L, R = fac.factors
    torch.testing.assert_close(L @ R.mT, fac.X, rtol=0, atol=1e-14)
    for key in ("train_loss", "test_loss", "rel_error", "nuclear_norm", "erank", "grad_norm"):
        np.testing.assert_allclose(
            fac.column(key)[:-1], full.column(key)[:-1], rtol=1e-8, atol=1e-13, err_msg=key
        )
    sv_f, sv_full = fac.final["singular_values"], full.final["singular_values"]
    assert len(sv_f) == len(sv_full) == min(shape)
    np.testing.assert_allclose(sv_f, sv_full, atol=1e-12)
    # The trained state lives in the model itself: its dense forward is the result.
    with torch.no_grad():
        torch.testing.assert_close(fac_model(), fac.X, rtol=0, atol=1e-12)


def test_identity_like_init_gives_a_smaller_basis(problems):
    # L0 identical blocks U_k = c [I_p; 0]: the stacked factors have rank p, not L0 p.
    model = _model((48, 40), (3,), "identity", 0.2)
    obj = _factored.FactoredObjective(model, problems["completion"])
    Q1, Q2, C, _, _ = obj._network(need_grad=False)
    assert Q1.shape == (48, 4) and Q2.shape == (40, 4) and C.shape == (4, 4)
    torch.testing.assert_close(Q1.mT @ Q1, torch.eye(4, dtype=torch.float64))


def _loss_of(model, p):
    with torch.no_grad():
        return p.loss(model()).item()


@pytest.mark.parametrize("init", ["identity", "gaussian"])
def test_gradient_matches_finite_differences(init):
    p = snn.make_problem("completion", (7, 6), 2, 30, seed=1)
    model = snn.SNNFactorization((7, 6), (2, 2), init=init, init_scale=0.7, rank=2, seed=5)
    obj = _factored.FactoredObjective(model, p)
    obj.evaluate(need_grad=True)
    grads = dict(zip([id(q) for q in obj.params], obj.grads([True])))
    gU = grads[id(model.U)]
    h = 1e-6
    fd = torch.zeros_like(gU)
    with torch.no_grad():
        for idx in np.ndindex(*model.U.shape):
            old = model.U[idx].item()
            model.U[idx] = old + h
            up = _loss_of(model, p)
            model.U[idx] = old - h
            down = _loss_of(model, p)
            model.U[idx] = old
            fd[idx] = (up - down) / (2 * h)
    torch.testing.assert_close(gU, fd, rtol=1e-6, atol=1e-9 * fd.abs().max().item())


def test_basis_held_fixed_alone_is_not_the_gradient():
    # Why _factored.py carries the outside parts: autograd through the cores with the basis held
    # fixed returns Q1 Q1^T (dL/dU) only, far from the true gradient.
    p = snn.make_problem("completion", (48, 40), 2, 960, seed=0)
    ref = _model((48, 40), (2, 3), "gaussian", 0.5)
    p.loss(ref()).backward()
    model = _model((48, 40), (2, 3), "gaussian", 0.5)
    obj = _factored.FactoredObjective(model, p)
    Q1, Q2, C, _, _ = obj._network(need_grad=False)  # cores with the basis as a constant
    with torch.enable_grad():
        Q1, Q2, C, _, _ = obj._network(need_grad=False)
        loss = 0.5 * ((_factored.measure(p.operator, Q1 @ C, Q2) - p.y) ** 2).mean()
        (gU_fixed,) = torch.autograd.grad(loss, model.U)
    obj.evaluate(need_grad=True)
    (gU,) = [g for q, g in zip(obj.params, obj.grads([True])) if q is model.U]

    def rel(a):
        return ((a - ref.U.grad).norm() / ref.U.grad.norm()).item()

    assert rel(gU) < 1e-12 and rel(gU_fixed) > 0.1


def test_aligned_and_dense_operators_agree_with_full():
    for kind, shape in (("aligned", (20, 16)), ("gaussian", (12, 10))):
        p = snn.make_problem(kind, shape, 2, 40, seed=2)
        res = [
            snn.fit(
                snn.SNNFactorization(shape, (2,), init="gaussian", init_scale=0.3, rank=2, seed=1),
                p,
                0.05,
                40,
                method=meth,
                record_every=10,
            )
            for meth in ("full", "factored")
        ]
        torch.testing.assert_close(res[1].X, res[0].X, rtol=0, atol=1e-11)
        np.testing.assert_allclose(
            res[1].column("test_loss"), res[0].column("test_loss"), rtol=1e-9
        )


def test_batched_runs_factored_equals_full(problems):
    p = problems["completion"]

    def make(runs):
        return _model((48, 40), (2,), "gaussian", 0.1, runs=runs)

    full = snn.fit_runs(make(2), p, [500.0, 100.0], 60, method="full", record_every=20)
    fac = snn.fit_runs(make(2), p, [500.0, 100.0], 60, method="factored", record_every=20)
    for a, b in zip(full, fac):
        torch.testing.assert_close(b.X, a.X, rtol=0, atol=1e-11)
        np.testing.assert_allclose(
            b.column("grad_norm")[:-1], a.column("grad_norm")[:-1], rtol=1e-8
        )


def test_low_rank_truth_gives_the_dense_rel_error(problems):
    p = problems["completion"]
    U, s, Vh = torch.linalg.svd(p.X_true)
    lowrank = Problem(p.operator, p.y, None, p.test_operator, p.y_test)
    lowrank.X_true_factors = (U[:, :2] * s[:2], Vh[:2].mT)
    dense = snn.fit(_model((48, 40), (1,), "gaussian", 0.1), p, 500.0, 30, method="factored")
    fac = snn.fit(_model((48, 40), (1,), "gaussian", 0.1), lowrank, 500.0, 30, method="factored")
    np.testing.assert_allclose(fac.column("rel_error"), dense.column("rel_error"), rtol=1e-9)


def test_resume_of_a_factored_fit(problems, tmp_path):
    p, ckpt = problems["completion"], tmp_path / "ck.pt"
    straight = snn.fit(
        _model((48, 40), (2,), "gaussian", 0.1), p, 500.0, 40, method="factored", record_every=10
    )
    snn.fit(
        _model((48, 40), (2,), "gaussian", 0.1),
        p,
        500.0,
        20,
        method="factored",
        record_every=10,
        checkpoint=ckpt,
    )
    resumed = snn.fit(
        _model((48, 40), (2,), "gaussian", 0.1),
        p,
        500.0,
        40,
        method="factored",
        record_every=10,
        checkpoint=ckpt,
    )
    torch.testing.assert_close(resumed.X, straight.X, rtol=0, atol=0)
    with pytest.raises(
        ValueError, match="'checkpoint'.*method: checkpoint 'factored', this fit 'full'"
    ):
        snn.fit(
            _model((48, 40), (2,), "gaussian", 0.1), p, 500.0, 60, method="full", checkpoint=ckpt
        )


def test_auto_picks_factored_only_when_it_pays():
    p = snn.make_problem("completion", (96, 100), 2, 800, seed=0)
    small_rank = snn.fit(snn.SNNFactorization((96, 100), (1,), init="gaussian", rank=4), p, 1.0, 1)
    assert small_rank.method == "factored"
    q = snn.make_problem("completion", (12, 12), 2, 60, seed=0)
    assert snn.fit(snn.SNNFactorization((12, 12), (1,), rank=2), q, 1.0, 1).method == "full"


def test_bad_input_rank_and_operator():
    p = snn.make_problem("completion", (10, 8), 2, 40, seed=0)
    with pytest.raises(
        ValueError,
        match=r"'rank' p=3 .* L0 \* p = 3 \* 3 = 9 .*min\(d1, d2\) "
        r"= 8",
    ):
        snn.fit(snn.SNNFactorization((10, 8), (3,), rank=3), p, 0.1, 1, method="factored")

    class Shifted(AbstractOperator):  # a user operator: sum of entries, plus a shift
        kind = "shifted"
        shape = property(lambda self: (10, 8))
        m = property(lambda self: 1)

        def _apply(self, X):
            return X.sum((-2, -1)).unsqueeze(-1)

        def _adjoint(self, r):
            return r.unsqueeze(-1).expand(*r.shape[:-1], 10, 8)

        def arrays(self):
            return {}

        def to(self, *args, **kwargs):
            return self

        def _device(self):
            return torch.device("cpu")

    q = Problem(Shifted(), torch.zeros(1))
    with pytest.raises(ValueError, match="operator Shifted is not one the factored path"):
        snn.fit(snn.SNNFactorization((10, 8), (1,), rank=2), q, 0.1, 1, method="factored")
    with pytest.raises(
        ValueError, match="method='factored' does not apply: the model is a FreeMatrix"
    ):
        snn.fit(snn.FreeMatrix((10, 8)), p, 0.1, 1, method="factored")


@pytest.mark.parametrize("widths,p", [((2, 3), 4), ((1,), 6), ((2,), 12)])
def test_factored_matrix_equals_the_model(widths, p):
    """X through the cores equals model() (the full network) to 1e-12; None where the factored
    path does not apply (L0 p >= min(d), another model)."""
    model = snn.SNNFactorization((30, 24), widths, init="gaussian", init_scale=0.5, rank=p, seed=3)
    X = factored_matrix(model)
    if widths[0] * p >= 24:
        assert X is None
        return
    with torch.no_grad():
        ref = model()
    torch.testing.assert_close(X, ref, rtol=1e-12, atol=1e-14)
    assert factored_matrix(snn.FreeMatrix((30, 24))) is None
