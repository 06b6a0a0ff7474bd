"""Execute a sweep: local process pool or Ray, resumable CSV results, heat maps, a summary."""

from __future__ import annotations

import concurrent.futures as cf
import csv
import json
import math
import os

import numpy as np

from .sweep import SweepConfig, cell_id, expand, group_cells, run_cell_group

RESULTS = "results.csv"
# One BLAS/OpenMP thread per worker process on every backend, so that a cell gives the same
# numbers locally and on Ray (reductions in threaded BLAS depend on the thread count).
SINGLE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
SINGLE_THREAD["MKL_CBWR"] = "COMPATIBLE"  # MKL's reproducible code path (not alignment-bound)


def finished_cells(path: str) -> set[str]:
    """Cell ids already in the results file (a re-run skips them)."""
    if not os.path.exists(path):
        return set()
    with open(path, newline="") as f:
        return {row["cell"] for row in csv.DictReader(f) if row.get("cell")}


class _Appender:
    """Append rows to the CSV as cells finish; each row is flushed and fsync'ed, so a killed
    sweep loses at most the cells in flight."""

    def __init__(self, path: str, columns: list[str]):
        self.path, self.columns = path, columns
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        if not new:
            with open(path, newline="") as f:
                self.columns = next(csv.reader(f))
        self.f = open(path, "a", newline="")
        self.w = csv.DictWriter(self.f, self.columns, extrasaction="ignore")
        if new:
            self.w.writeheader()

    def add(self, rows):
        for row in rows:
            self.w.writerow({k: json.dumps(v) if isinstance(v, (list, tuple)) else v
                             for k, v in row.items()})
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self):
        self.f.close()


def _columns(cfg: SweepConfig, cells) -> list[str]:
    params = list(cells[0]) if cells else []
    return ["cell", *params, "status", *[m for m in cfg.metrics if m != "status"],
            "rel_error" if "rel_error" not in cfg.metrics else None, "recovered", "error"]


def run_sweep(cfg: SweepConfig, out: str, *, backend: str = "local", address: str | None = None,
              workers: int | None = None, say=print) -> dict:
    os.makedirs(out, exist_ok=True)
    cells = expand(cfg)
    path = os.path.join(out, RESULTS)
    done = finished_cells(path)
    todo = [c for c in cells if cell_id(c) not in done]
    groups = group_cells(todo)
    say(f"{cfg.name}: {len(cells)} cells, {len(cells) - len(todo)} already done, {len(todo)} to "
        f"run in {len(groups)} tasks on the {backend} backend")
    app = _Appender(path, [c for c in _columns(cfg, cells) if c])
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

    try:
        if backend == "ray":
            _run_ray(groups, cfg, address, collect)
        else:
            _run_local(groups, cfg, workers, collect)
    finally:
        app.close()
    return summarise(cfg, out)


def format_summary(summary: dict) -> str:
    """Recovery probabilities as text tables, one per model."""
    lines = []
    for m, grid in summary["recovery_probability"].items():
        lines.append(f"{m}: P(rel. error <= {summary['recovery_tol']:g}), rows {summary['y']}, "
                     f"columns {summary['x']}")
        lines.append(f"{'':>8s}" + "".join(f"{x:>8g}" for x in summary["xs"]))
        for yv, row in zip(summary["ys"], grid):
            lines.append(f"{yv:>8g}" + "".join("       -" if math.isnan(v) else f"{v:8.2f}"
                                               for v in row))
        lines.append("")
    lines.append(f"{summary['cells']} cells, {summary['failed']} failed")
    return "\n".join(lines)


def _run_local(groups, cfg, workers, collect):
    if not groups:
        return
    workers = min(workers or os.cpu_count() or 1, len(groups))
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # no forked torch thread pools
    saved = {k: os.environ.get(k) for k in SINGLE_THREAD}
    os.environ.update(SINGLE_THREAD)  # inherited by the spawned workers
    try:
        _pool(ctx, workers, groups, cfg, collect)
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def _pool(ctx, workers, groups, cfg, collect):
    with cf.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        futures = [pool.submit(run_cell_group, g, cfg.metrics, cfg.recovery_tol) for g in groups]
        for fut in cf.as_completed(futures):
            collect(fut.result())


def _run_ray(groups, cfg, address, collect):
    try:
        import ray
    except ImportError:
        raise ValueError("--backend ray needs Ray: pip install 'spectralnn[ray]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": SINGLE_THREAD})
    try:
        task = ray.remote(num_cpus=1)(run_cell_group)
        pending = [task.remote(g, cfg.metrics, cfg.recovery_tol) for g in groups]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            collect(ray.get(ready[0]))
    finally:
        if started:
            ray.shutdown()


# ----------------------------------------------------------------------------- outputs


def read_results(path: str) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def table(cfg: SweepConfig, out: str) -> list[dict]:
    """The results in the order of the grid (the same on every backend), one row per cell."""
    rows = {r["cell"]: r for r in read_results(os.path.join(out, RESULTS))}
    return [rows[cell_id(c)] for c in expand(cfg) if cell_id(c) in rows]


def summarise(cfg: SweepConfig, out: str) -> dict:
    """Recovery probability per (model, y, x), heat maps and line plots, a printed summary."""
    rows = table(cfg, out)
    with open(os.path.join(out, "table.csv"), "w", newline="") as f:
        if rows:
            w = csv.DictWriter(f, list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    xk, yk = _key(cfg, cfg.x), _key(cfg, cfg.y)
    models = sorted({r["model.name"] for r in rows})
    xs = sorted({_num(r[xk]) for r in rows})
    ys = sorted({_num(r[yk]) for r in rows})
    prob = {}
    for m in models:
        grid = np.full((len(ys), len(xs)), np.nan)
        for i, yv in enumerate(ys):
            for j, xv in enumerate(xs):
                sel = [r for r in rows if r["model.name"] == m and _num(r[xk]) == xv
                       and _num(r[yk]) == yv]
                if sel:
                    grid[i, j] = np.mean([r["recovered"] == "True" for r in sel])
        prob[m] = grid
    errors = sum(r["status"] == "error" for r in rows)
    summary = {"cells": len(rows), "failed": errors, "x": cfg.x, "y": cfg.y, "xs": xs, "ys": ys,
               "recovery_tol": cfg.recovery_tol,
               "recovery_probability": {m: g.tolist() for m, g in prob.items()}}
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    if rows:
        _plots(cfg, out, prob, xs, ys)
    return summary


def _key(cfg: SweepConfig, axis: str) -> str:
    if axis == "seed":
        return "seed"
    return next(f"{s}.{axis}" for s in ("problem", "model", "train") if f"{s}.{axis}" in cfg.swept)


def _plots(cfg, out, prob, xs, ys):
    from .plotting import plt, save_figure

    n = len(prob)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 3.8), squeeze=False)
    for ax, (m, grid) in zip(axes[0], prob.items()):
        im = ax.imshow(grid, origin="lower", aspect="auto", vmin=0, vmax=1, cmap="magma")
        ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs], rotation=45, fontsize=7)
        ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys], fontsize=7)
        ax.set_xlabel(cfg.x)
        ax.set_ylabel(cfg.y)
        ax.set_title(m)
    fig.colorbar(im, ax=axes[0].tolist(), label=f"P(rel. error <= {cfg.recovery_tol:g})")
    fig.suptitle(f"{cfg.name}: recovery probability")
    save_figure(fig, os.path.join(out, "phase_transition.png"))
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 3.6), squeeze=False)
    for ax, (m, grid) in zip(axes[0], prob.items()):
        for i, yv in enumerate(ys):
            ax.plot(xs, grid[i], marker="o", label=f"{cfg.y}={yv:g}")
        ax.set_xlabel(cfg.x)
        ax.set_ylabel("recovery probability")
        ax.set_title(m)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    save_figure(fig, os.path.join(out, "recovery_lines.png"))
