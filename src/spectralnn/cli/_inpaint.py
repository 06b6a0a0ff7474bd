"""Inpainting mode of ``spectralnn recover`` (``--missing P`` or ``--mask PNG``): complete the
image's missing pixels with each ``--model`` (the estimators of :mod:`spectralnn.estimators`,
trained by the no-tuning recipe) and compare them in one figure."""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from ._common import UsageError, check_int, check_out, check_real, say, write_recovery

INPAINT_MODELS = ("snn", "softimpute", "free", "convex", "deep")
LABELS = {"snn": "SNN", "softimpute": "SoftImpute", "free": "linear regression",
          "convex": "nuclear-norm min.", "deep": "deep factorisation"}


def _models(text: str | None) -> list[str]:
    names = [n.strip() for n in (text or "snn,softimpute,free").split(",") if n.strip()]
    bad = [n for n in names if n not in INPAINT_MODELS]
    if not names or bad:
        raise UsageError(f"--model must be comma-separated names from "
                         f"{', '.join(INPAINT_MODELS)}; got {text!r}")
    return list(dict.fromkeys(names))


def _image(name: str, size: int, flag: str) -> np.ndarray:
    from ..images import load_image

    try:
        return load_image(name, size)
    except (OSError, ValueError, TypeError, IndexError) as exc:
        raise UsageError(f"{flag} {name!r}: {str(exc).strip().splitlines()[0]}") from exc


def validate_inpaint(args) -> dict:
    if args.missing is not None and not 0 < args.missing < 1:
        raise UsageError(f"--missing must be a fraction in (0, 1); got {args.missing}")
    check_int(args.size, "--size", 2)
    check_real(args.noise, "--noise", low=0.0)
    models = _models(args.model)
    check_out(args.out)
    img = _image(args.image, args.size, "IMAGE")
    rng = np.random.default_rng(args.seed)
    if args.mask is not None:
        if not os.path.isfile(args.mask):
            raise UsageError(f"--mask {args.mask!r}: no such file")
        missing = _image(args.mask, args.size, "--mask") >= 0.5
    else:
        missing = rng.random(img.shape) < args.missing
    if missing.all() or not missing.any():
        raise UsageError(f"--mask marks {'every' if missing.all() else 'no'} pixel as missing "
                         "(white >= 0.5 = missing); nothing to inpaint")
    if "convex" in models and ((missing.all(1)).any() or (missing.all(0)).any()):
        raise UsageError("--model convex cannot fill a fully missing image row or column "
                         "(use snn)")
    noisy = img + args.noise * rng.standard_normal(img.shape)
    observed = np.where(missing, np.nan, noisy)
    return {"inpaint": True, "image": img, "observed": observed, "missing": missing,
            "models": models}


def _estimator(name, seed):
    from ..estimators import COMPLETERS

    if name in ("convex", "softimpute"):
        return COMPLETERS[name]()
    return COMPLETERS[name](random_state=seed, verbose=sys.stderr.isatty())


def _shown(observed, missing):
    """The observed image in gray with the missing pixels in red (an RGB array)."""
    rgb = np.repeat(np.clip(np.nan_to_num(observed), 0, 1)[..., None], 3, axis=-1)
    rgb[missing] = (0.85, 0.1, 0.1)
    return rgb


def run_inpaint(args, job) -> None:
    import torch

    from ..metrics import psnr
    from ..plotting import plot_images

    img, observed, missing = job["image"], job["observed"], job["missing"]
    truth = torch.from_numpy(img)
    frac = float(missing.mean())
    cells = [(img, "ground truth"),
             (_shown(observed, missing), f"observed ({1 - frac:.0%}; missing in red)")]
    metrics, arrays = {}, {}
    for name in job["models"]:
        est = _estimator(name, args.seed)
        t0 = time.perf_counter()
        X = est.fit_transform(observed)
        elapsed = time.perf_counter() - t0
        p = psnr(torch.from_numpy(X), truth)
        e = float(np.linalg.norm(X - img) / np.linalg.norm(img))
        e_miss = float(np.linalg.norm((X - img)[missing]) / np.linalg.norm(img[missing]))
        metrics[name] = {"psnr": p, "rel_error": e, "rel_error_missing": e_miss, "time_s": elapsed,
                         **{k: getattr(est, k + "_") for k in ("status", "lr", "lambda")
                            if hasattr(est, k + "_")}}
        arrays[name] = X
        cells.append((X, f"{LABELS[name]}\nPSNR {p:.2f} dB, rel.err {e:.3f}"))
        say(f"{LABELS[name]}: PSNR {p:.2f} dB, relative error {e:.4f} ({elapsed:.1f} s)")
    how = f"mask {os.path.basename(args.mask)}" if args.mask else "random missing pixels"
    fig = plot_images([(args.image, cells)], title=f"{args.image} {args.size}x{args.size}: "
                      f"{frac:.0%} of pixels missing ({how})")
    write_recovery(args.out, arrays, fig,
                   {"image": args.image, "mode": "inpaint", "missing_fraction": frac,
                    "mask": args.mask, "size": args.size, "noise": args.noise, "models": metrics})
