"""The sweep config's schema: sections, keys and their types, defaults, what each model takes,
metrics and axis labels; and :class:`ConfigError` (re-exported by ``sweep.config``)."""

from __future__ import annotations

from .._defaults import (
    DEEP_DEPTH,
    FN,
    PROTOCOL_INIT,
    SWEEP_INIT_SCALE,
    SWEEP_LR,
    SWEEP_STEPS,
    SWEEP_TOL,
    SWEEP_WIDTHS,
)
from ..errors import InputError


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
    "model": {
        "widths": list(SWEEP_WIDTHS),
        "init": PROTOCOL_INIT,
        "init_scale": SWEEP_INIT_SCALE,
        "depth": DEEP_DEPTH,
        "fn": FN,
    },
    "train": {"lr": SWEEP_LR, "steps": SWEEP_STEPS, "tol": SWEEP_TOL, "optimizer": "gd"},
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
