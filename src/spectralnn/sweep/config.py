"""Sweep config grammar and validation: every value of every axis is checked, per model, before
the first cell runs (see the package docstring for the grammar)."""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any

import numpy as np

from .._validation import did_you_mean
from ..errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "METRICS",
    "MODEL_NAMES",
    "SELECT",
    "ConfigError",
    "SweepConfig",
    "load_config",
    "model_keys",
    "parse_config",
]


class ConfigError(InputError):
    """A malformed sweep config; the message names the key (``section.key``) and the value."""


SCHEMA = {
    "sweep": {
        "name": str,
        "seeds": list,
        "repetitions": int,
        "recovery_tol": float,
        "metrics": list,
        "x": str,
        "y": str,
        "select": str,
    },
    "problem": {
        "kind": str,
        "shape": list,
        "rank": int,
        "measurements": int,
        "measurements_per_dr": float,
        "noise": float,
        "scale": float,
    },
    "model": {
        "name": str,
        "widths": list,
        "init": str,
        "init_scale": float,
        "depth": int,
        "fn": str,
    },
    "train": {"lr": float, "steps": int, "tol": float, "optimizer": str},
}
SWEEPABLE = (
    {
        ("problem", k)
        for k in ("kind", "rank", "measurements", "measurements_per_dr", "noise", "scale", "shape")
    }
    | {("model", k) for k in ("name", "init", "init_scale", "depth", "fn", "widths")}
    | {("train", k) for k in ("lr", "steps", "tol", "optimizer")}
)
DEFAULTS = {
    "problem": {"kind": "gaussian", "shape": [20, 20], "rank": 1, "noise": 0.0, "scale": 1.0},
    "model": {"widths": [1], "init": "identity", "init_scale": 1e-3, "depth": 3, "fn": "tanh"},
    "train": {"lr": 0.1, "steps": 3000, "tol": 1e-10, "optimizer": "gd"},
}
MODEL_NAMES = ("snn", "free", "deep", "factor", "convex")
# What each model takes: a cell of a model carries only these model./train. keys, so a list of
# learning rates does not multiply the convex baseline's cells, nor widths the deep model's.
_TRAIN = ("lr", "steps", "tol", "optimizer")
MODEL_KEYS = {
    "snn": ("widths", "init", "init_scale", "fn", *_TRAIN),
    "free": ("init_scale", *_TRAIN),
    "deep": ("init", "init_scale", "depth", *_TRAIN),
    "factor": ("init", "init_scale", *_TRAIN),
    "convex": (),
}
METRICS = ("rel_error", "train_loss", "test_loss", "nuclear_norm", "erank", "steps", "status", "lr")
SELECT = ("train_loss", "test_loss", "all")
LABELS = {
    "measurements_per_dr": "measurements per degree of freedom, m / (d1 r)",
    "measurements": "measurements m",
    "rank": "rank r of X*",
    "noise": "noise std",
    "scale": "measurement scale",
    "init_scale": "initialisation scale",
    "lr": "learning rate",
    "depth": "depth",
    "steps": "gradient steps",
    "tol": "tolerance",
    "seed": "seed",
}


def model_keys(name: str) -> tuple:
    """The ``model.``/``train.`` keys (without section) that a model's cells carry."""
    return MODEL_KEYS[name]


def _section_of(key: str) -> str:
    return "train" if key in _TRAIN else "model"


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    name: str
    seeds: tuple
    recovery_tol: float
    metrics: tuple
    x: str
    y: str
    fixed: dict  # section -> {key: value} (shared by every model)
    swept: dict  # "section.key" -> list of values (shared by every model that takes the key)
    models: tuple = ()  # model names, in config order
    per_model: dict = dataclasses.field(default_factory=dict)  # name -> {"section.key": [values]}
    select: str = "train_loss"  # best lr per seed by this loss ("all": pool every lr)

    def axes(self, name: str) -> dict:
        """``{"section.key": [values]}`` of one model: problem keys, then the model's own
        (per-model tables override the shared ones); one value = fixed."""
        out = {f"problem.{k}": [v] for k, v in self.fixed["problem"].items()}
        out.update({k: v for k, v in self.swept.items() if k.startswith("problem.")})
        for key in model_keys(name):
            full = f"{_section_of(key)}.{key}"
            if full in self.swept:
                out[full] = self.swept[full]
            elif key in self.fixed[_section_of(key)]:
                out[full] = [self.fixed[_section_of(key)][key]]
        out.update(self.per_model.get(name, {}))
        return out

    def label(self, axis: str) -> str:
        return LABELS.get(axis, axis.replace("_", " "))


def _type_ok(value, typ) -> bool:
    if typ is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if typ is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, typ)


def _values(where, raw, typ) -> list:
    """Expand a scalar / list / range spec into the list of values, checking types."""
    if isinstance(raw, dict):
        form = (
            next(iter(raw))
            if len(raw) == 1
            else ("range" if set(raw) == {"range", "step"} else None)
        )
        args, step = raw.get(form), raw.get("step", 1)
        if not isinstance(args, list):
            args = []  # refused below like any other malformed spec
        ok_args = all(_type_ok(a, float) and math.isfinite(a) for a in args)
        if not (_type_ok(step, float) and math.isfinite(step)):
            ok_args = False
        vals: list[Any]
        if form == "range" and ok_args and len(args) == 2:
            vals = list(np.arange(args[0], args[1] + step / 2, step)) if step > 0 else []
        elif (
            form in ("linspace", "geomspace")
            and ok_args
            and len(args) == 3
            and (args[2] == int(args[2]) and 1 <= args[2] <= 10_000)
            and (form == "linspace" or (args[0] > 0 and args[1] > 0))
        ):
            vals = list(getattr(np, form)(args[0], args[1], int(args[2])))
        else:
            raise ConfigError(
                f"{where}: a table value must be {{range = [a, b], step = s}}, "
                f"{{linspace = [a, b, n]}} or {{geomspace = [a, b, n]}} with finite "
                f"numbers (geomspace: a, b > 0). Got {raw} instead."
            )
        if typ is int and any(float(v) != round(float(v)) for v in vals):
            raise ConfigError(f"{where}: expected int values; the range {raw} gives non-integers")
        vals = [round(float(v)) if typ is int else float(v) for v in vals]
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
            raise ConfigError(
                f"{where}: expected {typ.__name__} values. Got {v!r} ({type(v).__name__}) instead."
            )
    return vals


# ----------------------------------------------------------------------------- value checks


def _choices(where, v, choices):
    if v not in choices:
        raise ConfigError(
            f"{where}: must be one of {list(choices)}. Got {v!r} instead."
            + did_you_mean(str(v), choices)
        )


def _number(where, v, *, low=None, strict=True, integer=False):
    bad = not math.isfinite(v) if isinstance(v, float) else False
    if low is not None and not bad:
        bad = v <= low if strict else v < low
    if bad:
        kind = "an int" if integer else "a finite number"
        rel = "" if low is None else f" {'>' if strict else '>='} {low:g}"
        raise ConfigError(f"{where}: must be {kind}{rel}. Got {v!r} instead.")


def _int_list(where, v, length=None):
    if (
        not isinstance(v, list)
        or not v
        or (length and len(v) != length)
        or not all(_type_ok(k, int) and k >= 1 for k in v)
    ):
        what = f"a list of {length} ints >= 1" if length else "a non-empty list of ints >= 1"
        raise ConfigError(f"{where}: must be {what}. Got {v!r} instead.")


def _check_value(key: str, v, where: str) -> None:
    """One value of one key (``section.key``); ``where`` is how the message names it."""
    from .._activations import ACTIVATIONS
    from ..models import INITS
    from ..sensing import PROBLEM_KINDS
    from ..train import OPTIMIZERS

    check = {
        "problem.kind": lambda: _choices(where, v, PROBLEM_KINDS),
        "problem.shape": lambda: _int_list(where, v, 2),
        "problem.rank": lambda: _number(where, v, low=1, strict=False, integer=True),
        "problem.measurements": lambda: _number(where, v, low=1, strict=False, integer=True),
        "problem.measurements_per_dr": lambda: _number(where, v, low=0),
        "problem.noise": lambda: _number(where, v, low=0, strict=False),
        "problem.scale": lambda: _number(where, v, low=0),
        "model.name": lambda: _choices(where, v, MODEL_NAMES),
        "model.widths": lambda: _int_list(where, v),
        "model.init": lambda: _choices(where, v, INITS),
        "model.init_scale": lambda: _number(where, v, low=0, strict=False),
        "model.depth": lambda: _number(where, v, low=1, strict=False, integer=True),
        "model.fn": lambda: _choices(where, v, tuple(ACTIVATIONS)),
        "train.lr": lambda: _number(where, v, low=0),
        "train.steps": lambda: _number(where, v, low=1, strict=False, integer=True),
        "train.tol": lambda: _number(where, v, low=0, strict=False),
        "train.optimizer": lambda: _choices(where, v, OPTIMIZERS),
    }.get(key)
    if check is not None:
        check()


def _check_model(name: str, axes: dict, where) -> None:
    """Cross-checks of one model's axes: ranks fit the shapes, completion m fits d1 d2, the
    init is one the model takes, and a dry construction of every distinct model succeeds."""
    import itertools

    from ..models import make_model

    for shape, rank in itertools.product(axes["problem.shape"], axes["problem.rank"]):
        if rank > min(shape):
            raise ConfigError(
                f"problem.rank: {rank} exceeds min(problem.shape) = {min(shape)} for shape {shape}"
            )
    kinds = axes["problem.kind"]
    for shape, m in itertools.product(axes["problem.shape"], axes.get("problem.measurements", [])):
        if "completion" in kinds and m > shape[0] * shape[1]:
            raise ConfigError(
                f"problem.measurements: {m} exceeds the {shape[0] * shape[1]} "
                f"entries of a completion problem of shape {shape}"
            )
    if name == "convex":
        return
    if "model.init" in axes and "spectral" in axes["model.init"]:
        if name != "snn":
            raise ConfigError(
                f"{where(name, 'model.init')}: 'spectral' is an SNN init; "
                f"{name!r} takes 'identity', 'gaussian' or 'orthogonal'"
            )
        if kinds != ["aligned"]:
            raise ConfigError(
                f"{where(name, 'model.init')}: 'spectral' needs "
                f"problem.kind = 'aligned'. Got {kinds} instead."
            )
    model_axes = [k for k in axes if k.startswith("model.")]
    shape0 = axes["problem.shape"][0]
    for combo in itertools.product(*(axes[k] for k in model_axes)):
        opts = {k[len("model.") :]: v for k, v in zip(model_axes, combo)}
        if opts.get("init") == "spectral":
            continue  # needs the problem; the choice and the kind were checked above
        if "widths" in opts:
            opts["widths"] = tuple(opts["widths"])
        try:
            make_model(name, tuple(shape0), **opts)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"model {name!r} with {opts}: {exc}") from None


MAX_CELLS = 100_000
"""Most cells a sweep may have (all models, all seeds) unless the size check is off."""


def _check_budget(names, per: dict, seeds, max_bytes) -> None:
    """Cell count and per-cell memory of every model's grid, before any cell is built: a
    ConfigError names the key and the estimate (``max_bytes=math.inf`` skips the check)."""
    import itertools

    from .._validation import (
        human_bytes,
        human_seconds,
        memory_limit,
        model_cost,
        problem_bytes,
        time_limit,
        train_seconds,
    )

    limit = memory_limit(max_bytes, "the sweep config")
    if limit == math.inf:
        return
    counts = {name: math.prod(len(v) for v in per[name].values()) * len(seeds) for name in names}
    total = sum(counts.values())
    if total > MAX_CELLS:
        swept = sorted({k for name in names for k, v in per[name].items() if len(v) > 1})
        raise ConfigError(
            f"the grid has {total:,} cells ({', '.join(swept + ['seeds'])} "
            f"multiplied), more than {MAX_CELLS:,}; sweep fewer values (or "
            "set SPECTRALNN_MEMORY_LIMIT=none / --no-size-check)"
        )

    def over(key, value, nbytes):
        if nbytes > limit:
            raise ConfigError(
                f"{key}: {value!r} needs about {human_bytes(nbytes)} of memory "
                f"per cell (estimate), more than the limit of "
                f"{human_bytes(limit)}; use smaller values (or set "
                "SPECTRALNN_MEMORY_LIMIT / --no-size-check)"
            )

    for name in names:
        ax = per[name]
        for kind, shape, rank in itertools.product(
            ax["problem.kind"], ax["problem.shape"], ax["problem.rank"]
        ):
            over("problem.shape", shape, problem_bytes(kind, shape, 1, 1, rank))
            if "problem.measurements" in ax:
                ms = ax["problem.measurements"]
            else:
                ms = [max(1, round(v * shape[0] * rank)) for v in ax["problem.measurements_per_dr"]]
            key = (
                "problem.measurements"
                if "problem.measurements" in ax
                else "problem.measurements_per_dr"
            )
            for m in ms:
                if kind == "completion":
                    m = min(m, shape[0] * shape[1])
                over(key, m, problem_bytes(kind, shape, m, m, rank))
        if name == "convex":
            continue
        runs = len(ax.get("train.lr", [1]))
        model_axes = [k for k in ("model.widths", "model.depth") if k in ax]
        tlimit = time_limit()
        for shape in ax["problem.shape"]:
            m = max(
                ax.get("problem.measurements", [0])
                + [
                    round(v * shape[0] * max(ax["problem.rank"]))
                    for v in ax.get("problem.measurements_per_dr", [])
                ]
            )
            for combo in itertools.product(*(ax[k] for k in model_axes)):
                opts = {k[len("model.") :]: v for k, v in zip(model_axes, combo)}
                for k, v in opts.items():
                    over(f"model.{k}", v, model_cost(name, shape, {k: v}, runs)[0])
                _, flops, tensors = model_cost(name, shape, opts, runs)
                flops += 4.0 * m * shape[0] * shape[1]
                steps = max(ax.get("train.steps", [1]))
                seconds = train_seconds(steps, flops, tensors)
                if seconds > tlimit:
                    raise ConfigError(
                        f"train.steps: {steps} would take about "
                        f"{human_seconds(seconds)} per cell of model {name!r} "
                        f"(estimate), more than the limit of "
                        f"{human_seconds(tlimit)}; use fewer steps (or set "
                        "SPECTRALNN_TIME_LIMIT / --no-size-check)"
                    )


def parse_config(data: dict, max_bytes: float | None = None) -> SweepConfig:
    """Validate a parsed TOML document completely and return the config (or raise
    :class:`ConfigError` naming the key).  ``max_bytes``: the per-cell memory budget (default
    ``SPECTRALNN_MEMORY_LIMIT``, else half the physical memory; ``math.inf`` also lifts the
    limit of :data:`MAX_CELLS` cells)."""
    for section in data:
        if section not in SCHEMA:
            raise ConfigError(f"unknown section [{section}]." + did_you_mean(section, SCHEMA))
        if not isinstance(data[section], dict):
            raise ConfigError(f"[{section}] must be a table")
        for key in data[section]:
            if section == "model" and key in MODEL_NAMES and isinstance(data[section][key], dict):
                continue  # [model.<name>]: per-model settings, checked below
            if key not in SCHEMA[section]:
                raise ConfigError(
                    f"unknown key {section}.{key}." + did_you_mean(key, SCHEMA[section])
                )
    sw = data.get("sweep", {})
    model_sec = data.get("model", {})
    per_model_raw = {k: v for k, v in model_sec.items() if k in MODEL_NAMES and isinstance(v, dict)}
    names = _values("model.name", model_sec.get("name", "snn"), str)
    for name in names:
        _check_value("model.name", name, "model.name")
    if len(set(names)) != len(names):
        raise ConfigError(f"model.name: a model is listed twice. Got {names} instead.")
    for name in per_model_raw:
        if name not in names:
            raise ConfigError(
                f"[model.{name}] configures a model that model.name does not list ({names})"
            )
    fixed: dict[str, dict[str, Any]] = {}
    swept: dict[str, list[Any]] = {}
    for section in ("problem", "model", "train"):
        merged = {
            **DEFAULTS[section],
            **{
                k: v
                for k, v in data.get(section, {}).items()
                if k not in per_model_raw and k != "name"
            },
        }
        if section == "problem" and "measurements" in merged and "measurements_per_dr" in merged:
            raise ConfigError(
                "problem.measurements and problem.measurements_per_dr exclude each other"
            )
        fixed[section] = {}
        for key, raw in merged.items():
            full = f"{section}.{key}"
            vals = _values(full, raw, SCHEMA[section][key])
            for v in vals:
                _check_value(full, v, full)
            if len(vals) > 1 and (section, key) not in SWEEPABLE:
                raise ConfigError(f"{full} cannot be swept; give one value")
            if len(vals) > 1:
                swept[full] = vals
            else:
                fixed[section][key] = vals[0]
    if not any(
        k in fixed["problem"] or f"problem.{k}" in swept
        for k in ("measurements", "measurements_per_dr")
    ):
        raise ConfigError("problem.measurements (or problem.measurements_per_dr) is required")
    per_model: dict[str, dict[str, list[Any]]] = {}
    for name, table in per_model_raw.items():  # [model.<name>]: model and train keys
        per_model[name] = {}
        for key, raw in table.items():
            if key not in model_keys(name):
                takes = ", ".join(model_keys(name)) or "nothing (it is solved, not trained)"
                raise ConfigError(
                    f"unknown key model.{name}.{key}: {name!r} takes {takes}."
                    + did_you_mean(key, model_keys(name))
                )
            full = f"{_section_of(key)}.{key}"
            vals = _values(f"model.{name}.{key}", raw, SCHEMA[_section_of(key)][key])
            for v in vals:
                _check_value(full, v, f"model.{name}.{key}")
            per_model[name][full] = vals

    def where(name, key):
        short = key.split(".", 1)[1]
        return f"model.{name}.{short}" if key in per_model.get(name, {}) else key

    if "seeds" in sw and "repetitions" in sw:
        raise ConfigError("sweep.seeds and sweep.repetitions exclude each other")
    if "seeds" in sw:
        seeds = _values("sweep.seeds", sw["seeds"], int)
        for s in seeds:
            _number("sweep.seeds", s, low=0, strict=False, integer=True)
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"sweep.seeds: a seed is listed twice. Got {seeds} instead.")
    else:
        reps = _values("sweep.repetitions", sw.get("repetitions", 1), int)
        if len(reps) != 1 or reps[0] < 1:
            raise ConfigError(f"sweep.repetitions: must be one int >= 1. Got {reps} instead.")
        seeds = list(range(reps[0]))
    metrics = tuple(_values("sweep.metrics", sw.get("metrics", list(METRICS)), str))
    for m in metrics:
        if m not in METRICS:
            raise ConfigError(f"sweep.metrics: unknown metric {m!r}." + did_you_mean(m, METRICS))
    select = sw.get("select", "train_loss")
    if not isinstance(select, str):
        raise ConfigError(f"sweep.select: must be one of {list(SELECT)}. Got {select!r} instead.")
    _choices("sweep.select", select, SELECT)
    tol = _values("sweep.recovery_tol", sw.get("recovery_tol", 0.1), float)
    if len(tol) != 1:
        raise ConfigError("sweep.recovery_tol cannot be swept; give one value")
    _number("sweep.recovery_tol", tol[0], low=0)
    if not isinstance(sw.get("name", "sweep"), str):
        raise ConfigError(f"sweep.name: must be a string. Got {sw['name']!r} instead.")
    cfg = SweepConfig(
        str(sw.get("name", "sweep")),
        tuple(seeds),
        float(tol[0]),
        metrics,
        "",
        "",
        fixed,
        swept,
        tuple(names),
        per_model,
        select,
    )
    per = {name: cfg.axes(name) for name in names}
    _check_budget(names, per, seeds, max_bytes)
    for name in names:
        _check_model(name, per[name], where)
    # Heat-map axes: numeric parameters swept for (and taken by) every model, or the seed.
    common: list[str] | None = None
    for name in names:
        keys = [k.split(".", 1)[1] for k, v in per[name].items() if len(v) > 1]
        common = keys if common is None else [k for k in common if k in keys]
    assert common is not None  # names is never empty
    numeric = [
        k
        for k in common
        if all(_type_ok(v, float) for name in names for v in per[name][_full(per[name], k)])
    ]
    x = sw.get("x", numeric[0] if numeric else "seed")
    y = sw.get("y", numeric[1] if len(numeric) > 1 else x)
    for key, ax in (("x", x), ("y", y)):
        if not isinstance(ax, str) or ax not in numeric + ["seed"]:
            raise ConfigError(
                f"sweep.{key}: must be a numeric parameter swept for every model "
                f"({numeric + ['seed']}). Got {ax!r} instead."
            )
    return dataclasses.replace(cfg, x=x, y=y)


def _full(axes: dict, short: str) -> str:
    return next(k for k in axes if k.split(".", 1)[1] == short)


def load_config(path, max_bytes: float | None = None) -> SweepConfig:
    """Read and validate a TOML sweep config (``max_bytes``: see :func:`parse_config`)."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {str(path)!r} is a directory") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid TOML (not UTF-8 text)") from None
    return parse_config(data, max_bytes)
