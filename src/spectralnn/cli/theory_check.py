"""``spectralnn theory-check``: check the paper's claims on random problems."""

from __future__ import annotations

import argparse
import os

from .. import _io
from ._common import check_int, check_out, output_dir, say

NAME = "theory-check"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        NAME,
        help="check the paper's claims on random problems",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  spectralnn theory-check --quick --out tc/",
    )
    p.add_argument("--seeds", type=int, default=3, help="random problems per cell (default 3)")
    p.add_argument("--steps", type=int, default=20000, help="GD steps per run (default 20000)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="1 seed, 2000 steps; the full-vs-reduced drift over 1,000 steps",
    )
    p.add_argument(
        "--drift-steps",
        type=int,
        default=20000,
        help="steps of the full-vs-reduced drift check on Figure 2 at lr 5e-3 "
        "(default 20000; 0 skips it)",
    )
    p.add_argument("--style", choices=["screen", "paper"], default="screen")
    p.add_argument("--out", required=True)
    return p


def validate(args) -> dict:
    check_out(args.out)
    seeds, steps = (1, 2000) if args.quick else (args.seeds, args.steps)
    check_int(seeds, "--seeds", 1)
    check_int(steps, "--steps", 1)
    drift = 1000 if args.quick else check_int(args.drift_steps, "--drift-steps", 0)
    return {"seeds": seeds, "steps": steps, "drift_steps": drift}


def run(args, job) -> None:
    from ..experiments import theory_check as tc
    from ..plotting import save_figure, style

    seeds, steps = job["seeds"], job["steps"]

    def progress(i, n, row):
        say(
            f"[{i}/{n}] {row['scenario']}, init {row['init_scale']:g}, seed {row['seed']}: "
            f"dist {row['dist_to_min_nuclear']:.2e}, KKT {row['kkt_holds']} "
            f"({row['time']:.1f} s)"
        )

    rows = tc.run_theory_check(seeds, steps, progress)
    summary = tc.summarise(rows)
    table = tc.format_table(summary)
    print(table)
    drift = []
    if job["drift_steps"]:
        n = job["drift_steps"]
        say(f"full vs reduced path: Figure 2 at lr 5e-3 for {n:,} steps")
        drift = tc.manifold_drift(5e-3, n, at=(100, 1_000, n))
        table += "\n\n" + tc.format_drift(drift)
        print("\n" + tc.format_drift(drift))
    with output_dir(args.out):
        _io.write_json(
            os.path.join(args.out, "theory_check.json"),
            {
                "settings": {"seeds": seeds, "steps": steps, "drift_steps": job["drift_steps"]},
                "summary": summary,
                "runs": rows,
                "manifold_drift": drift,
                "versions": _io.provenance(),
            },
        )
        _io.write_history_csv(os.path.join(args.out, "theory_check.csv"), rows)
        _io.write_text(os.path.join(args.out, "theory_check.txt"), table + "\n")
        with style(args.style):
            save_figure(tc.plot(rows), os.path.join(args.out, "theory_check.png"), ("png", "pdf"))
