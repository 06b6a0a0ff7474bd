r"""Grids of runs (phase-transition studies) on one machine or a Ray cluster.

Modules: :mod:`~spectralnn.sweep.config` (grammar and validation), :mod:`~.cells` (expansion
per model, execution), :mod:`~.backends` (the process pool shared with ``reproduce``, Ray) and
:mod:`~.results` (CSV, aggregation, summary, plots).

Config grammar (TOML; every key is optional unless marked)::

    [sweep]
    name = "phase-transition"       # used in plot titles
    seeds = [0, 1, 2]               # or: repetitions = 3  (seeds 0, 1, 2)
    recovery_tol = 0.1              # a cell "recovers" when rel_error <= recovery_tol
    metrics = ["rel_error", "train_loss", "nuclear_norm"]   # kept per cell
    select = "train_loss"           # best lr per seed by train loss (default), by
                                    # "test_loss" (held-out), or "all" (pool every lr)
    x = "measurements_per_dr"       # heat-map axes: numeric parameters swept for every model
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
    widths = [1]                    # each model takes only its own options (see MODEL_KEYS)
    init_scale = 1e-3
    depth = 3

    [model.deep]                    # per-model settings and axes override [model] / [train]
    init_scale = 0.1
    lr = [0.05, 0.01]

    [train]
    lr = [0.1, 0.05]                # rates of one cell train together in one batched run
    steps = 3000
    tol = 1e-10

A value may be a scalar, a list (swept), ``{range = [a, b], step = s}`` (inclusive),
``{linspace = [a, b, n]}`` or ``{geomspace = [a, b, n]}``. Axes are per model: the convex
baseline is solved once per problem and seed, not once per learning rate. Every value of every
axis is validated for every model before any cell runs (unknown keys, types, ranges, choices,
ranks that exceed the shape, a dry construction of each model); a bad config raises
:class:`ConfigError` naming the key. Recovery is reported per (model, y, x) after choosing, for
each seed, the learning rate with the lowest ``select`` loss, with n and 95% Wilson intervals.
"""

from .backends import run_pool, run_ray
from .cells import cell_id, expand, group_cells, make_cell_problem, run_cell_group
from .config import MODEL_KEYS, MODEL_NAMES, ConfigError, SweepConfig, load_config, parse_config
from .results import (
    best_per_seed,
    format_summary,
    read_results,
    run_sweep,
    summarise,
    table,
    wilson,
)

__all__ = [
    "MODEL_KEYS",
    "MODEL_NAMES",
    "ConfigError",
    "SweepConfig",
    "best_per_seed",
    "cell_id",
    "expand",
    "format_summary",
    "group_cells",
    "load_config",
    "make_cell_problem",
    "parse_config",
    "read_results",
    "run_cell_group",
    "run_pool",
    "run_ray",
    "run_sweep",
    "summarise",
    "table",
    "wilson",
]
