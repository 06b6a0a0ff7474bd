"""Scalar activations for spectral maps: the registry of (f, f') pairs."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import torch

from ._validation import did_you_mean
from .errors import warn_user

TensorFn = Callable[[torch.Tensor], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class Activation:
    r"""A scalar function ``f`` with its derivative ``df``, applied to singular values.

    Parameters
    ----------
    name : str
        Registry name, shown in ``repr`` and in saved results.
    f : callable
        Elementwise map, ``(...,) -> (...,)``; must accept negative arguments.
    df : callable
        Its derivative, elementwise.
    zero_at_zero : bool, default=True
        Whether ``f(0) == 0``. When false, :math:`\Gamma_f` is discontinuous at every
        rank-deficient matrix (see Note [f(0) != 0] in ``functional.py``) and a warning is
        raised on use.
    """

    name: str
    f: TensorFn
    df: TensorFn
    zero_at_zero: bool = True

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"

    def __reduce__(self):
        # A registered activation pickles as its registry name and is looked up again on load
        # (so one registered with lambdas, which cannot be pickled, still round-trips where the
        # loading process registered it too); any other pickles field by field.
        for key, act in ACTIVATIONS.items():
            if act is self:
                return (_registered, (key,))
        return (Activation, (self.name, self.f, self.df, self.zero_at_zero))


# Every registered f and df is a module-level function (or a functools.partial of one), so an
# Activation -- and a model or estimator holding one -- pickles by reference (a lambda does not).


def _soft_threshold_f(s: torch.Tensor, lam: float) -> torch.Tensor:
    return torch.sign(s) * torch.clamp(s.abs() - lam, min=0.0)


def _soft_threshold_df(s: torch.Tensor, lam: float) -> torch.Tensor:
    return (s.abs() > lam).to(s.dtype)


def _soft_threshold(lam: float) -> Activation:
    return Activation(
        f"soft_threshold({lam:g})",
        functools.partial(_soft_threshold_f, lam=lam),
        functools.partial(_soft_threshold_df, lam=lam),
    )


def _clamp_f(s: torch.Tensor, c: float) -> torch.Tensor:
    return torch.clamp(s, -c, c)


def _clamp_df(s: torch.Tensor, c: float) -> torch.Tensor:
    return (s.abs() < c).to(s.dtype)


def _clamp(c: float) -> Activation:
    return Activation(
        f"clamp({c:g})", functools.partial(_clamp_f, c=c), functools.partial(_clamp_df, c=c)
    )


def _tanh_df(s: torch.Tensor) -> torch.Tensor:
    # sech^2 = cosh^-2 rather than 1 - tanh^2: no cancellation for large s, two ops instead of 3.
    return torch.cosh(s).pow(-2)


def _softsign(s: torch.Tensor) -> torch.Tensor:
    return s / (1 + s.abs())


def _softsign_df(s: torch.Tensor) -> torch.Tensor:
    return 1 / (1 + s.abs()) ** 2


def _sigmoid_centered(s: torch.Tensor) -> torch.Tensor:
    # sigmoid(s) - 1/2 written as tanh(s/2)/2: no cancellation near 0, where f(s)/s matters.
    return 0.5 * torch.tanh(0.5 * s)


def _sigmoid_df(s: torch.Tensor) -> torch.Tensor:
    sg = torch.sigmoid(s)
    return sg * (1 - sg)


def _identity(s: torch.Tensor) -> torch.Tensor:
    return s


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation("tanh", torch.tanh, _tanh_df),
    "sin": Activation("sin", torch.sin, torch.cos),
    "softsign": Activation("softsign", _softsign, _softsign_df),
    "sigmoid_centered": Activation("sigmoid_centered", _sigmoid_centered, _sigmoid_df),
    "soft_threshold": _soft_threshold(0.1),
    "clamp": _clamp(1.0),
    "identity": Activation("identity", _identity, torch.ones_like),
    "sigmoid": Activation("sigmoid", torch.sigmoid, _sigmoid_df, zero_at_zero=False),
}
"""Name -> :class:`Activation`. Extend with :func:`register_activation`."""


def register_activation(
    name: str, f: TensorFn, df: TensorFn, *, zero_at_zero: bool = True, overwrite: bool = False
) -> Activation:
    """Add ``(f, df)`` to :data:`ACTIVATIONS` under ``name`` and return the entry.

    Examples
    --------
    >>> import torch, spectralnn as snn
    >>> act = snn.register_activation("rational", lambda s: s / (1 + s * s),
    ...                               lambda s: (1 - s * s) / (1 + s * s) ** 2, overwrite=True)
    >>> act.name
    'rational'
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"The 'name' parameter must be a non-empty str. Got {name!r} instead.")
    if not callable(f) or not callable(df):
        raise TypeError(
            f"The 'f' and 'df' parameters must be callables. Got {type(f).__name__} and "
            f"{type(df).__name__} instead."
        )
    if name in ACTIVATIONS and not overwrite:
        raise ValueError(
            f"An activation named {name!r} is already registered; "
            "pass overwrite=True to replace it."
        )
    act = Activation(name, f, df, zero_at_zero)
    ACTIVATIONS[name] = act
    return act


def get_activation(
    fn: str | Activation | tuple[TensorFn, TensorFn], *, warn: bool = True
) -> Activation:
    """Turn a registry name, an :class:`Activation` or an ``(f, df)`` pair into an Activation."""
    if isinstance(fn, Activation):
        act = fn
    elif isinstance(fn, str):
        if fn not in ACTIVATIONS:
            raise ValueError(
                f"The 'fn' parameter must be one of {sorted(ACTIVATIONS)}. Got {fn!r} instead."
                + did_you_mean(fn, ACTIVATIONS)
            )
        act = ACTIVATIONS[fn]
    elif isinstance(fn, tuple) and len(fn) == 2 and all(callable(g) for g in fn):
        act = Activation(getattr(fn[0], "__name__", "custom"), fn[0], fn[1])
    else:
        raise TypeError(
            "The 'fn' parameter must be an activation name, an Activation or an (f, df) pair of "
            f"callables. Got {type(fn).__name__} ({fn!r}) instead."
        )
    if warn and not act.zero_at_zero:
        warn_user(
            UserWarning(
                f"Activation {act.name!r} has f(0) != 0: the spectral map is discontinuous "
                "at every rank-deficient matrix (it depends on the choice of null-space "
                "singular vectors). "
                "Prefer an odd activation such as 'tanh' or 'sigmoid_centered'."
            )
        )
    return act


def _registered(name: str) -> Activation:
    """The registered activation ``name`` (how a pickled registered :class:`Activation` loads)."""
    if name not in ACTIVATIONS:
        raise LookupError(
            f"Cannot unpickle Activation({name!r}): no activation of that name is registered in "
            "this process. Call spectralnn.register_activation with the same name before loading."
        )
    return ACTIVATIONS[name]
