"""Aggregation of sweep rows: the best learning rate per seed, Wilson intervals, and the
recovery grids per (model, y, x) that ``summarise`` reports."""

from __future__ import annotations

import math

import numpy as np

from .config import SweepConfig


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def _finite(v) -> float | None:
    x = _num(v)
    return x if isinstance(x, float) and math.isfinite(x) else None


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


def _key(cfg: SweepConfig, axis: str, rows) -> str:
    if axis == "seed":
        return "seed"
    for s in ("problem", "model", "train"):
        if any(f"{s}.{axis}" in r for r in rows):
            return f"{s}.{axis}"
    return f"problem.{axis}"


def _model_grids(mine, xs, ys, xk, yk):
    """Probability, n, Wilson bounds and median relative error of one model's kept rows."""
    shape = (len(ys), len(xs))
    prob, count = np.full(shape, np.nan), np.zeros(shape, dtype=int)
    lo, hi, med = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    for i, yv in enumerate(ys):
        for j, xv in enumerate(xs):
            sel = [r for r in mine if _num(r[xk]) == xv and _num(r[yk]) == yv]
            if not sel:
                continue
            k = sum(r["recovered"] == "True" for r in sel)
            count[i, j], prob[i, j] = len(sel), k / len(sel)
            lo[i, j], hi[i, j] = wilson(k, len(sel))
            errs = [e for e in (_finite(r.get("rel_error")) for r in sel) if e is not None]
            med[i, j] = float(np.median(errs)) if errs else np.nan
    return prob, count, lo, hi, med


def _recovery_grids(kept, models, xs, ys, xk, yk):
    """Per model: the grids of :func:`_model_grids` and the counts of the chosen rates."""
    prob, count, lo, hi, med = {}, {}, {}, {}, {}
    chosen_lr = {}
    for m in models:
        mine = [r for r in kept if r["model.name"] == m]
        prob[m], count[m], lo[m], hi[m], med[m] = _model_grids(mine, xs, ys, xk, yk)
        lrs = [r["train.lr"] for r in mine if r.get("train.lr") not in (None, "")]
        if lrs:
            chosen_lr[m] = {lr: lrs.count(lr) for lr in sorted(set(lrs), key=float)}
    return prob, count, lo, hi, med, chosen_lr


def _pooled(rows, models, xk, yk) -> list[str]:
    """Swept parameters other than the axes, seed and rate that take several values."""
    swept_other = sorted(
        {k for r in rows for k in _params(r)} - {xk, yk, "seed", "train.lr", "model.name"}
    )
    return [
        k
        for k in swept_other
        if any(
            len({r[k] for r in rows if r["model.name"] == m and r.get(k) not in (None, "")}) > 1
            for m in models
        )
    ]
