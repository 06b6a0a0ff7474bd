"""``spectralnn reproduce``: reproduce the paper's Figures 2-5."""

from __future__ import annotations

import argparse
import os

import torch

from ._common import UsageError, check_out, say

NAME = "reproduce"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        NAME,
        help="reproduce the paper's Figures 2-5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  spectralnn reproduce all --quick "
        "--out r/\n  spectralnn reproduce fig2 --out r2/",
    )
    p.add_argument("figure", choices=["fig2", "fig3", "fig4", "fig5", "all"])
    p.add_argument("--quick", action="store_true", help="same code, few iterations")
    p.add_argument("--out", default="reproduction", help="output folder (default reproduction/)")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    p.add_argument("--images", nargs="+", help="images for fig4/fig5 (names or files)")
    p.add_argument("--mnist", help="a local MNIST IDX file: use its first 5 digits as images")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes (default: one per core; the GPU path uses one)",
    )
    p.add_argument(
        "--style",
        choices=["screen", "paper"],
        default="screen",
        help="figure size and fonts: screen (default) or paper (7 in wide, 7-8 pt, "
        "for a two-column paper); PNG and PDF (fonts embedded) either way",
    )
    return p


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available here (use cpu or auto)")
    return name


def validate(args) -> dict:
    from ..experiments.configs import FIGURES

    names = list(FIGURES) if args.figure == "all" else [args.figure]
    check_out(args.out)
    device = _device(args.device)
    images = list(args.images) if args.images else None
    flag = "--images"
    if args.mnist:
        if not os.path.isfile(args.mnist):
            raise UsageError(f"--mnist {args.mnist!r}: no such file")
        images, flag = [f"mnist:{args.mnist}:{k}" for k in range(5)], "--mnist"
    if images:
        from ..images import load_image

        for name in images:  # fail before any run starts
            try:
                load_image(name, 28)
            except (OSError, ValueError, TypeError, IndexError) as exc:
                raise UsageError(f"{flag} {name!r}: {str(exc).strip().splitlines()[0]}") from exc
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be >= 1; got {args.workers}")
    return {"names": names, "device": device, "images": images}


def run(args, job) -> None:
    from ..experiments.reproduce import reproduce

    summary = reproduce(
        job["names"],
        args.out,
        quick=args.quick,
        device=job["device"],
        images=job["images"],
        workers=args.workers,
        say=say,
        style=args.style,
    )
    say(f"all done in {summary['wall_time']:.1f} s; report: {os.path.join(args.out, 'report.md')}")
