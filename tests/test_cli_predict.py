"""``spectralnn complete`` on long-format data with string ids: --predict PAIRS (one line per
pair, in order, clipped), unknown ids and bad --clip exit 2 writing nothing, --only-missing
writes only the missing entries, progress lines reach a stderr that is a file, and a bad call
answers without importing the heavy modules."""

import os
import resource
import subprocess
import sys

import numpy as np
import pytest

from spectralnn.cli import main

STEPS = ["--max-steps", "100"]


def _ratings(tmp_path, d1=9, d2=7, frac=0.6, seed=0):
    """``user,item,rating`` triplets with ids like u3, m5; returns the path and the mask."""
    rng = np.random.default_rng(seed)
    X = 3 + 1.5 * rng.standard_normal((d1, 1)) @ rng.standard_normal((1, d2))
    mask = rng.random(X.shape) < frac
    mask[np.arange(d1), np.arange(d1) % d2] = True
    mask[np.arange(d2) % d1, np.arange(d2)] = True
    lines = ["user,item,rating"] + [f"u{i},m{j},{X[i, j]:.3f}" for i, j in zip(*np.nonzero(mask))]
    path = tmp_path / "ratings.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, mask, X


def _run(args, capsys):
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def test_predict_pairs_in_order_clipped(tmp_path, capsys):
    src, mask, X = _ratings(tmp_path)
    pairs = [("u4", "m6"), ("u0", "m0"), ("u8", "m1"), ("u4", "m6"), ("u2", "m3")]
    (tmp_path / "pairs.tsv").write_text("user\titem\n" + "".join(f"{r}\t{c}\n" for r, c in pairs))
    out = tmp_path / "pred.tsv"
    code, err = _run(
        [
            "complete",
            str(src),
            "--predict",
            str(tmp_path / "pairs.tsv"),
            "--out",
            str(out),
            "--clip",
            "2.9",
            "3.1",
            *STEPS,
        ],
        capsys,
    )
    assert code == 0, err
    lines = out.read_text().splitlines()
    assert lines[0] == "user\titem\trating" and len(lines) == 1 + len(pairs)
    got = [line.split("\t") for line in lines[1:]]
    assert [(r, c) for r, c, _ in got] == pairs
    vals = np.array([float(v) for _, _, v in got])
    for (r, c), v in zip(pairs, vals):
        i, j = int(r[1:]), int(c[1:])
        if mask[i, j]:  # observed: kept as given
            assert v == pytest.approx(round(X[i, j], 3))
        else:
            assert 2.9 <= v <= 3.1
    assert vals[0] == vals[3]
    assert all(len(v.replace("-", "").replace(".", "")) <= 7 for _, _, v in got)  # %.6g


def test_unknown_id_exits_2_naming_line_and_id(tmp_path, capsys):
    src, _, _ = _ratings(tmp_path)
    (tmp_path / "pairs.csv").write_text("user,item\nu1,m2\nu1,m99\n")
    out = tmp_path / "out" / "pred.csv"
    code, err = _run(
        ["complete", str(src), "--predict", str(tmp_path / "pairs.csv"), "--out", str(out), *STEPS],
        capsys,
    )
    assert code == 2 and "line 3" in err and "'m99'" in err and "column" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    (tmp_path / "pairs.csv").write_text("u77,m2\n")  # no header: line 1 is a pair
    code, err = _run(
        ["complete", str(src), "--predict", str(tmp_path / "pairs.csv"), "--out", str(out), *STEPS],
        capsys,
    )
    assert code == 2 and "line 1" in err and "'u77'" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("low, high", [("5", "1"), ("3", "3"), ("nan", "4")])
def test_clip_low_not_below_high_exits_2(tmp_path, capsys, low, high):
    src, _, _ = _ratings(tmp_path)
    out = tmp_path / "o.csv"
    code, err = _run(["complete", str(src), "--out", str(out), "--clip", low, high], capsys)
    assert code == 2 and "--clip" in err and not out.exists()


def test_only_missing_row_count(tmp_path, capsys):
    src, mask, _ = _ratings(tmp_path)
    out = tmp_path / "missing.csv"
    code, err = _run(
        ["complete", str(src), "--only-missing", "--out", str(out), "--quiet", *STEPS], capsys
    )
    assert code == 0, err
    lines = out.read_text().splitlines()
    assert lines[0] == "user,item,rating" and len(lines) == 1 + int((~mask).sum())
    assert all(not mask[int(r[1:]), int(c[1:])] for r, c, _ in (x.split(",") for x in lines[1:]))
    np.save(tmp_path / "m.npy", np.where(mask, 1.0, np.nan))  # a matrix input: refused
    code, err = _run(
        ["complete", str(tmp_path / "m.npy"), "--only-missing", "--out", str(tmp_path / "x.npy")],
        capsys,
    )
    assert code == 2 and "--only-missing" in err and not (tmp_path / "x.npy").exists()


def test_progress_lines_reach_a_stderr_file(tmp_path):
    src, _, _ = _ratings(tmp_path, d1=40, d2=30)  # large enough for held-out parts
    log = tmp_path / "stderr.txt"
    with open(log, "w") as f:
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "spectralnn",
                "complete",
                str(src),
                "--out",
                str(tmp_path / "done.csv"),
                *STEPS,
            ],
            stderr=f,
            stdout=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    text = log.read_text()
    assert res.returncode == 0, text
    lines = [line for line in text.splitlines() if line.startswith("complete: part")]
    assert lines and "step " in lines[0] and "held-out RMSE" in lines[0] and "\r" not in text
    with open(log, "w") as f:
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "spectralnn",
                "complete",
                str(src),
                "--out",
                str(tmp_path / "done.csv"),
                "--quiet",
                *STEPS,
            ],
            stderr=f,
            stdout=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    assert res.returncode == 0 and "complete:" not in log.read_text()


def test_bad_call_is_light(tmp_path):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "spectralnn",
            "complete",
            str(tmp_path / "missing.csv"),
            "--out",
            str(tmp_path / "x.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert res.returncode == 2 and "no such file" in res.stderr
    assert cpu < 1.5, f"{cpu:.2f} s of CPU for a missing input file"
    assert os.listdir(tmp_path) == []
    probe = (
        "import sys, spectralnn.cli as c; c.build_parser(only='complete'); "
        "print(sorted(m for m in ('torch', 'matplotlib', 'cvxpy', 'scipy') "
        "if m in sys.modules))"
    )
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "[]", res.stdout + res.stderr


def test_dense_output_past_the_limit_is_refused(tmp_path, capsys, monkeypatch):
    from spectralnn.cli import complete as cmd

    src, _, _ = _ratings(tmp_path)
    monkeypatch.setattr(cmd, "DENSE_LIMIT_GIB", 1e-7)  # 63 entries x 8 bytes > 107 bytes
    out = tmp_path / "o.csv"
    code, err = _run(["complete", str(src), "--out", str(out)], capsys)
    assert code == 2 and "GiB limit" in err and "--predict" in err and not out.exists()


def test_column_warnings_name_the_items_of_a_ratings_file(tmp_path):
    # a warning about matrix columns 0 and 2 of a long-format file names its item ids
    from spectralnn._tabular import read_table
    from spectralnn.cli.complete import _column_names, _labels
    from spectralnn.errors import ColumnWarning

    src = tmp_path / "r.csv"
    src.write_text("user,item,rating\nann,item_b,4\nbob,item_a,3\nann,item_c,5\nbob,item_b,2\n")
    table = read_table(str(src))
    assert table.fmt == "triplets"
    warning = ColumnWarning("columns [0, 2] ...")
    warning.columns = [0, 2]
    names = [table.col_labels[0], table.col_labels[2]]
    assert _labels(warning, table) == names and set(names) <= {"item_a", "item_b", "item_c"}
    assert _column_names(warning, table) == f" (names: {names[0]}, {names[1]})"
