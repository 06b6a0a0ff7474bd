import subprocess
import sys

import numpy as np
import pytest
import torch

import spectralnn as snn


def _operators(gen):
    d = torch.float64
    p = snn.make_problem("aligned", (6, 5), 2, 9, seed=0)
    rows = torch.randint(6, (11,), generator=gen)
    cols = torch.randint(5, (11,), generator=gen)
    return {
        "dense": snn.DenseOperator(torch.randn(7, 6, 5, generator=gen, dtype=d)),
        "aligned": p.operator,
        "completion": snn.CompletionOperator(rows, cols, (6, 5)),  # repeats allowed
        "rank_one": snn.RankOneOperator(
            torch.randn(8, 6, generator=gen, dtype=d), torch.randn(8, 5, generator=gen, dtype=d)
        ),
    }


def _matrices_by_definition(kind, op):
    """Each A_i built from the operator's defining arrays, independently of apply/adjoint."""
    d1, d2 = op.shape
    if kind == "dense":
        return [op.A[i] for i in range(op.m)]
    if kind == "aligned":  # A_i = Phi diag(s_i) Psi^T
        return [op.Phi @ torch.diag(op.S[i]) @ op.Psi.mT for i in range(op.m)]
    if kind == "completion":  # A_i = e_{rows_i} e_{cols_i}^T
        out = []
        for r, c in zip(op.rows.tolist(), op.cols.tolist()):
            E = torch.zeros(d1, d2, dtype=torch.float64)
            E[r, c] = 1.0
            out.append(E)
        return out
    return [torch.outer(op.a[i], op.b[i]) for i in range(op.m)]  # rank_one: a_i b_i^T


def _apply_by_definition(kind, op, X):
    """A(X)_i written out per kind: <A_i, X>, X[rows_i, cols_i], a_i^T X b_i,
    s_i . diag(Phi^T X Psi), as explicit loops over i and entries."""
    d1, d2 = op.shape
    out = []
    for i in range(op.m):
        if kind == "dense":
            v = sum(op.A[i, j, k].item() * X[j, k].item() for j in range(d1) for k in range(d2))
        elif kind == "completion":
            v = X[op.rows[i], op.cols[i]].item()
        elif kind == "rank_one":
            v = sum(
                op.a[i, j].item() * X[j, k].item() * op.b[i, k].item()
                for j in range(d1)
                for k in range(d2)
            )
        else:
            coords = [
                sum(
                    op.Phi[j, q].item() * X[j, k].item() * op.Psi[k, q].item()
                    for j in range(d1)
                    for k in range(d2)
                )
                for q in range(op.rank)
            ]
            v = sum(op.S[i, q].item() * coords[q] for q in range(op.rank))
        out.append(v)
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("kind", ["dense", "aligned", "completion", "rank_one"])
def test_operators_match_their_definitions(kind, gen):
    op = _operators(gen)[kind]
    X = torch.randn(3, 6, 5, generator=gen, dtype=torch.float64)
    r = torch.randn(3, op.m, generator=gen, dtype=torch.float64)
    AX, ATr = op(X), op.adjoint(r)
    assert AX.shape == (3, op.m) and ATr.shape == (3, 6, 5)
    for b in range(3):
        torch.testing.assert_close(
            AX[b], _apply_by_definition(kind, op, X[b]), rtol=1e-12, atol=1e-12
        )
    mats = _matrices_by_definition(kind, op)
    expected = torch.stack([sum(r[b, i] * mats[i] for i in range(op.m)) for b in range(3)])
    torch.testing.assert_close(ATr, expected, rtol=1e-12, atol=1e-12)  # sum_i r_i A_i
    torch.testing.assert_close(op.dense(), torch.stack(mats), rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(op(X[1]), AX[1])  # unbatched = one slice of the batch


def test_completion_repeated_entries_add_up_in_the_adjoint():
    op = snn.CompletionOperator(np.array([0, 0, 1]), torch.tensor([2, 2, 0]), (2, 3))
    out = op.adjoint(torch.tensor([1.0, 2.0, 5.0], dtype=torch.float64))
    assert out.tolist() == [[0.0, 0.0, 3.0], [5.0, 0.0, 0.0]]


def test_operator_inputs_are_checked(gen):
    op = _operators(gen)["dense"]  # (6, 5), m = 7
    with pytest.raises(
        ValueError,
        match=r"'X' parameter of DenseOperator.__call__ must have "
        r"shape \(\.\.\., 6, 5\). Got shape \(5, 6\)",
    ):
        op(torch.zeros(5, 6, dtype=torch.float64))  # same size, transposed: refused
    with pytest.raises(TypeError, match="'X' parameter.*operator's dtype float64. Got float32"):
        op(torch.zeros(6, 5))
    with pytest.raises(ValueError, match=r"'r' parameter of DenseOperator.adjoint.*\(\.\.\., 7\)"):
        op.adjoint(torch.zeros(6, dtype=torch.float64))


def test_aligned_operator_structure():
    p = snn.make_problem("aligned", (10, 10), 6, 75, seed=0, scale=10.0)
    op = p.operator
    A = op.dense()
    for i in range(3):  # every A_i = Phi diag(s_i) Psi^T
        M = op.Phi.mT @ A[i] @ op.Psi
        torch.testing.assert_close(M, torch.diag(op.S[i]), atol=1e-10, rtol=0)
    assert (op.S[:, :-1] >= op.S[:, 1:]).all()  # sorted decreasing
    assert snn.metrics.alignment(p.X_true, op.Phi, op.Psi) < 1e-12


@pytest.mark.parametrize("kind", ["aligned", "gaussian", "completion", "rank_one"])
def test_generators_rank_norm_and_seeds(kind):
    p = snn.make_problem(kind, (12, 9), 3, 40, noise=0.01, seed=5)
    q = snn.make_problem(kind, (12, 9), 3, 40, noise=0.01, seed=5)
    r = snn.make_problem(kind, (12, 9), 3, 40, noise=0.01, seed=6)
    assert torch.linalg.matrix_rank(p.X_true) == 3
    assert snn.nuclear_norm(p.X_true).item() == pytest.approx(1.0)
    assert torch.equal(p.y, q.y) and torch.equal(p.y_test, q.y_test)
    assert not torch.equal(p.y, r.y)
    assert p.m == 40 and p.test_operator.m == 40
    resid = p.operator(p.X_true) - p.y
    assert 0.003 < resid.std().item() < 0.03  # the stated noise level


def test_completion_samples_distinct_entries_and_holds_out_others():
    p = snn.make_problem("completion", (10, 10), 2, 60, seed=0)
    train = set(zip(p.operator.rows.tolist(), p.operator.cols.tolist()))
    test = set(zip(p.test_operator.rows.tolist(), p.test_operator.cols.tolist()))
    assert len(train) == 60 and not train & test


def test_user_target_scaled_to_unit_nuclear_norm():
    T = np.outer(np.arange(1, 5), np.ones(3))
    p = snn.make_problem("gaussian", (4, 3), 1, 10, target=T)
    torch.testing.assert_close(p.X_true, torch.from_numpy(T / np.linalg.svd(T)[1].sum()))


def test_save_load_roundtrip_all_kinds(tmp_path):
    for kind in ["aligned", "gaussian", "completion", "rank_one"]:
        p = snn.make_problem(kind, (6, 5), 2, 12, noise=0.01, seed=1)
        path = tmp_path / f"{kind}.npz"
        p.save(path)
        q = snn.load_problem(path)
        X = torch.randn(6, 5, dtype=torch.float64)
        assert torch.equal(p.operator(X), q.operator(X)) and torch.equal(p.y, q.y)
        assert torch.equal(p.X_true, q.X_true) and torch.equal(p.y_test, q.y_test)
        assert q.meta == p.meta


def test_from_arrays_and_plain_npz(tmp_path):
    A = np.random.default_rng(0).standard_normal((5, 3, 3))
    X = np.eye(3)
    y = np.einsum("mij,ij->m", A, X)
    p = snn.Problem.from_arrays(A, y, X)
    assert p.loss(torch.from_numpy(X)).item() < 1e-30
    np.savez(tmp_path / "plain.npz", A=A, y=y)
    assert snn.load_problem(tmp_path / "plain.npz").m == 5


def test_bad_problem_inputs(tmp_path):
    A = np.zeros((5, 3, 3))
    with pytest.raises(
        ValueError, match=r"'y' parameter of Problem must have shape \(m,\) = \(5,\)"
    ):
        snn.Problem.from_arrays(A, np.zeros(4))
    with pytest.raises(ValueError, match="'y' parameter of Problem must be finite"):
        snn.Problem.from_arrays(A, np.array([0, 0, np.nan, 0, 0.0]))
    with pytest.raises(snn.ProblemFormatError, match="does not exist"):
        snn.load_problem(tmp_path / "nope.npz")
    np.savez(tmp_path / "bad.npz", B=A, y=np.zeros(5))
    with pytest.raises(snn.ProblemFormatError, match=r"needs the keys \['A'\]; missing \['A'\]"):
        snn.load_problem(tmp_path / "bad.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(snn.ProblemFormatError, match="Could not read"):
        snn.load_problem(tmp_path / "text.npz")
    with pytest.raises(ValueError, match="'kind' parameter of make_problem.*'gaussian'"):
        snn.make_problem("gausian", (3, 3), 1, 4)
    with pytest.raises(ValueError, match="'rank' parameter of make_problem"):
        snn.make_problem("gaussian", (3, 3), -1, 4)


def test_problem_loaded_in_another_process_gives_bit_identical_fit(tmp_path):
    p = snn.make_problem("gaussian", (6, 6), 1, 20, noise=0.01, seed=2)
    path = tmp_path / "p.npz"
    p.save(path)
    code = (
        "import sys, torch, spectralnn as snn\n"
        "p = snn.load_problem(sys.argv[1])\n"
        "r = snn.fit(snn.SNNFactorization((6, 6), (2,), init_scale=1e-2, seed=3), p, 0.05, 200)\n"
        "torch.save(r.X, sys.argv[2])\n"
    )
    outs = []
    for i in range(2):
        out = tmp_path / f"X{i}.pt"
        subprocess.run([sys.executable, "-c", code, str(path), str(out)], check=True)
        outs.append(torch.load(out))
    here = snn.fit(snn.SNNFactorization((6, 6), (2,), init_scale=1e-2, seed=3), p, 0.05, 200).X
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], here)


# --------------------------------------------------------------------------- issue 12 cases


def _arrays(problem, tmp_path):
    problem.save(tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz") as f:
        return {k: f[k] for k in f.files}


def test_integer_y_in_a_completion_file_is_cast_not_truncated(tmp_path):
    p = snn.make_problem("completion", (5, 4), 2, 12, seed=0)
    data = _arrays(p, tmp_path)
    data["y"] = np.round(data["y"] * 1000).astype(np.int64)
    data["y_test"] = np.round(data["y_test"] * 1000).astype(np.int32)
    np.savez(tmp_path / "int.npz", **data)
    q = snn.load_problem(tmp_path / "int.npz")
    assert q.dtype == q.y.dtype == q.X_true.dtype == torch.float64
    torch.testing.assert_close(q.X_true, p.X_true)  # not cast to int64 zeros
    assert q.y.tolist() == data["y"].astype(float).tolist()
    assert snn.metrics.relative_error(q.X_true * 0.5, q.X_true).item() == pytest.approx(0.5)


@pytest.mark.parametrize("key", ["X_true", "A", "y", "y_test", "test_A"])
@pytest.mark.parametrize("bad", ["nan", "complex"])
def test_nan_or_complex_arrays_in_a_file_are_refused_by_key(tmp_path, key, bad):
    data = _arrays(snn.make_problem("gaussian", (3, 3), 1, 5, seed=0), tmp_path)
    data[key] = data[key] + (1j if bad == "complex" else 0)
    if bad == "nan":
        data[key].flat[0] = np.nan
    path = tmp_path / "bad.npz"
    np.savez(path, **data)
    what = "must be real. Got complex" if bad == "complex" else "must be finite. Got 1 NaN"
    with pytest.raises(snn.ProblemFormatError, match=rf"Array '{key}' in '.*bad.npz' {what}"):
        snn.load_problem(path)


@pytest.mark.parametrize("name", ["A", "y", "X_true"])
def test_nan_or_complex_arrays_are_refused_by_the_api(name):
    arrays = {"A": np.ones((4, 2, 2)), "y": np.ones(4), "X_true": np.eye(2)}
    for bad, err, what in (
        (np.nan, ValueError, "must be finite"),
        (1j, TypeError, "must be a real float32 or float64 array"),
    ):
        broken = dict(arrays)
        broken[name] = arrays[name] + 1j if bad == 1j else arrays[name].copy()
        if bad != 1j:
            broken[name].flat[0] = np.nan
        with pytest.raises(err, match=f"'{name}' parameter of .*{what}"):
            snn.Problem.from_arrays(broken["A"], broken["y"], broken["X_true"])


def test_a_test_set_of_another_shape_is_refused(tmp_path):
    p = snn.make_problem("completion", (4, 3), 1, 6, seed=0)
    other = snn.CompletionOperator(np.array([0, 1]), np.array([0, 2]), (3, 4))
    with pytest.raises(
        ValueError,
        match=r"'test_operator' parameter of Problem must act on "
        r"\(4, 3\) matrices.*Got shape \(3, 4\)",
    ):
        snn.Problem(p.operator, p.y, p.X_true, other, torch.zeros(2, dtype=torch.float64))
    data = _arrays(p, tmp_path)
    data["test_shape"] = np.array([5, 4])  # indices still in range
    np.savez(tmp_path / "t.npz", **data)
    with pytest.raises(snn.ProblemFormatError, match="'test_operator' parameter of Problem"):
        snn.load_problem(tmp_path / "t.npz")
    del data["y_test"]
    np.savez(tmp_path / "stray.npz", **data)
    with pytest.raises(snn.ProblemFormatError, match=r"test-set keys \['test_cols'.*no 'y_test'"):
        snn.load_problem(tmp_path / "stray.npz")


def test_completion_indices_must_be_integral_and_in_range(tmp_path):
    data = _arrays(snn.make_problem("completion", (4, 3), 1, 6, seed=0), tmp_path)
    for rows, msg in (
        (data["rows"] + 0.5, "'rows'.*integral"),
        (data["rows"] + 4, r"'rows'.*indices in \[0, 3\]"),
        (-1 - data["rows"], r"'rows'.*indices in \[0, 3\]"),
    ):
        np.savez(tmp_path / "c.npz", **{**data, "rows": rows})
        with pytest.raises(snn.ProblemFormatError, match=msg):
            snn.load_problem(tmp_path / "c.npz")
    np.savez(tmp_path / "f.npz", **{**data, "rows": data["rows"].astype(float)})
    assert snn.load_problem(tmp_path / "f.npz").operator.rows.dtype == torch.int64
    with pytest.raises(ValueError, match=r"'cols' parameter of CompletionOperator.*\[0, 2\]"):
        snn.CompletionOperator(torch.tensor([0]), torch.tensor([3]), (4, 3))


def test_compressed_and_float32_files_load(tmp_path):
    p = snn.make_problem("rank_one", (4, 3), 1, 6, seed=0, dtype=torch.float32)
    np.savez_compressed(tmp_path / "z.npz", **_arrays(p, tmp_path))
    q = snn.load_problem(tmp_path / "z.npz")
    assert q.dtype == torch.float32 and torch.equal(q.y, p.y)


def test_bad_seeds_dtypes_and_shapes_name_the_argument():
    with pytest.raises(TypeError, match="'seed' parameter of make_problem must be an int"):
        snn.make_problem("gaussian", seed="abc")
    with pytest.raises(TypeError, match="'dtype' parameter of make_problem must be torch.float32"):
        snn.make_problem("gaussian", dtype=torch.float16)
    with pytest.raises(TypeError, match="'shape' parameter of make_problem must be a pair"):
        snn.make_problem("gaussian", shape=3)
    with pytest.raises(ValueError, match="'target' parameter of make_problem must be a nonzero"):
        snn.make_problem("gaussian", (2, 2), target=np.zeros((2, 2)))
