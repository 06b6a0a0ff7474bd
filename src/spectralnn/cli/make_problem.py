"""``spectralnn make-problem``: generate a sensing problem and save it as ``.npz``."""

from __future__ import annotations

import argparse

import numpy as np

from ..sensing import PROBLEM_KINDS, make_problem
from ._common import (
    UsageError,
    add_size_flag,
    check_int,
    check_out_file,
    check_outputs,
    check_real,
    check_size,
    max_bytes,
    parse_shape,
    say,
)

NAME = "make-problem"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        NAME,
        help="generate a sensing problem (.npz)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  spectralnn make-problem gaussian "
        "--shape 20x20 --rank 2 --measurements 160 --out p.npz",
    )
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
    add_size_flag(p)
    return p


def validate(args):
    shape = parse_shape(args.shape)
    check_int(args.rank, "--rank", 1)
    check_int(args.measurements, "--measurements", 1)
    check_int(args.test_measurements, "--test-measurements", 1)
    check_real(args.noise, "--noise", low=0.0)
    check_real(args.scale, "--scale", low=0.0, strict=True)
    check_out_file(args.out, ".npz")
    check_outputs([args.out], [args.target])
    _check_budget(args, shape)
    target = None
    if args.target is not None:
        target = _load_target(args.target, shape)
    return {"shape": shape, "target": target}


def run(args, job) -> None:
    problem = make_problem(
        args.kind,
        job["shape"],
        args.rank,
        args.measurements,
        args.noise,
        args.seed,
        target=job["target"],
        psd=not args.general,
        scale=args.scale,
        test_measurements=args.test_measurements,
        max_bytes=max_bytes(args),
    )
    problem.save(args.out)
    say(f"wrote {args.out}: {problem.operator!r}, target rank {problem.meta['rank']}")


def _check_budget(args, shape) -> None:
    """Memory and time of the generator, estimated before anything is allocated."""
    from .._validation import problem_bytes

    d1, d2 = shape
    rank = min(args.rank, d1, d2)
    seconds = 30.0 * d1 * d2 * min(d1, d2) / 5e9  # the target's SVDs
    check_size(args, "--shape", args.shape, problem_bytes(args.kind, shape, 1, 1, rank), seconds)
    m = args.measurements
    mt = m if args.test_measurements is None else args.test_measurements
    if args.kind == "completion":
        m, mt = min(m, d1 * d2), min(mt, d1 * d2)
    flag, value = ("--test-measurements", mt) if mt > m else ("--measurements", m)
    check_size(args, flag, value, problem_bytes(args.kind, shape, m, mt, rank))


def _load_target(name: str, shape) -> np.ndarray:
    """A ``.npy`` matrix (no pickles) or an image resized to ``shape``; checked here."""
    if name.endswith(".npy"):
        try:
            target = np.load(name, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UsageError(f"--target {name!r}: not a readable .npy array ({exc})") from None
    else:
        from ..images import load_image

        try:
            target = load_image(name, shape)
        except (OSError, ValueError, TypeError) as exc:
            raise UsageError(f"--target {name!r}: {exc}") from None
    if target.ndim != 2 or target.shape != shape:
        raise UsageError(
            f"--target must be a matrix of the --shape {shape[0]}x{shape[1]}; "
            f"got shape {target.shape}"
        )
    if not np.issubdtype(target.dtype, np.number) or np.iscomplexobj(target):
        raise UsageError(f"--target must hold real numbers; got dtype {target.dtype}")
    target = target.astype(np.float64)
    if not np.isfinite(target).all():
        raise UsageError("--target must be finite; it holds NaN or inf")
    if not np.any(target):
        raise UsageError("--target must be a nonzero matrix; it is all zeros")
    return target
