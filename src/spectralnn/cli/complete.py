"""``spectralnn complete``: fill the missing entries of a matrix file (CSV/TSV, .npy, triplets),
or predict chosen entries (``--predict PAIRS``)."""

from __future__ import annotations

import os
import sys
import time
import warnings

import numpy as np

from ._common import UsageError, say
from ._complete_args import DENSE_LIMIT_GIB, RECIPE_MODELS, _check_args
from ._complete_args import EPILOG as EPILOG
from ._complete_args import MODELS as MODELS
from ._complete_args import NAME as NAME
from ._complete_args import add_parser as add_parser
from ._complete_outputs import _history_figure, _settings, _summary, _write_output, save_history
from ._complete_pairs import COL_NAMES as COL_NAMES
from ._complete_pairs import ROW_NAMES as ROW_NAMES
from ._complete_pairs import read_pairs


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
    _check_out_format(args, table)
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


def _report(args, table, summary, elapsed, written) -> str:
    """The lines printed at the end: the matrix, the model, the held-out error, the files."""
    stem = os.path.splitext(args.out)[0]
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
        ("held-out RMSE (data units) " if args.model in RECIPE_MODELS else "held-out error ")
        + ("n/a" if val is None else f"{val:.4g}"),
        (
            f"time {elapsed:.1f} s; wrote {what} to {args.out}, {stem}.summary.json, "
            f"{stem}.history.png"
        ),
    ]
    return "\n".join(lines)


def _labels(warning, table) -> list:
    """The input's labels of the columns a warning names (its ``columns``): a table's header
    cells, or the column ids of a ratings (long-format) file; [] without labels."""
    cols = getattr(warning, "columns", None)
    names = table.col_labels if table.fmt == "triplets" else table.header
    if not cols or not names or len(names) < table.values.shape[1]:
        return []
    return [str(names[j]) for j in cols]


def _column_names(warning, table) -> str:
    """`` (names: a, b)`` for a warning about columns of a table with labels."""
    labels = _labels(warning, table)
    if not labels:
        return ""
    return f" (names: {', '.join(labels[:5])}{', ...' if len(labels) > 5 else ''})"


def run(args, job) -> None:
    from .. import _io, recipe  # noqa: F401 - before the progress clock starts
    from .._progress import ProgressPrinter, completion_scale

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
        say(f"warning: {w.category.__name__}: {w.message}{_column_names(w.message, table)}")
    stem = os.path.splitext(args.out)[0]
    with _io.write_together():  # OUT and its side files: all new, or (on an error) all old
        written = _write_output(args, table, job["pairs"], res, fitted)
        summary = _summary(args, table, res, est, elapsed, written)
        named = [
            {
                "warning": str(w.message),
                "columns": getattr(w.message, "columns", []),
                "names": labels,
            }
            for w in caught
            if (labels := _labels(w.message, table))
        ]
        if named:  # every column the warnings name, with the input's labels (not cut at 5)
            summary["column_warnings"] = named
        _io.write_json(f"{stem}.summary.json", summary)
        save_history(_history_figure(args, res, est), f"{stem}.history.png")
    print(_report(args, table, summary, elapsed, written), file=sys.stdout)


def _check_out_format(args, table) -> None:
    """OUTPUT is written in the input's format: refuse a name whose extension says otherwise
    (a CSV written into ``x.npy`` cannot be loaded by numpy)."""
    ext = os.path.splitext(args.out)[1].lower()
    npy_in = table.fmt == "npy" and args.predict is None
    if ext == ".npy" and not npy_in:
        raise UsageError(
            f"--out {args.out!r}: the output is written as text (CSV/TSV, like INPUT "
            f"{args.input!r}), not as .npy; give a .csv or .tsv name"
        )
    if ext in (".csv", ".tsv", ".txt") and npy_in:
        raise UsageError(
            f"--out {args.out!r}: INPUT {args.input!r} is .npy, so the output is a .npy array; "
            "give a .npy name"
        )
