"""Cells of a sweep: expansion of the grid per model, grouping by learning rate, execution."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import warnings

from .config import SweepConfig

__all__ = ["cell_id", "expand", "group_cells", "make_cell_problem", "run_cell_group"]


def cell_id(cell: dict) -> str:
    return hashlib.sha1(json.dumps(cell, sort_keys=True).encode()).hexdigest()[:12]


def expand(cfg: SweepConfig) -> list[dict]:
    """Every cell as a flat ``{"problem.rank": 2, ..., "seed": 0}`` dict, in a stable order.

    Each model gets the product of its own axes only: the convex baseline (no training) is not
    multiplied by the learning rates, an SNN's widths do not multiply the deep model's cells.
    """
    cells = []
    for name in cfg.models:
        axes = cfg.axes(name)
        keys = list(axes)
        for combo in itertools.product(*(axes[k] for k in keys)):
            for seed in cfg.seeds:
                cell = {"model.name": name, **dict(zip(keys, combo)), "seed": seed}
                cells.append(cell)
    return cells


def group_cells(cells: list[dict]) -> list[list[dict]]:
    """Cells equal but for the learning rate train together in one batched run."""
    groups: dict[str, list] = {}
    for cell in cells:
        key = json.dumps({k: v for k, v in cell.items() if k != "train.lr"}, sort_keys=True)
        groups.setdefault(key, []).append(cell)
    return list(groups.values())


def measurements(cell: dict) -> int:
    m = cell.get("problem.measurements")
    if m is None:
        d1 = cell["problem.shape"][0]
        m = max(1, round(cell["problem.measurements_per_dr"] * d1 * cell["problem.rank"]))
    return int(m)


def make_cell_problem(cell: dict):
    from ..sensing import make_problem

    return make_problem(
        cell["problem.kind"],
        tuple(cell["problem.shape"]),
        cell["problem.rank"],
        measurements(cell),
        cell["problem.noise"],
        cell["seed"],
        scale=cell["problem.scale"],
    )


ALWAYS = ("status", "rel_error", "train_loss", "test_loss", "lr", "error")


def run_cell_group(group: list[dict], metrics: tuple, recovery_tol: float) -> list[dict]:
    """Run cells that differ only in lr; return one row per cell (errors recorded, not raised).

    Rows always carry ``rel_error``, ``train_loss`` and ``test_loss`` (needed to pick the best
    learning rate per seed) besides the configured ``metrics``.
    """
    import torch

    torch.set_num_threads(1)  # one process per core; identical numbers on every backend
    try:
        rows = _run_group(group)
    except Exception as exc:  # noqa: BLE001 -- a failing cell is recorded, the sweep goes on
        rows = [{"status": "error", "error": f"{type(exc).__name__}: {exc}"} for _ in group]
    keep = set(metrics) | set(ALWAYS)
    out = []
    for cell, row in zip(group, rows):
        row = {k: v for k, v in row.items() if k in keep}
        err = row.get("rel_error")
        out.append(
            {
                "cell": cell_id(cell),
                **cell,
                **row,
                "recovered": bool(err is not None and math.isfinite(err) and err <= recovery_tol),
            }
        )
    return out


def _convex_rows(group, problem):
    """The nuclear-norm minimiser, solved once for the cells of ``group`` (no rates)."""
    from .. import theory
    from ..metrics import effective_rank, nuclear_norm, relative_error

    # ADMM (ours) rather than cvxpy/SCS: SCS is not bit-reproducible across processes,
    # and a sweep must give the same table on every backend.
    with warnings.catch_warnings(record=True) as caught:  # a non-converged solve is
        warnings.simplefilter("always")  # labelled, not raised
        X, info = theory.min_nuclear_norm(problem, method="admm", tol=1e-8, return_info=True)
    converged = getattr(info, "converged", True) and not any(
        "converge" in str(w.message).lower() for w in caught
    )
    row = {
        "rel_error": relative_error(X, problem.X_true).item(),
        "train_loss": problem.loss(X).item(),
        "test_loss": problem.loss(X, True).item(),
        "nuclear_norm": nuclear_norm(X).item(),
        "erank": effective_rank(X).item(),
        "steps": 0,
        "status": "solved" if converged else "not_converged",
        "lr": None,
    }
    return [dict(row) for _ in group]


def _trained_rows(group, problem):
    """The cells of ``group`` (one per rate) trained together in one batched run."""
    from ..models import make_model
    from ..train import fit_runs

    cell = group[0]
    lrs = [c["train.lr"] for c in group]
    opts = {
        k[len("model.") :]: v
        for k, v in cell.items()
        if k.startswith("model.") and k != "model.name"
    }
    if "widths" in opts:
        opts["widths"] = tuple(opts["widths"])
    model = make_model(
        cell["model.name"], problem.shape, runs=len(lrs), seed=cell["seed"], problem=problem, **opts
    )
    results = fit_runs(
        model,
        problem,
        lrs,
        cell["train.steps"],
        tol=cell["train.tol"],
        optimizer=cell["train.optimizer"],
        record_every=cell["train.steps"],
    )
    rows = []
    for res in results:
        fin = res.final
        row = {
            **{
                k: fin.get(k)
                for k in ("rel_error", "train_loss", "test_loss", "nuclear_norm", "erank")
            },
            "steps": res.steps,
            "status": str(res.status),
            "lr": res.lr,
        }
        if res.status == "diverged":
            row.update(rel_error=None, train_loss=None, test_loss=None)
        rows.append(row)
    return rows


def _run_group(group):
    problem = make_cell_problem(group[0])
    if group[0]["model.name"] == "convex":
        return _convex_rows(group, problem)
    return _trained_rows(group, problem)
