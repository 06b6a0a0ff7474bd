"""Initialisation helpers shared by the models of :mod:`spectralnn.models`: seeded generators,
factor initialisations, run replication and the common argument checks."""

from __future__ import annotations

import torch

from ._validation import check_dtype, check_int, check_seed, check_shape
from .errors import InputError

INITS = ("identity", "gaussian", "orthogonal", "spectral")


def _generator(seed: int | None) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(0 if seed is None else int(seed))
    return g


def _factor(rows: int, cols: int, init: str, scale: float, gen, dtype) -> torch.Tensor:
    """A (rows, cols) factor: c*I (rectangular), c*N(0,1)/sqrt(cols) or c*orthonormal."""
    if init == "identity":
        return scale * torch.eye(rows, cols, dtype=dtype)
    if init == "gaussian":
        return scale * torch.randn(rows, cols, generator=gen, dtype=dtype) / cols**0.5
    Z = torch.randn(max(rows, cols), min(rows, cols), generator=gen, dtype=dtype)
    Q = torch.linalg.qr(Z).Q
    return scale * (Q if rows >= cols else Q.mT)


def _replicate(t: torch.Tensor, runs: int | None) -> torch.Tensor:
    """``runs`` identical copies along a new leading dimension (None: unchanged)."""
    return t if runs is None else t.expand(runs, *t.shape).clone()


def _check_common(where: str, shape, seed, dtype, runs):
    """The arguments every model takes: ``(shape, seed, dtype, runs)`` in canonical form."""
    return (
        check_shape(shape, where),
        check_seed(seed, where),
        check_dtype(dtype, where),
        None if runs is None else check_int(runs, "runs", where),
    )


def _aligned_factors(problem, where: str):
    op = getattr(problem, "operator", problem)
    Phi, Psi = getattr(op, "Phi", None), getattr(op, "Psi", None)
    if Phi is None or Psi is None:
        raise InputError(
            f"init='spectral' in {where} needs an aligned problem (AlignedOperator with Phi, Psi; "
            f"Assumption 1). Got problem={type(problem).__name__} with operator "
            f"{type(op).__name__} instead."
        )
    return Phi, Psi
