"""ProgressPrinter: throttled lines, a line per new phase, a final line on close, both call
signatures, plain lines (no carriage return) when the stream is not a terminal."""

import io
import math

import numpy as np
import pytest

from spectralnn._progress import ProgressPrinter, completion_scale, format_event


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _event(phase, step, held=0.5, eta=None, total=100):
    return {
        "phase": phase,
        "step": step,
        "max_steps": total,
        "held_out": held,
        "elapsed": None,
        "eta": eta,
    }


def test_throttle_new_phase_and_close():
    out, clock = io.StringIO(), Clock()
    p = ProgressPrinter(out, every=3.0, prefix="complete", clock=clock)
    p(_event("race", 10))  # first: printed
    clock.t = 1.0
    p(_event("race", 20))  # within 3 s: held back
    clock.t = 3.5
    p(_event("race", 30))  # 3.5 s after the first: printed
    clock.t = 3.6
    p(_event("refit", 5))  # new phase: printed at once
    clock.t = 4.0
    p(_event("refit", 9, eta=12.0))  # held back ...
    p.close()  # ... and written by close
    p.close()  # idempotent
    lines = out.getvalue().splitlines()
    assert [line.split("  ")[1] for line in lines] == [
        "step 10/100",
        "step 30/100",
        "step 5/100",
        "step 9/100",
    ]
    assert lines[0] == "complete: race  step 10/100  held-out RMSE 0.5  0.0 s elapsed"
    assert lines[-1].endswith("4.0 s elapsed  ETA 12 s") and "\r" not in out.getvalue()


def test_eta_only_when_given_and_quiet():
    assert "ETA" not in format_event(_event("race", 1))
    assert "ETA 6.0 s" in format_event(dict(_event("race", 1), eta=6.0, elapsed=2.1))
    out = io.StringIO()
    p = ProgressPrinter(out, quiet=True)
    p(_event("race", 1))
    p.close()
    assert out.getvalue() == "" and p.last["step"] == 1


def test_legacy_three_argument_call():
    out = io.StringIO()
    ProgressPrinter(out, legacy_scale=2.0)(40, 200, 0.125)  # rmse = 2 * sqrt(2 * 0.125) = 1
    assert "race  step 40/200  held-out RMSE 1 " in out.getvalue()
    out = io.StringIO()
    ProgressPrinter(out)(40, 200, 0.125)
    assert "held-out loss 0.125 (normalised)" in out.getvalue()
    with pytest.raises(TypeError):
        ProgressPrinter(out)(1, 2)


def test_terminal_redraws_one_line():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    out, clock = Tty(), Clock()
    p = ProgressPrinter(out, every=0.0, clock=clock)
    p(_event("race", 1))
    p(_event("race", 2))
    p.close()
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1


def test_completion_scale_matches_the_recipe():
    torch = pytest.importorskip("torch")
    from spectralnn.recipe import normalize
    from spectralnn.sensing import CompletionOperator, Problem

    rng = np.random.default_rng(0)
    M = rng.standard_normal((6, 5)) * 3 + 2
    M[rng.random(M.shape) < 0.4] = np.nan
    rows, cols = np.nonzero(~np.isnan(M))
    prob = Problem(CompletionOperator(rows, cols, M.shape), torch.from_numpy(M[rows, cols]))
    assert math.isclose(normalize(prob)[1].scale, completion_scale(M), rel_tol=1e-12)


def test_fit_command_prints_progress_lines_unless_quiet(tmp_path, capsys):
    from spectralnn.cli import main

    p = tmp_path / "p.npz"
    made = ["make-problem", "gaussian", "--shape", "6x6", "--rank", "1", "--measurements", "30"]
    assert main([*made, "--out", str(p)]) == 0
    capsys.readouterr()

    def fit(out, *extra):
        args = ["fit", str(p), "--model", "free", "--lr", "0.1", "--steps", "50"]
        assert main([*args, "--out", str(tmp_path / out), *extra]) == 0
        return capsys.readouterr().err

    err = fit("a")
    lines = [x for x in err.splitlines() if x.startswith("fit: train")]
    assert lines and "step" in lines[0] and "/50" in lines[0] and "\r" not in err
    assert "fit: train" not in fit("b", "--quiet")
