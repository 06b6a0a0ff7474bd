"""``spectralnn recover PHOTO --mask MASK`` respects the photo: its own size unless --size, no
noise unless --noise, its own 8-bit scale (no stretch), PSNR with peak 255, outputs clipped to
the image's range and written back as 8-bit; a mask of another size exits 2."""

import json

import numpy as np
import pytest
from PIL import Image

from spectralnn.cli import main


def _photo(tmp_path, size=64):
    """A smooth low-contrast 8-bit photo (pixels 40..200, not 0..255) and a scattered mask."""
    x = np.linspace(0, 1, size)
    img = np.rint(40 + 160 * np.outer(np.sin(2 * x) ** 2, np.cos(1.5 * x) ** 2)).astype(np.uint8)
    rng = np.random.default_rng(1)
    mask = np.where(rng.random(img.shape) < 0.3, 255, 0).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "photo.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return img, mask > 127


def _run(args, capsys, out=None):
    """``(exit code, stderr)``; stdout (the results) goes into the list ``out`` if given."""
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    if out is not None:
        out.append(captured.out)
    return code, captured.err


def test_mask_keeps_size_scale_and_reports_peak_255(tmp_path, capsys):
    img, missing = _photo(tmp_path)
    out = tmp_path / "rec"
    printed: list = []
    code, err = _run(
        [
            "recover",
            str(tmp_path / "photo.png"),
            "--mask",
            str(tmp_path / "mask.png"),
            "--model",
            "snn,free",
            "--steps",
            "100",
            "--out",
            str(out),
        ],
        capsys,
        printed,
    )
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["size"] == [64, 64] and m["psnr_peak"] == 255 and m["noise"] == 0
    assert "peak 255" in printed[0] and "8-bit" in printed[0]  # results: standard output
    assert "PSNR" not in err
    assert m["missing_fraction"] == pytest.approx(missing.mean())
    for name in ("snn", "free"):
        X = np.load(out / f"X_{name}.npz")["X"]
        assert X.shape == (64, 64) and 0 <= X.min() and X.max() <= 255
        assert np.allclose(X[~missing], img[~missing])  # observed pixels: the photo's own values
        rmse = np.sqrt(np.mean((X - img) ** 2))
        assert m["models"][name]["psnr"] == pytest.approx(20 * np.log10(255 / rmse))
        png = np.asarray(Image.open(out / f"{name}.png"))
        assert png.dtype == np.uint8 and png.shape == (64, 64)
        assert np.array_equal(png[~missing], img[~missing])
    free = np.load(out / "X_free.npz")["X"]  # the mean fill in the photo's units: no stretch
    assert free[missing].mean() == pytest.approx(img[~missing].mean(), abs=0.5)
    assert m["models"]["snn"]["psnr"] > m["models"]["free"]["psnr"]


def test_size_resizes_both_and_mismatch_exits_2(tmp_path, capsys):
    _photo(tmp_path)
    code, err = _run(
        [
            "recover",
            str(tmp_path / "photo.png"),
            "--mask",
            str(tmp_path / "mask.png"),
            "--size",
            "24",
            "--model",
            "free",
            "--quiet",
            "--out",
            str(tmp_path / "r"),
        ],
        capsys,
    )
    assert code == 0, err
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["size"] == [24, 24]
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "small.png")
    code, err = _run(
        [
            "recover",
            str(tmp_path / "photo.png"),
            "--mask",
            str(tmp_path / "small.png"),
            "--out",
            str(tmp_path / "r2"),
        ],
        capsys,
    )
    assert code == 2 and "--mask" in err and "32x32" in err and "64x64" in err
    assert not (tmp_path / "r2").exists()


def test_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        main(["recover", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for needle in (
        "--noise NOISE",
        "(default: 0.0 = none)",
        "(default: None = an image file's own",
        "(default: 42)",
        "(default: 4,8,16)",
        "(default: 0.0001)",
        "(default: 0.1)",
    ):
        assert needle in text


def test_snn_inpaints_through_patches_and_beats_the_pixel_matrix(tmp_path, capsys):
    from skimage import data

    img = data.brick()[:32, :32]  # a texture: not low-rank, but its patches recur
    missing = np.random.default_rng(2).random(img.shape) < 0.5
    Image.fromarray(img).save(tmp_path / "photo.png")
    Image.fromarray(np.where(missing, 255, 0).astype(np.uint8)).save(tmp_path / "mask.png")
    psnr = {}
    for patch in ("8", "0"):
        out = tmp_path / f"p{patch}"
        args = ["recover", str(tmp_path / "photo.png"), "--mask", str(tmp_path / "mask.png")]
        args += ["--model", "snn", "--patch", patch, "--quiet", "--out", str(out)]
        code, err = _run(args, capsys)
        assert code == 0, err
        m = json.loads((out / "metrics.json").read_text())["models"]["snn"]
        assert m["patch"] == int(patch)
        X = np.load(out / "X_snn.npz")["X"]
        assert np.allclose(X[~missing], img[~missing])
        psnr[patch] = m["psnr_missing"]
    assert psnr["8"] > psnr["0"] + 1.0  # dB


@pytest.mark.parametrize(
    "extra",
    [["--mask", "MASK", "--patch", "1"], ["--mask", "MASK", "--patch", "65"], ["--patch", "8"]],
)
def test_bad_patch_exits_2_before_any_work(tmp_path, capsys, extra):
    _photo(tmp_path)
    extra = [str(tmp_path / "mask.png") if a == "MASK" else a for a in extra]
    out = tmp_path / "r"
    code, err = _run(["recover", str(tmp_path / "photo.png"), *extra, "--out", str(out)], capsys)
    assert code == 2 and "--patch" in err
    assert not out.exists()


def test_colour_photo_and_thin_patches_are_announced(tmp_path, capsys):
    from skimage import data

    rgb = data.astronaut()[:64, :64]
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    mask = np.where(np.random.default_rng(0).random((64, 64)) < 0.3, 255, 0).astype(np.uint8)
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "r"
    args = ["recover", str(tmp_path / "rgb.png"), "--mask", str(tmp_path / "mask.png")]
    args += ["--model", "snn", "--patch", "32", "--steps", "50", "--quiet", "--out", str(out)]
    printed: list = []
    code, err = _run(args, capsys, printed)
    assert code == 0, err
    assert "colour image" in err and "grey" in err
    assert "--patch 32 gives 25 patches" in err
    m = json.loads((out / "metrics.json").read_text())["models"]["snn"]
    assert (m["patch"], m["stride"]) == (32, 8)
    assert "PSNR on the missing pixels" in printed[0]


def test_a_mask_of_every_other_column_is_interpolated_and_said_so(tmp_path, capsys):
    # no two horizontal neighbours are ever observed: no model of patches can learn them
    img, _ = _photo(tmp_path)
    mask = np.zeros(img.shape, dtype=np.uint8)
    mask[:, 1::2] = 255
    Image.fromarray(mask).save(tmp_path / "cols.png")
    out = tmp_path / "r"
    args = ["recover", str(tmp_path / "photo.png"), "--mask", str(tmp_path / "cols.png")]
    printed: list = []
    code, err = _run([*args, "--model", "snn", "--quiet", "--out", str(out)], capsys, printed)
    assert code == 0, err
    assert "MaskWarning" in err and "biharmonic" in err
    assert printed[0].startswith("SNN (biharmonic): PSNR on the missing pixels")
    m = json.loads((out / "metrics.json").read_text())["models"]["snn"]
    assert m["method"] == "biharmonic" and m["psnr_missing"] > 35  # a smooth photo
