"""Boundary checks shared by the public entry points (one template for every message).

Every helper takes the argument's ``name`` and the public function it belongs to (``where``)
and raises :class:`~spectralnn.errors.InputError` (a ``ValueError``) for a bad value or
:class:`~spectralnn.errors.InputTypeError` (a ``TypeError``) for a wrong type, with the message
"The 'name' parameter of where must be <expected>. Got <received> instead."  Helpers return the
canonical value (a Python int, a float, a torch tensor), so internal code can assume it.

The checks live in three modules, re-exported here: :mod:`spectralnn._scalar_checks`
(numbers, choices, shapes, dtypes, keyword arguments), :mod:`spectralnn._array_checks` (numpy
or torch arrays) and :mod:`spectralnn._budget` (the memory and time limits, and the size
estimates checked against them).
"""

from __future__ import annotations

from ._array_checks import _to_torch, check_array, check_index_array, check_matrix
from ._budget import (
    _UNITS,
    DEFAULT_TIME_LIMIT,
    MEMORY_ENV,
    TIME_ENV,
    _parse_limit,
    check_budget,
    human_bytes,
    human_seconds,
    limit_is_explicit,
    memory_limit,
    model_cost,
    physical_memory,
    problem_bytes,
    time_limit,
    train_seconds,
)
from ._scalar_checks import (
    FLOAT_DTYPES,
    SEED_MAX,
    _is_int,
    _is_real,
    _short,
    check_bool,
    check_choice,
    check_dtype,
    check_int,
    check_kwargs,
    check_positive,
    check_real,
    check_seed,
    check_shape,
    did_you_mean,
)

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "FLOAT_DTYPES",
    "MEMORY_ENV",
    "SEED_MAX",
    "TIME_ENV",
    "_UNITS",
    "_is_int",
    "_is_real",
    "_parse_limit",
    "_short",
    "_to_torch",
    "check_array",
    "check_bool",
    "check_budget",
    "check_choice",
    "check_dtype",
    "check_index_array",
    "check_int",
    "check_kwargs",
    "check_matrix",
    "check_positive",
    "check_real",
    "check_seed",
    "check_shape",
    "did_you_mean",
    "human_bytes",
    "human_seconds",
    "limit_is_explicit",
    "memory_limit",
    "model_cost",
    "physical_memory",
    "problem_bytes",
    "time_limit",
    "train_seconds",
]
