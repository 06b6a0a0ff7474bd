"""The completion recipe's defaults, sizes and small helpers (:mod:`spectralnn._complete`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._defaults import (
    COMPLETION_LR_FACTOR,
    DEEP_DEPTH,
    DEEP_INIT_SCALE,
    FACTOR_INIT_SCALE,
    FN,
    SNN_COMPLETION_INIT,
    SNN_INIT_SCALE,
    SNN_WIDTHS,
)
from ._race import one_thread_up_to
from .errors import InputError

TABLE_COLUMNS = 200
"""``column_scale="auto"`` tries per-column units on matrices with at most this many columns."""

UNITS_SPAN = 100.0
"""``column_scale="auto"`` without held-out entries to compare the two ways: column units when
the columns' spreads span more than this factor (different units: wine's from 0.1 to 300),
else one scale (a 12 x 10 rank-1 matrix with 84 entries: 0.0001 relative error with one scale,
0.69 in its columns' own units, each estimated from 4-10 entries)."""

AVERAGE_BELOW = 150_000
"""``folds="auto"``: three averaged parts below this many observed entries, one from there on
(averaging gained 0.002 RMSE on MovieLens-100k, 80k ratings, at 3x the time; a 2000 x 2000
rank-10 matrix with 200k entries trains 2000 steps per part)."""

FLOAT32_ENTRIES = 20_000
"""From this many observed entries on, the SNN trains in float32 (``dtype=None``)."""

DENSE_LIMIT = 2**25
"""The dense completed matrix ``X`` is formed up to this many entries (else ``X`` is None)."""

# The completion recipe's per-model defaults; the values live in ``_defaults.py``.
SNN_DEFAULTS = {
    "widths": SNN_WIDTHS,
    "fn": FN,
    "init": SNN_COMPLETION_INIT,
    "init_scale": SNN_INIT_SCALE,
    "lr_factor": COMPLETION_LR_FACTOR["snn"],
}
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "snn": SNN_DEFAULTS,
    "deep": {
        "depth": DEEP_DEPTH,
        "init_scale": DEEP_INIT_SCALE,
        "lr_factor": COMPLETION_LR_FACTOR["deep"],
    },
    "factor": {"init_scale": FACTOR_INIT_SCALE, "lr_factor": COMPLETION_LR_FACTOR["factor"]},
    "free": {"lr_factor": COMPLETION_LR_FACTOR["free"]},
}


def _one_thread(shape):
    """One intra-op thread up to 2^22 entries (restored on exit): measured on 2 busy cores, a
    MovieLens step took 15 ms with 1 thread and 300 ms with 2 (OpenMP threads spinning)."""
    return one_thread_up_to(shape, 2**22)


def _observed(M, where):
    arr = (
        M.detach().cpu().to(torch.float64).numpy()
        if isinstance(M, torch.Tensor)
        else np.array(M, dtype=np.float64)
    )
    if arr.ndim != 2 or 0 in arr.shape:
        raise InputError(
            f"The 'M' parameter of {where} must be a non-empty 2-D matrix. Got "
            f"shape {arr.shape} instead."
        )
    obs = ~np.isnan(arr)
    if not obs.any():
        raise InputError(f"The 'M' parameter of {where} has no observed entry (all NaN).")
    if not np.isfinite(arr[obs]).all():
        raise InputError(
            f"The 'M' parameter of {where} must hold finite numbers or NaN. Got inf instead."
        )
    rows, cols = np.nonzero(obs)
    return rows, cols, arr[rows, cols]


def _model_kwargs(model, shape, m, widths, fn, rank, depth, init, init_scale, seed, dtype):
    kw = {"seed": seed, "dtype": dtype, "init_scale": init_scale}
    if model == "snn":
        widths = tuple(SNN_DEFAULTS["widths"] if widths is None else widths)
        if rank is None:
            rank = default_rank(shape, m, widths[0])
        kw.update(
            widths=widths,
            fn=SNN_DEFAULTS["fn"] if fn is None else fn,
            rank=rank,
            init=init,  # None: chosen in _Context.run by the number of parts
        )
    elif model == "deep":
        kw["depth"] = MODEL_DEFAULTS["deep"]["depth"] if depth is None else depth
    elif model == "factor":
        kw["rank"] = rank
    return {k: v for k, v in kw.items() if v is not None}


STEP_BUDGET = 16e6
"""Multiply-adds a factored step may cost, ``m L0 p + (d1 + d2) (L0 p)^2`` (10-15 ms here)."""


def default_rank(shape, m: int, L0: int) -> int:
    """The largest factor rank ``p`` of 32, 16, 8, ... (and at most ``min(d) / (2 L0)``) whose
    factored step stays within :data:`STEP_BUDGET`.

    Measured: MovieLens-100k u1 (72k training entries; p = 16 by this rule) test RMSE 0.937 /
    0.939 / 0.946 at p = 16 / 8 / 4, and p = 32 twice the time for 0.001; 256 x 256 photos
    (p = 32) +0.1-0.4 dB over p = 16; 2000 x 2000 with 200k entries gets p = 8 (true rank 10).
    """
    d1, d2 = shape
    cap = max(1, min(shape) // (2 * L0))
    for p in (32, 16, 8, 4, 2, 1):
        r = L0 * p
        if p <= cap and m * r + (d1 + d2) * r * r <= STEP_BUDGET:
            return p
    return 1
