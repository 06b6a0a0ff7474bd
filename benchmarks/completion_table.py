"""Completion benchmark: relative error on the missing entries and time, for snn / convex /
softimpute / mean-fill on matrices of different shapes, ranks, scales and noise levels.

    python benchmarks/completion_table.py [--quick] [--out table.md]

Each case is generated deterministically (seed 0). ``snn`` is :class:`spectralnn.SNNCompleter()`
with its defaults, ``softimpute`` picks lambda on held-out entries, ``convex`` is the nuclear-norm
minimiser (ADMM; it interpolates noise), ``mean-fill`` puts the observed mean everywhere.
Times are wall-clock seconds in one process (compare within a row).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np

import spectralnn as snn

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from ratings_example import observed


def _case(shape, rank, frac, noise, scale, offset, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((shape[0], rank)) @ rng.standard_normal((rank, shape[1]))
    X = scale * (X / np.abs(X).max()) + offset
    noisy = X + noise * scale * rng.standard_normal(X.shape)
    mask = rng.random(X.shape) < frac
    return np.where(mask, noisy, np.nan), X


CASES = {
    "ratings 60x40 r3, 30%, [1,5]": lambda: observed(0.0),
    "ratings 60x40 r3, 30%, noise 0.1": lambda: observed(0.1),
    "100x50 r2, 40%, scale 1e3": lambda: _case((100, 50), 2, 0.4, 0.0, 1e3, 0.0),
    "30x80 r5, 50%, scale 1e-3, noise 5%": lambda: _case((30, 80), 5, 0.5, 0.05, 1e-3, 2e-3),
    "120x120 r4, 25%, offset 10": lambda: _case((120, 120), 4, 0.25, 0.0, 1.0, 10.0),
}


def _mean_fill(M):
    return np.where(np.isnan(M), np.nanmean(M), M)


def _methods(quick):
    steps = 600 if quick else 2000
    return {
        "snn": lambda M: snn.SNNCompleter(max_steps=steps).fit_transform(M),
        "convex": lambda M: snn.ConvexCompleter(
            method="admm", tol=1e-6, max_iter=2000 if quick else 10000
        ).fit_transform(M),
        "softimpute": lambda M: snn.SoftImputeCompleter().fit_transform(M),
        "mean-fill": _mean_fill,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps/iterations, 2 cases")
    ap.add_argument("--out", help="also write the markdown table here")
    args = ap.parse_args()
    methods = _methods(args.quick)
    cases = list(CASES.items())[:2] if args.quick else list(CASES.items())
    head = "| matrix | " + " | ".join(f"{m} err / s" for m in methods) + " |"
    lines = [head, "|" + "---|" * (len(methods) + 1)]
    print(head, flush=True)
    for name, make in cases:
        M, X = make()
        miss = np.isnan(M)
        cells = []
        for run in methods.values():
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = run(M)
            dt = time.perf_counter() - t0
            err = np.linalg.norm((out - X)[miss]) / np.linalg.norm(X[miss])
            cells.append(f"{err:.4f} / {dt:.1f}")
        line = f"| {name} | " + " | ".join(cells) + " |"
        lines.append(line)
        print(line, flush=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
