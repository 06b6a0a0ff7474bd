"""Fitted completers and SNN models survive pickle, joblib and torch.save -- also when loaded in a
fresh Python process, with bit-identical answers."""

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import spectralnn as snn
from spectralnn._activations import ACTIVATIONS, get_activation

joblib = pytest.importorskip("joblib")

KINDS = ["pickle", "joblib", "torch"]


def _matrix():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((12, 1)) @ rng.standard_normal((1, 10))
    X = np.where(rng.random(M.shape) < 0.7, M, np.nan)
    X[np.arange(10), np.arange(10)] = M[np.arange(10), np.arange(10)]  # every column observed
    return X


def _other(X):
    """``X`` with its first observed entry hidden: another matrix with the fitted columns."""
    other = X.copy()
    other[0, np.flatnonzero(~np.isnan(X[0]))[0]] = np.nan
    return other


def _dump(kind, obj, path):
    if kind == "pickle":
        path.write_bytes(pickle.dumps(obj))
    elif kind == "joblib":
        joblib.dump(obj, path)
    else:
        torch.save(obj, path)


def _load(kind, path):
    if kind == "pickle":
        return pickle.loads(path.read_bytes())
    if kind == "joblib":
        return joblib.load(path)
    return torch.load(path, weights_only=False)


@pytest.fixture(scope="module")
def fitted():
    X = _matrix()
    est = snn.SNNCompleter(max_steps=200).fit(X)
    return est, X


@pytest.fixture(scope="module")
def model():
    return snn.SNNFactorization((12, 10), widths=(2, 2), init="gaussian", init_scale=0.3, seed=1)


def _answers(obj, X):
    """What the fresh process computes too: transform / predict / transform of another matrix
    for a completer, the forward matrix for a model."""
    if isinstance(obj, snn.SNNCompleter):
        rows, cols = np.indices(X.shape).reshape(2, -1)
        return {
            "transform": obj.transform(X),
            "predict": obj.predict(rows, cols),
            "other": obj.transform(_other(X)),
        }
    with torch.no_grad():
        return {"forward": obj().numpy()}


_CHILD = textwrap.dedent("""
    import pickle, sys, warnings
    import numpy as np
    import torch
    import joblib
    warnings.simplefilter("ignore")
    data, out = sys.argv[1], sys.argv[2]
    X = np.load(data)
    other = X.copy()
    other[0, np.flatnonzero(~np.isnan(X[0]))[0]] = np.nan
    rows, cols = np.indices(X.shape).reshape(2, -1)
    results = {}
    for spec in sys.argv[3:]:
        kind, what, path = spec.split(":", 2)
        if kind == "pickle":
            with open(path, "rb") as f:
                obj = pickle.load(f)
        elif kind == "joblib":
            obj = joblib.load(path)
        else:
            obj = torch.load(path, weights_only=False)
        if what == "completer":
            results[f"{kind}-transform"] = obj.transform(X)
            results[f"{kind}-predict"] = obj.predict(rows, cols)
            results[f"{kind}-other"] = obj.transform(other)
        else:
            with torch.no_grad():
                results[f"{kind}-forward"] = obj().numpy()
    np.savez(out, **results)
""")


@pytest.mark.filterwarnings("ignore::spectralnn.recipe.StillImprovingWarning")  # 200 steps
@pytest.mark.parametrize("kind", KINDS)
def test_fitted_snn_completer_round_trips(fitted, kind, tmp_path):
    est, X = fitted
    path = tmp_path / f"est.{kind}"
    _dump(kind, est, path)
    twin = _load(kind, path)
    assert type(twin) is snn.SNNCompleter and twin.get_params() == est.get_params()
    assert twin.n_features_in_ == 10 and twin.seed_ == est.seed_
    assert twin.result_.model.snn.act is ACTIVATIONS["tanh"]  # by registry name
    want, got = _answers(est, X), _answers(twin, X)
    for key in want:
        assert np.array_equal(got[key], want[key]), key


@pytest.mark.parametrize("kind", KINDS)
def test_snn_factorization_round_trips(model, kind, tmp_path):
    path = tmp_path / f"model.{kind}"
    _dump(kind, model, path)
    twin = _load(kind, path)
    assert twin.snn.act is ACTIVATIONS["tanh"]
    assert np.array_equal(_answers(twin, None)["forward"], _answers(model, None)["forward"])


@pytest.mark.filterwarnings("ignore::spectralnn.recipe.StillImprovingWarning")  # 200 steps
def test_loads_in_a_fresh_process(fitted, model, tmp_path):
    """One new interpreter loads every file (no state shared with this one) and must give
    bit-identical answers, including the refit of another matrix."""
    est, X = fitted
    data, out = tmp_path / "X.npy", tmp_path / "out.npz"
    np.save(data, X)
    specs, want = [], {}
    for kind in KINDS:
        for what, obj in (("completer", est), ("model", model)):
            path = tmp_path / f"{what}.{kind}"
            _dump(kind, obj, path)
            specs.append(f"{kind}:{what}:{path}")
            want.update({f"{kind}-{k}": v for k, v in _answers(obj, X).items()})
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, str(data), str(out), *specs],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    got = np.load(out)
    assert sorted(got.files) == sorted(want)
    for key, value in want.items():
        assert np.array_equal(got[key], value), key


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_registered_activations_pickle_by_name(name):
    act = ACTIVATIONS[name]
    assert pickle.loads(pickle.dumps(act)) is act
    s = torch.linspace(-2, 2, 9, dtype=torch.float64)
    assert torch.equal(pickle.loads(pickle.dumps(act.f))(s), act.f(s))
    assert torch.equal(pickle.loads(pickle.dumps(act.df))(s), act.df(s))


def test_unregistered_activation_pickles_by_value_and_registered_lambda_by_name():
    pair = get_activation((torch.tanh, torch.cos))  # not in the registry: pickled field by field
    back = pickle.loads(pickle.dumps(pair))
    assert back.name == pair.name and back.f is torch.tanh and back.df is torch.cos
    act = snn.register_activation(
        "_pickle_test_cube", lambda s: s**3, lambda s: 3 * s**2, overwrite=True
    )
    try:
        blob = pickle.dumps(act)
        assert pickle.loads(blob) is act  # lambdas, yet picklable by name
    finally:
        del ACTIVATIONS["_pickle_test_cube"]
    with pytest.raises(LookupError, match="register_activation"):
        pickle.loads(blob)  # loaded where that name is not registered
