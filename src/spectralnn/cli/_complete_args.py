"""The command line of ``spectralnn complete``: its flags, help text and the checks of the flags
made before any file is read."""

from __future__ import annotations

import argparse
import math
import os

from .._defaults import MAX_STEPS, SEED
from ._common import UsageError

NAME = "complete"
MODELS = ("snn", "convex", "softimpute", "free", "deep")
RECIPE_MODELS = ("snn", "free", "deep")
DENSE_LIMIT_GIB = 2.0
"""Largest dense output (rows x cols x 8 bytes) written; past it, --predict or --only-missing."""

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


def _existing_file(path: str) -> str:
    """INPUT as given, if it names a file (argparse reports the error, naming the argument)."""
    if not os.path.isfile(path):
        raise argparse.ArgumentTypeError(f"{path!r}: no such file")
    return path


def _add_input_flags(p) -> None:
    """INPUT, --out, --model and how INPUT is read (--triplets, --format, header, index)."""
    p.add_argument(
        "input",
        type=_existing_file,  # checked while parsing: before a missing --out is reported
        help="CSV/TSV matrix, .npy array, or row,col,value triplets",
    )
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
        "(held-out lambda), free (an unstructured matrix, the paper's 'linear regression': "
        "no low-rank bias), deep (deep factorisation) "
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
    p.add_argument(
        "--no-header",
        dest="header",
        action="store_false",
        help="the first line is data, not labels (default: detected)",
    )
    p.add_argument(
        "--index-col",
        dest="index_col",
        action="store_true",
        default=None,
        help="the first column holds row labels (default: detected)",
    )
    p.add_argument(
        "--no-index-col",
        dest="index_col",
        action="store_false",
        help="the first column is data, not row labels (default: detected)",
    )


def _add_output_flags(p) -> None:
    """What OUTPUT gets: --predict PAIRS or --only-missing, and --clip."""
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


def _add_fit_flags(p) -> None:
    """--max-steps, --fitted-observed, --seed, --quiet."""
    p.add_argument(
        "--max-steps", type=int, default=MAX_STEPS, help="recipe step limit (default: %(default)s)"
    )
    p.add_argument(
        "--fitted-observed",
        action="store_true",
        help="write the model's fit on observed entries too (default: keep them)",
    )
    p.add_argument("--seed", type=int, default=SEED, help="random seed (default: %(default)s)")
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress lines on stderr (default: progress every few seconds)",
    )


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        NAME,
        help="complete a partially observed matrix (NaN = missing)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    _add_input_flags(p)
    _add_output_flags(p)
    _add_fit_flags(p)
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
