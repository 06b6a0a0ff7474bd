"""The registry of operator kinds of the ``.npz`` problem format (:func:`register_operator`)."""

from __future__ import annotations

from ._operator_base import AbstractOperator
from .errors import InputError, InputTypeError


def register_operator(cls: type[AbstractOperator]) -> type[AbstractOperator]:
    """Class decorator: add ``cls.kind`` to the ``.npz`` format of :class:`Problem
    <spectralnn.Problem>` (``save`` writes it, ``load_problem`` reads it back through
    ``cls.from_npz``). ``cls.npz_keys`` names its arrays; re-registering a kind for another
    class raises."""
    where = "register_operator"
    if not (isinstance(cls, type) and issubclass(cls, AbstractOperator)):
        raise InputTypeError(
            f"The 'cls' parameter of {where} must be a subclass of AbstractOperator. "
            f"Got {cls!r} instead."
        )
    kind = cls.__dict__.get("kind")
    if not isinstance(kind, str) or not kind.isidentifier():
        raise InputError(
            f"The 'cls' parameter of {where} must set its own 'kind' (an identifier). "
            f"Got {kind!r} for {cls.__name__} instead."
        )
    keys = cls.npz_keys
    floats = keys if cls.float_keys is None else cls.float_keys
    if (
        not isinstance(keys, tuple)
        or not keys
        or not all(isinstance(k, str) and k.isidentifier() for k in keys)
        or len(set(keys)) != len(keys)
    ):
        raise InputError(
            f"The 'npz_keys' of {cls.__name__} ({where}) must be a non-empty tuple of distinct "
            f"identifiers. Got {keys!r} instead."
        )
    bad = [k for k in keys if k in _RESERVED or k.startswith("test_")]
    if bad or not set(floats) <= set(keys):
        raise InputError(
            f"The 'npz_keys' of {cls.__name__} ({where}) must avoid {sorted(_RESERVED)} and "
            f"the prefix 'test_', and contain its 'float_keys'. Got npz_keys={keys!r}, "
            f"float_keys={cls.float_keys!r} instead."
        )
    old = OPERATORS.get(kind)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise InputError(
            f"The 'kind' of {cls.__name__} ({where}) must be new. Got {kind!r}, "
            f"already the kind of {old.__module__}.{old.__qualname__}, instead."
        )
    OPERATORS[kind] = cls
    return cls


OPERATORS: dict[str, type[AbstractOperator]] = {}
"""The registered operator kinds (:func:`register_operator`), by ``kind``."""

_RESERVED = frozenset({"operator", "meta", "y", "X_true", "y_test"})
