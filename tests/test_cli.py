"""End-to-end runs of the ``spectralnn`` command in a temp dir."""

import json
import subprocess
import sys

import numpy as np
import pytest

from spectralnn.cli import main


def run(*argv):
    return subprocess.run(
        [sys.executable, "-m", "spectralnn", *argv], capture_output=True, text=True
    )


def test_make_problem_then_fit_snn_beats_free(tmp_path):
    p = str(tmp_path / "p.npz")
    assert (
        main(
            [
                "make-problem",
                "gaussian",
                "--shape",
                "12x12",
                "--rank",
                "2",
                "--measurements",
                "80",
                "--out",
                p,
            ]
        )
        == 0
    )
    for model, extra in (("snn", ["--widths", "1", "--init-scale", "1e-3"]), ("free", [])):
        out = str(tmp_path / model)
        assert (
            main(
                ["fit", p, "--model", model, *extra, "--lr", "0.1", "--steps", "2000", "--out", out]
            )
            == 0
        )
        for name in ("X.npz", "history.json", "history.csv", "history.png", "summary.json"):
            assert (tmp_path / model / name).exists(), name
    snn_err = json.loads((tmp_path / "snn" / "summary.json").read_text())["final"]["rel_error"]
    free_err = json.loads((tmp_path / "free" / "summary.json").read_text())["final"]["rel_error"]
    assert snn_err < 0.1 < 0.4 < free_err
    X = np.load(tmp_path / "snn" / "X.npz")["X"]
    assert X.shape == (12, 12)


def test_fit_lr_search_records_diverged_rates(tmp_path):
    p = str(tmp_path / "p.npz")
    main(["make-problem", "gaussian", "--shape", "6x6", "--measurements", "30", "--out", p])
    assert (
        main(
            [
                "fit",
                p,
                "--model",
                "free",
                "--lr",
                "search",
                "--steps",
                "50",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["diverged_lrs"][:2] == [50.0, 10.0]
    assert summary["lr"] not in summary["diverged_lrs"]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["make-problem", "gaussian", "--shape", "20xfoo", "--out", "q.npz"], "--shape"),
        (["make-problem", "gaussian", "--rank", "-1", "--out", "q.npz"], "--rank"),
        (["make-problem", "gaussian", "--measurements", "0", "--out", "q.npz"], "--measurements"),
        (["make-problem", "gausian", "--out", "q.npz"], "'kind'"),
        (["fit", "missing.npz", "--out", "o"], "does not exist"),
        (["fit", "bad_keys.npz", "--out", "o"], "missing ['A']"),
        (["fit", "nan_y.npz", "--out", "o"], "must be finite"),
        (["fit", "short_y.npz", "--out", "o"], "must have shape (m,) = (4,)"),
        (["fit", "good.npz", "--lr", "fast", "--out", "o"], "--lr"),
        (["fit", "good.npz", "--widths", "2,x", "--out", "o"], "--widths"),
    ],
)
def test_bad_input_exit_2_one_line_nothing_written(tmp_path, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    A = np.random.default_rng(0).standard_normal((4, 3, 3))
    np.savez("bad_keys.npz", B=A, y=np.zeros(4))
    np.savez("nan_y.npz", A=A, y=np.array([0, np.nan, 0, 0]))
    np.savez("short_y.npz", A=A, y=np.zeros(3))
    np.savez("good.npz", A=A, y=np.zeros(4))
    before = set(p.name for p in tmp_path.iterdir())
    res = run(*argv)
    assert res.returncode == 2, res.stderr
    assert needle in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert set(p.name for p in tmp_path.iterdir()) == before


def test_recover_writes_side_by_side_and_psnr(tmp_path, capsys):
    out = tmp_path / "rec"
    assert (
        main(
            [
                "recover",
                "lfw:3",
                "--size",
                "12",
                "--fraction",
                "0.6",
                "--steps",
                "300",
                "--widths",
                "2,2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["models"]) == {"free", "snn"}
    assert all(np.isfinite(m["psnr"]) for m in metrics["models"].values())
    assert (out / "recover.png").exists()
    # a photo without --mask or --missing is not inpainted: the mode is said, with the way out
    err = capsys.readouterr().err
    assert "Gaussian-measurement mode" in err and "--mask MASK or --missing FRACTION" in err
    assert metrics["measurements"] == int(0.6 * 12 * 12) and f"{metrics['measurements']} " in err


def test_help_has_examples():
    res = run("fit", "--help")
    assert res.returncode == 0 and "example:" in res.stdout


def test_theory_check_end_to_end(tmp_path):
    out = tmp_path / "tc"
    assert (
        main(
            [
                "theory-check",
                "--seeds",
                "1",
                "--steps",
                "300",
                "--drift-steps",
                "0",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    data = json.loads((out / "theory_check.json").read_text())
    assert len(data["runs"]) == 9 and len(data["summary"]) == 9
    aligned = [r for r in data["runs"] if r["alignment"] is not None]
    assert all(r["alignment"] < 1e-10 for r in aligned)  # Theorem 1's spectral picture
    assert all(r["method"] == "reduced" for r in aligned)
    assert (out / "theory_check.png").exists() and (out / "theory_check.csv").exists()


def test_fit_too_large_for_a_dense_x_writes_its_factors(tmp_path, monkeypatch):
    """A factored fit whose X is not formed (FitResult.X is None above DENSE_X_LIMIT) writes
    X.npz as factors L, R with X = L R^T, equal to the model's matrix."""
    from spectralnn import _factored

    monkeypatch.setattr(_factored, "DENSE_X_LIMIT", 100)  # so that 100 x 100 counts as large
    p, out = str(tmp_path / "p.npz"), tmp_path / "run"
    assert (
        main(
            [
                "make-problem",
                "completion",
                "--shape",
                "100x100",
                "--rank",
                "2",
                "--measurements",
                "3000",
                "--seed",
                "0",
                "--out",
                p,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "fit",
                p,
                "--widths",
                "1",
                "--model-rank",
                "8",
                "--init",
                "gaussian",
                "--init-scale",
                "0.1",
                "--lr",
                "1000",
                "--steps",
                "20",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with np.load(out / "X.npz") as f:
        assert set(f.files) == {"L", "R"}
        L, R = f["L"], f["R"]
    assert L.shape[0] == 100 and R.shape[0] == 100 and L.shape[1] == R.shape[1] <= 8
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "max_steps"
    with np.load(p) as f:  # the factors are the final X: its recorded error, recomputed
        X_true = f["X_true"]
    err = np.linalg.norm(L @ R.T - X_true) / np.linalg.norm(X_true)
    assert err == pytest.approx(summary["final"]["rel_error"], rel=1e-9)
