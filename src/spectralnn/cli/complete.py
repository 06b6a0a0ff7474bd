"""``spectralnn complete``: fill the missing entries of a matrix file (CSV/TSV, .npy, triplets),
or predict chosen entries (``--predict PAIRS``)."""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
import warnings

import numpy as np

from ._common import UsageError, say

NAME = "complete"
MODELS = ("snn", "convex", "softimpute", "free", "deep")
RECIPE_MODELS = ("snn", "free", "deep")
DENSE_LIMIT_GIB = 2.0
"""Largest dense output (rows x cols x 8 bytes) written; past it, --predict or --only-missing."""
ROW_NAMES = {"row", "rows", "i", "user", "user_id", "userid", "r", "u", "uid"}
COL_NAMES = {
    "col",
    "cols",
    "column",
    "j",
    "item",
    "item_id",
    "itemid",
    "movie",
    "movie_id",
    "movieid",
    "c",
    "i",
    "iid",
}

EPILOG = f"""examples:
  spectralnn complete ratings.csv --out completed.csv
  spectralnn complete ratings.tsv --out done.tsv --model softimpute
  spectralnn complete triplets.csv --triplets --out filled.csv   (row,col,value lines)
  spectralnn complete train.csv --predict test_pairs.csv --out pred.csv --clip 1 5
  spectralnn complete train.csv --only-missing --out missing.csv

Input: a CSV/TSV matrix (empty cell, NaN, NA or ? = missing; a header row and an index column
are detected, or set with --header/--no-header and --index-col/--no-index-col), a .npy 2-D array
with NaN, or long-format triplets (row,col,value; detected from a header like user,item,rating,
or --triplets). OUTPUT gets the completed matrix in the input's format; next to it
OUTPUT-stem.summary.json (observed fraction, chosen settings, held-out error, time) and
OUTPUT-stem.history.png. Bad input exits 2 and writes nothing.

--predict PAIRS: PAIRS holds row,col lines (CSV or TSV, optional header such as user,item;
further fields ignored) in the input's ids: the labels of a triplet file (e.g. u17,m3), the
index column and header of a labelled matrix, else 0-based positions. OUTPUT gets one
row,col,prediction line per pair, in order, with PAIRS' delimiter. An unknown id exits 2
naming its line. An observed entry is predicted as observed unless --fitted-observed.
--only-missing: long-format input only; OUTPUT gets only the entries that were missing.
A dense OUTPUT above {DENSE_LIMIT_GIB:g} GiB (rows x cols x 8 bytes) is refused: use --predict
or --only-missing. Predictions are written with 6 significant digits (%.6g). Progress lines
(held-out RMSE in the data's units) go to stderr every few seconds unless --quiet."""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        NAME,
        help="complete a partially observed matrix (NaN = missing)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    p.add_argument("input", help="CSV/TSV matrix, .npy array, or row,col,value triplets")
    p.add_argument(
        "--out",
        required=True,
        help="output file (the input's format; with --predict: row,col,prediction)",
    )
    p.add_argument(
        "--model",
        choices=MODELS,
        default="snn",
        help="snn (no tuning), convex (nuclear-norm minimiser), softimpute "
        "(held-out lambda), free (mean fill), deep (deep factorisation) "
        "(default: %(default)s)",
    )
    p.add_argument("--triplets", action="store_true", help="INPUT is row,col,value lines")
    p.add_argument(
        "--format",
        choices=("csv", "tsv", "npy"),
        default=None,
        help="input format (default: from the extension and content)",
    )
    p.add_argument(
        "--header",
        dest="header",
        action="store_true",
        default=None,
        help="the first line holds column labels (default: detected)",
    )
    p.add_argument("--no-header", dest="header", action="store_false")
    p.add_argument(
        "--index-col",
        dest="index_col",
        action="store_true",
        default=None,
        help="the first column holds row labels (default: detected)",
    )
    p.add_argument("--no-index-col", dest="index_col", action="store_false")
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--predict",
        metavar="PAIRS",
        default=None,
        help="write predictions for the row,col pairs of this file only",
    )
    what.add_argument(
        "--only-missing",
        action="store_true",
        help="long-format input: write only the missing entries (default: all)",
    )
    p.add_argument(
        "--clip",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        default=None,
        help="clip the model's estimates to [LOW, HIGH] (default: no clipping)",
    )
    p.add_argument(
        "--max-steps", type=int, default=2000, help="recipe step limit (default: %(default)s)"
    )
    p.add_argument(
        "--fitted-observed",
        action="store_true",
        help="write the model's fit on observed entries too (default: keep them)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress lines on stderr (default: progress every few seconds)",
    )
    return p


def _check_args(args) -> None:
    from ._common import check_outputs, check_steps

    check_steps(args.max_steps, "--max-steps")  # [1, 10**7]
    stem = os.path.splitext(args.out)[0]  # every file run() writes, before any work
    check_outputs(
        [
            args.out,
            ("the summary file", f"{stem}.summary.json"),
            ("the history figure", f"{stem}.history.png"),
        ],
        [args.input, args.predict],
        "--out",
    )
    if args.clip is not None:
        low, high = args.clip
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise UsageError(f"--clip LOW HIGH needs finite LOW < HIGH; got {low:g} {high:g}")
    if os.path.isdir(args.out):
        raise UsageError(f"--out {args.out!r} is a folder; give a file name")
    for flag, path in (("INPUT", args.input), ("--predict", args.predict)):
        if path is not None and os.path.abspath(args.out) == os.path.abspath(path):
            raise UsageError(
                f"--out {args.out!r} must differ from {flag} (inputs are never overwritten)"
            )
    folder = os.path.dirname(os.path.abspath(args.out))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UsageError(f"--out {args.out!r}: {folder!r} is not a folder")
    if args.predict is not None and not os.path.isfile(args.predict):
        raise UsageError(f"--predict {args.predict!r}: no such file")


def _empty_lines(values, model) -> str | None:
    obs = ~np.isnan(values)
    rows, cols = np.flatnonzero(~obs.any(1)), np.flatnonzero(~obs.any(0))
    if not len(rows) and not len(cols):
        return None
    what = "; ".join(
        f"{name} {', '.join(str(i + 1) for i in idx[:10])}{' ...' if len(idx) > 10 else ''}"
        for name, idx in (("rows", rows), ("columns", cols))
        if len(idx)
    )
    if model == "convex":
        raise UsageError(
            f"INPUT has no observed entry in {what}: --model convex cannot complete "
            "them (use --model snn, which fills them with the mean)"
        )
    return f"no observed entry in {what} (1-based): filled with the model's estimate (the mean)"


# ----------------------------------------------------------------------------- --predict pairs


def _id_maps(table):
    """Row and column id -> index maps of the input (None: ids are 0-based positions)."""
    if table.fmt == "triplets":
        rows, cols = table.row_labels, table.col_labels
    else:
        rows, cols = table.index, table.header

    def as_map(labels):
        return None if labels is None else {str(lab).strip(): i for i, lab in enumerate(labels)}

    return as_map(rows), as_map(cols)


def _resolve(text: str, ids: dict | None, n: int) -> int | None:
    if ids is None:
        try:
            k = int(text)
        except ValueError:
            return None
        return k if 0 <= k < n else None
    if text in ids:
        return ids[text]
    try:  # "07" and "7" name the same integer id
        return ids.get(str(int(text)))
    except ValueError:
        return None


def _pair_delimiter(first_line: str) -> str:
    if "\t" in first_line:
        return "\t"
    return ";" if ";" in first_line and "," not in first_line else ","


def _is_pair_header(cells, table) -> bool:
    names = [c.strip().lower() for c in cells[:2]]
    known = (
        [str(h).strip().lower() for h in (table.header or [])[:2]]
        if table.fmt == "triplets"
        else [table.corner.strip().lower()]
    )
    known = [k for k in known if k]
    return names[0] in ROW_NAMES | set(known) or names[1] in COL_NAMES | set(known)


def read_pairs(path: str, table) -> dict:
    """The pairs of ``--predict PAIRS`` as indices into ``table``: ``{"rows", "cols", "text",
    "header", "delimiter"}``; an unknown id raises a UsageError naming its line."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError:
        raise UsageError(f"--predict {path!r}: not a text file of row,col lines") from None
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    if not numbered:
        raise UsageError(f"--predict {path!r}: the file is empty")
    delim = _pair_delimiter(numbered[0][1])
    row_ids, col_ids = _id_maps(table)
    d1, d2 = table.values.shape
    rows, cols, text, header = [], [], [], None
    for k, (lineno, line) in enumerate(numbered):
        cells = next(csv.reader([line], delimiter=delim))
        if len(cells) < 2:
            raise UsageError(
                f"--predict {path!r} line {lineno}: {len(cells)} field, expected row{delim}col"
            )
        r_txt, c_txt = cells[0].strip(), cells[1].strip()
        r, c = _resolve(r_txt, row_ids, d1), _resolve(c_txt, col_ids, d2)
        if k == 0 and (r is None or c is None) and _is_pair_header(cells, table):
            header = [r_txt, c_txt]
            continue
        for what, got, txt in (("row", r, r_txt), ("column", c, c_txt)):
            if got is None:
                raise UsageError(
                    f"--predict {path!r} line {lineno}: unknown {what} id {txt!r} (not in INPUT)"
                )
        rows.append(r)
        cols.append(c)
        text.append((r_txt, c_txt))
    if not rows:
        raise UsageError(f"--predict {path!r}: no row,col pairs after the header")
    return {
        "rows": np.asarray(rows, dtype=np.int64),
        "cols": np.asarray(cols, dtype=np.int64),
        "text": text,
        "header": header,
        "delimiter": delim,
    }


def _dense_check(args, table) -> None:
    """Refuse a dense output past DENSE_LIMIT_GIB before any work."""
    d1, d2 = table.values.shape
    if args.predict is not None:
        return
    if args.only_missing:
        n, what = int(np.isnan(table.values).sum()), "missing entries"
    else:
        n, what = d1 * d2, f"entries in the completed {d1} x {d2} matrix"
    gib = n * 8 / 2**30
    if gib > DENSE_LIMIT_GIB:
        raise UsageError(
            f"--out {args.out!r}: {n:,} {what} ({gib:.1f} GiB as float64) exceed "
            f"the {DENSE_LIMIT_GIB:g} GiB limit of a dense output; ask for the "
            "entries you need with --predict PAIRS (or --only-missing for "
            "long-format input)"
        )


def validate(args):
    """Check the flags and read INPUT (and PAIRS): exit 2 on any problem; nothing is written."""
    from .._tabular import read_table

    _check_args(args)
    fmt = "triplets" if args.triplets else args.format
    table = read_table(args.input, fmt=fmt, header=args.header, index_col=args.index_col)
    if args.only_missing and table.fmt != "triplets":
        raise UsageError(
            f"--only-missing applies to long-format (row,col,value) input; INPUT "
            f"{args.input!r} was read as a {table.fmt} matrix"
        )
    if args.only_missing and not np.isnan(table.values).any():
        raise UsageError(f"--only-missing: INPUT {args.input!r} has no missing entry")
    pairs = None if args.predict is None else read_pairs(args.predict, table)
    _dense_check(args, table)
    return {"table": table, "pairs": pairs, "note": _empty_lines(table.values, args.model)}


# ----------------------------------------------------------------------------- the fit


def _estimator(args):
    from ..estimators import COMPLETERS

    keep = not args.fitted_observed
    if args.model == "convex":
        return COMPLETERS["convex"](keep_observed=keep)
    return COMPLETERS["softimpute"](keep_observed=keep, random_state=args.seed)


def _fit(args, values, printer):
    """``(recipe result or None, estimator or None, dense fit or None)``."""
    if args.model in RECIPE_MODELS:
        from ..recipe import complete

        res = complete(
            values, args.model, max_steps=args.max_steps, seed=args.seed, progress=printer
        )
        return res, None, None
    printer(
        {
            "phase": args.model,
            "step": None,
            "max_steps": None,
            "held_out": None,
            "elapsed": None,
            "eta": None,
        }
    )
    est = _estimator(args).fit(values)
    return None, est, est.fitted_


def _predict(res, fitted, rows, cols) -> np.ndarray:
    if res is not None and hasattr(res, "predict"):
        return np.asarray(res.predict(rows, cols), dtype=np.float64).reshape(-1)
    if fitted is None:
        fitted = res.X.detach().cpu().numpy()
    return np.asarray(fitted[rows, cols], dtype=np.float64)


def _entries(args, values, pred, rows, cols) -> np.ndarray:
    """The values written for ``(rows, cols)``: the model's, clipped, observed ones kept."""
    if args.clip is not None:
        pred = np.clip(pred, *args.clip)
    if not args.fitted_observed:
        seen = values[rows, cols]
        pred = np.where(np.isnan(seen), pred, seen)
    return pred


def _num(v: float) -> str:
    return f"{v:.6g}"


def _write_rows(path, delimiter, header, rows_of_cells) -> None:
    from .. import _io

    def w(f):
        out = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        if header is not None:
            out.writerow(header)
        out.writerows(rows_of_cells)

    _io.atomic_write(path, w, text=True)


def _write_output(args, table, pairs, res, fitted) -> int:
    """Write OUTPUT; returns the number of data lines (entries) written."""
    values = table.values
    if pairs is not None:
        pred = _entries(
            args,
            values,
            _predict(res, fitted, pairs["rows"], pairs["cols"]),
            pairs["rows"],
            pairs["cols"],
        )
        value_name = table.header[2] if table.fmt == "triplets" and table.header else "prediction"
        header = None if pairs["header"] is None else pairs["header"] + [value_name]
        _write_rows(
            args.out,
            pairs["delimiter"],
            header,
            ([r, c, _num(v)] for (r, c), v in zip(pairs["text"], pred)),
        )
        return len(pred)
    if args.only_missing:
        rows, cols = np.nonzero(np.isnan(values))
        pred = _entries(args, values, _predict(res, fitted, rows, cols), rows, cols)
        rl, cl = table.row_labels, table.col_labels
        _write_rows(
            args.out,
            table.delimiter,
            table.header,
            ([rl[i], cl[j], _num(v)] for i, j, v in zip(rows, cols, pred)),
        )
        return len(pred)
    from .._tabular import write_table

    if fitted is None:
        fitted = res.X.detach().cpu().numpy()
    rows, cols = np.indices(values.shape)
    completed = _entries(args, values, fitted, rows, cols)
    write_table(args.out, table, completed)
    return completed.size


def _summary(args, table, res, est, elapsed, written) -> dict:
    from .. import _io

    values = table.values
    obs = ~np.isnan(values)
    s = {
        "input": args.input,
        "output": args.out,
        "format": table.fmt,
        "shape": list(values.shape),
        "observed": int(obs.sum()),
        "observed_fraction": float(obs.mean()),
        "model": args.model,
        "keep_observed": not args.fitted_observed,
        "time_s": elapsed,
        "empty_rows": np.flatnonzero(~obs.any(1)).tolist(),
        "empty_cols": np.flatnonzero(~obs.any(0)).tolist(),
        "predict": args.predict,
        "only_missing": args.only_missing,
        "clip": None if args.clip is None else list(args.clip),
        "entries_written": written,
    }
    if res is not None:
        s.update(
            status=res.status,
            validation_error=res.validation_error,
            lr=res.lr,
            lr_factor=res.lr_factor,
            init_scale=res.init_scale,
            best_step=res.best_step,
            scale=res.normalization.scale,
            offset=res.normalization.offset,
            refit=res.refit,
            lr_candidates={f"{k:.6g}": v for k, v in res.candidates.items()},
            warnings=res.warnings,
        )
    elif args.model == "softimpute":
        s.update(
            validation_error=est.validation_error_,
            **{"lambda": est.lambda_},
            rank=est.rank_,
            iterations=est.n_iter_,
        )
    else:
        s.update(
            solver=est.method_,
            converged=est.converged_,
            iterations=est.n_iter_,
            validation_error=None,
        )
    s["versions"] = _io.provenance()
    return s


def _history_figure(args, res, est):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    if res is not None and res.history:
        held = any(h["val_rmse"] is not None for h in res.history)
        key = "val_rmse" if held else "train_loss"
        for k in sorted({h["fold"] for h in res.history}):
            pts = [(h["step"], h[key]) for h in res.history if h["fold"] == k]
            ax.plot(*zip(*pts), label=f"part {k + 1}")
        ax.set_xlabel("gradient step")
        ax.set_ylabel("held-out RMSE (data units)" if held else "training loss (normalised)")
        if not held:
            ax.set_yscale("log")
        ax.set_title(f"spectralnn complete {os.path.basename(args.input)}", fontsize=9)
        ax.legend(fontsize=8)
        return fig
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


def _settings(s: dict) -> str:
    if "lr" in s:
        init = "" if s["init_scale"] is None else f", init {s['init_scale']:g}"
        return (
            f": lr {s['lr']:.4g} (factor {s['lr_factor']:g} / curvature){init}, "
            f"{s['best_step']} steps, {s['status']}"
        )
    if "lambda" in s:
        return f": lambda {s['lambda']:.4g} (held-out), rank {s['rank']}"
    return f": solver {s['solver']}, {'converged' if s['converged'] else 'NOT converged'}"


def run(args, job) -> None:
    from .. import _io, recipe  # noqa: F401 - before the progress clock starts
    from .._progress import ProgressPrinter, completion_scale
    from ..plotting import save_figure

    table = job["table"]
    if job["note"]:
        say(f"note: {job['note']}")
    printer = ProgressPrinter(
        quiet=args.quiet, prefix="complete", legacy_scale=completion_scale(table.values)
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res, est, fitted = _fit(args, table.values, printer)
        finally:
            printer.close()
    elapsed = time.perf_counter() - t0
    for w in caught:
        say(f"warning: {w.category.__name__}: {w.message}")
    stem = os.path.splitext(args.out)[0]
    with _io.write_together():  # OUT and its side files: all new, or (on an error) all old
        written = _write_output(args, table, job["pairs"], res, fitted)
        summary = _summary(args, table, res, est, elapsed, written)
        _io.write_json(f"{stem}.summary.json", summary)
        save_figure(_history_figure(args, res, est), f"{stem}.history.png")
    val = summary.get("validation_error")
    what = (
        f"{written} predictions"
        if args.predict
        else f"{written} missing entries"
        if args.only_missing
        else "the completed matrix"
    )
    lines = [
        (
            f"{table.values.shape[0]}x{table.values.shape[1]} matrix, {summary['observed']} "
            f"observed ({summary['observed_fraction']:.1%})"
        ),
        f"model {args.model}" + _settings(summary),
        "held-out relative error " + ("n/a" if val is None else f"{val:.4g}"),
        (
            f"time {elapsed:.1f} s; wrote {what} to {args.out}, {stem}.summary.json, "
            f"{stem}.history.png"
        ),
    ]
    print("\n".join(lines), file=sys.stdout)
