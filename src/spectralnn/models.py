r"""Matrix parameterisations for sensing: each module's ``forward()`` returns ``X: (d1, d2)``.

* :class:`SNNFactorization` -- first inputs :math:`X_k^{(0)} = U_k V_k^\top`, then an :class:`SNN`.
* :class:`FreeMatrix` -- ``X`` itself (the paper's "linear regression").
* :class:`DeepFactorization` -- :math:`X = W_1 W_2 \cdots W_N`.
* :class:`Factorization` -- :math:`X = U V^\top`.

The models live in :mod:`spectralnn._snn_model` and :mod:`spectralnn._linear_models` (their
shared initialisation helpers in :mod:`spectralnn._model_init`) and are re-exported here.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ._linear_models import DeepFactorization, Factorization, FreeMatrix
from ._model_init import INITS
from ._model_init import _aligned_factors as _aligned_factors
from ._model_init import _check_common as _check_common
from ._model_init import _factor as _factor
from ._model_init import _generator as _generator
from ._model_init import _replicate as _replicate
from ._snn_model import SNNFactorization
from ._validation import (
    check_budget,
    check_choice,
    check_kwargs,
    check_shape,
    memory_limit,
    model_cost,
)
from .errors import InputError

__all__ = [
    "INITS",
    "MODELS",
    "DeepFactorization",
    "Factorization",
    "FreeMatrix",
    "SNNFactorization",
    "make_model",
]


MODELS = {
    "snn": SNNFactorization,
    "free": FreeMatrix,
    "deep": DeepFactorization,
    "factor": Factorization,
}
"""Short names used by the command line, configs and sweeps."""


def make_model(name: str, shape, *, max_bytes: float | None = None, **kwargs) -> nn.Module:
    """Build ``MODELS[name](shape, **kwargs)``.

    Keyword values that are ``None``, or that the chosen model does not take but another model
    does (``widths`` for ``"free"``, say), are left out, so one set of command-line options serves
    every model. Two exceptions: ``rank`` (a size) is refused by the models that have no inner
    dimension (``"deep"``, ``"free"``) rather than ignored, and a keyword that no model takes
    raises ``TypeError`` with the nearest valid name.

    Before anything is allocated, the model's estimated training memory (parameters, gradients,
    optimizer state, activations) is checked against ``max_bytes`` (default: the environment
    variable ``SPECTRALNN_MEMORY_LIMIT``, else half the physical memory; ``math.inf``: no
    check); a model too large raises InputError naming ``widths``, ``rank`` or ``depth``.

    Examples
    --------
    >>> import spectralnn as snn
    >>> snn.make_model("deep", (4, 4), depth=3).depth
    3
    """
    where = "make_model"
    check_choice(name, "model", where, MODELS)
    check_kwargs(kwargs, set().union(*map(_keywords, MODELS.values())), where)
    accepted = _keywords(MODELS[name])
    if kwargs.get("rank") is not None and "rank" not in accepted:
        raise InputError(
            f"The 'rank' parameter of {where} is not taken by the {name!r} model "
            f"(only 'snn' and 'factor' have an inner dimension). Got "
            f"rank={kwargs['rank']!r} instead; leave it out."
        )
    kwargs = {k: v for k, v in kwargs.items() if v is not None and k in accepted}
    _check_size(name, shape, kwargs, max_bytes)
    return MODELS[name](shape, **kwargs)


def _check_size(name: str, shape, kwargs: dict, max_bytes) -> None:
    """The budget check of :func:`make_model` on the size-bearing arguments (types first)."""
    where = "make_model"
    shape = check_shape(shape, where)
    opts: dict[str, Any] = {}
    if "widths" in kwargs:
        widths = kwargs["widths"]
        if (
            isinstance(widths, Sequence)
            and widths
            and all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths)
        ):
            opts["widths"] = tuple(widths)
    for key in ("rank", "depth", "runs"):
        v = kwargs.get(key)
        if isinstance(v, int) and not isinstance(v, bool) and v >= 1:
            opts[key] = v
    dtype = kwargs.get("dtype", torch.float64)
    itemsize = 4 if dtype == torch.float32 else 8
    limit = memory_limit(max_bytes, where)
    nbytes = model_cost(name, shape, opts, opts.get("runs", 1), itemsize)[0]
    if nbytes <= limit:
        return
    base = model_cost(name, shape, {}, 1, itemsize)[0]
    for key in ("widths", "rank", "depth", "runs"):  # blame the first that alone is too big
        if (
            key in opts
            and model_cost(
                name, shape, {key: opts[key]}, opts.get("runs", 1) if key == "runs" else 1, itemsize
            )[0]
            > limit
        ):
            check_budget(nbytes, key, opts[key], where, max_bytes)
    check_budget(max(nbytes, base), "shape", shape, where, max_bytes)


def _keywords(cls) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters) - {"self", "shape"}
