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
        "rank_one": snn.RankOneOperator(torch.randn(8, 6, generator=gen, dtype=d),
                                        torch.randn(8, 5, generator=gen, dtype=d)),
    }


@pytest.mark.parametrize("kind", ["dense", "aligned", "completion", "rank_one"])
def test_adjoint_identity_batching_and_dense_form(kind, gen):
    op = _operators(gen)[kind]
    X = torch.randn(3, 6, 5, generator=gen, dtype=torch.float64)
    r = torch.randn(3, op.m, generator=gen, dtype=torch.float64)
    AX = op(X)
    assert AX.shape == (3, op.m) and op.adjoint(r).shape == (3, 6, 5)
    lhs = (AX * r).sum(-1)
    rhs = (X * op.adjoint(r)).sum((-2, -1))
    torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=1e-12)
    A = op.dense()
    torch.testing.assert_close(AX, torch.einsum("mij,bij->bm", A, X))
    torch.testing.assert_close(op(X[1]), AX[1])


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
    with pytest.raises(ValueError, match=r"'y' parameter of Problem must have shape \(m,\) = \(5,\)"):
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
