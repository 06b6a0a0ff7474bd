r"""Grids of runs (phase-transition studies) on one machine or a Ray cluster.

Config grammar (TOML; every key is optional unless marked)::

    [sweep]
    name = "phase-transition"       # used in plot titles
    seeds = [0, 1, 2]               # or: repetitions = 3  (seeds 0, 1, 2)
    recovery_tol = 0.1              # a cell "recovers" when rel_error <= recovery_tol
    metrics = ["rel_error", "train_loss", "nuclear_norm"]   # kept per cell
    x = "measurements"              # heat-map axes (any swept parameter)
    y = "rank"

    [problem]
    kind = "gaussian"               # aligned | gaussian | completion | rank_one
    shape = [20, 20]
    rank = {range = [1, 5]}         # 1, 2, 3, 4, 5 (inclusive; optional step = k)
    measurements = [40, 80, 160]    # absolute m, or instead:
    measurements_per_dr = [1, 2, 4] # m = round(c * d1 * rank)
    noise = 0.0
    scale = 1.0

    [model]
    name = ["snn", "deep", "convex"]   # snn | free | deep | factor | convex (nuclear-norm min.)
    widths = [1]                    # options a model does not take are ignored
    init_scale = 1e-3
    depth = 3

    [model.deep]                    # per-model settings (one value each) override [model]
    init_scale = 0.1

    [train]
    lr = 0.1                        # a list batches the rates of one cell group in one run
    steps = 3000
    tol = 1e-10

A value may be a scalar, a list (swept), ``{range = [a, b], step = s}`` (inclusive),
``{linspace = [a, b, n]}`` or ``{geomspace = [a, b, n]}``. Unknown keys, empty ranges and wrong
types are rejected before any run starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import sys

import numpy as np

from ._validation import did_you_mean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["load_config", "SweepConfig", "expand", "run_cell_group", "ConfigError"]


class ConfigError(ValueError):
    """A malformed sweep config; the message names the key."""


SCHEMA = {
    "sweep": {"name": str, "seeds": list, "repetitions": int, "recovery_tol": float,
              "metrics": list, "x": str, "y": str},
    "problem": {"kind": str, "shape": list, "rank": int, "measurements": int,
                "measurements_per_dr": float, "noise": float, "scale": float},
    "model": {"name": str, "widths": list, "init": str, "init_scale": float, "depth": int,
              "fn": str},
    "train": {"lr": float, "steps": int, "tol": float, "optimizer": str},
}
SWEEPABLE = {("problem", k) for k in ("kind", "rank", "measurements", "measurements_per_dr",
                                      "noise", "scale")} | {
    ("model", k) for k in ("name", "init", "init_scale", "depth", "fn")} | {("train", "lr")}
DEFAULTS = {"problem": {"kind": "gaussian", "shape": [20, 20], "rank": 1, "noise": 0.0,
                        "scale": 1.0},
            "model": {"name": "snn", "widths": [1], "init": "identity", "init_scale": 1e-3,
                      "depth": 3, "fn": "tanh"},
            "train": {"lr": 0.1, "steps": 3000, "tol": 1e-10, "optimizer": "gd"}}
MODEL_NAMES = ("snn", "free", "deep", "factor", "convex")
METRICS = ("rel_error", "train_loss", "test_loss", "nuclear_norm", "erank", "steps", "status",
           "lr")


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    name: str
    seeds: tuple
    recovery_tol: float
    metrics: tuple
    x: str
    y: str
    fixed: dict  # section -> {key: value}
    swept: dict  # "section.key" -> list of values


def _type_ok(value, typ) -> bool:
    if typ is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if typ is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, typ)


def _values(section, key, raw, typ) -> list:
    """Expand a scalar / list / range spec into the list of values, checking types."""
    where = f"{section}.{key}"
    if isinstance(raw, dict):
        form = next(iter(raw)) if len(raw) == 1 else ("range" if set(raw) == {"range", "step"}
                                                      else None)
        args, step = raw.get(form), raw.get("step", 1)
        if form == "range" and isinstance(args, list) and len(args) == 2:
            vals = list(np.arange(args[0], args[1] + step / 2, step)) if step > 0 else []
        elif form in ("linspace", "geomspace") and isinstance(args, list) and len(args) == 3:
            vals = list(getattr(np, form)(args[0], args[1], int(args[2])))
        else:
            raise ConfigError(f"{where}: a table value must be {{range = [a, b], step = s}}, "
                              f"{{linspace = [a, b, n]}} or {{geomspace = [a, b, n]}}; got {raw}")
        vals = [int(v) if typ is int else float(v) for v in vals]
        if not vals:
            raise ConfigError(f"{where}: the range {raw} is empty")
        return vals
    vals = raw if isinstance(raw, list) and typ is not list else [raw]
    if typ is list and isinstance(raw, list) and raw and isinstance(raw[0], list):
        vals = raw  # a list of lists sweeps list-valued options (shape, widths)
    if not vals:
        raise ConfigError(f"{where}: the list is empty")
    for v in vals:
        if not _type_ok(v, typ):
            raise ConfigError(f"{where}: expected {typ.__name__} values; got {v!r} "
                              f"({type(v).__name__})")
    return vals


def parse_config(data: dict) -> SweepConfig:
    for section in data:
        if section not in SCHEMA:
            raise ConfigError(f"unknown section [{section}]." + did_you_mean(section, SCHEMA))
        if not isinstance(data[section], dict):
            raise ConfigError(f"[{section}] must be a table")
        for key in data[section]:
            if section == "model" and key in MODEL_NAMES and isinstance(data[section][key], dict):
                continue  # [model.<name>]: per-model settings, checked below
            if key not in SCHEMA[section]:
                raise ConfigError(f"unknown key {section}.{key}." +
                                  did_you_mean(key, SCHEMA[section]))
    sw = data.get("sweep", {})
    fixed, swept = {}, {}
    per_model = {k: v for k, v in data.get("model", {}).items()
                 if k in MODEL_NAMES and isinstance(v, dict)}
    for section in ("problem", "model", "train"):
        merged = {**DEFAULTS[section], **{k: v for k, v in data.get(section, {}).items()
                                          if not (section == "model" and k in per_model)}}
        if "measurements" in merged and "measurements_per_dr" in merged:
            raise ConfigError("problem.measurements and problem.measurements_per_dr exclude "
                              "each other")
        fixed[section] = {}
        for key, raw in merged.items():
            vals = _values(section, key, raw, SCHEMA[section][key])
            if len(vals) > 1 and (section, key) not in SWEEPABLE:
                raise ConfigError(f"{section}.{key} cannot be swept; give one value")
            if len(vals) > 1:
                swept[f"{section}.{key}"] = vals
            else:
                fixed[section][key] = vals[0]
    for name, table in per_model.items():  # one value each, stored as model.<name>.<key>
        for key, raw in table.items():
            if key not in SCHEMA["model"] or key == "name":
                raise ConfigError(f"unknown key model.{name}.{key}." +
                                  did_you_mean(key, SCHEMA["model"]))
            vals = _values(f"model.{name}", key, raw, SCHEMA["model"][key])
            if len(vals) > 1:
                raise ConfigError(f"model.{name}.{key} cannot be swept; give one value")
            fixed["model"][f"{name}.{key}"] = vals[0]
    if "measurements" not in fixed["problem"] and "problem.measurements" not in swept and (
            "measurements_per_dr" not in fixed["problem"]) and (
            "problem.measurements_per_dr" not in swept):
        raise ConfigError("problem.measurements (or problem.measurements_per_dr) is required")
    for name in swept.get("model.name", [fixed["model"].get("name")]):
        if name not in MODEL_NAMES:
            raise ConfigError(f"model.name: {name!r} is not one of {list(MODEL_NAMES)}" +
                              did_you_mean(name, MODEL_NAMES))
    if "seeds" in sw and "repetitions" in sw:
        raise ConfigError("sweep.seeds and sweep.repetitions exclude each other")
    seeds = _values("sweep", "seeds", sw["seeds"], int) if "seeds" in sw else list(
        range(_values("sweep", "repetitions", sw.get("repetitions", 1), int)[0]))
    metrics = tuple(_values("sweep", "metrics", sw.get("metrics", list(METRICS)), str))
    for m in metrics:
        if m not in METRICS:
            raise ConfigError(f"sweep.metrics: unknown metric {m!r}" + did_you_mean(m, METRICS))
    axes = [k.split(".")[1] for k in swept]
    x = sw.get("x", axes[0] if axes else "rank")
    y = sw.get("y", axes[1] if len(axes) > 1 else x)
    for key, ax in (("x", x), ("y", y)):
        if ax not in axes + ["seed"]:
            raise ConfigError(f"sweep.{key}: {ax!r} is not a swept parameter; swept: {axes}")
    tol = _values("sweep", "recovery_tol", sw.get("recovery_tol", 0.1), float)[0]
    return SweepConfig(str(sw.get("name", "sweep")), tuple(seeds), tol, metrics, x, y, fixed,
                       swept)


def load_config(path) -> SweepConfig:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data)


def cell_id(cell: dict) -> str:
    return hashlib.sha1(json.dumps(cell, sort_keys=True).encode()).hexdigest()[:12]


def expand(cfg: SweepConfig) -> list[dict]:
    """Every cell: flat ``{"problem.rank": 2, ..., "seed": 0}`` dicts, in a stable order."""
    keys = list(cfg.swept)
    cells = []
    for combo in itertools.product(*(cfg.swept[k] for k in keys)):
        for seed in cfg.seeds:
            cell = {f"{s}.{k}": v for s, d in cfg.fixed.items() for k, v in d.items()}
            cell.update(zip(keys, combo))
            cell["seed"] = seed
            cells.append(cell)
    return cells


def group_cells(cells: list[dict]) -> list[list[dict]]:
    """Cells equal but for the learning rate train together in one batched run."""
    groups: dict[str, list] = {}
    for cell in cells:
        key = json.dumps({k: v for k, v in cell.items() if k != "train.lr"}, sort_keys=True)
        groups.setdefault(key, []).append(cell)
    return list(groups.values())


def _problem(cell):
    from .sensing import make_problem

    d1, d2 = cell["problem.shape"]
    r = cell["problem.rank"]
    m = cell.get("problem.measurements")
    if m is None:
        m = max(1, round(cell["problem.measurements_per_dr"] * d1 * r))
    return make_problem(cell["problem.kind"], (d1, d2), r, int(m), cell["problem.noise"],
                        cell["seed"], scale=cell["problem.scale"])


def run_cell_group(group: list[dict], metrics: tuple, recovery_tol: float) -> list[dict]:
    """Run cells that differ only in lr; return one row per cell (errors recorded, not raised)."""
    import torch

    torch.set_num_threads(1)  # one process per core; identical numbers on every backend
    rows = []
    try:
        rows = _run_group(group)
    except Exception as exc:  # a failing cell is recorded, the sweep goes on
        rows = [{"status": "error", "error": f"{type(exc).__name__}: {exc}"} for _ in group]
    keep = set(metrics) | {"status", "rel_error", "error"}
    out = []
    for cell, row in zip(group, rows):
        row = {k: v for k, v in row.items() if k in keep}
        err = row.get("rel_error")
        out.append({"cell": cell_id(cell), **cell, **row,
                    "recovered": bool(err is not None and math.isfinite(err) and
                                      err <= recovery_tol)})
    return out


def _run_group(group):
    from . import theory
    from .metrics import effective_rank, nuclear_norm, relative_error
    from .models import make_model
    from .train import fit_runs

    cell = group[0]
    problem = _problem(cell)
    name = cell["model.name"]
    if name == "convex":
        # ADMM (ours) rather than cvxpy/SCS: SCS is not bit-reproducible across processes,
        # and a sweep must give the same table on every backend.
        X = theory.min_nuclear_norm(problem, method="admm", tol=1e-9)
        row = {"rel_error": relative_error(X, problem.X_true).item(),
               "train_loss": problem.loss(X).item(), "test_loss": problem.loss(X, True).item(),
               "nuclear_norm": nuclear_norm(X).item(), "erank": effective_rank(X).item(),
               "steps": 0, "status": "solved", "lr": None}
        return [dict(row) for _ in group]
    lrs = [c["train.lr"] for c in group]
    opts = {k: cell[f"model.{k}"] for k in ("widths", "init", "init_scale", "depth", "fn")}
    opts.update({k[len(f"model.{name}."):]: v for k, v in cell.items()
                 if k.startswith(f"model.{name}.")})  # [model.<name>] overrides
    opts["widths"] = tuple(opts["widths"])
    model = make_model(name, problem.shape, runs=len(lrs), seed=cell["seed"], **opts)
    results = fit_runs(model, problem, lrs, cell["train.steps"], tol=cell["train.tol"],
                       optimizer=cell["train.optimizer"], record_every=cell["train.steps"])
    rows = []
    for res in results:
        fin = res.final
        row = {**{k: fin.get(k) for k in ("rel_error", "train_loss", "test_loss",
                                           "nuclear_norm", "erank")},
               "steps": res.steps, "status": str(res.status), "lr": res.lr}
        if res.status == "diverged":
            row.update(rel_error=None, train_loss=None, test_loss=None)
        rows.append(row)
    return rows

