"""scikit-learn's estimator checks on the five completers (``parametrize_with_checks``).

A completer completes one whole matrix, so the checks run on small matrices with tiny step
counts: the answers are not accurate, only the contract is checked (fit / transform / predict,
tags, NotFittedError, n_features_in_, feature names, dtypes, complex and sparse input,
random_state, pickling). The few checks listed in ``_EXPECTED`` cannot hold for a whole-matrix
completer; each says why.
"""

import inspect
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")

from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

import spectralnn as snn
from spectralnn.errors import InputError, InputTypeError

pytestmark = [
    # tiny step counts: the recipe and the solvers say so, and that is expected here
    pytest.mark.filterwarnings("ignore::spectralnn.recipe.StallWarning"),
    pytest.mark.filterwarnings("ignore::spectralnn.recipe.StillImprovingWarning"),
    pytest.mark.filterwarnings("ignore::spectralnn.errors.ConvergenceWarning"),
    # scikit-learn's checks fit random data: no column beats its own mean, and small tables
    # now hold out entries that show it
    pytest.mark.filterwarnings("ignore::spectralnn.errors.ColumnWarning"),
]

ESTIMATORS = [
    snn.SNNCompleter(widths=(2,), max_steps=50),
    snn.DeepCompleter(depth=2, max_steps=50),
    snn.FreeCompleter(max_steps=50),
    snn.ConvexCompleter(method="admm", max_iter=200, tol=1e-4),
    snn.SoftImputeCompleter(n_lambdas=4, max_iter=30),
]

_EXPECTED: dict = {}


def _expected_failed_checks(estimator):
    return dict(_EXPECTED)


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# -- the contract on matrices with missing entries (the checks above use full matrices) ----------

CLASSES = [type(e) for e in ESTIMATORS]


def _holey(d1=8, d2=6, seed=0):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((d1, 1)) @ rng.standard_normal((1, d2)) + 2.0
    M = M.astype(np.float32).astype(np.float64)  # the same values in float32
    X = np.where(rng.random(M.shape) < 0.7, M, np.nan)
    X[np.arange(d2) % d1, np.arange(d2)] = M[np.arange(d2) % d1, np.arange(d2)]
    return X


def _fast(cls, **kw):
    return cls(**{**ESTIMATORS[CLASSES.index(cls)].get_params(), **kw})


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_init_is_keyword_only_and_stores_unchanged(cls):
    params = inspect.signature(cls.__init__).parameters
    assert all(p.kind is p.KEYWORD_ONLY for name, p in params.items() if name != "self")
    with pytest.raises(TypeError):
        cls(3)
    odd = {name: object() for name in params if name != "self"}  # no validation in __init__
    est = cls(**odd)
    assert all(getattr(est, k) is v for k, v in odd.items())


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_tags(cls):
    tags = get_tags(cls())
    assert tags.input_tags.allow_nan and not tags.input_tags.sparse
    assert tags.requires_fit and not tags.non_deterministic
    assert tags.transformer_tags is not None
    assert tags.transformer_tags.preserves_dtype == ["float64"]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_unfitted_raises_not_fitted(cls):
    X = _holey()
    for call in (
        lambda e: e.transform(X),
        lambda e: e.predict([0], [0]),
        lambda e: e.predict(X),
        lambda e: e.get_feature_names_out(),
    ):
        with pytest.raises(NotFittedError, match="not fitted"):
            call(cls())
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)


@pytest.mark.parametrize(
    "cls", [snn.SNNCompleter, snn.SoftImputeCompleter], ids=lambda c: c.__name__
)
def test_random_state_int_none_generator_randomstate(cls):
    X = _holey()
    out = _fast(cls, random_state=None).fit(X)  # used to raise "manual_seed expected a long"
    assert isinstance(out.seed_, int) and np.isfinite(out.completed_).all()
    a = _fast(cls, random_state=np.random.default_rng(3)).fit(X)
    b = _fast(cls, random_state=np.random.default_rng(3)).fit(X)
    assert a.seed_ == b.seed_ and np.array_equal(a.completed_, b.completed_)
    c = _fast(cls, random_state=np.random.RandomState(3)).fit(X)
    d = _fast(cls, random_state=c.seed_).fit(X)  # the drawn int seed reproduces the fit
    assert np.array_equal(c.completed_, d.completed_)
    with pytest.raises(InputTypeError, match="'random_state' parameter of"):
        _fast(cls, random_state="seven").fit(X)
    with pytest.raises(InputError, match="'random_state' parameter of.* Got -1 instead"):
        _fast(cls, random_state=-1).fit(X)


@pytest.mark.parametrize(
    "make",
    [
        lambda X: X + 1j,
        lambda X: torch.from_numpy(X + 0j),
        lambda X: pytest.importorskip("pandas").DataFrame(X + 1j),
        lambda X: [[complex(v, 1) for v in row] for row in X],
    ],
    ids=["numpy", "tensor", "DataFrame", "list"],
)
def test_complex_input_is_refused(make):
    with pytest.raises(InputTypeError, match="'X' parameter of SNNCompleter.fit must be real"):
        snn.SNNCompleter(max_steps=5).fit(make(_holey()))


def test_sparse_input_is_refused_with_a_hint():
    sparse = pytest.importorskip("scipy.sparse")
    X = np.nan_to_num(_holey())
    for S in (sparse.csr_matrix(X), sparse.coo_array(X), torch.from_numpy(X).to_sparse()):
        with pytest.raises(InputTypeError, match="dense matrix with NaN for missing"):
            snn.FreeCompleter(max_steps=5).fit(S)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_transform_is_the_fit_only_for_the_fitted_matrix(cls):
    X = _holey()
    est = _fast(cls).fit(X)
    state = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in vars(est).items()}
    assert np.array_equal(est.transform(X), est.completed_)
    assert np.array_equal(est.transform(X.astype(np.float32)), est.completed_)
    changed = X.copy()
    i, j = np.argwhere(~np.isnan(X))[0]
    changed[i, j] += 1.0  # same mask, one value changed
    hidden = X.copy()
    hidden[i, j] = np.nan  # same values, one entry fewer
    taller = np.vstack([X, X[:2]])  # more rows
    for other in (changed, hidden, taller):
        want = (
            _fast(cls, random_state=est.seed_).fit_transform(other)
            if "random_state" in est.get_params()
            else _fast(cls).fit_transform(other)
        )
        assert np.array_equal(est.transform(other), want)
    assert est.transform(changed)[i, j] == changed[i, j]  # not the old fit
    for k, v in state.items():  # est itself unchanged
        assert (
            np.array_equal(vars(est)[k], v)
            if isinstance(v, np.ndarray)
            else vars(est)[k] is v or vars(est)[k] == v
        ), k
    with pytest.raises(InputError, match="X has 5 features, but .* expecting 6"):
        est.transform(X[:, :5])


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_predict_at_positions(cls):
    X = _holey()
    est = _fast(cls).fit(X)
    rows, cols = np.array([0, 7, 3]), np.array([5, 0, 2])
    got = est.predict(rows, cols)
    assert got.shape == (3,) and got.dtype == np.float64
    assert np.allclose(got, est.fitted_[rows, cols], rtol=1e-9, atol=1e-9)
    assert est.predict(2, 1).shape == (1,)
    assert np.array_equal(est.predict(X), est.transform(X))  # one matrix: transform
    with pytest.raises(InputTypeError, match="'rows' parameter of .*predict"):
        est.predict([0.0, 1.0], [1, 2])
    with pytest.raises(
        InputError,
        match=r"'cols' parameter of .*predict must hold positions "
        r"in \[0, 5\]. Got 6 instead",
    ):
        est.predict([0, 1], [1, 6])
    with pytest.raises(InputError, match="'cols' parameter of .*length of 'rows'"):
        est.predict([0, 1], [1])
    with pytest.raises(InputError, match="'cols' parameter of .*required"):
        est.predict([0, 1])


def test_feature_names_from_a_dataframe():
    pd = pytest.importorskip("pandas")
    X = _holey()
    df = pd.DataFrame(X, columns=list("abcdef"))
    est = snn.FreeCompleter(max_steps=20).fit(df)
    assert est.n_features_in_ == 6 and list(est.feature_names_in_) == list("abcdef")
    assert list(est.get_feature_names_out()) == list("abcdef")
    assert isinstance(est.transform(df), pd.DataFrame)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        est.transform(X)
    with pytest.raises(InputError, match="same order"):
        est.transform(df[list("fedcba")])
    assert not hasattr(est.fit(X), "feature_names_in_")  # a refit on numpy forgets them
    assert list(est.get_feature_names_out()) == [f"x{i}" for i in range(6)]


def test_works_without_scikit_learn():
    code = textwrap.dedent("""
        import sys
        sys.modules["sklearn"] = None  # import sklearn now raises ImportError
        import numpy as np, pickle
        import spectralnn as snn
        from spectralnn.estimators import NotFittedError
        assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
        est = snn.FreeCompleter(max_steps=20, random_state=None)
        try:
            est.transform(np.ones((2, 2)))
        except NotFittedError:
            pass
        else:
            raise AssertionError("no NotFittedError")
        assert est.set_params(max_steps=30) is est and est.get_params()["max_steps"] == 30
        X = np.array([[1.0, np.nan, 3.0], [2.0, 4.0, np.nan], [np.nan, 1.0, 2.0]])
        out = est.fit_transform(X)
        assert np.array_equal(est.transform(X), out) and est.n_features_in_ == 3
        assert est.predict([0], [1]).shape == (1,)
        assert np.array_equal(pickle.loads(pickle.dumps(est)).transform(X), out)
        print(repr(est))
    """)
    res = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("FreeCompleter(")
