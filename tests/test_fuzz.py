"""Property tests over the public API: every invalid input is refused with an InputError /
InputTypeError (ValueError / TypeError) whose message names the argument; every valid input
returns finite results. Example counts come from the hypothesis profile (tests/conftest.py):
"default" is fast, "slow" (HYPOTHESIS_PROFILE=slow or `-m slow`) runs >= 10,000 inputs."""

import io
import json
import math
import os
import tempfile
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import spectralnn as snn
from spectralnn.errors import InputError, InputTypeError
from spectralnn.functional import effective_rank

NAN, INF = float("nan"), float("inf")
FLOATS = (torch.float32, torch.float64)
SAFE_FNS = ("tanh", "sin", "softsign", "sigmoid_centered", "soft_threshold", "clamp", "identity")


def refused(call, names, counter, ours=True):
    """``call()`` raises a ValueError/TypeError quoting one of ``names``; with ``ours`` it is
    an InputError/InputTypeError (what the CLI reports as bad input, exit 2)."""
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    err = info.value
    assert not ours or isinstance(err, (InputError, InputTypeError)), repr(err)
    assert any(f"'{n}'" in str(err) for n in names), (names, str(err))
    counter["invalid"] += 1
    return err


def randn(gen, *shape, dtype=torch.float64):
    return torch.randn(*shape, generator=gen, dtype=dtype)


def corrupt(t: torch.Tensor, how: str):
    """A broken copy of a valid float tensor."""
    if how in ("nan", "inf"):
        t = t.contiguous().clone()
        t.view(-1)[0 if how == "nan" else -1] = NAN if how == "nan" else -INF
        return t
    return {
        "complex": lambda: t.to(torch.complex128),
        "float16": lambda: t.to(torch.float16),
        "bfloat16": lambda: t.to(torch.bfloat16),
        "int": lambda: t.round().long(),
        "list": lambda: t.tolist(),
        "numpy_complex": lambda: t.numpy() + 1j,
        "extra_dim": lambda: t.unsqueeze(0),
        "drop_dim": lambda: t.reshape(-1),
        "empty": lambda: t[..., :0],
        "string": lambda: "tensor",
    }[how]()


CORRUPTIONS = (
    "nan",
    "inf",
    "complex",
    "float16",
    "bfloat16",
    "int",
    "list",
    "numpy_complex",
    "extra_dim",
    "drop_dim",
    "empty",
    "string",
)


# --------------------------------------------------------------------------- make_problem


@st.composite
def problem_kwargs(draw):
    kind = draw(st.sampled_from(snn.sensing.PROBLEM_KINDS))
    d1, d2 = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    m_max = d1 * d2 if kind == "completion" else 40
    return {
        "kind": kind,
        "shape": (d1, d2),
        "rank": draw(st.integers(1, min(d1, d2))),
        "measurements": draw(st.integers(1, m_max)),
        "noise": draw(st.sampled_from([0.0, 0.01, 0.5])),
        "seed": draw(st.none() | st.integers(0, 2**63 - 1)),
        "scale": draw(st.floats(1e-2, 1e2)),
        "psd": draw(st.booleans()),
        "dtype": draw(st.sampled_from(FLOATS)),
        "test_measurements": draw(st.none() | st.integers(1, 30)),
    }


BAD_PROBLEM = {
    "kind": ["gausian", 3, None, "", "GAUSSIAN"],
    "shape": [3, (3,), (0, 3), (-1, 2), (2.0, 3), "ab", None, (2, 3, 4), (True, 2)],
    "rank": [0, -1, 2.5, "2", None, True, 100],
    "measurements": [0, -3, 1.5, "5", True, None],
    "noise": [-0.1, NAN, INF, "x", 1j, True, None],
    "seed": [-1, 1.5, "abc", 2**64, True, [1]],
    "scale": [0, -1.0, NAN, INF, "1", None],
    "dtype": [torch.float16, torch.int64, torch.bfloat16, torch.complex64, "float32", np.float64],
    "test_measurements": [0, -1, "3", 2.0],
    "psd": ["yes", 1, None],
    "target": ["nan", "complex", "wrong_shape", "zeros", "list", "float16", "string"],
}


def _bad_target(how, shape):
    T = torch.rand(shape, dtype=torch.float64)
    return {
        "zeros": lambda: torch.zeros(shape),
        "wrong_shape": lambda: torch.rand(8, 9),
    }.get(how, lambda: corrupt(T, how))()


@given(problem_kwargs(), st.data())
def test_make_problem(fuzz_counter, kwargs, data):
    arg = data.draw(st.none() | st.sampled_from(sorted(BAD_PROBLEM)), label="bad argument")
    if arg is None:
        p = snn.make_problem(**kwargs)
        fuzz_counter["valid"] += 1
        assert p.dtype == kwargs["dtype"] and p.shape == kwargs["shape"]
        for t in (p.y, p.y_test, p.X_true):
            assert t.dtype == kwargs["dtype"] and bool(torch.isfinite(t).all())
        assert snn.nuclear_norm(p.X_true).item() == pytest.approx(1.0, rel=1e-4)
        if kwargs["noise"] == 0:  # y is A(X*) exactly
            assert p.loss(p.X_true).item() == 0.0
        return
    value = data.draw(st.sampled_from(BAD_PROBLEM[arg]), label="bad value")
    if arg == "target":
        value = _bad_target(value, kwargs["shape"])
    refused(lambda: snn.make_problem(**{**kwargs, arg: value}), [arg], fuzz_counter)


# --------------------------------------------------------------------------- operators


@st.composite
def operator_case(draw):
    kind = draw(st.sampled_from(["dense", "aligned", "completion", "rank_one"]))
    d1, d2, m = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 12))
    dtype = draw(st.sampled_from(FLOATS))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    if kind == "dense":
        args = {"A": randn(gen, m, d1, d2, dtype=dtype)}
    elif kind == "rank_one":
        args = {"a": randn(gen, m, d1, dtype=dtype), "b": randn(gen, m, d2, dtype=dtype)}
    elif kind == "aligned":
        r = draw(st.integers(1, min(d1, d2)))
        Phi = torch.linalg.qr(randn(gen, d1, d1)).Q[:, :r].to(dtype)
        Psi = torch.linalg.qr(randn(gen, d2, d2)).Q[:, :r].to(dtype)
        args = {"Phi": Phi, "Psi": Psi, "S": randn(gen, m, r, dtype=dtype)}
    else:
        args = {
            "rows": torch.randint(d1, (m,), generator=gen),
            "cols": torch.randint(d2, (m,), generator=gen),
            "shape": (d1, d2),
            "dtype": dtype,
        }
    return kind, args, gen


CLASSES = {
    "dense": snn.DenseOperator,
    "aligned": snn.AlignedOperator,
    "completion": snn.CompletionOperator,
    "rank_one": snn.RankOneOperator,
}
BAD_INDEX = ("negative", "too_big", "fractional", "nan", "bool", "2d", "complex", "list", "empty")


def _bad_index(t: torch.Tensor, how: str, size: int):
    return {
        "negative": lambda: t - t.max() - 1,
        "too_big": lambda: t + size,
        "fractional": lambda: t.double() + 0.5,
        "nan": lambda: corrupt(t.double(), "nan"),
        "bool": lambda: t > 0,
        "2d": lambda: t.reshape(1, -1),
        "complex": lambda: t.to(torch.complex64),
        "list": lambda: t.tolist(),
        "empty": lambda: t[:0],
    }[how]()


@given(operator_case(), st.data())
def test_operator_constructors(fuzz_counter, case, data):
    kind, args, gen = case
    cls = CLASSES[kind]
    broken = data.draw(st.none() | st.sampled_from(sorted(args)), label="broken argument")
    if broken is None:
        op = cls(**args)
        fuzz_counter["valid"] += 1
        X = randn(gen, 2, *op.shape, dtype=op.dtype)
        r = randn(gen, 2, op.m, dtype=op.dtype)
        AX, ATr = op(X), op.adjoint(r)
        assert AX.shape == (2, op.m) and ATr.shape == (2, *op.shape)
        assert bool(torch.isfinite(AX).all() and torch.isfinite(ATr).all())
        lhs, rhs = (AX * r).sum(-1), (X * ATr).sum((-2, -1))
        tol = 1e-4 if op.dtype == torch.float32 else 1e-10
        torch.testing.assert_close(lhs, rhs, rtol=tol, atol=tol * (1 + rhs.abs().max().item()))
        return
    if broken in ("shape", "dtype"):
        value = data.draw(st.sampled_from([v for v in BAD_MODEL[broken] if v is not None]))
    elif kind == "completion":
        how = data.draw(st.sampled_from(BAD_INDEX), label="how")
        size = args["shape"][0 if broken == "rows" else 1]
        value = _bad_index(args[broken], how, size)
    else:
        how = data.draw(st.sampled_from(CORRUPTIONS), label="how")
        value = corrupt(args[broken], how)
    refused(lambda: cls(**{**args, broken: value}), [broken], fuzz_counter)


@given(
    operator_case(),
    st.sampled_from(
        ["shape", "transpose", "dtype", "list", "ndim1", "r_shape", "r_dtype", "r_list"]
    ),
)
def test_operator_inputs(fuzz_counter, case, how):
    kind, args, gen = case
    op = CLASSES[kind](**args)
    d1, d2 = op.shape
    other = torch.float32 if op.dtype == torch.float64 else torch.float64
    X, r = randn(gen, d1, d2, dtype=op.dtype), randn(gen, op.m, dtype=op.dtype)
    if how == "transpose" and d1 == d2:
        how = "shape"
    bad = {
        "shape": lambda: randn(gen, d1 + 1, d2, dtype=op.dtype),
        "transpose": lambda: X.mT,
        "dtype": lambda: X.to(other),
        "list": lambda: X.tolist(),
        "ndim1": lambda: X[0],
        "r_shape": lambda: randn(gen, op.m + 1, dtype=op.dtype),
        "r_dtype": lambda: r.to(other),
        "r_list": lambda: r.tolist(),
    }[how]()
    call = (lambda: op.adjoint(bad)) if how.startswith("r_") else (lambda: op(bad))
    refused(call, ["r" if how.startswith("r_") else "X"], fuzz_counter)


# --------------------------------------------------------------------------- Problem


BAD_Y = (
    "nan",
    "inf",
    "complex",
    "numpy_complex",
    "float16",
    "list",
    "extra_dim",
    "empty",
    "long",
    "short",
    "string",
)


def _bad_vector(t: torch.Tensor, how: str):
    if how == "long":
        return torch.cat([t, t[:1]])
    if how == "short":
        return t[:-1] if t.numel() > 1 else t[:0]
    return corrupt(t, how)


@given(operator_case(), st.data())
def test_problem_constructor(fuzz_counter, case, data):
    kind, args, gen = case
    op = CLASSES[kind](**args)
    X = randn(gen, *op.shape, dtype=op.dtype)
    y = op(X)
    t_args = {**args}
    test_op = CLASSES[kind](**t_args)
    parts = {"operator": op, "y": y, "X_true": X, "test_operator": test_op, "y_test": test_op(X)}
    what = data.draw(
        st.sampled_from(
            [
                "valid",
                "int_y",
                "y",
                "X_true",
                "y_test",
                "test_operator",
                "operator",
                "meta",
                "lonely",
            ]
        )
    )
    if what in ("valid", "int_y"):
        if what == "int_y":
            parts["y"] = (10 * y).round().long()
        p = snn.Problem(**parts)
        fuzz_counter["valid"] += 1
        assert p.y.dtype == op.dtype and p.X_true.dtype == op.dtype
        assert math.isfinite(p.loss(X).item()) and math.isfinite(p.loss(X, test=True).item())
        return
    names = [what]
    if what in ("y", "y_test"):
        parts[what] = _bad_vector(parts[what], data.draw(st.sampled_from(BAD_Y)))
    elif what == "X_true":
        how = data.draw(st.sampled_from([c for c in CORRUPTIONS if c != "int"] + ["T"]))
        if how == "T" and X.shape[0] == X.shape[1]:
            how = "nan"
        parts[what] = X.mT.contiguous() if how == "T" else corrupt(X, how)
    elif what == "test_operator":  # another shape, or not an operator
        d1, d2 = op.shape
        parts[what] = (
            snn.DenseOperator(randn(gen, test_op.m, d1 + 1, d2, dtype=op.dtype))
            if data.draw(st.booleans())
            else "operator"
        )
    elif what == "operator":
        parts[what] = args.get("A", np.zeros((2, 2, 2)))
    elif what == "meta":
        parts[what] = ["not", "a", "dict"]
    else:  # a test set without its measurements, or the reverse
        drop = data.draw(st.sampled_from(["test_operator", "y_test"]))
        parts[drop] = None
        names = ["test_operator", "y_test"]
    refused(lambda: snn.Problem(**parts), names, fuzz_counter)


# --------------------------------------------------------------------------- models


@st.composite
def model_case(draw):
    name = draw(st.sampled_from(sorted(snn.MODELS)))
    shape = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    kw = {
        "seed": draw(st.none() | st.integers(0, 2**63 - 1)),
        "dtype": draw(st.sampled_from(FLOATS)),
        "runs": draw(st.none() | st.integers(1, 3)),
    }
    if name != "free":
        kw["init"] = draw(st.sampled_from(["identity", "gaussian", "orthogonal"]))
        kw["init_scale"] = draw(st.floats(1e-3, 1.0))
    else:
        kw["init_scale"] = draw(st.floats(0.0, 1.0))
    if name == "snn":
        kw["widths"] = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
        kw["fn"] = draw(st.sampled_from(SAFE_FNS))
    if name in ("snn", "factor"):
        kw["rank"] = draw(st.none() | st.integers(1, 4))
    if name == "deep":
        kw["depth"] = draw(st.integers(1, 4))
    return name, shape, kw


BAD_MODEL = {
    "shape": [3, (3,), (0, 2), (2, -1), (2.5, 2), "ab", None, (1, 2, 3)],
    "seed": ["abc", -1, 1.5, 2**64, True],
    "dtype": [torch.float16, torch.bfloat16, torch.int32, torch.complex64, "float64", None],
    "runs": [0, -2, 1.5, "2", True],
    "init": ["identiy", "", 3, "spectrall"],
    "init_scale": [-1.0, NAN, INF, "small", None],
    "widths": [(), (0,), (2, -1), ("a",), 2.5, (1.5,)],
    "fn": ["tahn", 3, ("f",), None],
    "rank": [0, -1, "two", 1.5],
    "depth": [0, -3, "3", 2.0],
}
TYPOS = ["init_scal", "widht", "seeds", "dtpye", "deph", "ranks", "learning_rate", "x"]


@given(model_case(), st.data())
def test_models(fuzz_counter, case, data):
    name, shape, kw = case
    bad = data.draw(st.none() | st.sampled_from(["shape", *kw, "typo"]), label="bad")
    if bad is None:
        model = snn.make_model(name, shape, **kw)
        fuzz_counter["valid"] += 1
        X = model()
        runs = kw.get("runs")
        assert X.shape == ((runs,) if runs else ()) + shape and X.dtype == kw["dtype"]
        assert bool(torch.isfinite(X).all())
        X.sum().backward()
        assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters())
        return
    if bad == "typo":
        key = data.draw(st.sampled_from(TYPOS))
        err = refused(lambda: snn.make_model(name, shape, **kw, **{key: 1}), [key], fuzz_counter)
        assert isinstance(err, TypeError)
        return
    values = [v for v in BAD_MODEL[bad] if not (bad == "init_scale" and v is None)]
    value = data.draw(st.sampled_from(values), label="bad value")
    if bad == "shape":
        refused(lambda: snn.make_model(name, value, **kw), ["shape"], fuzz_counter)
    else:  # call the class itself: make_model drops None values
        cls = snn.MODELS[name]  # widths and fn are checked by nn.py / _activations.py
        refused(
            lambda: cls(shape, **{**kw, bad: value}),
            [bad],
            fuzz_counter,
            ours=bad not in ("widths", "fn"),
        )


# --------------------------------------------------------------------------- spectral_apply


@st.composite
def matrices(draw, max_batch=2):
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=max_batch)))
    d1, d2 = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    dtype = draw(st.sampled_from(FLOATS))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    scale = draw(st.sampled_from([1e-6, 1e-2, 1.0, 10.0]))
    X = scale * randn(gen, *batch, d1, d2, dtype=dtype)
    if draw(st.booleans()) and min(d1, d2) > 1:  # rank-deficient: a degenerate SVD
        X[..., -1, :] = 0.0
        X[..., :, -1] = 0.0
    return X


@given(
    matrices(),
    st.sampled_from(SAFE_FNS),
    st.none()
    | st.sampled_from(
        [c for c in CORRUPTIONS if c not in ("drop_dim", "extra_dim")]
        + ["vector", "fn_name", "fn_type"]
    ),
)
def test_spectral_apply(fuzz_counter, X, fn, how):
    if how is None:
        X = X.requires_grad_()
        Y = snn.spectral_apply(X, fn)
        fuzz_counter["valid"] += 1
        assert Y.shape == X.shape and bool(torch.isfinite(Y).all())
        (g,) = torch.autograd.grad(Y.sum(), X)
        assert bool(torch.isfinite(g).all())
        return
    if how in ("fn_name", "fn_type"):
        bad_fn = "tahn" if how == "fn_name" else 3.0
        refused(lambda: snn.spectral_apply(X, bad_fn), ["fn"], fuzz_counter, ours=False)
        return
    value = X.reshape(-1) if how == "vector" else corrupt(X, how)
    refused(lambda: snn.spectral_apply(value, fn), ["X"], fuzz_counter)


# --------------------------------------------------------------------------- metrics


@given(matrices(max_batch=1), st.data())
def test_metrics(fuzz_counter, X, data):
    gen = torch.Generator().manual_seed(data.draw(st.integers(0, 2**31)))
    T = randn(gen, *X.shape[-2:], dtype=X.dtype) + 0.1
    how = data.draw(
        st.none()
        | st.sampled_from(["zero", "shape", "nan", "complex", "int", "list", "float16", "vector"])
    )
    metric = data.draw(st.sampled_from(["relative_error", "psnr"]))
    if metric == "psnr":
        X = X.reshape(-1, *X.shape[-2:])[0]
    fn = getattr(snn.metrics, metric)
    if how is None:
        v = fn(X, T)
        fuzz_counter["valid"] += 1
        assert bool(torch.isfinite(torch.as_tensor(v)).all())
        assert bool((torch.as_tensor(effective_rank(X)) >= 0).all())
        return
    bad = {
        "zero": lambda: torch.zeros_like(T),
        "shape": lambda: randn(gen, T.shape[0] + 1, 2),
        "vector": lambda: T.reshape(-1),
    }.get(how, lambda: corrupt(T, how))()
    if how in ("int", "list", "float16", "complex") and data.draw(st.booleans()):
        refused(lambda: fn(corrupt(X, how), T), ["X"], fuzz_counter)
    else:
        refused(lambda: fn(X, bad), ["X_true"], fuzz_counter)


# --------------------------------------------------------------------------- the .npz reader


def _forged(key: str, shape, dtype="<f8") -> bytes:
    """An .npy member whose header claims ``shape`` but which holds 16 bytes."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
    )
    return buf.getvalue() + b"\0" * 16


FILE_BREAKS = (
    "nan",
    "inf",
    "complex",
    "object",
    "drop",
    "forged",
    "wrong_shape",
    "bad_kind",
    "bad_meta",
    "garbage",
    "truncate",
    "string_array",
    "not_npy",
)


@given(
    st.sampled_from(snn.sensing.PROBLEM_KINDS),
    st.integers(0, 1000),
    st.none() | st.sampled_from(FILE_BREAKS),
    st.data(),
)
def test_load_problem(fuzz_counter, kind, seed, how, data):
    p = snn.make_problem(kind, (4, 3), 2, 6, 0.01, seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "p.npz")
        p.save(path)
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        float_keys = [k for k, a in arrays.items() if a.dtype.kind == "f"]
        if how is None:  # valid, possibly with integer y (and then float X_true) for completion
            if kind == "completion" and data.draw(st.booleans()):
                arrays["y"] = np.round(arrays["y"] * 100).astype(np.int64)
            np.savez(path, **arrays)
            q = snn.load_problem(path)
            fuzz_counter["valid"] += 1
            assert q.dtype == torch.float64 and q.X_true.dtype == torch.float64
            rel = snn.metrics.relative_error(q.X_true + 0.01, q.X_true).item()
            assert math.isfinite(rel) and math.isfinite(q.loss(q.X_true).item())
            return
        key = data.draw(
            st.sampled_from(
                float_keys
                if how in ("nan", "inf", "complex", "object", "wrong_shape", "forged")
                else sorted(arrays)
            ),
            label="key",
        )
        names = [key]
        if how in ("nan", "inf"):
            arrays[key] = arrays[key].copy()
            arrays[key].flat[0] = NAN if how == "nan" else INF
        elif how == "complex":
            arrays[key] = arrays[key] + 1j
        elif how == "object":
            arrays[key] = np.array([{"payload": 1}], dtype=object)
        elif how == "drop":
            if key in ("meta", "X_true") or key == "operator" and kind == "gaussian":
                key = "y"  # these keys are optional
            test_keys = sorted(k for k in arrays if k.startswith("test_"))
            names = {
                "operator": [
                    k for k in arrays if k not in ("y", "meta", "X_true", "y_test", "operator")
                ],
                "y_test": test_keys,
            }.get(key, [key])
            del arrays[key]
        elif how == "wrong_shape":
            arrays[key] = np.concatenate([arrays[key].ravel(), [1.0]])
        elif how == "bad_kind":
            arrays["operator"], names = np.array("gausian"), ["operator"]
        elif how == "bad_meta":
            arrays["meta"], names = (
                np.array(data.draw(st.sampled_from(["{", "[1]", "3"]))),
                ["meta"],
            )
        elif how == "string_array":
            arrays["y"], names = np.array(["a"] * 6), ["y"]
        np.savez(path, **arrays)
        if how == "forged":
            with zipfile.ZipFile(path, "a") as zf:  # a second member that claims 10**9 entries
                zf.writestr("X_true_big.npy", _forged(key, (10**9,)))
            names = ["X_true_big"]
        elif how == "not_npy":
            with zipfile.ZipFile(path, "a") as zf:
                zf.writestr("notes.txt", b"hello")
            names = ["notes.txt"]
        elif how == "garbage":
            with open(path, "wb") as fh:
                fh.write(
                    bytes(
                        data.draw(st.binary(max_size=300)),
                    )
                )
            names = [path]
        elif how == "truncate":
            size = os.path.getsize(path)
            with open(path, "r+b") as fh:
                fh.truncate(data.draw(st.integers(0, size - 1)))
            names = [path]
        err = refused(lambda: snn.load_problem(path), names, fuzz_counter)
        assert isinstance(err, snn.ProblemFormatError) and path in str(err)


def test_forged_header_is_refused_without_allocating(tmp_path):
    """A 300-byte .npz whose header claims 10**9 float64 entries (7.45 GiB)."""
    import tracemalloc

    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("A.npy", _forged("A", (1000, 1000, 1000)))
        zf.writestr("y.npy", _forged("y", (1000,)))
    assert os.path.getsize(path) < 600
    tracemalloc.start()
    with pytest.raises(snn.ProblemFormatError, match=r"'A'.*declares shape \(1000, 1000, 1000\)"):
        snn.load_problem(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10 * 2**20


def test_pickle_payload_in_a_problem_file_never_runs(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    arr = np.empty(1, dtype=object)
    arr[0] = Payload()
    np.savez(tmp_path / "evil.npz", A=np.zeros((2, 2, 2)), y=np.zeros(2), X_true=arr)
    with pytest.raises(snn.ProblemFormatError, match="'X_true'.*object"):
        snn.load_problem(tmp_path / "evil.npz")
    assert not marker.exists()


def test_profiles_are_registered():
    from hypothesis import settings

    n_given = 8  # the @given tests above
    assert settings.get_profile("default").max_examples * n_given <= 400
    assert settings.get_profile("slow").max_examples * n_given >= 10_000
    assert json.dumps(settings.get_profile("slow").deadline) == "null"


# --------------------------------------------------------------------------- issue 19: the CLI
#
# Every bad input below must exit 2 in one line, quickly, write nothing, and leave every file
# that was there byte-for-byte as it was (0 silent acceptances, 0 exit-0 on bad input, 0 files
# written on failure, 0 data loss).  Each call runs in-process through spectralnn.cli.main.


def _snapshot(root):
    return {p: p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


def _cli_refuses(root, argv, capsys, *needles):
    """``spectralnn argv`` exits 2 with one line naming ``needles`` and changes nothing."""
    import time

    from spectralnn.cli import main

    before = _snapshot(root)
    capsys.readouterr()
    t0 = time.perf_counter()
    code = main([str(a) for a in argv])
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert code == 2, (argv, code, err)
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, (needle, err)
    assert _snapshot(root) == before, argv
    assert elapsed < 60, (argv, elapsed)
    return err


@pytest.fixture
def cli_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPECTRALNN_MEMORY_LIMIT", raising=False)
    monkeypatch.delenv("SPECTRALNN_TIME_LIMIT", raising=False)
    snn.make_problem("gaussian", (6, 5), 1, 20, seed=0).save(tmp_path / "p.npz")
    (tmp_path / "in.csv").write_text("1,2,3\n4,,6\n7,8,\n")
    return tmp_path


SIZE_CASES = [
    (["make-problem", "gaussian", "--shape", "100000x100000", "--out", "x.npz"], "--shape"),
    (
        ["make-problem", "gaussian", "--measurements", "1000000000", "--out", "x.npz"],
        "--measurements",
    ),
    (
        [
            "make-problem",
            "completion",
            "--shape",
            "300000x300000",
            "--measurements",
            "5",
            "--out",
            "x.npz",
        ],
        "--shape",
    ),
    (
        ["fit", "p.npz", "--model", "factor", "--model-rank", "1000000000", "--out", "o"],
        "--model-rank",
    ),
    (["fit", "p.npz", "--widths", "100000000", "--out", "o"], "--widths"),
    (["fit", "p.npz", "--model", "deep", "--depth", "1000000", "--out", "o"], "--depth"),
    (["fit", "p.npz", "--steps", "1000000000000", "--out", "o"], "--steps"),
    (["fit", "p.npz", "--model", "deep", "--model-rank", "3", "--out", "o"], "--model-rank"),
    (["complete", "in.csv", "--max-steps", "1000000000000", "--out", "c.csv"], "--max-steps"),
]


@pytest.mark.parametrize("argv,flag", SIZE_CASES, ids=[" ".join(c[0][:3]) for c in SIZE_CASES])
def test_oversized_arguments_exit_2_before_allocating(cli_dir, capsys, argv, flag):
    _cli_refuses(cli_dir, argv, capsys, flag)


@pytest.mark.parametrize(
    "grid,key",
    [
        ("measurements = 1000000000000", "problem.measurements"),
        (
            "measurements = {range = [1, 1000], step = 1}\n"
            "noise = {range = [0, 9.99], step = 0.01}",
            "cells",
        ),
        ("measurements = 10\n[model]\nwidths = [100000000]", "model.widths"),
        ("measurements = 10\n[train]\nsteps = 1000000000000", "train.steps"),
    ],
)
def test_oversized_sweeps_exit_2(cli_dir, capsys, grid, key):
    (cli_dir / "s.toml").write_text(f"[problem]\nshape = [6, 6]\n{grid}\n")
    _cli_refuses(cli_dir, ["sweep", "s.toml", "--out", "sw"], capsys, key)


def test_size_check_override(cli_dir, monkeypatch):
    from spectralnn.cli import main

    monkeypatch.setenv("SPECTRALNN_MEMORY_LIMIT", "1K")
    with pytest.raises(InputError, match="'shape'.*SPECTRALNN_MEMORY_LIMIT"):
        snn.make_problem("gaussian", (6, 6), 1, 10)
    assert snn.make_problem("gaussian", (6, 6), 1, 10, max_bytes=math.inf).m == 10
    assert main(["make-problem", "gaussian", "--shape", "6x6", "--out", "a.npz"]) == 2
    assert (
        main(["make-problem", "gaussian", "--shape", "6x6", "--out", "a.npz", "--no-size-check"])
        == 0
    )
    monkeypatch.setenv("SPECTRALNN_MEMORY_LIMIT", "lots")
    with pytest.raises(InputError, match="SPECTRALNN_MEMORY_LIMIT"):
        snn.make_problem("gaussian", (6, 6), 1, 10)


def test_a_zip_bomb_problem_is_refused_before_unpacking(tmp_path, monkeypatch):
    """A ~1 MB .npz whose A unpacks to 1 GiB of zeros."""
    monkeypatch.delenv("SPECTRALNN_MEMORY_LIMIT", raising=False)
    path = tmp_path / "bomb.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (2**27,)}
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("A.npy", "w", force_zip64=True) as fh:
            fh.write(header.getvalue())
            block = bytes(2**24)
            for _ in range(2**30 // len(block)):
                fh.write(block)
        zf.writestr("y.npy", _forged("y", (1,)) + bytes(8))
    assert os.path.getsize(path) < 2 * 2**20
    with pytest.raises(snn.ProblemFormatError, match="'A'.*zip bomb"):
        snn.load_problem(path)
    with pytest.raises(snn.ProblemFormatError, match="unpack to 1 GiB"):
        snn.load_problem(path, max_bytes=2**30)


# --------------------------------------------------------------------------- outputs


def test_bad_outputs_exit_2_and_touch_nothing(cli_dir, capsys):
    (cli_dir / "r.summary.json").write_text('{"keep": 1}')
    (cli_dir / "o.summary.json").mkdir()
    (cli_dir / "h.history.png").mkdir()
    os.symlink(cli_dir / "in.csv", cli_dir / "link.csv")
    cases = [
        (["complete", "r.summary.json", "--format", "csv", "--out", "r.csv"], "input"),
        (["complete", "in.csv", "--out", "o.csv"], "is a folder"),
        (["complete", "in.csv", "--out", "h.csv"], "is a folder"),
        (["complete", "in.csv", "--out", "/dev/null"], "not a regular file"),
        (["complete", "in.csv", "--out", ""], "--out"),
        (["complete", "in.csv", "--out", "link.csv"], "input"),
        (["complete", "in.csv", "--out", "in.csv"], "input"),
        (["make-problem", "gaussian", "--out", ""], "--out"),
        (["make-problem", "gaussian", "--out", "o.summary.json"], "--out"),
        (["fit", "p.npz", "--steps", "3", "--out", ""], "--out"),
        (["fit", "p.npz", "--steps", "3", "--out", "in.csv"], "not a folder"),
    ]
    for argv, needle in cases:
        _cli_refuses(cli_dir, argv, capsys, needle)


def test_fit_refuses_a_folder_where_a_result_goes(cli_dir, capsys):
    (cli_dir / "o" / "summary.json").mkdir(parents=True)
    _cli_refuses(cli_dir, ["fit", "p.npz", "--steps", "5", "--out", "o"], capsys, "summary.json")


# --------------------------------------------------------------------------- CSV input


@pytest.mark.parametrize(
    "name,text",
    [
        ("all.csv", ",,\n,,\n"),
        ("nan.csv", "NaN\n"),
        ("na.csv", "a,b\nNA,nan\n"),
        ("idgap.csv", "id,a,b\n101,1,2\n,5,3\n103,4,\n"),
    ],
)
def test_unusable_tables_exit_2(cli_dir, capsys, name, text):
    (cli_dir / name).write_text(text)
    _cli_refuses(cli_dir, ["complete", name, "--out", "c.csv"], capsys, name)


def test_empty_npy_exits_2(cli_dir, capsys):
    np.save(cli_dir / "e.npy", np.zeros((0, 5)))
    _cli_refuses(cli_dir, ["complete", "e.npy", "--out", "c.npy"], capsys, "no entries")


def test_table_reading_rules(tmp_path):
    from spectralnn._tabular import MISSING, read_table

    p = tmp_path / "id.csv"
    p.write_text("id,a,b\n101,1,2\n102,,3\n103,4,\n")
    t = read_table(p)
    assert t.index == ["101", "102", "103"] and t.values.shape == (3, 2)
    p.write_text("x\n1\n\n3\n\n\n")  # a blank line in one column is a missing entry
    t = read_table(p)
    assert t.values.shape == (3, 1) and np.isnan(t.values[1, 0])
    tokens = ["NA", "NaN", "N/A", "Null", "NONE", "?", "", "nan", "na"]
    p.write_text("a,b,c\n" + "\n".join(f"{tok},1,2" for tok in tokens) + "\n")
    assert np.isnan(read_table(p).values[:, 0]).all()  # fails if matching were case-sensitive
    assert all(tok == tok.lower() for tok in MISSING)


# --------------------------------------------------------------------------- checkpoints


def _checkpointed(tmp_path):
    problem = snn.make_problem("gaussian", (4, 3), 1, 12, seed=0)
    ckpt = tmp_path / "c.pt"
    snn.fit(snn.FreeMatrix((4, 3)), problem, 0.1, 6, record_every=3, checkpoint=ckpt)
    return problem, ckpt


def _forge(ckpt, edit):
    """Rewrite a checkpoint with ``edit(state)`` applied and a valid checksum (a forgery)."""
    import hashlib

    from spectralnn import _checkpoint

    state = torch.load(io.BytesIO(ckpt.read_bytes()[: -_checkpoint._TAIL]), weights_only=True)
    edit(state)
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    ckpt.write_bytes(data + _checkpoint.TRAILER + hashlib.sha256(data).hexdigest().encode() + b"\n")


def test_every_single_byte_flip_of_a_checkpoint_is_caught(tmp_path):
    from spectralnn import _checkpoint

    _, ckpt = _checkpointed(tmp_path)
    good = ckpt.read_bytes()
    assert _checkpoint.saved_lrs(ckpt) == [0.1]
    assert _checkpoint._verified(good, "c.pt") == good[: -_checkpoint._TAIL]
    for i in range(len(good)):  # every byte, in memory (the file path is tested below)
        flipped = good[:i] + bytes([good[i] ^ 0x01]) + good[i + 1 :]
        with pytest.raises(InputError, match="'checkpoint'"):
            _checkpoint._verified(flipped, "c.pt")
    bad = tmp_path / "bad.pt"
    for i in (0, len(good) // 2, len(good) - 70, len(good) - 1):
        bad.write_bytes(good[:i] + bytes([good[i] ^ 0x80]) + good[i + 1 :])
        with pytest.raises(InputError, match="'checkpoint'"):
            _checkpoint.saved_lrs(bad)


@pytest.mark.parametrize(
    "edit,needle",
    [
        (lambda s: s.update(step=-5), "step"),
        (lambda s: (s.update(step=10**12), s["header"].update(step=10**12)), "step 1000000000000"),
        (lambda s: (s.update(step=-5), s["header"].update(step=-5)), "step -5"),
        (lambda s: s["model"]["X"].fill_(float("nan")), "non-finite"),
        (lambda s: s["optimizer"].update(t="junk"), "optimizer"),
        (lambda s: s["optimizer"].update(lr=torch.tensor([1.0, 2.0])), "optimizer"),
        (lambda s: s["optimizer"].update(state=[[torch.zeros(4, 3)]]), "optimizer"),
        (lambda s: s["runs"][0].update(status="exploded"), "run entry"),
        (lambda s: s["header"].update(lrs=[0.5]), "lrs"),
    ],
)
def test_a_forged_checkpoint_is_refused_and_kept(tmp_path, edit, needle):
    problem, ckpt = _checkpointed(tmp_path)
    _forge(ckpt, edit)
    before = ckpt.read_bytes()
    with pytest.raises(InputError, match=needle):
        snn.fit(snn.FreeMatrix((4, 3)), problem, 0.1, 12, checkpoint=ckpt)
    assert ckpt.read_bytes() == before


def test_a_checkpoint_of_another_problem_of_the_same_size_is_refused(tmp_path, cli_dir, capsys):
    _, ckpt = _checkpointed(tmp_path)
    other = snn.make_problem("gaussian", (4, 3), 1, 12, seed=1)
    with pytest.raises(InputError, match="different problem of the same size"):
        snn.fit(snn.FreeMatrix((4, 3)), other, 0.1, 12, checkpoint=ckpt)
    from spectralnn.cli import main

    assert main(["fit", "p.npz", "--model", "free", "--steps", "4", "--out", "o"]) == 0
    snn.make_problem("gaussian", (6, 5), 1, 20, seed=7).save(cli_dir / "q.npz")
    _cli_refuses(
        cli_dir,
        ["fit", "q.npz", "--model", "free", "--steps", "8", "--out", "o", "--resume"],
        capsys,
        "--resume",
        "different problem",
    )


def test_fit_resume_refuses_a_damaged_checkpoint_and_keeps_it(cli_dir, capsys):
    from spectralnn.cli import main

    assert main(["fit", "p.npz", "--model", "free", "--steps", "4", "--out", "o"]) == 0
    ckpt = cli_dir / "o" / "checkpoint.pt"
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 3] ^= 0x04
    ckpt.write_bytes(bytes(data))
    _cli_refuses(
        cli_dir,
        ["fit", "p.npz", "--model", "free", "--steps", "8", "--out", "o", "--resume"],
        capsys,
        "--resume",
        "checksum",
    )


def test_lr_search_keeps_a_foreign_checkpoint(tmp_path):
    problem, ckpt = _checkpointed(tmp_path)  # rates [0.1]: not what the search will try
    before = ckpt.read_bytes()
    from spectralnn.train import lr_search

    kept, _ = lr_search(
        lambda runs: snn.FreeMatrix((4, 3), runs=runs),
        problem,
        4,
        grid=(0.05, 0.01),
        keep=1,
        checkpoint=ckpt,
    )
    assert kept and ckpt.read_bytes() == before
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="'checkpoint'"):
        lr_search(
            lambda runs: snn.FreeMatrix((4, 3), runs=runs),
            problem,
            4,
            grid=(0.05,),
            checkpoint=tmp_path / "junk.pt",
        )
    assert (tmp_path / "junk.pt").read_bytes() == b"not a checkpoint"
