"""Tiny tables: the SNN recipe against scikit-learn's imputers on 32 tables of 30 to 200
entries.

    python benchmarks/tiny_tables.py [--methods snn,iterative,knn,mean] [--seed 0]

The tables: linnerud (20 x 3), an exactly rank-1 12 x 10 matrix (entries 1..15), and two
random row draws (``numpy.random.default_rng(draw)``, draws 0 and 1) of iris (30 and 45 rows),
diabetes (15 and 20 rows, ``scaled=False``), wine (12 and 16 rows) and breast_cancer (6 rows),
each with 20% and 30% of its entries hidden (``_datasets.hide_entries``, mask seed ``--seed``
plus the draw). Methods: those of ``benchmarks/imputers.py`` (``table_methods``): ``snn``
(``SNNCompleter()`` defaults), ``iterative`` (``IterativeImputer(max_iter=10,
random_state=0)``), ``knn`` (``KNNImputer()``), ``mean``, and ``snn-alone`` or ``softimpute``
when asked. Prints each case's relative Frobenius error on the hidden
entries and, per method, the geometric mean over the cases and the seconds in all; then the
same cases' column-standardised RMSE (:func:`standardised_error`), which weighs every column in
its own units.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _datasets import fmt, hide_entries, markdown_table, progress, relative_error
from imputers import table_methods

DRAWS = (("iris", 30), ("iris", 45), ("diabetes", 15), ("diabetes", 20), ("wine", 12))
DRAWS += (("wine", 16), ("breast_cancer", 6))


def tables():
    """``(name, X, draw)`` of the 16 tiny tables."""
    from sklearn import datasets

    yield "linnerud", datasets.load_linnerud().data.astype(float), 0
    rng = np.random.default_rng(0)
    yield "rank-1", np.outer(rng.uniform(1, 5, 12), rng.uniform(1, 3, 10)), 0
    for name, rows in DRAWS:
        kwargs = {"scaled": False} if name == "diabetes" else {}
        full = getattr(datasets, f"load_{name}")(**kwargs).data
        for draw in (0, 1):
            pick = np.sort(np.random.default_rng(draw).permutation(len(full))[:rows])
            yield f"{name} {rows} rows, draw {draw}", full[pick], draw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="snn,iterative,knn,mean")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    methods = args.methods.split(",")
    impute = table_methods()
    rows, srows, seconds = [], [], dict.fromkeys(methods, 0.0)
    errors: dict = {m: [] for m in methods}
    standardised: dict = {m: [] for m in methods}
    for name, X, draw in tables():
        for fraction in (0.2, 0.3):
            hidden = hide_entries(X.shape, fraction, args.seed + draw)
            M = np.where(hidden, np.nan, X)
            row = [f"{name} ({X.shape[0]}x{X.shape[1]}), {fraction:.0%}"]
            srow = list(row)
            for m in methods:
                t = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    P = impute[m](M)
                seconds[m] += time.perf_counter() - t
                errors[m].append(relative_error(P, X, hidden))
                standardised[m].append(standardised_error(P, X, M))
                row.append(fmt(errors[m][-1]))
                srow.append(fmt(standardised[m][-1]))
            progress(*row)
            rows.append(row)
            srows.append(srow)
    secs = ["seconds, all cases"] + [f"{seconds[m]:.1f}" for m in methods]
    header = ["table, hidden", *methods]
    print("Relative Frobenius error on the hidden entries (data units):\n")
    print(markdown_table(header, [*rows, _geometric(errors, methods), secs]))
    print("\nColumn-standardised RMSE on the hidden entries (each column in its observed SD):\n")
    print(markdown_table(header, [*srows, _geometric(standardised, methods)]))


def standardised_error(P, X, M) -> float:
    """RMS over the hidden entries (NaN in ``M``) of the error in each column's observed
    standard deviation: every column counts in its own units, where the relative Frobenius
    error is decided by the columns with the largest numbers (wine's proline, breast_cancer's
    areas)."""
    hidden = np.isnan(M)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sd = np.nanstd(M, axis=0)
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
    return float(np.sqrt(np.mean((((P - X) / sd)[hidden]) ** 2)))


def _geometric(values, methods) -> list:
    return ["geometric mean"] + [fmt(np.exp(np.mean(np.log(values[m])))) for m in methods]


if __name__ == "__main__":
    main()
