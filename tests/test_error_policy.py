"""One error policy: every check of user input in the public API raises InputError (a
ValueError) or InputTypeError (a TypeError) -- never a bare ValueError/TypeError, nor an error
from deep inside torch or LAPACK.  Each case below is a bad input to a public entry point."""

import math

import numpy as np
import pytest
import torch

import spectralnn as snn
from spectralnn.errors import InputError, InputTypeError
from spectralnn.train import fit_runs, lr_search

P = snn.make_problem("gaussian", (4, 3), 1, 12, seed=0)
NAN = float("nan")

CASES = {
    "make_problem kind": lambda: snn.make_problem("gauss"),
    "make_problem shape": lambda: snn.make_problem("gaussian", (0, 3)),
    "make_problem huge shape": lambda: snn.make_problem("gaussian", (10**6, 10**6)),
    "make_problem huge m": lambda: snn.make_problem("gaussian", (4, 4), 1, 10**12),
    "make_problem rank": lambda: snn.make_problem("gaussian", (4, 4), 9),
    "make_problem noise": lambda: snn.make_problem("gaussian", noise=NAN),
    "make_problem seed": lambda: snn.make_problem("gaussian", seed=1.5),
    "make_problem scale 1e300": lambda: snn.make_problem("gaussian", (4, 4), 1, 8, scale=1e300),
    "make_problem target nan": lambda: snn.make_problem(
        "gaussian", (2, 2), 1, 4, target=np.full((2, 2), NAN)
    ),
    "make_problem max_bytes": lambda: snn.make_problem("gaussian", max_bytes="lots"),
    "load_problem type": lambda: snn.load_problem(3),
    "load_problem missing": lambda: snn.load_problem("/nonexistent/p.npz"),
    "make_model name": lambda: snn.make_model("snnn", (4, 4)),
    "make_model unknown kw": lambda: snn.make_model("snn", (4, 4), widht=(2,)),
    "make_model rank for deep": lambda: snn.make_model("deep", (4, 4), rank=10**9),
    "make_model huge rank": lambda: snn.make_model("factor", (4, 4), rank=10**9),
    "make_model huge widths": lambda: snn.make_model("snn", (4, 4), widths=(10**8,)),
    "make_model shape": lambda: snn.make_model("free", "4x4"),
    "fit model": lambda: snn.fit("model", P, 0.1, 5),
    "fit problem": lambda: snn.fit(snn.FreeMatrix((4, 3)), "p", 0.1, 5),
    "fit shape": lambda: snn.fit(snn.FreeMatrix((3, 3)), P, 0.1, 5),
    "fit lr": lambda: snn.fit(snn.FreeMatrix((4, 3)), P, -1.0, 5),
    "fit steps": lambda: snn.fit(snn.FreeMatrix((4, 3)), P, 0.1, -5),
    "fit runs model": lambda: snn.fit(snn.FreeMatrix((4, 3), runs=2), P, 0.1, 5),
    "fit_runs lrs": lambda: fit_runs(snn.FreeMatrix((4, 3), runs=2), P, [0.1], 5),
    "fit_runs no runs": lambda: fit_runs(snn.FreeMatrix((4, 3)), P, [0.1], 5),
    "lr_search grid": lambda: lr_search(lambda r: snn.FreeMatrix((4, 3), runs=r), P, 5, grid=()),
    "lr_search keep": lambda: lr_search(lambda r: snn.FreeMatrix((4, 3), runs=r), P, 5, keep=0),
    "nuclear_norm nan": lambda: snn.nuclear_norm(torch.tensor([[NAN, 1.0], [0.0, 1.0]])),
    "nuclear_norm inf": lambda: snn.nuclear_norm(torch.full((2, 2), math.inf)),
    "nuclear_norm 1-D": lambda: snn.nuclear_norm(torch.ones(3)),
    "nuclear_norm int": lambda: snn.nuclear_norm(torch.ones(2, 2, dtype=torch.int64)),
    "nuclear_norm numpy": lambda: snn.nuclear_norm(np.ones((2, 2))),
    "nuclear_norm empty": lambda: snn.nuclear_norm(torch.ones(0, 3)),
    "effective_rank nan": lambda: snn.effective_rank(torch.full((2, 2), NAN)),
    "effective_rank 0-D": lambda: snn.effective_rank(torch.tensor(1.0)),
    "effective_rank complex": lambda: snn.effective_rank(torch.ones(2, 2, dtype=torch.complex64)),
    "effective_rank list": lambda: snn.effective_rank([[1.0, 0.0], [0.0, 1.0]]),
    "Problem y shape": lambda: snn.Problem(P.operator, torch.zeros(3)),
    "Problem y nan": lambda: snn.Problem(P.operator, torch.full((12,), NAN)),
    "Problem operator": lambda: snn.Problem("A", torch.zeros(12)),
    "Problem.from_arrays A": lambda: snn.Problem.from_arrays(np.ones((2, 2)), np.ones(2)),
    "DenseOperator": lambda: snn.DenseOperator(torch.ones(2, 2)),
    "DenseOperator nan": lambda: snn.DenseOperator(torch.full((2, 2, 2), NAN)),
    "CompletionOperator index": lambda: snn.CompletionOperator([0, 5], [0, 0], (2, 2)),
    "RankOneOperator shapes": lambda: snn.RankOneOperator(torch.ones(2, 3), torch.ones(3, 3)),
    "AlignedOperator shapes": lambda: snn.AlignedOperator(
        torch.ones(3, 1), torch.ones(2, 2), torch.ones(4, 1)
    ),
    "operator call": lambda: P.operator(torch.ones(2, 2)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_raises_an_input_error(name):
    with pytest.raises((ValueError, TypeError)) as info:
        CASES[name]()
    assert isinstance(info.value, (InputError, InputTypeError)), (name, repr(info.value))
    assert str(info.value).strip()  # a message (naming the argument; see test_fuzz.py)


def test_a_huge_target_is_rescaled_not_zeroed():
    p = snn.make_problem(
        "gaussian", (2, 2), 1, 4, target=np.array([[1e308, -1e308], [1e308, 1e308]])
    )
    assert torch.isfinite(p.X_true).all() and p.X_true.abs().max() > 0
    assert abs(snn.nuclear_norm(p.X_true).item() - 1) < 1e-12


def test_a_problem_file_with_values_near_1e308_names_the_key(tmp_path):
    np.savez(tmp_path / "big.npz", A=np.ones((3, 2, 2)), y=np.array([1.0, 1e308, 0.0]))
    with pytest.raises(InputError, match="'y' in .*big.npz.*1e\\+150"):
        snn.load_problem(tmp_path / "big.npz")
