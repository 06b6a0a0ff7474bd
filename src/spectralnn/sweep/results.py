"""Sweep results: the resumable ``results.csv``, the grid-ordered table, aggregation (best
learning rate per seed by default), recovery probabilities with Wilson intervals, plots."""

from __future__ import annotations

import csv
import io
import math
import os

from .. import _io
from ._aggregate import _aggregation_text, _key, _num, _pooled, _recovery_grids, best_per_seed
from ._aggregate import _finite as _finite
from ._aggregate import _params as _params
from ._aggregate import wilson as wilson
from ._labels import MODEL_LABELS as MODEL_LABELS
from ._results_file import RESULTS, _Appender, _columns, finished_cells, read_results
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


def table(cfg: SweepConfig, out: str) -> list[dict]:
    """The results in the order of the grid (the same on every backend), one row per cell."""
    rows = {r["cell"]: r for r in read_results(os.path.join(out, RESULTS))}
    return [rows[cell_id(c)] for c in expand(cfg) if cell_id(c) in rows]


def _write_table(rows: list[dict], path: str) -> None:
    buf = io.StringIO()
    cols = list(dict.fromkeys(k for r in rows for k in r))
    w = csv.DictWriter(buf, cols)
    w.writeheader()
    w.writerows(rows)
    _io.write_text(path, buf.getvalue())


def summarise(cfg: SweepConfig, out: str, style: str = "screen") -> dict:
    """Recovery probability per (model, y, x) after aggregation, with n and 95% intervals;
    ``table.csv``, ``summary.json`` and the plots."""
    rows = table(cfg, out)
    _write_table(rows, os.path.join(out, "table.csv"))
    kept = best_per_seed(rows, cfg.select)
    xk, yk = _key(cfg, cfg.x, rows), _key(cfg, cfg.y, rows)
    models = [m for m in cfg.models if any(r["model.name"] == m for r in rows)]
    xs = sorted({_num(r[xk]) for r in kept})
    ys = sorted({_num(r[yk]) for r in kept})
    prob, count, lo, hi, med, chosen_lr = _recovery_grids(kept, models, xs, ys, xk, yk)
    pooled = _pooled(rows, models, xk, yk)
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
