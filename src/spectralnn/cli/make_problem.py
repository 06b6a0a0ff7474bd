"""``spectralnn make-problem``: generate a sensing problem and save it as ``.npz``."""

from __future__ import annotations

import argparse

import numpy as np

from ..sensing import PROBLEM_KINDS, make_problem
from ._common import UsageError, parse_shape, say

NAME = "make-problem"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="generate a sensing problem (.npz)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  spectralnn make-problem gaussian "
                       "--shape 20x20 --rank 2 --measurements 160 --out p.npz")
    p.add_argument("kind", help=f"one of {', '.join(PROBLEM_KINDS)}")
    p.add_argument("--shape", default="10x10", help="d1xd2 (default 10x10)")
    p.add_argument("--rank", type=int, default=2, help="target rank (default 2)")
    p.add_argument("--measurements", type=int, default=50, help="m (default 50)")
    p.add_argument("--test-measurements", type=int, default=None, help="held-out m (default m)")
    p.add_argument("--noise", type=float, default=0.0, help="noise std (default 0)")
    p.add_argument("--scale", type=float, default=1.0, help="measurement scale (paper: 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--general", action="store_true", help="Gaussian-factor target, not W W^T")
    p.add_argument("--target", help="a .npy matrix or an image (name or file) as the target")
    p.add_argument("--out", required=True, help="output .npz path")
    return p


def run(args) -> None:
    shape = parse_shape(args.shape)
    if not args.out.endswith(".npz"):
        raise UsageError(f"--out must name an .npz file; got {args.out!r}")
    target = None
    if args.target is not None:
        target = (np.load(args.target) if args.target.endswith(".npy")
                  else _image(args.target, shape))
    problem = make_problem(args.kind, shape, args.rank, args.measurements, args.noise, args.seed,
                           target=target, psd=not args.general, scale=args.scale,
                           test_measurements=args.test_measurements)
    problem.save(args.out)
    say(f"wrote {args.out}: {problem.operator!r}, target rank {problem.meta['rank']}")


def _image(name: str, shape) -> np.ndarray:
    from ..images import load_image

    return load_image(name, shape)
