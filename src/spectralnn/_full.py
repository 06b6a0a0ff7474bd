"""The full objective: autograd through the model itself (any model, any operator), and its
hand-written form for :class:`~spectralnn.SNNFactorization` (no autograd graph at all)."""

from __future__ import annotations

import torch

from ._spectral import _spectral_network_parts
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


class SNNFullObjective(FullObjective):
    r"""The full objective of an :class:`~spectralnn.SNNFactorization`, by hand.

    The same values and gradients as :class:`FullObjective` (tests/test_full_objective.py
    checks them to 1e-12), without the autograd engine: at the paper's 10 x 10 sizes a step is a
    few hundred small tensor operations, and the engine's graph building, node dispatch and
    gradient accumulation were a quarter of it (benchmarks/small.py). The chain is short:
    inputs ``X_k = U_k V_k^T``, the fused network (``_spectral.py``, whose backward is called
    directly), ``X``, and the loss ``1/(2m) ||A(X) - y||^2`` with ``dL/dX = A^*(r) / m``; then
    ``dL/dU_k = G_k V_k``, ``dL/dV_k = G_k^T U_k``.
    """

    def __init__(self, model, problem):
        super().__init__(model, problem)
        self._net = self._res = None
        self._U, self._V = model.U, model.V
        self._alphas = [layer.alpha for layer in model.snn.layers]
        self._act = model.snn.act
        self._op, self._y = problem.operator, problem.y
        op = self._op
        if op.shape != tuple(model.shape) or op.dtype != model.U.dtype:
            op(model.U.new_zeros(model.shape))  # raises the operator's own error

    def evaluate(self, need_grad: bool) -> torch.Tensor:
        with torch.no_grad():  # parameters are used as plain tensors: no graph is built
            X, self._net = _spectral_network_parts(
                self._U @ self._V.mT, self._alphas, self._act, need_grad, self.module.snn.route
            )
            self._res = self._op._apply(X) - self._y  # shape and dtype checked in __init__
            self._out = X
            self._losses = (0.5 * (self._res * self._res).mean(-1)).reshape(-1)
        return self._losses

    def grads(self, active: list[bool]) -> list[torch.Tensor]:
        with torch.no_grad():
            res = self._res
            if not all(active):
                res = res * torch.tensor(active, dtype=res.dtype, device=res.device)[:, None]
            G = self._op._adjoint(res) / self._op.m  # dL/dX: ([R,] d1, d2)
            gX, g_alphas = self._net(G)  # ([R,] L0, d1, d2), one per layer
            self._net = None  # spent, as an autograd graph would be
            found = {id(self._U): gX @ self._V, id(self._V): gX.mT @ self._U}
            found.update(zip(map(id, self._alphas), g_alphas))
        return [found[id(p)] for p in self.params]
