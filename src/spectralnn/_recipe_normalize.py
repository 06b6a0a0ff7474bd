"""Normalisation, curvature and held-out splits of the sensing recipe (:mod:`spectralnn.recipe`)."""

from __future__ import annotations

import dataclasses
import math

import torch

from .sensing import Problem


@dataclasses.dataclass(frozen=True)
class Normalization:
    """``X_user = scale * X_normalised + offset``."""

    offset: float
    scale: float

    def inverse(self, X: torch.Tensor) -> torch.Tensor:
        return X * self.scale + self.offset


def _sq_norm_sum(op, seed: int = 0) -> float:
    """``sum_i ||A_i||_F^2`` (:meth:`~spectralnn.AbstractOperator.sq_norm_sum`: exact for
    completion/dense/rank-one, else 8 Gaussian probes drawn from ``seed``)."""
    return op.sq_norm_sum(seed)


def curvature(operator, iters: int = 30, seed: int = 0) -> float:
    """Largest eigenvalue of the loss Hessian ``A^* A / m``
    (:meth:`~spectralnn.AbstractOperator.curvature`: power iteration; exact for completion, the
    largest multiplicity of an observed entry over ``m``)."""
    return operator.curvature(iters, seed)


def normalize(problem: Problem, center: bool | None = None, seed: int = 0):
    """The normalised problem and its :class:`Normalization` (module docstring, step 1).

    ``center=None`` centres where the operator says so (``center_by_default``: completion
    problems only)."""
    op = problem.operator
    center = op.center_by_default if center is None else center
    offset = 0.0
    if center:
        ones = torch.ones(op.shape, dtype=op.dtype)
        a1 = op(ones)
        offset = float((a1 @ problem.y) / (a1 @ a1).clamp_min(1e-300))
    ones_y = op(torch.full(op.shape, offset, dtype=op.dtype))
    yc = problem.y - ones_y
    denom = _sq_norm_sum(op, seed)
    scale = math.sqrt(float((yc**2).sum()) * op.shape[0] * op.shape[1] / max(denom, 1e-300))
    if not scale > 0 or not math.isfinite(scale):
        scale = 1.0  # all observations equal the offset: the matrix is the constant
    norm = Normalization(offset, scale)

    def n(X):
        return None if X is None else (X - offset) / scale

    y_test = None
    if problem.test_operator is not None:
        assert problem.y_test is not None  # a Problem with a test operator has test data
        t1 = problem.test_operator(torch.full(op.shape, offset, dtype=op.dtype))
        y_test = (problem.y_test - t1) / scale
    return Problem(
        op, yc / scale, n(problem.X_true), problem.test_operator, y_test, dict(problem.meta)
    ), norm


def _subset(op, idx):
    """The operator of the measurements ``idx``, or None where it cannot be restricted."""
    return op.subset(idx)


def _validation_indices(op, fraction, gen) -> torch.Tensor | None:
    """Held-out indices: ``fraction`` of the observations, chosen by the operator's
    :meth:`~spectralnn.AbstractOperator.holdout` (completion: never a row's or column's last
    one); None when fewer than 5 would be held out or kept."""
    n_val = round(fraction * op.m)
    if n_val < 5 or op.m - n_val < 5:
        return None
    perm = torch.randperm(op.m, generator=gen)
    chosen = op.holdout(perm, n_val)
    return chosen if chosen.numel() >= 5 else None


def split(problem: Problem, fraction: float, seed: int = 0):
    """``(train, validation)`` problems, or ``(problem, None)`` when no split is possible."""
    gen = torch.Generator().manual_seed(seed)
    idx = _validation_indices(problem.operator, fraction, gen) if fraction > 0 else None
    val_op = None if idx is None else _subset(problem.operator, idx)
    if val_op is None:
        return problem, None
    keep = torch.ones(problem.m, dtype=torch.bool)
    keep[idx] = False
    train = Problem(
        _subset(problem.operator, keep.nonzero().squeeze(1)),
        problem.y[keep],
        problem.X_true,
        meta=dict(problem.meta),
    )
    return train, Problem(val_op, problem.y[idx])
