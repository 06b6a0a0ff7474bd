"""SNNCompleter and the baselines: the estimator protocol, containers, and answers checked
against the convex minimiser and SoftImpute's fixed-point equation."""

import numpy as np
import pytest
import torch

import spectralnn as snn
from spectralnn.estimators import _svt, soft_impute

pd = pytest.importorskip("pandas")


def _exact(d1=10, d2=8, rank=1, frac=0.6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((d1, rank)) @ rng.standard_normal((rank, d2))
    mask = rng.random(X.shape) < frac
    mask[np.arange(d1), np.arange(d1) % d2] = True  # every row and column observed
    mask[np.arange(d2) % d1, np.arange(d2)] = True
    return np.where(mask, X, np.nan), X


def test_get_set_params_and_clone():
    sklearn = pytest.importorskip("sklearn")
    est = snn.SNNCompleter(widths=(2,), max_steps=50)
    assert est.get_params()["widths"] == (2,)
    assert est.set_params(max_steps=10) is est and est.max_steps == 10
    twin = sklearn.base.clone(est)
    assert twin is not est and twin.get_params() == est.get_params()
    with pytest.raises(ValueError):
        est.set_params(no_such=1)
    for cls in (snn.ConvexCompleter, snn.SoftImputeCompleter, snn.FreeCompleter, snn.DeepCompleter):
        assert sklearn.base.clone(cls()).get_params() == cls().get_params()


def test_snn_matches_the_convex_minimiser_on_exact_low_rank():
    M, X = _exact(d1=12, d2=10, frac=0.75)
    snn_out = snn.SNNCompleter().fit_transform(M)  # parts stop near step 600
    cvx = snn.ConvexCompleter(method="admm", tol=1e-7, max_iter=20000).fit(M)
    assert cvx.converged_
    dist = np.linalg.norm(snn_out - cvx.completed_) / np.linalg.norm(cvx.completed_)
    assert np.linalg.norm(cvx.completed_ - X) / np.linalg.norm(X) < 1e-3  # recovery regime
    assert dist < 0.02


def test_dataframe_round_trip_and_keep_observed():
    M, _ = _exact()
    df = pd.DataFrame(M, index=[f"u{i}" for i in range(10)], columns=list("abcdefgh"))
    est = snn.SNNCompleter(max_steps=2000)
    out = est.fit_transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.index) == list(df.index) and list(out.columns) == list(df.columns)
    obs = ~np.isnan(M)
    assert np.array_equal(out.to_numpy()[obs], M[obs]) and not out.isna().any().any()
    fitted = snn.SNNCompleter(max_steps=2000, keep_observed=False).fit_transform(M)
    assert not np.array_equal(fitted[obs], M[obs])
    assert np.allclose(fitted[obs], M[obs], atol=0.05 * np.abs(M[obs]).max())
    assert {
        "completed_",
        "history_",
        "lr_",
        "scale_",
        "offset_",
        "status_",
        "validation_error_",
    } <= set(vars(est))


def test_tensor_in_numpy_out_and_transform():
    M, _ = _exact()
    est = snn.FreeCompleter(max_steps=100)
    out = est.fit_transform(torch.from_numpy(M))
    assert isinstance(out, np.ndarray) and out.shape == M.shape
    miss = np.isnan(M)
    # free = the baseline fill: a table this small gets column units and no row effects, so
    # every missing entry of a column gets that column's (shrunk) centre
    for j in range(M.shape[1]):
        if miss[:, j].any():
            assert np.ptp(out[miss[:, j], j]) < 1e-6
    assert np.array_equal(est.transform(M), out)
    # another matrix with the fitted columns: its own completion (a fresh fit), est unchanged
    before = est.completed_.copy()
    other = est.transform(M[:3])
    assert np.array_equal(other, snn.FreeCompleter(max_steps=100).fit_transform(M[:3]))
    assert np.array_equal(est.completed_, before) and est.shape_ == M.shape
    with pytest.raises(ValueError, match="X has 3 features, but FreeCompleter is expecting 8"):
        est.transform(M[:, :3])
    with pytest.raises(ValueError, match="not fitted"):
        snn.FreeCompleter().transform(M)


def test_softimpute_solves_its_fixed_point_equation():
    M, X = _exact(d1=12, d2=10, frac=0.75, seed=2)
    lam = 0.1
    Z, it = soft_impute(M, lam, max_iter=5000, tol=1e-12)
    mask = ~np.isnan(M)
    again, _ = _svt(np.where(mask, M, Z), lam)
    assert it < 5000 and np.linalg.norm(again - Z) < 1e-8 * np.linalg.norm(Z)
    est = snn.SoftImputeCompleter().fit(M)
    assert est.lambda_ in est.lambdas_ and len(est.validation_errors_) == est.n_lambdas
    assert np.linalg.norm(est.completed_ - X) / np.linalg.norm(X) < 0.1


@pytest.mark.filterwarnings("ignore::spectralnn.recipe.StillImprovingWarning")  # slow but right
def test_deep_completer_recovers_low_rank():
    M, X = _exact(d1=12, d2=10, frac=0.75, seed=1)
    out = snn.DeepCompleter(max_steps=2000).fit_transform(M)
    assert np.linalg.norm(out - X) / np.linalg.norm(X) < 0.05


@pytest.mark.parametrize(
    "bad, exc, match",
    [
        (np.full((3, 3), np.nan), ValueError, "no observed entry"),
        (np.ones(4), ValueError, "2-D"),
        (np.array([[1.0, np.inf], [1.0, 2.0]]), ValueError, "finite"),
        ([["a", "b"], ["c", "d"]], TypeError, "numeric"),
    ],
)
def test_bad_input(bad, exc, match):
    with pytest.raises(exc, match=match):
        snn.SNNCompleter().fit(bad)


def test_text_dataframe_is_refused():
    with pytest.raises(TypeError, match="numeric"):
        snn.SNNCompleter().fit(pd.DataFrame({"a": ["x", "y"], "b": [1.0, 2.0]}))
