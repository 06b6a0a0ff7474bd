"""Per-column RMSE ratios to the column-mean fill over several random masks.

    python benchmarks/column_masks.py [--tables wine] [--levels 0.3] [--seeds 0-11]
                                      [--methods snn,iterative,knn] [--json out.json]

``benchmarks/imputers.py`` judges "no column worse than its mean fill" on one mask (seed 0):
a column with ~50 hidden entries then rests on a noisy ratio. This script repeats the same
protocol (``_datasets.hide_entries`` with each seed, the same methods as ``imputers.py``) over
several masks and prints, per method, the worst column of each mask and, per column, the
geometric mean of its ratio over the masks and on how many masks it is above 1. Everything is
computed here, nothing is tuned: the methods run with their defaults on every mask.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _datasets import column_rmse, hide_entries, markdown_table, progress, write_json
from imputers import TABLES, load_table, table_methods


def _seeds(text: str) -> list[int]:
    """``"0-11"`` or ``"0,3,5"``."""
    if "-" in text:
        lo, hi = (int(v) for v in text.split("-"))
        return list(range(lo, hi + 1))
    return [int(v) for v in text.split(",") if v.strip()]


def column_ratios(X, hidden, outs) -> dict:
    """Per method, each column's RMSE on the hidden entries over the mean fill's (NaN where
    the column has no hidden entry or the mean fill is exact there)."""
    r_0 = column_rmse(outs["mean"], X, hidden)
    ok = np.isfinite(r_0) & (r_0 > 1e-12 * (np.abs(X).max(axis=0) + 1e-300))
    return {
        m: np.where(ok, column_rmse(out, X, hidden) / np.where(ok, r_0, 1.0), np.nan)
        for m, out in outs.items()
        if m != "mean"
    }


def run_case(name, level, seeds, methods):
    """``{method: (masks, columns) ratios}`` and ``{method: seconds}`` of one table and level."""
    X = load_table(name)
    impute = table_methods()
    ratios: dict = {m: [] for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    for seed in seeds:
        hidden = hide_entries(X.shape, level, seed)
        M = np.where(hidden, np.nan, X)
        outs = {}
        for m in [*methods, "mean"]:
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outs[m] = impute[m](M)
            seconds[m] = seconds.get(m, 0.0) + time.perf_counter() - t
        for m, r in column_ratios(X, hidden, outs).items():
            ratios[m].append(r)
        worst = {m: np.nanmax(ratios[m][-1]) for m in methods}
        progress(
            f"{name} {level:.0%} seed {seed}: worst column "
            + ", ".join(f"{m} {w:.3f}" for m, w in worst.items())
        )
    return {m: np.array(v) for m, v in ratios.items()}, seconds


def report(name, level, ratios, columns) -> str:
    methods = list(ratios)
    n = len(next(iter(ratios.values())))
    rows = []
    for j, col in enumerate(columns):
        cells = []
        for m in methods:
            r = ratios[m][:, j]
            r = r[np.isfinite(r)]
            above = int((r > 1).sum())
            cells.append(f"{np.exp(np.mean(np.log(r))):.3f} ({above}/{len(r)})" if len(r) else "-")
        rows.append([col, *cells])
    worst = [
        [
            m,
            f"{np.nanmax(ratios[m], axis=1).max():.3f}",
            f"{int((np.nanmax(ratios[m], axis=1) > 1).sum())}/{n}",
        ]
        for m in methods
    ]
    return "\n".join(
        [
            f"### {name}, {level:.0%} hidden, {n} masks: per column, geometric-mean ratio to the "
            "mean fill (masks above 1)\n",
            markdown_table(["column", *methods], rows),
            "\nWorst column of any mask, and masks with some column above 1:\n",
            markdown_table(["method", "worst ratio", "masks above 1"], worst),
            "",
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", default="wine", help=f"comma-separated from {','.join(TABLES)}")
    ap.add_argument("--levels", default="0.3", help="hidden fractions (default 0.3)")
    ap.add_argument("--seeds", default="0-11", help="mask seeds: 0-11 or 0,3,5 (default 0-11)")
    ap.add_argument("--methods", default="snn,iterative,knn")
    ap.add_argument("--json", default=None, help="also write the ratios to this JSON file")
    args = ap.parse_args()
    from sklearn import datasets

    seeds, methods = _seeds(args.seeds), args.methods.split(",")
    payload, sections = [], []
    for name in args.tables.split(","):
        kwargs = {"scaled": False} if name == "diabetes" else {}
        loaded = getattr(datasets, f"load_{name}")(**kwargs)
        names = getattr(loaded, "feature_names", None)
        columns = [str(c) for c in (range(loaded.data.shape[1]) if names is None else names)]
        for level in (float(v) for v in args.levels.split(",")):
            ratios, seconds = run_case(name, level, seeds, methods)
            sections.append(report(name, level, ratios, columns))
            sections.append(
                "Seconds in all: " + ", ".join(f"{m} {s:.1f}" for m, s in seconds.items()) + "\n"
            )
            payload.append(
                {
                    "table": name,
                    "missing": level,
                    "seeds": seeds,
                    "columns": columns,
                    "ratios": {m: r.tolist() for m, r in ratios.items()},
                    "seconds": seconds,
                }
            )
    print("\n".join(sections))
    if args.json:
        write_json(args.json, {"cases": payload})


if __name__ == "__main__":
    main()
