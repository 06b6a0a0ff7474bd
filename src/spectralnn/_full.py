"""The full objective: autograd through the model itself (any model, any operator)."""

from __future__ import annotations

import torch

from .metrics import record


class FullObjective:
    """Train ``model`` (``forward() -> X: ([R,] d1, d2)``) with autograd; see ``_objective.py``."""

    method = "full"

    def __init__(self, model, problem):
        self.module, self.problem = model, problem
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.batched = getattr(model, "runs", None) is not None
        self._out = self._losses = None

    def evaluate(self, need_grad: bool) -> torch.Tensor:
        for p in self.params:
            p.grad = None
        with torch.set_grad_enabled(need_grad):
            self._out = self.module()
            self._losses = self.problem.loss(self._out).reshape(-1)
        return self._losses.detach()

    def grads(self, active: list[bool]) -> list[torch.Tensor]:
        losses = self._losses
        total = losses.sum() if all(active) else losses[torch.tensor(active)].sum()
        total.backward()
        self._losses = self._losses.detach()  # the graph is spent
        return [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]

    def matrix(self, i: int) -> torch.Tensor:
        return (self._out[i] if self.batched else self._out).detach()

    def record(self, i: int, grad_norm: float | None) -> dict:
        return record(self.matrix(i), self.problem, grad_norm)

    def finish(self, model):
        with torch.no_grad():
            return model().detach(), None
