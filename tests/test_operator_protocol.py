"""The operator protocol (issue 20, item 1): a new measurement operator is one subclass of
AbstractOperator, defined here and nowhere else, and it works with the full and factored fits,
the recipe, the ``.npz`` format and the theory checks."""

import numpy as np
import pytest
import torch

import spectralnn as snn
from spectralnn import theory
from spectralnn._factored import factored_unsupported
from spectralnn.errors import InputError
from spectralnn.recipe import curvature, fit_recipe, split
from spectralnn.sensing import AbstractOperator, register_operator


@register_operator
class RowSampleOperator(AbstractOperator):
    """Toy operator: ``y_i = <w_i, X[row_i, :]>``, i.e. ``A_i = e_{row_i} w_i^T``.

    It implements apply, adjoint, ``measure_low_rank`` (``O(m d2 k)``, no ``d1 x d2``
    product) and ``subset``; ``sq_norm_sum``, ``curvature``, ``holdout``, ``from_npz`` and the
    theory hooks are the generic defaults."""

    kind = "row_sample_toy"
    npz_keys = ("sample_rows", "weights", "n_rows")
    float_keys = ("weights",)

    def __init__(self, sample_rows, weights, n_rows):
        self.weights = torch.as_tensor(weights)  # (m, d2)
        self.sample_rows = torch.as_tensor(sample_rows).long().to(self.weights.device)
        self.n_rows = int(np.asarray(n_rows))
        if self.weights.ndim != 2 or self.sample_rows.shape != self.weights.shape[:1]:
            raise InputError("RowSampleOperator: need rows (m,) and weights (m, d2).")

    shape = property(lambda self: (self.n_rows, self.weights.shape[1]))
    m = property(lambda self: self.weights.shape[0])
    dtype = property(lambda self: self.weights.dtype)

    def _apply(self, X):
        return (X[..., self.sample_rows, :] * self.weights).sum(-1)

    def _adjoint(self, r):
        out = r.new_zeros(*r.shape[:-1], *self.shape)
        return out.index_add_(-2, self.sample_rows, r.unsqueeze(-1) * self.weights)

    def arrays(self):
        return {
            "sample_rows": self.sample_rows.cpu().numpy(),
            "weights": self.weights.cpu().numpy(),
            "n_rows": np.array(self.n_rows),
        }

    def to(self, *args, **kwargs):
        w = self.weights.to(*args, **kwargs)
        return RowSampleOperator(self.sample_rows, w, self.n_rows)

    def measure_low_rank(self, L, R):
        return (L[..., self.sample_rows, :] * (self.weights @ R)).sum(-1)

    def subset(self, idx):
        return RowSampleOperator(self.sample_rows[idx], self.weights[idx], self.n_rows)


def _toy_problem(shape=(12, 10), rank=1, m=70, m_test=30, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = snn.low_rank_target(shape, rank, psd=False, generator=gen)

    def op(k):
        rows = torch.randint(shape[0], (k,), generator=gen)
        return RowSampleOperator(
            rows, torch.randn(k, shape[1], generator=gen, dtype=X.dtype), shape[0]
        )

    train, test = op(m), op(m_test)
    return snn.Problem(train, train(X), X, test, test(X), {"kind": "toy", "seed": seed})


@pytest.fixture(scope="module")
def toy():
    return _toy_problem()


def test_the_toy_is_a_linear_operator_with_its_adjoint(toy):
    op = toy.operator
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(3, *op.shape, generator=gen, dtype=op.dtype)
    r = torch.randn(3, op.m, generator=gen, dtype=op.dtype)
    torch.testing.assert_close((op(X) * r).sum(-1), (X * op.adjoint(r)).sum((-2, -1)))
    A = op.dense()
    torch.testing.assert_close(op(X), torch.einsum("mij,bij->bm", A, X))
    L = torch.randn(op.shape[0], 3, generator=gen, dtype=op.dtype)
    R = torch.randn(op.shape[1], 3, generator=gen, dtype=op.dtype)
    torch.testing.assert_close(op.measure_low_rank(L, R), op(L @ R.mT), rtol=0, atol=1e-13)


def test_generic_defaults_serve_the_toy(toy):
    op = toy.operator
    exact = float((op.dense() ** 2).sum())
    assert op.sq_norm_sum() == pytest.approx(exact, rel=0.5)  # 8 Gaussian probes
    M = op.dense().reshape(op.m, -1)
    lam = float(torch.linalg.eigvalsh(M.mT @ M)[-1]) / op.m
    assert curvature(op, iters=200) == pytest.approx(lam, rel=1e-6)
    assert op.center_by_default is False and not op.exact_lp
    assert factored_unsupported(snn.SNNFactorization(op.shape, (2,), rank=2), toy) is None


def test_full_fit_on_the_toy_equals_the_dense_equivalent(toy):
    dense_op, dense_test = (
        snn.DenseOperator(op.dense()) for op in (toy.operator, toy.test_operator)
    )
    dense = snn.Problem(dense_op, toy.y, toy.X_true, dense_test, toy.y_test)
    runs = []
    for p in (toy, dense):
        model = snn.SNNFactorization(toy.shape, (2,), init="gaussian", init_scale=0.1, seed=3)
        runs.append(snn.fit(model, p, 1.0, 200, method="full", record_every=50))
    res, ref = runs
    assert res.method == "full" and res.status == "max_steps"
    assert res.final["train_loss"] < 0.5 * res.history[0]["train_loss"]
    assert res.final["test_loss"] is not None
    torch.testing.assert_close(res.X, ref.X, rtol=0, atol=1e-10)


@pytest.mark.parametrize("widths", [(2,), (1, 2)])
def test_factored_fit_on_the_toy_equals_the_full_fit(toy, widths):
    def model():
        return snn.SNNFactorization(
            toy.shape, widths, init="gaussian", init_scale=0.3, rank=2, seed=5
        )

    full = snn.fit(model(), toy, 1.0, 50, method="full", record_every=10)
    fac = snn.fit(model(), toy, 1.0, 50, method="factored", record_every=10)
    assert fac.method == "factored" and full.method == "full"
    assert fac.final["train_loss"] < fac.history[0]["train_loss"]
    torch.testing.assert_close(fac.X, full.X, rtol=0, atol=1e-8)
    for key in ("train_loss", "test_loss", "rel_error", "nuclear_norm"):
        np.testing.assert_allclose(
            fac.column(key), full.column(key), rtol=1e-8, atol=1e-12, err_msg=key
        )


def test_fit_recipe_on_the_toy(toy):
    train, val = split(toy, 0.2, seed=0)
    assert val is not None and isinstance(val.operator, RowSampleOperator)
    assert train.m + val.m == toy.m and val.m == round(0.2 * toy.m)
    res = fit_recipe(toy, max_steps=300, seed=0)
    assert res.X.shape == toy.shape and bool(torch.isfinite(res.X).all())
    assert res.validation_error is not None  # the held-out part came from subset()
    assert res.normalization.offset == 0.0  # not centred: center_by_default is False
    assert snn.metrics.relative_error(res.X, toy.X_true).item() < 0.5


def test_npz_round_trip_of_the_toy(toy, tmp_path):
    path = tmp_path / "toy.npz"
    toy.save(path)
    with np.load(path) as f:
        arrays = ("sample_rows", "weights", "n_rows")
        expected = {"operator", "y", "X_true", "y_test", "meta", *arrays}
        assert set(f.files) == expected | {f"test_{k}" for k in arrays}
        assert str(f["operator"]) == "row_sample_toy"
    back = snn.load_problem(path)
    assert type(back.operator) is RowSampleOperator
    assert type(back.test_operator) is RowSampleOperator
    for a, b in ((back.operator, toy.operator), (back.test_operator, toy.test_operator)):
        assert a.shape == b.shape and a.m == b.m
        for k, v in b.npz_arrays().items():
            np.testing.assert_array_equal(a.npz_arrays()[k], v)
            assert a.npz_arrays()[k].dtype == v.dtype
    for name in ("y", "X_true", "y_test"):
        assert torch.equal(getattr(back, name), getattr(toy, name))
    assert back.meta == toy.meta


def test_theory_on_the_toy():
    p = _toy_problem((6, 5), 1, 20, 5, seed=1)  # 20 measurements of 30 unknowns
    X, info = theory.min_nuclear_norm(p, return_info=True)
    assert info.method == "cvxpy" and info.converged and info.feasibility < 1e-6
    F = theory.min_frobenius_interpolant(p)
    torch.testing.assert_close(p.operator(F), theory.projected_y(p), rtol=0, atol=1e-10)
    assert snn.nuclear_norm(X).item() <= snn.nuclear_norm(F).item() + 1e-8
    cert = theory.kkt_certificate(X, p, method="exact")
    assert cert.method == "exact" and cert.holds
    assert not theory.kkt_certificate(F, p, method="exact", rank_tol=1e-6).holds
    with pytest.raises(ValueError, match="method='lp' needs an aligned problem"):
        theory.min_nuclear_norm(p, method="lp")


def test_registration_is_checked():
    with pytest.raises(InputError, match="already the kind of"):

        @register_operator
        class Clash(RowSampleOperator):
            kind = "dense"

    with pytest.raises(InputError, match="npz_keys"):

        @register_operator
        class Reserved(RowSampleOperator):
            kind = "reserved_toy"
            npz_keys = ("y", "weights", "n_rows")


def test_an_unregistered_operator_is_refused_by_save(toy, tmp_path):
    class Unregistered(RowSampleOperator):
        kind = "not_registered_toy"

    op = toy.operator
    p = snn.Problem(Unregistered(op.sample_rows, op.weights, op.n_rows), toy.y)
    with pytest.raises(InputError, match="registered kind"):
        p.save(tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
