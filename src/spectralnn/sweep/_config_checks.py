"""Cross-checks of a sweep config: shapes against ranks, a dry construction of every model, and
the budget (cell count, per-cell memory and time) before any cell is built."""

from __future__ import annotations

import math

from ._config_schema import ConfigError


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


def _check_cell_count(names, per: dict, seeds) -> None:
    counts = {name: math.prod(len(v) for v in per[name].values()) * len(seeds) for name in names}
    total = sum(counts.values())
    if total > MAX_CELLS:
        swept = sorted({k for name in names for k, v in per[name].items() if len(v) > 1})
        raise ConfigError(
            f"the grid has {total:,} cells ({', '.join(swept + ['seeds'])} "
            f"multiplied), more than {MAX_CELLS:,}; sweep fewer values (or "
            "set SPECTRALNN_MEMORY_LIMIT=none / --no-size-check)"
        )


def _over(key, value, nbytes, limit) -> None:
    from .._validation import human_bytes

    if nbytes > limit:
        raise ConfigError(
            f"{key}: {value!r} needs about {human_bytes(nbytes)} of memory "
            f"per cell (estimate), more than the limit of "
            f"{human_bytes(limit)}; use smaller values (or set "
            "SPECTRALNN_MEMORY_LIMIT / --no-size-check)"
        )


def _check_problem_memory(ax: dict, limit) -> None:
    """Memory of every problem of one model's grid (the operator and the measurements)."""
    import itertools

    from .._validation import problem_bytes

    for kind, shape, rank in itertools.product(
        ax["problem.kind"], ax["problem.shape"], ax["problem.rank"]
    ):
        _over("problem.shape", shape, problem_bytes(kind, shape, 1, 1, rank), limit)
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
            _over(key, m, problem_bytes(kind, shape, m, m, rank), limit)


def _check_model_cost(name: str, ax: dict, limit) -> None:
    """Memory per model setting, and the time of the most steps, for one trained model."""
    import itertools

    from .._validation import human_seconds, model_cost, time_limit, train_seconds

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
                _over(f"model.{k}", v, model_cost(name, shape, {k: v}, runs)[0], limit)
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


def _check_budget(names, per: dict, seeds, max_bytes) -> None:
    """Cell count and per-cell memory of every model's grid, before any cell is built: a
    ConfigError names the key and the estimate (``max_bytes=math.inf`` skips the check)."""
    from .._validation import memory_limit

    limit = memory_limit(max_bytes, "the sweep config")
    if limit == math.inf:
        return
    _check_cell_count(names, per, seeds)
    for name in names:
        _check_problem_memory(per[name], limit)
        if name == "convex":
            continue
        _check_model_cost(name, per[name], limit)
