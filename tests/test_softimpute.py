"""softImpute-ALS (spectralnn._softimpute, SoftImputeCompleter): the ALS solution at a fixed
lambda against the dense soft-thresholded-SVD fixed point, recovery of an exactly low-rank
matrix, the held-out split, argument validation, and ConvexCompleter's size limit."""

import math

import numpy as np
import pytest

import spectralnn as snn
from spectralnn import _softimpute as S
from spectralnn.errors import InputError
from spectralnn.estimators import _svt, soft_impute


def _noisy(d1=30, d2=20, rank=3, frac=0.6, noise=0.3, seed=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((d1, rank)) @ rng.standard_normal((rank, d2))
    X += noise * rng.standard_normal(X.shape)
    mask = rng.random(X.shape) < frac
    mask[np.arange(d1), np.arange(d1) % d2] = True
    mask[np.arange(d2) % d1, np.arange(d2)] = True
    return np.where(mask, X, np.nan), X


def _entries(M):
    r, c = np.nonzero(~np.isnan(M))
    return S.Entries(r, c, M[r, c], M.shape)


@pytest.mark.parametrize("frac", [0.5, 0.2, 0.05])
def test_als_agrees_with_the_dense_fixed_point(frac):
    M, _ = _noisy()
    E = _entries(M)
    lam = frac * S.lambda_max(E)
    dense, _ = soft_impute(M, lam, max_iter=20000, tol=1e-13)
    Z, _, converged = S.solve(E, lam, rank=2, max_iter=20000, tol=1e-12)  # rank grows from 2
    assert converged and Z.rank == np.linalg.matrix_rank(dense, 1e-8 * np.abs(dense).max())
    Zd = Z.dense()
    assert np.linalg.norm(Zd - dense) < 1e-9 * np.linalg.norm(dense)
    again, _ = _svt(np.where(np.isnan(M), Zd, M), lam)  # the fixed-point equation itself
    assert np.linalg.norm(again - Zd) < 1e-9 * np.linalg.norm(Zd)


def test_lambda_max_is_the_top_singular_value_and_gives_zero():
    M, _ = _noisy(d1=60, d2=40)
    E = _entries(M)
    top = S.lambda_max(E)  # svds route (min(d) > 20)
    assert math.isclose(top, np.linalg.norm(np.nan_to_num(M), 2), rel_tol=1e-8)
    Z, _, _ = S.solve(E, 1.5 * top, rank=3, max_iter=200, tol=1e-10)
    assert Z.rank == 0
    path = S.fit_path(E, [1.0001 * top, 0.5 * top], max_rank=10, tol=1e-8, max_iter=500)
    assert path.ranks[0] == 0 and path.ranks[1] > 0  # at lambda_max the path skips the fit


def test_exactly_low_rank_half_observed_is_recovered():
    rng = np.random.default_rng(0)
    X = 3 + rng.standard_normal((80, 2)) @ rng.standard_normal((2, 60))
    mask = rng.random(X.shape) < 0.5
    M = np.where(mask, X, np.nan)
    miss = ~mask

    def error(est):
        return np.linalg.norm((est.completed_ - X)[miss]) / np.linalg.norm(X[miss])

    est = snn.SoftImputeCompleter().fit(M)  # the path ends at 0.01 lambda_max: some shrinkage
    assert error(est) < 0.04
    # noiseless data: the held-out error keeps falling as lambda -> 0; a longer path recovers
    est = snn.SoftImputeCompleter(lambda_ratio=1e-5, n_lambdas=30, tol=1e-6, max_iter=500).fit(M)
    assert error(est) < 0.012 and est.lambda_ < 1e-3 * est.lambdas_[0]
    assert est.lambda_ in est.lambdas_ and len(est.validation_errors_) == est.n_lambdas
    assert est.rank_ >= 2 and est.validation_error_ is not None
    assert np.array_equal(est.completed_[mask], X[mask])


def test_defaults_on_small_matrices():
    M, X = _noisy(d1=12, d2=10, rank=1, noise=0.0, frac=0.75)
    est = snn.SoftImputeCompleter().fit(M)
    assert np.linalg.norm(est.completed_ - X) / np.linalg.norm(X) < 0.1
    errs = np.asarray(est.validation_errors_)
    reached = ~np.isnan(errs)
    assert reached[0] and np.nanmin(errs) == est.validation_error_
    assert np.all(reached[: reached.sum()])  # NaN only after the path stopped
    for shape in [(1, 5), (5, 1), (2, 2), (3, 7)]:
        rng = np.random.default_rng(1)
        A = rng.standard_normal(shape)
        A[0, 0] = np.nan if A.size > 1 else A[0, 0]
        out = snn.SoftImputeCompleter().fit_transform(A)
        assert out.shape == shape and np.isfinite(out).all()
    flat = np.where(np.random.default_rng(2).random((40, 30)) < 0.5, 4.0, np.nan)
    assert np.allclose(snn.SoftImputeCompleter().fit_transform(flat), 4.0)  # lambda_max = 0
    no_val = snn.SoftImputeCompleter(validation_fraction=0.0, bias_shrinkage=None).fit(M)
    assert no_val.validation_error_ is None and np.isfinite(no_val.completed_).all()


def test_same_seed_same_completion():
    M, _ = _noisy(d1=40, d2=30)
    a = snn.SoftImputeCompleter(random_state=3).fit_transform(M)
    b = snn.SoftImputeCompleter(random_state=3).fit_transform(M)
    assert np.array_equal(a, b)


def test_holdout_never_takes_a_last_observation():
    rng = np.random.default_rng(0)
    mask = rng.random((50, 40)) < 0.08
    mask[np.arange(50), np.arange(50) % 40] = True
    r, c = np.nonzero(mask)
    val = S.holdout(r, c, mask.shape, 0.3, seed=1)
    assert 5 <= val.sum() <= round(0.3 * r.size)
    assert np.all(np.bincount(r[~val], minlength=50) >= 1)
    assert np.all(np.bincount(c[~val], minlength=40) >= 1)
    assert not S.holdout(r[:8], c[:8], mask.shape, 0.1, seed=1).any()  # too few to hold out


@pytest.mark.parametrize(
    "name, value",
    [
        ("n_lambdas", 0),
        ("lambda_ratio", 0.0),
        ("lambda_ratio", 1.0),
        ("max_rank", 0),
        ("max_iter", 0),
        ("tol", 0.0),
        ("tol", 2.0),
        ("validation_fraction", 1.0),
        ("validation_fraction", -0.1),
        ("bias_shrinkage", -1.0),
        ("bias_shrinkage", "none"),
        ("lambda_ratio", float("nan")),
    ],
)
def test_bad_arguments_raise_input_error_naming_them(name, value):
    M, _ = _noisy(d1=8, d2=6)
    with pytest.raises(InputError, match=f"'{name}'.*{value!r}"):
        snn.SoftImputeCompleter(**{name: value}).fit(M)


def test_wrong_types_are_refused():
    M, _ = _noisy(d1=8, d2=6)
    for name, value in (("n_lambdas", 2.5), ("max_rank", "10"), ("bias_shrinkage", [5])):
        with pytest.raises(TypeError, match=name):
            snn.SoftImputeCompleter(**{name: value}).fit(M)


def test_convex_refuses_a_problem_too_big_before_any_work():
    rng = np.random.default_rng(0)
    M = np.where(rng.random((569, 30)) < 0.8, rng.standard_normal((569, 30)), np.nan)
    with pytest.raises(InputError, match="ConvexCompleter") as info:
        snn.ConvexCompleter().fit(M)
    msg = str(info.value)
    assert "569 x 30" in msg and "SoftImputeCompleter" in msg
    big = np.where(rng.random((200, 200)) < 0.5, 1.0, np.nan)
    with pytest.raises(InputError, match="cvxpy"):
        snn.ConvexCompleter(method="cvxpy").fit(big)
