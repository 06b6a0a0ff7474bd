"""``spectralnn complete`` end to end in temporary folders, its readers, and recover's
inpainting mode."""

import json
import os

import numpy as np
import pytest

from spectralnn._tabular import TableError, read_table
from spectralnn.cli import main


def _matrix(d1=10, d2=8, frac=0.75, seed=0):
    rng = np.random.default_rng(seed)
    X = 3 + rng.standard_normal((d1, 1)) @ rng.standard_normal((1, d2))
    mask = rng.random(X.shape) < frac
    mask[np.arange(d1), np.arange(d1) % d2] = True
    return np.where(mask, X, np.nan), X


FAST = ["--max-steps", "600"]


def _run(args, capsys=None):
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err if capsys is not None else ""
    return code, err


def test_csv_with_header_and_index(tmp_path, capsys):
    M, X = _matrix()
    lines = ["," + ",".join(f"item{j}" for j in range(8))]
    for i, row in enumerate(M):
        lines.append(f"user{i}," + ",".join("" if np.isnan(v) else repr(float(v)) for v in row))
    src = tmp_path / "r.csv"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "res" / "done.csv"
    code, _ = _run(["complete", str(src), "--out", str(out), *FAST], capsys)
    assert code == 0
    text = out.read_text().splitlines()
    assert text[0] == lines[0] and text[1].startswith("user0,")
    table = read_table(out)
    assert table.index == [f"user{i}" for i in range(10)]
    obs = ~np.isnan(M)
    assert np.array_equal(table.values[obs], M[obs])
    assert np.linalg.norm(table.values - X) / np.linalg.norm(X) < 0.02
    summary = json.loads((tmp_path / "res" / "done.summary.json").read_text())
    assert summary["observed"] == int(obs.sum()) and summary["model"] == "snn"
    # 10 x 8 with 64 entries: too few for a held-out part (trained on all, no held-out error)
    assert summary["validation_error"] is None and summary["lr"] > 0
    assert (tmp_path / "res" / "done.history.png").stat().st_size > 0


def test_tsv_npy_and_triplets(tmp_path, capsys):
    M, X = _matrix()
    np.savetxt(tmp_path / "m.tsv", M, delimiter="\t")
    np.save(tmp_path / "m.npy", M)
    rows = ["user,item,rating"] + [
        f"{i},{j},{float(M[i, j])!r}" for i, j in zip(*np.nonzero(~np.isnan(M)))
    ]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    for name, model in (("m.tsv", "softimpute"), ("m.npy", "free"), ("t.csv", "snn")):
        out = tmp_path / f"out_{name}"
        code, err = _run(
            ["complete", str(tmp_path / name), "--out", str(out), "--model", model, *FAST], capsys
        )
        assert code == 0, err
    tsv = np.loadtxt(tmp_path / "out_m.tsv", delimiter="\t")
    npy = np.load(tmp_path / "out_m.npy")
    assert tsv.shape == npy.shape == M.shape
    miss = np.isnan(M)
    # free: the baseline fill (a small table: each column's shrunk centre, one value a column)
    for j in range(M.shape[1]):
        if miss[:, j].any():
            assert np.ptp(npy[miss[:, j], j]) < 1e-6
    trip = (tmp_path / "out_t.csv").read_text().splitlines()
    assert trip[0] == "user,item,rating" and len(trip) == 1 + M.size
    back = read_table(tmp_path / "out_t.csv")
    assert back.fmt == "triplets" and np.linalg.norm(back.values - X) / np.linalg.norm(X) < 0.02


@pytest.mark.parametrize(
    "content, where",
    [
        ("1,2,3\n4,abc,6\n7,8,9\n", "line 2, column 2"),
        ("1,2,3\n4,5\n7,8,9\n", "line 2"),
        ("a,b,c\n1,2,3\n4,5,6,7\n", "line 3"),
        ("user,item,rating\n1,2,3.5\n1,2,4\n", "line 3: duplicate"),
        ("user,item,rating\n1,2,x\n", "line 2, column 3"),
    ],
)
def test_bad_csv_exits_2_naming_the_place_and_writes_nothing(tmp_path, capsys, content, where):
    src = tmp_path / "bad.csv"
    src.write_text(content)
    out = tmp_path / "out" / "x.csv"
    code, err = _run(["complete", str(src), "--out", str(out)], capsys)
    assert code == 2 and where in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_all_missing_row(tmp_path, capsys):
    M, _ = _matrix()
    M[3] = np.nan
    np.save(tmp_path / "m.npy", M)
    code, err = _run(
        [
            "complete",
            str(tmp_path / "m.npy"),
            "--out",
            str(tmp_path / "c.npy"),
            "--model",
            "convex",
        ],
        capsys,
    )
    assert code == 2 and "rows 4" in err and not (tmp_path / "c.npy").exists()
    code, err = _run(
        ["complete", str(tmp_path / "m.npy"), "--out", str(tmp_path / "s.npy"), *FAST], capsys
    )
    assert code == 0 and "no observed entry in rows 4" in err
    assert np.isfinite(np.load(tmp_path / "s.npy")).all()


def test_bad_flags_exit_2(tmp_path, capsys):
    M, _ = _matrix()
    np.save(tmp_path / "m.npy", M)
    for args in (["--max-steps", "0"], ["--model", "nope"]):
        code, _ = _run(
            ["complete", str(tmp_path / "m.npy"), "--out", str(tmp_path / "o.npy"), *args], capsys
        )
        assert code == 2
    code, err = _run(
        ["complete", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o.csv")], capsys
    )
    assert code == 2 and "no such file" in err
    # without --out too, the missing file is what is reported (not the missing --out first)
    code, err = _run(["complete", str(tmp_path / "none.csv")], capsys)
    assert code == 2 and "none.csv': no such file" in err and "--out" not in err
    assert sorted(os.listdir(tmp_path)) == ["m.npy"]


def test_reader_detection(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("x,y\n1,NaN\n,4\n")
    t = read_table(p)
    assert t.header == ["x", "y"] and t.index is None
    assert np.array_equal(np.isnan(t.values), [[False, True], [True, False]])
    p.write_text("1,2\n3,4\n")
    assert read_table(p).header is None
    p.write_text("1,2\n3,4\n")
    assert read_table(p, header=True).header == ["1", "2"]
    p.write_text("\n")
    with pytest.raises(TableError, match="empty"):
        read_table(p)


@pytest.mark.parametrize("flag", ["0", "1", "-0.5"])
def test_recover_missing_out_of_range(tmp_path, capsys, flag):
    code, err = _run(["recover", "camera", "--missing", flag, "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "--missing" in err and not (tmp_path / "r").exists()


def test_recover_inpainting_end_to_end(tmp_path, capsys):
    out = tmp_path / "r"
    code, err = _run(
        [
            "recover",
            "camera",
            "--missing",
            "0.4",
            "--size",
            "16",
            "--model",
            "snn,free",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["models"]) == {"snn", "free"} and metrics["mode"] == "inpaint"
    assert metrics["models"]["snn"]["psnr"] > metrics["models"]["free"]["psnr"]
    assert (out / "recover.png").stat().st_size > 0


def test_recover_mask_file(tmp_path, capsys):
    from PIL import Image

    mask = np.zeros((16, 16), dtype=np.uint8)
    mask[4:8, :] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    code, err = _run(
        [
            "recover",
            "camera",
            "--mask",
            str(tmp_path / "mask.png"),
            "--size",
            "16",
            "--model",
            "free",
            "--out",
            str(tmp_path / "r"),
        ],
        capsys,
    )
    assert code == 0, err
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["missing_fraction"] == pytest.approx(0.25)
    (tmp_path / "blank.png").write_bytes((tmp_path / "mask.png").read_bytes())
    Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(tmp_path / "blank.png")
    code, err = _run(
        [
            "recover",
            "camera",
            "--mask",
            str(tmp_path / "blank.png"),
            "--size",
            "16",
            "--out",
            str(tmp_path / "r2"),
        ],
        capsys,
    )
    assert code == 2 and "--mask" in err


def test_package_import_is_lazy_and_complete():
    import subprocess
    import sys

    probe = (
        "import sys, spectralnn as snn; light = 'torch' not in sys.modules; "
        "names = [getattr(snn, n) for n in snn.__all__]; "
        "print(light, snn.fit.__module__, snn.SNNCompleter.__name__, "
        "snn.recipe.__name__, len(names))"
    )
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert res.stdout.split() == [
        "True",
        "spectralnn.train",
        "SNNCompleter",
        "spectralnn.recipe",
        "43",
    ], res.stderr
