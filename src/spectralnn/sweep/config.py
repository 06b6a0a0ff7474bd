"""Sweep config grammar and validation: every value of every axis is checked, per model, before
the first cell runs (see the package docstring for the grammar).

The schema lives in ``_config_schema``, the per-value checks in ``_config_values``, the
cross-checks and the budget in ``_config_checks``; their names are re-exported here.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from .._validation import did_you_mean
from ._config_checks import MAX_CELLS as MAX_CELLS
from ._config_checks import _check_budget, _check_model
from ._config_schema import _TRAIN as _TRAIN
from ._config_schema import (
    DEFAULTS,
    LABELS,
    METRICS,
    MODEL_NAMES,
    SCHEMA,
    SELECT,
    SWEEPABLE,
    ConfigError,
    _section_of,
    model_keys,
)
from ._config_schema import MODEL_KEYS as MODEL_KEYS
from ._config_values import _check_value, _choices, _number, _type_ok, _values
from ._config_values import _int_list as _int_list

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


def _check_sections(data: dict) -> None:
    """Unknown sections and keys (``[model.<name>]`` tables are checked later)."""
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


def _model_names(model_sec: dict, per_model_raw: dict) -> list:
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
    return names


def _shared_axes(data: dict, per_model_raw: dict) -> tuple[dict, dict]:
    """``fixed`` (section -> {key: value}) and ``swept`` ("section.key" -> values) of the
    shared sections, defaults filled in."""
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
    return fixed, swept


def _per_model_axes(per_model_raw: dict) -> dict[str, dict[str, list[Any]]]:
    """The ``[model.<name>]`` tables: each model's own model and train keys."""
    per_model: dict[str, dict[str, list[Any]]] = {}
    for name, table in per_model_raw.items():
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
    return per_model


def _seeds(sw: dict) -> list:
    if "seeds" in sw and "repetitions" in sw:
        raise ConfigError("sweep.seeds and sweep.repetitions exclude each other")
    if "seeds" in sw:
        seeds = _values("sweep.seeds", sw["seeds"], int)
        for s in seeds:
            _number("sweep.seeds", s, low=0, strict=False, integer=True)
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"sweep.seeds: a seed is listed twice. Got {seeds} instead.")
        return seeds
    reps = _values("sweep.repetitions", sw.get("repetitions", 1), int)
    if len(reps) != 1 or reps[0] < 1:
        raise ConfigError(f"sweep.repetitions: must be one int >= 1. Got {reps} instead.")
    return list(range(reps[0]))


def _sweep_settings(sw: dict) -> tuple[tuple, str, float]:
    """``metrics``, ``select`` and ``recovery_tol`` of ``[sweep]`` (and a check of its name)."""
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
    return metrics, select, float(tol[0])


def _heat_map_axes(sw: dict, names, per: dict) -> tuple[str, str]:
    """Heat-map axes: numeric parameters swept for (and taken by) every model, or the seed."""
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
    return x, y


def parse_config(data: dict, max_bytes: float | None = None) -> SweepConfig:
    """Validate a parsed TOML document completely and return the config (or raise
    :class:`ConfigError` naming the key).  ``max_bytes``: the per-cell memory budget (default
    ``SPECTRALNN_MEMORY_LIMIT``, else half the physical memory; ``math.inf`` also lifts the
    limit of :data:`MAX_CELLS` cells)."""
    _check_sections(data)
    sw = data.get("sweep", {})
    model_sec = data.get("model", {})
    per_model_raw = {k: v for k, v in model_sec.items() if k in MODEL_NAMES and isinstance(v, dict)}
    names = _model_names(model_sec, per_model_raw)
    fixed, swept = _shared_axes(data, per_model_raw)
    per_model = _per_model_axes(per_model_raw)

    def where(name, key):
        short = key.split(".", 1)[1]
        return f"model.{name}.{short}" if key in per_model.get(name, {}) else key

    seeds = _seeds(sw)
    metrics, select, tol = _sweep_settings(sw)
    cfg = SweepConfig(
        str(sw.get("name", "sweep")),
        tuple(seeds),
        tol,
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
    x, y = _heat_map_axes(sw, names, per)
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
