"""``spectralnn recover``: recover an image from random Gaussian measurements (``--fraction``) or
inpaint its missing pixels (``--missing P`` at random, or ``--mask PNG``) with the no-tuning recipe.

Inpainting works in the image's own scale and size: an 8-bit photo is read as pixel / 255 (no
min-max stretch), kept at its size unless ``--size`` is given, completed without added noise
unless ``--noise`` asks for it, and reported with PSNR on its own peak (255 for 8-bit)."""

from __future__ import annotations

import argparse

from ._common import (
    UsageError,
    add_size_flag,
    check_int,
    check_out,
    check_real,
    check_size,
    parse_widths,
    result,
    say,
)
from ._image_io import DEMO_INPAINT_SIZE, DEMO_SIZE, GAUSSIAN_STEPS, INPAINT_STEPS

NAME = "recover"

EPILOG = f"""examples:
  spectralnn recover photo.png --mask scratches.png --out fixed/
  spectralnn recover camera --missing 0.5 --size 64 --out inpaint/
  spectralnn recover camera --fraction 0.6 --out rec/

inpainting (--mask or --missing) uses the recipe (no lr flags needed) and writes into OUT:
recover.png (truth | observed, missing in red | each model), X_<model>.npz and
<model>.png (the completed image in the input's own scale and bit depth, clipped to its
range) and metrics.json (PSNR with the image's peak: 255 for 8-bit, 65535 for 16-bit, 1 for
float images). An image file is used at its own size; the built-in demo images (camera,
moon, ..., lfw:K, mnist:PATH[:K]) are inpainted at {DEMO_INPAINT_SIZE}x{DEMO_INPAINT_SIZE} (or
the mask's size with --mask). The Gaussian mode (--fraction) stretches the image to [0, 1]
and defaults to {DEMO_SIZE}x{DEMO_SIZE} for every image."""


def _add_mode_flags(p) -> None:
    """Gaussian measurements (--fraction) or inpainting (--missing, --mask; --model)."""
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--fraction",
        type=float,
        default=None,
        help="Gaussian measurements: m / size^2 (the default mode, with 0.6)",
    )
    mode.add_argument(
        "--missing",
        type=float,
        default=None,
        help="inpainting: this fraction of pixels missing at random, in (0, 1)",
    )
    mode.add_argument(
        "--mask",
        default=None,
        help="inpainting: a mask image of the image's size, white (>= 0.5 of "
        "full scale) = missing pixel",
    )
    p.add_argument(
        "--model",
        default=None,
        help="inpainting models, comma-separated from snn, softimpute, free, convex, "
        "deep (default: snn,softimpute,free; free = an unstructured matrix, the paper's "
        "'linear regression')",
    )
    p.add_argument(
        "--patch",
        type=int,
        default=None,
        help="inpainting with snn: complete the matrix of the image's PATCH x PATCH patches "
        "(stride PATCH/4 while that gives at most 16384 patches, else PATCH/2); 0 = the "
        "pixel matrix itself (default: 8 when the image has "
        "at least 3 patches per patch pixel, about 33 x 33 and up; else 0)",
    )


def _add_run_flags(p) -> None:
    """The flags of both modes: --size, --steps, --noise, --seed."""
    p.add_argument(
        "--size",
        type=int,
        default=None,
        help="resize the image (and mask) to SIZE x SIZE (default: %(default)s = "
        f"an image file's own size; {DEMO_INPAINT_SIZE} for inpainting a demo name; "
        f"{DEMO_SIZE} in the Gaussian mode)",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help=f"Gaussian mode: gradient steps (default {GAUSSIAN_STEPS}); "
        f"inpainting: the recipe's step limit (default {INPAINT_STEPS})",
    )
    p.add_argument(
        "--noise",
        type=float,
        default=0.0,
        help="standard deviation of Gaussian noise added to the observations, in "
        "units of the image's full scale (default: %(default)s = none)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=42,
        help="seed of the random mask, noise and models (default: %(default)s)",
    )


def _add_gaussian_flags(p) -> None:
    """The Gaussian mode's models: --widths, --init-scale, --lr-snn, --lr-free."""
    p.add_argument(
        "--widths", default="4,8,16", help="Gaussian mode: SNN widths (default: %(default)s)"
    )
    p.add_argument(
        "--init-scale",
        type=float,
        default=1e-4,
        help="Gaussian mode: SNN init scale (default: %(default)s)",
    )
    p.add_argument(
        "--lr-snn",
        type=float,
        default=0.1,
        help="Gaussian mode: SNN learning rate (default: %(default)s)",
    )
    p.add_argument(
        "--lr-free",
        type=float,
        default=0.1,
        help="Gaussian mode: free-matrix learning rate (default: %(default)s)",
    )


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        NAME,
        help="recover or inpaint an image",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    p.add_argument(
        "image",
        help="image file (PNG, JPEG, ...), a built-in demo name (camera, "
        "moon, coins, ...), lfw:K or mnist:PATH[:K]",
    )
    _add_mode_flags(p)
    _add_run_flags(p)
    _add_gaussian_flags(p)
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress lines on stderr (default: progress every few seconds)",
    )
    p.add_argument("--out", required=True, help="output folder (created)")
    add_size_flag(p)
    return p


def _check_size(args) -> None:
    """Refuse a --size whose arrays would not fit (before any image is read)."""
    check_int(args.size, "--size", 2)
    if args.size is not None:  # Gaussian mode: a dense (fraction size^2, size^2) operator
        side = float(args.size)
        frac = 0.6 if args.fraction is None else args.fraction
        gauss = args.missing is None and args.mask is None
        nbytes = 8 * (frac * side**4 if gauss else 16 * side**2)
        check_size(args, "--size", args.size, nbytes, nbytes / 5e9 * max(args.steps or 1, 1))


def validate(args) -> dict:
    _check_size(args)
    if args.missing is not None or args.mask is not None:
        from ._inpaint import validate_inpaint

        return validate_inpaint(args)
    for flag, value in (("--model", args.model), ("--patch", args.patch)):
        if value is not None:
            raise UsageError(
                f"{flag} applies to inpainting (--missing or --mask); the Gaussian "
                "mode compares snn and free"
            )
    args.fraction = 0.6 if args.fraction is None else args.fraction
    if not 0 < args.fraction <= 1:
        raise UsageError(f"--fraction must be in (0, 1]; got {args.fraction}")
    check_int(args.size, "--size", 2)
    check_int(args.steps, "--steps", 1)
    check_real(args.lr_snn, "--lr-snn", low=0.0, strict=True)
    check_real(args.lr_free, "--lr-free", low=0.0, strict=True)
    check_real(args.noise, "--noise", low=0.0)
    check_real(args.init_scale, "--init-scale", low=0.0, strict=True)
    widths = parse_widths(args.widths)
    check_out(args.out)
    args.size = DEMO_SIZE if args.size is None else args.size
    args.steps = GAUSSIAN_STEPS if args.steps is None else args.steps
    from ..models import make_model
    from ..sensing import make_image_problem

    try:
        problem, scale = make_image_problem(
            args.image, (args.size, args.size), args.fraction, args.noise, args.seed
        )
    except (OSError, ValueError, TypeError, IndexError) as exc:
        raise UsageError(f"IMAGE {args.image!r}: {str(exc).strip().splitlines()[0]}") from exc
    shape = (args.size, args.size)
    models = {
        "free": (make_model("free", shape), args.lr_free),
        "snn": (
            make_model("snn", shape, widths=widths, init_scale=args.init_scale, seed=args.seed),
            args.lr_snn,
        ),
    }
    return {"problem": problem, "scale": scale, "models": models}


def _progress_line(printer, step, args) -> None:
    printer(
        {
            "phase": "fit",
            "step": step,
            "max_steps": args.steps,
            "held_out": None,
            "elapsed": None,
            "eta": None,
        }
    )


def _recover_one(name, model, lr, problem, scale, args):
    """Fit one model to the Gaussian measurements: ``(X in the image's units, metrics, label)``."""
    from .._progress import ProgressPrinter
    from ..metrics import psnr, relative_error
    from ..train import fit

    printer = ProgressPrinter(quiet=args.quiet, prefix=f"recover {name}")
    _progress_line(printer, 0, args)
    res = fit(model, problem, lr, args.steps, progress=False)
    _progress_line(printer, res.steps, args)
    printer.close()
    assert res.X is not None  # small problem: X is formed (DENSE_X_LIMIT)
    X = res.X * scale
    p = psnr(X, problem.X_true * scale)
    e = relative_error(res.X, problem.X_true).item()
    label = "linear regression" if name == "free" else "SNN"
    result(
        f"{label}: PSNR {p:.2f} dB (peak: the image's maximum, image stretched to [0, 1]), "
        f"relative error {e:.4f} ({res.status})"
    )
    metrics = {"psnr": p, "rel_error": e, "lr": lr, "status": str(res.status)}
    return X.numpy(), metrics, f"{label}\nPSNR {p:.2f} dB, rel.err {e:.3f}"


def run(args, job) -> None:
    if job.get("inpaint"):
        from ._inpaint import run_inpaint

        return run_inpaint(args, job)
    from ..plotting import plot_images
    from ._common import write_recovery

    problem, scale = job["problem"], job["scale"]
    img, m = (problem.X_true * scale).numpy(), problem.m
    if not args.quiet:  # a photo without --mask is not inpainted: say what runs instead
        say(
            f"recover {args.image}: Gaussian-measurement mode, {m} random linear measurements "
            f"of the image at {args.size}x{args.size} (the paper's sensing experiment); to fill "
            "in missing pixels, pass --mask MASK or --missing FRACTION"
        )
    cells, metrics, arrays = [(img, "ground truth")], {}, {}
    for name, (model, lr) in job["models"].items():
        arrays[name], metrics[name], label = _recover_one(name, model, lr, problem, scale, args)
        cells.append((arrays[name], label))
    fig = plot_images(
        [(args.image, cells)],
        title=f"{args.image}: {m} Gaussian measurements "
        f"({args.fraction:.0%} of {args.size}x{args.size})",
    )
    write_recovery(
        args.out,
        arrays,
        fig,
        {"image": args.image, "measurements": m, "noise": args.noise, "models": metrics},
    )
