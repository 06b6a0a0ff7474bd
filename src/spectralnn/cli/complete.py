"""``spectralnn complete``: fill the missing entries of a matrix file (CSV/TSV, .npy, triplets)."""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

from ._common import UsageError, say

NAME = "complete"
MODELS = ("snn", "convex", "softimpute", "free", "deep")

EPILOG = """examples:
  spectralnn complete ratings.csv --out completed.csv
  spectralnn complete ratings.tsv --out done.tsv --model softimpute
  spectralnn complete triplets.csv --triplets --out filled.csv   (row,col,value lines)

Input: a CSV/TSV matrix (empty cell, NaN, NA or ? = missing; a header row and an index column
are detected, or set with --header/--no-header and --index-col/--no-index-col), a .npy 2-D array
with NaN, or long-format triplets (row,col,value; detected from a header like user,item,rating,
or --triplets). OUTPUT gets the completed matrix in the input's format; next to it
OUTPUT-stem.summary.json (observed fraction, chosen settings, held-out error, time) and
OUTPUT-stem.history.png. Bad input exits 2 and writes nothing."""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="complete a partially observed matrix (NaN = missing)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    p.add_argument("input", help="CSV/TSV matrix, .npy array, or row,col,value triplets")
    p.add_argument("--out", required=True, help="output file (same format as the input)")
    p.add_argument("--model", choices=MODELS, default="snn",
                   help="snn (default, no tuning), convex (nuclear-norm minimiser), softimpute "
                   "(held-out lambda), free (mean fill), deep (deep factorisation)")
    p.add_argument("--triplets", action="store_true", help="INPUT is row,col,value lines")
    p.add_argument("--format", choices=("csv", "tsv", "npy"), default=None,
                   help="input format (default: from the extension and content)")
    p.add_argument("--header", dest="header", action="store_true", default=None,
                   help="the first line holds column labels")
    p.add_argument("--no-header", dest="header", action="store_false")
    p.add_argument("--index-col", dest="index_col", action="store_true", default=None,
                   help="the first column holds row labels")
    p.add_argument("--no-index-col", dest="index_col", action="store_false")
    p.add_argument("--max-steps", type=int, default=2000, help="recipe step limit (default 2000)")
    p.add_argument("--fitted-observed", action="store_true",
                   help="write the model's fit on observed entries too (default: keep them)")
    p.add_argument("--seed", type=int, default=0)
    return p


def _check_args(args) -> None:
    if args.max_steps < 1:
        raise UsageError(f"--max-steps must be >= 1; got {args.max_steps}")
    if os.path.isdir(args.out):
        raise UsageError(f"--out {args.out!r} is a folder; give a file name")
    if os.path.abspath(args.out) == os.path.abspath(args.input):
        raise UsageError("--out must differ from INPUT (the input is never overwritten)")
    folder = os.path.dirname(os.path.abspath(args.out))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UsageError(f"--out {args.out!r}: {folder!r} is not a folder")


def _estimator(args):
    from ..estimators import COMPLETERS

    keep = not args.fitted_observed
    if args.model == "convex":
        return COMPLETERS["convex"](keep_observed=keep)
    if args.model == "softimpute":
        return COMPLETERS["softimpute"](keep_observed=keep, random_state=args.seed)
    return COMPLETERS[args.model](max_steps=args.max_steps, keep_observed=keep,
                                  random_state=args.seed)


def _empty_lines(values, model) -> str | None:
    obs = ~np.isnan(values)
    rows, cols = np.flatnonzero(~obs.any(1)), np.flatnonzero(~obs.any(0))
    if not len(rows) and not len(cols):
        return None
    what = "; ".join(f"{name} {', '.join(str(i + 1) for i in idx[:10])}"
                     f"{' ...' if len(idx) > 10 else ''}"
                     for name, idx in (("rows", rows), ("columns", cols)) if len(idx))
    if model == "convex":
        raise UsageError(f"INPUT has no observed entry in {what}: --model convex cannot complete "
                         "them (use --model snn, which fills them with the mean)")
    return f"no observed entry in {what} (1-based): filled with the model's estimate (the mean)"


def _summary(args, table, est, elapsed) -> dict:
    from .. import _io

    values = table.values
    s = {"input": args.input, "output": args.out, "format": table.fmt,
         "shape": list(values.shape), "observed": int((~np.isnan(values)).sum()),
         "observed_fraction": float((~np.isnan(values)).mean()), "model": args.model,
         "keep_observed": not args.fitted_observed, "time_s": elapsed,
         "empty_rows": est.empty_rows_, "empty_cols": est.empty_cols_}
    if hasattr(est, "result_"):
        r = est.result_
        s.update(status=r.status, validation_error=r.validation_error, lr=r.lr,
                 lr_factor=r.lr_factor, init_scale=r.init_scale, best_step=r.best_step,
                 scale=r.normalization.scale, offset=r.normalization.offset, refit=r.refit,
                 lr_candidates={f"{k:.6g}": v for k, v in r.candidates.items()},
                 warnings=r.warnings)
    elif args.model == "softimpute":
        s.update(validation_error=est.validation_error_, **{"lambda": est.lambda_},
                 rank=est.rank_, iterations=est.n_iter_)
    else:
        s.update(solver=est.method_, converged=est.converged_, iterations=est.n_iter_,
                 validation_error=None)
    s["versions"] = _io.provenance()
    return s


def _history_figure(args, est):
    import matplotlib.pyplot as plt

    from ..plotting import plot_histories

    if hasattr(est, "history_") and est.history_:
        return plot_histories({f"{args.model} lr={est.lr_:.3g}": est.history_},
                              title=f"spectralnn complete {os.path.basename(args.input)}")
    fig, ax = plt.subplots(figsize=(5, 3.5))
    if args.model == "softimpute" and est.validation_errors_:
        ax.semilogx(est.lambdas_, est.validation_errors_, "o-")
        ax.axvline(est.lambda_, color="red", ls="--", label="chosen")
        ax.set_xlabel("lambda")
        ax.set_ylabel("held-out relative error")
        ax.legend()
    else:
        ax.text(0.5, 0.5, f"{args.model}: no training history", ha="center", va="center")
        ax.axis("off")
    return fig


def validate(args):
    """Check the flags and read INPUT (exit 2 on any problem); nothing is written."""
    from .._tabular import read_table

    _check_args(args)
    fmt = "triplets" if args.triplets else args.format
    table = read_table(args.input, fmt=fmt, header=args.header, index_col=args.index_col)
    return {"table": table, "note": _empty_lines(table.values, args.model)}


def _settings(s: dict) -> str:
    if "lr" in s:
        init = "" if s["init_scale"] is None else f", init {s['init_scale']:g}"
        return (f": lr {s['lr']:.4g} (factor {s['lr_factor']:g} / curvature){init}, "
                f"{s['best_step']} steps, {s['status']}")
    if "lambda" in s:
        return f": lambda {s['lambda']:.4g} (held-out), rank {s['rank']}"
    return f": solver {s['solver']}, {'converged' if s['converged'] else 'NOT converged'}"


def run(args, job) -> None:
    from .. import _io
    from .._tabular import write_table
    from ..plotting import save_figure

    table = job["table"]
    if job["note"]:
        say(f"note: {job['note']}")
    est = _estimator(args)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        completed = est.fit(table.values).completed_
    elapsed = time.perf_counter() - t0
    for w in caught:
        say(f"warning: {w.category.__name__}: {w.message}")
    summary = _summary(args, table, est, elapsed)
    stem = os.path.splitext(args.out)[0]
    fig = _history_figure(args, est)
    write_table(args.out, table, completed)
    _io.write_json(f"{stem}.summary.json", summary)
    save_figure(fig, f"{stem}.history.png")
    val = summary.get("validation_error")
    lines = [(f"{table.values.shape[0]}x{table.values.shape[1]} matrix, {summary['observed']} "
             f"observed ({summary['observed_fraction']:.1%})"),
             f"model {args.model}" + _settings(summary),
             "held-out relative error " + ("n/a" if val is None else f"{val:.4g}"),
             f"time {elapsed:.1f} s; wrote {args.out}, {stem}.summary.json, {stem}.history.png"]
    print("\n".join(lines), file=sys.stdout)
