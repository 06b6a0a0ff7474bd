"""MovieLens-100k: test RMSE and time on the canonical u1..u5 splits for SNN and baselines.

    python benchmarks/movielens.py PATH [--splits u1,u2,u3,u4,u5] [--models snn,softimpute,bias,svd]
                                        [--json OUT.json] [--subset USERS,ITEMS] [--quick]

PATH is an ml-100k folder holding uX.base / uX.test (tab-separated ``user item rating
timestamp``, 1-based ids; blank lines and a header line are skipped). The data are not bundled.
For each split the 943 x 1682 matrix is built from uX.base with NaN for the missing ratings, each
model is fitted on it, the uX.test pairs are predicted, clipped to [1, 5], and scored by RMSE.
Wall time (``time.perf_counter``) and CPU time (``time.process_time``, all threads of this
process) cover fit + predict. Models:

* ``snn``        -- ``spectralnn.SNNCompleter()`` with its defaults; predictions by
                    ``model.predict(rows, cols)`` when the estimator has it, else by indexing
                    ``fit_transform``'s output;
* ``softimpute`` -- ``spectralnn.SoftImputeCompleter()`` with its defaults, predicted the same way;
* ``bias``       -- global mean + ridge-shrunk item and user biases, fitted by 10 alternating
                    passes (items, then users) with the conventional ``reg_item = 10``,
                    ``reg_user = 15`` (the values of Surprise's ``BaselineOnly`` ALS);
* ``svd``        -- Surprise's ``SVD()`` with its defaults except ``random_state=0`` (for
                    determinism), trained on the same uX.base triplets; skipped with a note when
                    ``surprise`` is not importable.

The Markdown table (models x splits, mean, mean time per split) goes to stdout, progress to
stderr. ``--subset U,I`` keeps only users 1..U and items 1..I (and the test pairs inside them):
a smoke test, not the benchmark. ``--quick`` = ``--splits u1 --subset 150,200``.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _datasets import (
    Timer,
    environment,
    fmt,
    fmt_s,
    markdown_table,
    progress,
    recorded_warnings,
    rmse,
    write_json,
)

N_USERS, N_ITEMS = 943, 1682
ALL_SPLITS = ("u1", "u2", "u3", "u4", "u5")
ALL_MODELS = ("snn", "softimpute", "bias", "svd")
BIAS_REG_ITEM, BIAS_REG_USER, BIAS_PASSES = 10.0, 15.0, 10


def read_ratings(path: str) -> np.ndarray:
    """``(n, 3)`` float array of ``user, item, rating`` (1-based ids) from a ml-100k file;
    blank lines and lines that do not start with an integer (a header) are skipped."""
    out = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                u, i, r = int(parts[0]), int(parts[1]), float(parts[2])
            except (ValueError, IndexError):
                if not out:  # a header before the data
                    continue
                raise ValueError(f"{path}:{lineno}: cannot parse {line.strip()!r}") from None
            out.append((u, i, r))
    if not out:
        raise ValueError(f"{path}: no ratings")
    arr = np.asarray(out, dtype=np.float64)
    if (
        arr[:, 0].min() < 1
        or arr[:, 0].max() > N_USERS
        or arr[:, 1].min() < 1
        or arr[:, 1].max() > N_ITEMS
    ):
        raise ValueError(f"{path}: ids outside 1..{N_USERS} x 1..{N_ITEMS} (is this ml-100k?)")
    return arr


def load_split(root: str, split: str, subset=None):
    """``(M, train, test)``: the ``n_users x n_items`` matrix with NaN for missing and the
    train / test triplets as 0-based ``(rows, cols, ratings)``."""
    base = read_ratings(os.path.join(root, f"{split}.base"))
    test = read_ratings(os.path.join(root, f"{split}.test"))
    n_users, n_items = subset if subset else (N_USERS, N_ITEMS)

    def triplets(a):
        keep = (a[:, 0] <= n_users) & (a[:, 1] <= n_items)
        a = a[keep]
        return a[:, 0].astype(np.int64) - 1, a[:, 1].astype(np.int64) - 1, a[:, 2]

    train, test = triplets(base), triplets(test)
    M = np.full((n_users, n_items), np.nan)
    M[train[0], train[1]] = train[2]
    n_dup = len(train[0]) - int((~np.isnan(M)).sum())
    if n_dup:
        progress(f"  {split}.base: {n_dup} repeated (user, item) pairs; the last rating kept")
    return M, train, test


# ------------------------------------------------------------------------------------ models


def fit_completer(make):
    """A runner for a spectralnn completer: fit on ``M``, predict the test pairs."""

    def run(M, train, test):
        model = make()
        if hasattr(model, "predict"):
            model.fit(M)
            try:
                pred = model.predict(test[0], test[1])
                how = "predict(rows, cols)"
            except TypeError as e:  # a predict with another signature: use the completion
                pred = np.asarray(model.transform(M))[test[0], test[1]]
                how = f"transform (predict(rows, cols) raised TypeError: {e})"
            pred = np.asarray(pred, dtype=np.float64).reshape(-1)
        else:
            pred = np.asarray(model.fit_transform(M), dtype=np.float64)[test[0], test[1]]
            how = "fit_transform"
        info = {"prediction": how}
        for attr in ("status_", "n_iter_", "lr_", "lambda_", "rank_", "validation_error_"):
            if hasattr(model, attr):
                val = getattr(model, attr)
                if isinstance(val, (int, float, str, np.integer, np.floating)) or val is None:
                    info[attr.rstrip("_")] = val
        return pred, info

    return run


def fit_bias(M, train, test):
    """Global mean + item and user biases, ridge-shrunk, alternating exact updates."""
    rows, cols, r = train
    n_users, n_items = M.shape
    mu = float(r.mean())
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    n_u = np.bincount(rows, minlength=n_users)
    n_i = np.bincount(cols, minlength=n_items)
    for _ in range(BIAS_PASSES):
        bi = np.bincount(cols, weights=r - mu - bu[rows], minlength=n_items) / (BIAS_REG_ITEM + n_i)
        bu = np.bincount(rows, weights=r - mu - bi[cols], minlength=n_users) / (BIAS_REG_USER + n_u)
    pred = mu + bu[test[0]] + bi[test[1]]
    return pred, {"reg_item": BIAS_REG_ITEM, "reg_user": BIAS_REG_USER, "passes": BIAS_PASSES}


def fit_surprise_svd(M, train, test):
    import pandas as pd
    from surprise import SVD, Dataset, Reader

    frame = pd.DataFrame({"user": train[0], "item": train[1], "rating": train[2]})
    trainset = Dataset.load_from_df(frame, Reader(rating_scale=(1, 5))).build_full_trainset()
    algo = SVD(random_state=0)
    algo.fit(trainset)
    pred = np.array([algo.predict(int(u), int(i)).est for u, i in zip(test[0], test[1])])
    return pred, {"n_factors": algo.n_factors, "n_epochs": algo.n_epochs}


def runners(names):
    """``{name: run}`` for the requested models and ``{name: reason}`` for the skipped ones."""
    import spectralnn

    table = {
        "snn": fit_completer(lambda: spectralnn.SNNCompleter()),
        "softimpute": fit_completer(lambda: spectralnn.SoftImputeCompleter()),
        "bias": fit_bias,
        "svd": fit_surprise_svd,
    }
    out, skipped = {}, {}
    for name in names:
        if name not in table:
            raise SystemExit(f"unknown model {name!r}; choose from {','.join(ALL_MODELS)}")
        if name == "svd":
            try:
                import surprise  # noqa: F401
            except ImportError as e:
                skipped[name] = f"scikit-surprise is not importable ({e})"
                continue
        out[name] = table[name]
    return out, skipped


# -------------------------------------------------------------------------------------- main


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", help="ml-100k folder with uX.base / uX.test")
    ap.add_argument("--splits", default=",".join(ALL_SPLITS))
    ap.add_argument("--models", default=",".join(ALL_MODELS))
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument(
        "--subset", help="USERS,ITEMS: keep users 1..USERS, items 1..ITEMS (smoke test only)"
    )
    ap.add_argument("--quick", action="store_true", help="= --splits u1 --subset 150,200")
    args = ap.parse_args(argv)
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    subset = None
    if args.quick:
        splits, subset = ["u1"], (150, 200)
    if args.subset:
        subset = tuple(int(v) for v in args.subset.split(","))
        if len(subset) != 2 or not (0 < subset[0] <= N_USERS and 0 < subset[1] <= N_ITEMS):
            raise SystemExit(f"--subset wants USERS,ITEMS within {N_USERS},{N_ITEMS}")
    models, skipped = runners([m.strip() for m in args.models.split(",") if m.strip()])
    for name, why in skipped.items():
        progress(f"skipping {name}: {why}")

    results = {name: {} for name in models}
    facts = {}
    for split in splits:
        M, train, test = load_split(args.path, split, subset)
        seen_u = np.zeros(M.shape[0], bool)
        seen_u[train[0]] = True
        seen_i = np.zeros(M.shape[1], bool)
        seen_i[train[1]] = True
        cold = int((~seen_u[test[0]] | ~seen_i[test[1]]).sum())
        facts[split] = {
            "shape": list(M.shape),
            "n_train": len(train[2]),
            "n_test": len(test[2]),
            "test_pairs_with_unseen_user_or_item": cold,
        }
        progress(
            f"{split}: {M.shape[0]} x {M.shape[1]}, {len(train[2])} train, "
            f"{len(test[2])} test ({cold} with a user or item absent from {split}.base)"
        )
        for name, run in models.items():
            progress(f"  {split} {name} ...")
            err, info, tb = None, {}, None
            with recorded_warnings() as notes, Timer() as t:
                try:
                    pred, info = run(M, train, test)
                except Exception as e:  # noqa: BLE001 - reported in the table, run continues
                    err, pred = f"{type(e).__name__}: {e}", None
                    tb = traceback.format_exc(limit=-3)
            rec = {"wall_s": t.wall, "cpu_s": t.cpu, "warnings": notes, **info}
            if err is None:
                pred = np.clip(pred, 1.0, 5.0)
                if not np.all(np.isfinite(pred)):
                    err = f"{int((~np.isfinite(pred)).sum())} non-finite predictions"
                else:
                    rec["rmse"] = rmse(pred, test[2])
            if err is not None:
                rec["error"] = err
            if tb is not None:
                rec["traceback"] = tb
            results[name][split] = rec
            progress(
                f"  {split} {name}: RMSE {fmt(rec.get('rmse'))}, wall {fmt_s(t.wall)} s, "
                f"CPU {fmt_s(t.cpu)} s"
                + (f"  ERROR {err}" if err else "")
                + (f"  ({len(notes)} warning(s))" if notes else "")
            )

    header = ["model", *splits, "mean RMSE", "wall s / split", "CPU s / split"]
    rows, summary = [], {}
    for name in models:
        recs = [results[name][s] for s in splits]
        errs = [r.get("rmse") for r in recs]
        ok = all(e is not None for e in errs)
        mean = float(np.mean(errs)) if ok else None
        wall = float(np.mean([r["wall_s"] for r in recs]))
        cpu = float(np.mean([r["cpu_s"] for r in recs]))
        summary[name] = {"mean_rmse": mean, "mean_wall_s": wall, "mean_cpu_s": cpu}
        rows.append(
            [
                name,
                *(fmt(e) if e is not None else "error" for e in errs),
                fmt(mean),
                fmt_s(wall),
                fmt_s(cpu),
            ]
        )
    title = "MovieLens-100k" + (
        f" SUBSET {subset[0]} users x {subset[1]} items (smoke test, "
        "not comparable with published numbers)"
        if subset
        else ""
    )
    print(f"### {title}: test RMSE (predictions clipped to [1, 5])\n")
    print(markdown_table(header, rows))
    about = {
        "snn": "snn = `SNNCompleter()` defaults",
        "softimpute": "softimpute = `SoftImputeCompleter()` defaults",
        "bias": f"bias = global mean + item/user biases, reg_item {BIAS_REG_ITEM:g}, "
        f"reg_user {BIAS_REG_USER:g}, {BIAS_PASSES} alternating passes",
        "svd": "svd = Surprise `SVD()` defaults with random_state 0",
    }
    print(
        "\n" + "; ".join(about[m] for m in models) + ". Time = fit + predict per split, "
        "in one process; CPU counts all its threads."
    )
    for name, why in skipped.items():
        print(f"\n{name}: skipped, {why}.")
    for name in models:
        for s in splits:
            r = results[name][s]
            if "error" in r:
                print(f"\n{name} on {s} failed: {r['error']}")
            for w in r["warnings"]:
                print(f"\n{name} on {s} warned: {w}")
    if args.json:
        write_json(
            args.json,
            {
                "benchmark": "movielens-100k",
                "path": os.path.abspath(args.path),
                "splits": splits,
                "subset": subset,
                "facts": facts,
                "results": results,
                "summary": summary,
                "skipped": skipped,
                "environment": environment(),
            },
        )
        progress(f"wrote {args.json}")


if __name__ == "__main__":
    main()
