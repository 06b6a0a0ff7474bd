"""``spectralnn sweep``: run a grid of runs (phase transitions) from a TOML config."""

from __future__ import annotations

import argparse
import os

from ._common import UsageError, add_size_flag, check_out, max_bytes, say

NAME = "sweep"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        NAME,
        help="run a grid of runs (phase transitions)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  spectralnn sweep "
        "examples/phase_transition.toml --out pt/\n  spectralnn sweep "
        "examples/phase_transition.toml --backend ray --address auto",
    )
    p.add_argument(
        "config", help="TOML grid (grammar: python -c 'import spectralnn.sweep as s; help(s)')"
    )
    p.add_argument("--backend", choices=["local", "ray"], default="local")
    p.add_argument("--address", default=None, help="Ray cluster address (default: start one)")
    p.add_argument("--workers", type=int, default=None, help="local processes (default: cores)")
    p.add_argument("--out", default=None, help="output folder (default: the config's name)")
    p.add_argument(
        "--style",
        choices=["screen", "paper"],
        default="screen",
        help="figure size and fonts (paper: 7 in wide, for a two-column paper)",
    )
    add_size_flag(p)
    return p


def validate(args) -> dict:
    from ..sweep import ConfigError, load_config

    try:  # every value of every axis, per model, before any cell runs or anything is written
        cfg = load_config(args.config, max_bytes(args))
    except ConfigError as exc:
        raise UsageError(f"{args.config}: {exc}") from None
    if args.backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise UsageError("--backend ray needs Ray: pip install 'spectralnn[ray]'") from None
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be >= 1; got {args.workers}")
    out = check_out(args.out or os.path.splitext(os.path.basename(args.config))[0])
    return {"config": cfg, "out": out}


def resume_hint(args) -> str | None:
    """Shown on Ctrl-C: a rerun skips the cells already in the results file."""
    return "rerun the same command to continue; finished cells are kept"


def run(args, job) -> None:
    from ..sweep import format_summary, run_sweep

    out = job["out"]
    summary = run_sweep(
        job["config"],
        out,
        backend=args.backend,
        address=args.address,
        workers=args.workers,
        say=say,
        style=args.style,
    )
    print(format_summary(summary))
    say(
        f"results: {os.path.join(out, 'table.csv')}, plots: "
        f"{os.path.join(out, 'phase_transition.png')}"
    )
