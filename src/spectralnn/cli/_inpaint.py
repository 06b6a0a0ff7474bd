"""Inpainting mode of ``spectralnn recover`` (``--missing P`` or ``--mask PNG``): complete the
image's missing pixels with each ``--model`` (snn, free and deep by the no-tuning recipe of
:mod:`spectralnn.recipe`, softimpute and convex by :mod:`spectralnn.estimators`) and compare them
in one figure.

The image is worked on in its own scale (:func:`spectralnn.images.load_native`: an 8-bit image
as pixel / 255, no min-max stretch) and size (``--size`` only when given; the built-in demo
images default to the old 28x28, or the mask's size).  Results are clipped to the image's range
and written back in its units; PSNR uses the image's peak (255 for 8-bit)."""

from __future__ import annotations

import os
import time
import warnings

import numpy as np

from ._common import UsageError, check_int, check_out, check_real, result, say
from ._image_io import (
    DEMO_INPAINT_SIZE,
    INPAINT_STEPS,
    is_demo,
    peak_name,
    peak_psnr,
    png_bytes,
    read_image,
    shown,
)

INPAINT_MODELS = ("snn", "softimpute", "free", "convex", "deep")
RECIPE_MODELS = ("snn", "free", "deep")
LABELS = {
    "snn": "SNN",
    "softimpute": "SoftImpute",
    "free": "linear regression",
    "convex": "nuclear-norm min.",
    "deep": "deep factorisation",
}


def _models(text: str | None) -> list[str]:
    names = [n.strip() for n in (text or "snn,softimpute,free").split(",") if n.strip()]
    bad = [n for n in names if n not in INPAINT_MODELS]
    if not names or bad:
        raise UsageError(
            f"--model must be comma-separated names from {', '.join(INPAINT_MODELS)}; got {text!r}"
        )
    return list(dict.fromkeys(names))


def validate_inpaint(args) -> dict:
    if args.missing is not None and not 0 < args.missing < 1:
        raise UsageError(f"--missing must be a fraction in (0, 1); got {args.missing}")
    check_int(args.size, "--size", 2)
    check_int(args.steps, "--steps", 1)
    check_real(args.noise, "--noise", low=0.0)
    models = _models(args.model)
    check_out(args.out)
    if args.mask is not None and not os.path.isfile(args.mask):
        raise UsageError(f"--mask {args.mask!r}: no such file")
    size = args.size
    mask = None
    if args.mask is not None:
        mask, _ = read_image(args.mask, size, "--mask")
        if size is None and is_demo(args.image):
            size = mask.shape  # a demo image takes the mask's size
    if size is None and is_demo(args.image):
        size = DEMO_INPAINT_SIZE
    img, peak = read_image(args.image, size, "IMAGE")
    _say_if_colour(args.image)
    rng = np.random.default_rng(args.seed)
    if mask is not None:
        if mask.shape != img.shape:
            raise UsageError(
                f"--mask {args.mask!r} is {mask.shape[1]}x{mask.shape[0]} pixels but "
                f"the image is {img.shape[1]}x{img.shape[0]}; give a mask of the "
                "image's size, or --size N to resize both"
            )
        missing = mask >= 0.5
    else:
        missing = rng.random(img.shape) < args.missing
    if missing.all() or not missing.any():
        raise UsageError(
            f"--mask marks {'every' if missing.all() else 'no'} pixel as missing "
            "(white >= 0.5 = missing); nothing to inpaint"
        )
    if "convex" in models and ((missing.all(1)).any() or (missing.all(0)).any()):
        raise UsageError("--model convex cannot fill a fully missing image row or column (use snn)")
    patch = _patch(args.patch, img.shape)
    noisy = img + args.noise * rng.standard_normal(img.shape) if args.noise > 0 else img
    observed = np.where(missing, np.nan, noisy)
    return {
        "inpaint": True,
        "image": img,
        "peak": peak,
        "observed": observed,
        "missing": missing,
        "models": models,
        "patch": patch,
    }


def _say_if_colour(name) -> None:
    """A colour image file is inpainted in grey: say so before any work."""
    if not os.path.isfile(name):
        return
    from PIL import Image

    with Image.open(name) as im:
        colour = im.mode not in ("1", "L", "LA", "I", "F", "I;16")
    if colour:
        say(
            f"note: IMAGE {name!r} is a colour image; recover works in grey (luminance), and "
            "the outputs are grey"
        )


def _patch(value, shape) -> int:
    """The snn model's patch side (0: the pixel matrix), checked against the image's size."""
    from .._gaussian import tall
    from .._patches import PATCH, patch_count

    if value is None:  # patches when their matrix is a tall table (about 33 x 33 and up)
        fits = min(shape) >= PATCH and tall((patch_count(shape, PATCH), PATCH * PATCH))
        return PATCH if fits else 0
    check_int(value, "--patch", 0)
    if value == 1 or value > min(shape):
        raise UsageError(
            f"--patch must be 0 or in [2, {min(shape)}] (the image's shorter side); got {value}"
        )
    n = patch_count(shape, value) if value else 0
    if value and not tall((n, value * value)):
        say(
            f"note: --patch {value} gives {n} patches of {value * value} pixels, fewer than "
            "3 per pixel of a patch; expect a poor fill (try 8)"
        )
    return value


def _fit(name, observed, args, printer, patch=0) -> tuple[np.ndarray, dict]:
    """The model's completion of ``observed`` (in pixel units; observed pixels kept) and what
    to record about the fit (the snn model on the matrix of ``patch x patch`` patches)."""
    if name in RECIPE_MODELS:
        from ..recipe import complete, inpaint

        steps = INPAINT_STEPS if args.steps is None else args.steps
        kw = {"max_steps": steps, "seed": args.seed, "progress": printer}
        if name == "snn" and patch:
            done = inpaint(observed, patch=patch, **kw)
            res, X = done.completion, done.image
            info = {"patch": patch, "stride": done.stride, "method": done.method}
            if res is not None:  # None: a mask no stride of patches can learn (MaskWarning)
                info.update(status=res.status, lr=res.lr, best_step=res.best_step)
        else:
            res = complete(observed, name, **kw)
            X = res.X.numpy()
            info = {"status": res.status, "lr": res.lr, "best_step": res.best_step, "patch": patch}
    else:
        from ..estimators import COMPLETERS

        printer(
            {
                "phase": "solving",
                "step": None,
                "max_steps": None,
                "held_out": None,
                "elapsed": None,
                "eta": None,
            }
        )
        est = COMPLETERS[name]()
        X = est.fit(observed).fitted_
        info = {
            k: getattr(est, k + "_")
            for k in ("lambda", "rank", "converged", "n_iter")
            if hasattr(est, k + "_")
        }
    printer.close()
    obs = ~np.isnan(observed)
    return np.where(obs, observed, X), info


def _score(X, img, missing) -> dict:
    """PSNR and relative error of ``X`` against ``img``, on all pixels and the missing ones."""
    e = float(np.linalg.norm(X - img) / max(np.linalg.norm(img), 1e-300))
    e_miss = float(np.linalg.norm((X - img)[missing]) / max(np.linalg.norm(img[missing]), 1e-300))
    return {
        "psnr": peak_psnr(X, img),
        "psnr_missing": peak_psnr(X, img, missing),
        "rel_error": e,
        "rel_error_missing": e_miss,
    }


def _inpaint_one(name, pixels, job, args, legacy) -> tuple[np.ndarray, dict]:
    """Model ``name``'s completion, clipped to the image's range (units of the peak), and its
    metrics (PSNR, relative errors, time, the fit's record)."""
    from .._progress import ProgressPrinter

    img, peak, missing = job["image"], job["peak"], job["missing"]
    printer = ProgressPrinter(quiet=args.quiet, prefix=f"recover {name}", legacy_scale=legacy)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X, info = _fit(name, pixels, args, printer, job["patch"] if name == "snn" else 0)
    elapsed = time.perf_counter() - t0
    for w in caught:
        if w.category.__name__ == "ColumnWarning":  # a table's columns, not an image's
            continue
        say(f"warning: {LABELS[name]}: {w.category.__name__}: {w.message}")
    X = np.clip(X / peak, 0.0, 1.0)  # the image's range
    metrics = {**_score(X, img, missing), "time_s": elapsed, **info}
    p, p_miss, e = metrics["psnr"], metrics["psnr_missing"], metrics["rel_error"]
    result(
        f"{_label(name, info)}: PSNR on the missing pixels {p_miss:.2f} dB (all pixels {p:.2f} dB; "
        f"{peak_name(peak)}), relative error {e:.4f} ({elapsed:.1f} s)"
    )
    return X, metrics


def _label(name, info) -> str:
    """The model's name in the results, saying where the mask made snn interpolate instead."""
    return LABELS[name] + (" (biharmonic)" if info.get("method") == "biharmonic" else "")


def _write(args, job, cells, metrics, arrays, pngs) -> None:
    """The figure, metrics.json, X_<model>.npz and <model>.png into ``--out``."""
    from .. import _io
    from ..plotting import plot_images
    from ._common import write_recovery

    img, peak, frac = job["image"], job["peak"], float(job["missing"].mean())
    how = f"mask {os.path.basename(args.mask)}" if args.mask else "random missing pixels"
    h, w = img.shape
    fig = plot_images(
        [(args.image, cells)], title=f"{args.image} {w}x{h}: {frac:.0%} of pixels missing ({how})"
    )
    write_recovery(
        args.out,
        arrays,
        fig,
        {
            "image": args.image,
            "mode": "inpaint",
            "missing_fraction": frac,
            "mask": args.mask,
            "size": [h, w],
            "noise": args.noise,
            "psnr_peak": peak,
            "psnr_scale": peak_name(peak),
            "models": metrics,
        },
    )
    for name, data in pngs.items():
        _io.atomic_write(os.path.join(args.out, f"{name}.png"), lambda f, d=data: f.write(d))


def run_inpaint(args, job) -> None:
    from .. import _io, estimators, recipe  # noqa: F401 - before the progress clocks start
    from .._progress import completion_scale

    img, peak = job["image"], job["peak"]
    observed, missing = job["observed"], job["missing"]
    frac = float(missing.mean())
    cells = [
        (img, "ground truth"),
        (shown(observed, missing), f"observed ({1 - frac:.0%}; missing in red)"),
    ]
    metrics, arrays, pngs = {}, {}, {}
    pixels = observed * peak  # the models see the image's own units: progress in pixels
    legacy = completion_scale(pixels)
    for name in job["models"]:
        X, metrics[name] = _inpaint_one(name, pixels, job, args, legacy)
        arrays[name] = X * peak
        pngs[name] = png_bytes(X, peak)
        p = metrics[name]["psnr_missing"]
        cells.append((X, f"{_label(name, metrics[name])}\nPSNR {p:.2f} dB on missing pixels"))
    _write(args, job, cells, metrics, arrays, pngs)
    result(
        f"PSNR is in dB with the image's {peak_name(peak)}; wrote "
        f"{os.path.join(args.out, 'recover.png')}, metrics.json, X_<model>.npz and <model>.png"
    )
