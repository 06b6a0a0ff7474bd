"""``spectralnn recover``: recover an image from random Gaussian measurements."""

from __future__ import annotations

import argparse
import os

from .. import _io
from ..models import make_model
from ..sensing import make_image_problem
from ..train import fit
from ._common import UsageError, check_out, parse_widths, say

NAME = "recover"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="recover an image from random measurements",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  spectralnn recover camera --fraction 0.6 --out rec/")
    p.add_argument("image", help="image file, skimage name (camera, moon, ...), lfw:K, "
                   "mnist:PATH[:K]")
    p.add_argument("--fraction", type=float, default=0.6, help="m / (size^2) (default 0.6)")
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


def run(args) -> None:
    from ..metrics import psnr, relative_error
    from ..plotting import plot_images, save_figure

    if not 0 < args.fraction <= 1:
        raise UsageError(f"--fraction must be in (0, 1]; got {args.fraction}")
    check_out(args.out)
    problem, scale = make_image_problem(args.image, (args.size, args.size), args.fraction,
                                        args.noise, args.seed)
    img, m = (problem.X_true * scale).numpy(), problem.m
    os.makedirs(args.out, exist_ok=True)
    cells, metrics = [(img, "ground truth")], {}
    for name, lr in (("free", args.lr_free), ("snn", args.lr_snn)):
        kw = {"widths": parse_widths(args.widths), "init_scale": args.init_scale, "seed": args.seed}
        model = make_model(name, img.shape, **kw) if name == "snn" else make_model(name, img.shape)
        res = fit(model, problem, lr, args.steps)
        X = res.X * scale
        p = psnr(X, problem.X_true * scale)
        e = relative_error(res.X, problem.X_true).item()
        metrics[name] = {"psnr": p, "rel_error": e, "lr": lr, "status": str(res.status)}
        _io.write_npz(os.path.join(args.out, f"X_{name}.npz"), X=X.numpy())
        label = "linear regression" if name == "free" else "SNN"
        cells.append((X.numpy(), f"{label}\nPSNR {p:.2f} dB, rel.err {e:.3f}"))
        say(f"{label}: PSNR {p:.2f} dB, relative error {e:.4f} ({res.status})")
    fig = plot_images([(args.image, cells)], title=f"{args.image}: {m} Gaussian measurements "
                      f"({args.fraction:.0%} of {args.size}x{args.size})")
    save_figure(fig, os.path.join(args.out, "recover.png"))
    _io.write_json(os.path.join(args.out, "metrics.json"),
                   {"image": args.image, "measurements": m, "models": metrics,
                    "versions": _io.provenance()})
