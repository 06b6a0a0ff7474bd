"""Sweep results: the resumable ``results.csv``, the grid-ordered table, aggregation (best
learning rate per seed by default), recovery probabilities with Wilson intervals, plots."""

from __future__ import annotations

import csv
import io
import json
import math
import os

import numpy as np

from .. import _io
from .backends import run_pool, run_ray
from .cells import cell_id, expand, group_cells, run_cell_group
from .config import SweepConfig

__all__ = [
    "RESULTS",
    "best_per_seed",
    "finished_cells",
    "format_summary",
    "read_results",
    "run_sweep",
    "summarise",
    "table",
    "wilson",
]

RESULTS = "results.csv"
MODEL_LABELS = {
    "snn": "SNN",
    "free": "linear regression (free X)",
    "deep": "deep factorisation",
    "factor": "factorisation U V^T",
    "convex": "nuclear-norm minimiser (convex)",
}


def finished_cells(path: str) -> set[str]:
    """Cell ids already in the results file (a re-run skips them)."""
    if not os.path.exists(path):
        return set()
    with open(path, newline="") as f:
        return {row["cell"] for row in csv.DictReader(f) if row.get("cell")}


class _Appender:
    """Append rows to the CSV as cells finish; each row is flushed and fsync'ed, so a killed
    sweep loses at most the cells in flight. The file is opened without following symlinks."""

    def __init__(self, path: str, columns: list[str]):
        self.path, self.columns = path, columns
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        if not new:
            with open(path, newline="") as f:
                self.columns = next(csv.reader(f))
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        self.f = os.fdopen(os.open(path, flags, 0o644), "a", newline="")
        self.w = csv.DictWriter(self.f, self.columns, extrasaction="ignore")
        if new:
            self.w.writeheader()

    def add(self, rows):
        for row in rows:
            self.w.writerow(
                {k: json.dumps(v) if isinstance(v, (list, tuple)) else v for k, v in row.items()}
            )
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self):
        self.f.close()


def _columns(cfg: SweepConfig, cells) -> list[str]:
    params = list(dict.fromkeys(k for c in cells for k in c))
    extra = [
        "status",
        *[m for m in cfg.metrics if m != "status"],
        "rel_error",
        "train_loss",
        "test_loss",
        "lr",
        "recovered",
        "error",
    ]
    return ["cell", *params, *dict.fromkeys(extra)]


def run_sweep(
    cfg: SweepConfig,
    out: str,
    *,
    backend: str = "local",
    address: str | None = None,
    workers: int | None = None,
    say=print,
    style: str = "screen",
) -> dict:
    """Run every cell not yet in ``out/results.csv``; write the table, summary and plots."""
    os.makedirs(out, exist_ok=True)
    cells = expand(cfg)
    path = os.path.join(out, RESULTS)
    done = finished_cells(path)
    todo = [c for c in cells if cell_id(c) not in done]
    groups = group_cells(todo)
    per_model = {m: sum(c["model.name"] == m for c in cells) for m in cfg.models}
    say(
        f"{cfg.name}: {len(cells)} cells ("
        + ", ".join(f"{m} {n}" for m, n in per_model.items())
        + f"), {len(cells) - len(todo)} already done, {len(todo)} to run in {len(groups)} tasks "
        f"on the {backend} backend"
    )
    app = _Appender(path, _columns(cfg, cells))
    n_done = 0
    every = max(1, len(todo) // 20)  # about 20 progress lines, plus one per failure

    def collect(rows):
        nonlocal n_done
        app.add(rows)
        before, n_done = n_done, n_done + len(rows)
        bad = [r for r in rows if r["status"] == "error"]
        if bad:
            say(f"[{n_done}/{len(todo)}] {len(bad)} cell(s) failed: {bad[0].get('error')}")
        elif n_done // every > before // every or n_done == len(todo):
            say(f"[{n_done}/{len(todo)}] cells finished")

    tasks = [(g, cfg.metrics, cfg.recovery_tol) for g in groups]
    try:
        if backend == "ray":
            run_ray(run_cell_group, tasks, address, collect)
        else:
            run_pool(run_cell_group, tasks, workers, collect)
    finally:
        app.close()
    return summarise(cfg, out, style=style)


def read_results(path: str) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def _finite(v) -> float | None:
    x = _num(v)
    return x if isinstance(x, float) and math.isfinite(x) else None


def table(cfg: SweepConfig, out: str) -> list[dict]:
    """The results in the order of the grid (the same on every backend), one row per cell."""
    rows = {r["cell"]: r for r in read_results(os.path.join(out, RESULTS))}
    return [rows[cell_id(c)] for c in expand(cfg) if cell_id(c) in rows]


def _params(row: dict) -> list[str]:
    return [k for k in row if k == "seed" or k.split(".", 1)[0] in ("problem", "model", "train")]


def best_per_seed(rows: list[dict], select: str = "train_loss") -> list[dict]:
    """One row per (cell but for the learning rate): the rate with the lowest ``select`` loss
    (diverged and failed runs never win; a group where all failed keeps one such row, which
    does not recover). ``select="all"`` keeps every row (rates pooled)."""
    if select == "all":
        return list(rows)
    groups: dict = {}
    for r in rows:
        key = tuple((k, r[k]) for k in _params(r) if k != "train.lr")
        groups.setdefault(key, []).append(r)
    out = []
    for group in groups.values():
        scored = [(_finite(r.get(select)), i, r) for i, r in enumerate(group)]
        ok = [t for t in scored if t[0] is not None]
        out.append(min(ok, key=lambda t: (t[0], t[1]))[2] if ok else group[0])
    return out


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion ``k / n``."""
    if n == 0:
        return math.nan, math.nan
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def _aggregation_text(cfg) -> str:
    if cfg.select == "all":
        return "every learning rate counted (rates pooled)"
    which = {"train_loss": "train loss", "test_loss": "held-out loss"}[cfg.select]
    return f"best learning rate per seed, chosen by lowest {which}"


def summarise(cfg: SweepConfig, out: str, style: str = "screen") -> dict:
    """Recovery probability per (model, y, x) after aggregation, with n and 95% intervals;
    ``table.csv``, ``summary.json`` and the plots."""
    rows = table(cfg, out)
    buf = io.StringIO()
    cols = list(dict.fromkeys(k for r in rows for k in r))
    w = csv.DictWriter(buf, cols)
    w.writeheader()
    w.writerows(rows)
    _io.write_text(os.path.join(out, "table.csv"), buf.getvalue())
    kept = best_per_seed(rows, cfg.select)
    xk, yk = _key(cfg, cfg.x, rows), _key(cfg, cfg.y, rows)
    models = [m for m in cfg.models if any(r["model.name"] == m for r in rows)]
    xs = sorted({_num(r[xk]) for r in kept})
    ys = sorted({_num(r[yk]) for r in kept})
    prob, count, lo, hi, med = {}, {}, {}, {}, {}
    chosen_lr = {}
    for m in models:
        shape = (len(ys), len(xs))
        prob[m], count[m] = np.full(shape, np.nan), np.zeros(shape, dtype=int)
        lo[m], hi[m], med[m] = (
            np.full(shape, np.nan),
            np.full(shape, np.nan),
            np.full(shape, np.nan),
        )
        mine = [r for r in kept if r["model.name"] == m]
        for i, yv in enumerate(ys):
            for j, xv in enumerate(xs):
                sel = [r for r in mine if _num(r[xk]) == xv and _num(r[yk]) == yv]
                if not sel:
                    continue
                k = sum(r["recovered"] == "True" for r in sel)
                count[m][i, j], prob[m][i, j] = len(sel), k / len(sel)
                lo[m][i, j], hi[m][i, j] = wilson(k, len(sel))
                errs = [e for e in (_finite(r.get("rel_error")) for r in sel) if e is not None]
                med[m][i, j] = float(np.median(errs)) if errs else np.nan
        lrs = [r["train.lr"] for r in mine if r.get("train.lr") not in (None, "")]
        if lrs:
            chosen_lr[m] = {lr: lrs.count(lr) for lr in sorted(set(lrs), key=float)}
    swept_other = sorted(
        {k for r in rows for k in _params(r)} - {xk, yk, "seed", "train.lr", "model.name"}
    )
    pooled = [
        k
        for k in swept_other
        if any(
            len({r[k] for r in rows if r["model.name"] == m and r.get(k) not in (None, "")}) > 1
            for m in models
        )
    ]
    summary = {
        "cells": len(rows),
        "failed": sum(r["status"] == "error" for r in rows),
        "not_converged": sum(r["status"] == "not_converged" for r in rows),
        "x": cfg.x,
        "y": cfg.y,
        "xs": xs,
        "ys": ys,
        "recovery_tol": cfg.recovery_tol,
        "aggregation": _aggregation_text(cfg),
        "select": cfg.select,
        "seeds": len(cfg.seeds),
        "pooled_over": pooled,
        "cells_per_model": {m: sum(r["model.name"] == m for r in rows) for m in models},
        "recovery_probability": {m: g.tolist() for m, g in prob.items()},
        "n": {m: g.tolist() for m, g in count.items()},
        "ci95_low": {m: g.tolist() for m, g in lo.items()},
        "ci95_high": {m: g.tolist() for m, g in hi.items()},
        "median_rel_error": {m: g.tolist() for m, g in med.items()},
        "chosen_lr_counts": chosen_lr,
    }
    _io.write_json(os.path.join(out, "summary.json"), summary)
    if rows and xs and ys:
        from .plots import plot_summary

        plot_summary(cfg, summary, out, style=style)
    return summary


def _key(cfg: SweepConfig, axis: str, rows) -> str:
    if axis == "seed":
        return "seed"
    for s in ("problem", "model", "train"):
        if any(f"{s}.{axis}" in r for r in rows):
            return f"{s}.{axis}"
    return f"problem.{axis}"


def format_summary(summary: dict) -> str:
    """Recovery probabilities as text tables, one per model, with the aggregation stated."""
    lines = [
        f"Aggregation: {summary['aggregation']}; n = seeds per entry (up to "
        f"{summary['seeds']})"
        + (f"; pooled over {', '.join(summary['pooled_over'])}" if summary["pooled_over"] else "")
        + ".",
        "",
    ]
    for m, grid in summary["recovery_probability"].items():
        lines.append(
            f"{m} ({summary['cells_per_model'][m]} cells): P(rel. error <= "
            f"{summary['recovery_tol']:g}), rows {summary['y']}, columns {summary['x']}"
        )
        lines.append(f"{'':>8s}" + "".join(f"{x:>8g}" for x in summary["xs"]))
        for yv, row in zip(summary["ys"], grid):
            lines.append(
                f"{yv:>8g}" + "".join("       -" if math.isnan(v) else f"{v:8.2f}" for v in row)
            )
        if m in summary["chosen_lr_counts"]:
            lines.append(
                "  learning rates chosen: "
                + ", ".join(f"{lr} x{n}" for lr, n in summary["chosen_lr_counts"][m].items())
            )
        lines.append("")
    lines.append(
        f"{summary['cells']} cells, {summary['failed']} failed"
        + (f", {summary['not_converged']} solver not converged" if summary["not_converged"] else "")
    )
    return "\n".join(lines)
