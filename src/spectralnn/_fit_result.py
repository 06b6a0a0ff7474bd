"""What a fit returns: its :class:`Status` and :class:`FitResult` (re-exported by ``train``)."""

from __future__ import annotations

import dataclasses
import enum

import torch

__all__ = ["FitResult", "Status"]


class Status(str, enum.Enum):
    """Outcome of :func:`fit`; compares equal to its string value."""

    CONVERGED = "converged"
    MAX_STEPS = "max_steps"
    DIVERGED = "diverged"

    @property
    def message(self) -> str:
        return {
            "converged": "train loss reached the tolerance",
            "max_steps": "ran all steps without reaching the tolerance; raise steps or lr",
            "diverged": "loss became non-finite (or blew up); lower lr or use float64",
        }[self.value]

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What :func:`fit` returns.

    ``history`` is a list of records, one per recorded step, each with ``step, train_loss,
    test_loss, rel_error, nuclear_norm, singular_values, erank, grad_norm, time``.
    ``method`` is the objective that trained it. A factored fit also returns
    ``factors = (L, R)`` with ``X = L R^T``; its ``X`` is None above
    ``_factored.DENSE_X_LIMIT`` entries (the dense matrix is never formed).
    """

    X: torch.Tensor | None
    history: list
    lr: float
    status: Status
    diverged_at: int | None
    steps: int
    wall_time: float
    method: str = "full"
    snapshots: dict = dataclasses.field(default_factory=dict)  # step -> X, see snapshot_steps
    factors: tuple | None = None  # factored fits: (L, R) with X = L R^T

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}

    def column(self, key: str) -> list:
        return [rec.get(key) for rec in self.history]
