"""Parsing and checking of single config values: scalar / list / range specs, types, ranges
and choices (the per-key checks of ``sweep.config``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._validation import did_you_mean
from ._config_schema import MODEL_NAMES, ConfigError


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
