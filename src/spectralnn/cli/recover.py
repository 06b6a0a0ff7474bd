"""``spectralnn recover``: recover an image from random Gaussian measurements (``--fraction``) or
inpaint its missing pixels (``--missing P`` at random, or ``--mask PNG``) with the no-tuning recipe."""

from __future__ import annotations

import argparse

from ..models import make_model
from ..sensing import make_image_problem
from ..train import fit
from ._common import UsageError, check_int, check_out, check_real, parse_widths, say, write_recovery

NAME = "recover"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="recover an image from random measurements",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  spectralnn recover camera --fraction 0.6 --out rec/\n"
                       "  spectralnn recover camera --missing 0.5 --size 64 --out inpaint/\n"
                       "  spectralnn recover photo.png --mask scratches.png --out fixed/\n"
                       "inpainting uses the recipe (no lr/steps flags needed) and writes "
                       "recover.png: truth | observed (missing in red) | each model")
    p.add_argument("image", help="image file, skimage name (camera, moon, ...), lfw:K, "
                   "mnist:PATH[:K]")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--fraction", type=float, default=None,
                      help="Gaussian measurements: m / (size^2) (default mode, 0.6)")
    mode.add_argument("--missing", type=float, default=None,
                      help="inpainting: this fraction of pixels missing at random, in (0, 1)")
    mode.add_argument("--mask", default=None,
                      help="inpainting: a mask image, white (>= 0.5) = missing pixel")
    p.add_argument("--model", default=None,
                   help="inpainting models, comma-separated from snn, softimpute, free, convex, "
                   "deep (default snn,softimpute,free; free = linear regression)")
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--widths", default="4,8,16")
    p.add_argument("--init-scale", type=float, default=1e-4)
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--lr-snn", type=float, default=0.1)
    p.add_argument("--lr-free", type=float, default=0.1)
    p.add_argument("--noise", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True)
    return p


def validate(args) -> dict:
    if args.missing is not None or args.mask is not None:
        from ._inpaint import validate_inpaint

        return validate_inpaint(args)
    if args.model is not None:
        raise UsageError("--model applies to inpainting (--missing or --mask); the Gaussian "
                         "mode compares snn and free")
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
    try:
        problem, scale = make_image_problem(args.image, (args.size, args.size), args.fraction,
                                            args.noise, args.seed)
    except (OSError, ValueError, TypeError, IndexError) as exc:
        raise UsageError(f"IMAGE {args.image!r}: {str(exc).strip().splitlines()[0]}") from exc
    shape = (args.size, args.size)
    models = {"free": (make_model("free", shape), args.lr_free),
              "snn": (make_model("snn", shape, widths=widths, init_scale=args.init_scale,
                                 seed=args.seed), args.lr_snn)}
    return {"problem": problem, "scale": scale, "models": models}


def run(args, job) -> None:
    if job.get("inpaint"):
        from ._inpaint import run_inpaint

        return run_inpaint(args, job)
    from ..metrics import psnr, relative_error
    from ..plotting import plot_images

    problem, scale = job["problem"], job["scale"]
    img, m = (problem.X_true * scale).numpy(), problem.m
    cells, metrics, arrays = [(img, "ground truth")], {}, {}
    for name, (model, lr) in job["models"].items():
        res = fit(model, problem, lr, args.steps)
        X = res.X * scale
        p = psnr(X, problem.X_true * scale)
        e = relative_error(res.X, problem.X_true).item()
        metrics[name] = {"psnr": p, "rel_error": e, "lr": lr, "status": str(res.status)}
        arrays[name] = X.numpy()
        label = "linear regression" if name == "free" else "SNN"
        cells.append((X.numpy(), f"{label}\nPSNR {p:.2f} dB, rel.err {e:.3f}"))
        say(f"{label}: PSNR {p:.2f} dB, relative error {e:.4f} ({res.status})")
    fig = plot_images([(args.image, cells)], title=f"{args.image}: {m} Gaussian measurements "
                      f"({args.fraction:.0%} of {args.size}x{args.size})")
    write_recovery(args.out, arrays, fig,
                   {"image": args.image, "measurements": m, "models": metrics})
