"""Plain GD, heavy-ball momentum and Adam with one learning rate per run.

Every parameter may carry a leading runs dimension ``R``; ``lr`` is a ``(R,)`` tensor (a run
whose rate is 0 is frozen: a diverged or finished run). Without a runs dimension ``R = 1``.
The updates follow ``torch.optim.SGD`` (momentum 0.9, no dampening) and ``torch.optim.Adam``
(betas 0.9, 0.999, eps 1e-8, bias correction); each is elementwise, so runs never mix.
"""

from __future__ import annotations

import torch


class Optimizer:
    def __init__(self, name: str, params: list[torch.Tensor], lr: torch.Tensor, batched: bool):
        self.name, self.params, self.batched = name, params, batched
        self.lr = lr.clone()
        self._neg_lr: list[torch.Tensor] | None = None  # cached -lr views per parameter (gd)
        self.t = 0
        self.state: list[list[torch.Tensor]] = [[] for _ in params]
        if name in ("momentum", "adam"):
            self.state = [[torch.zeros_like(p)] for p in params]
        if name == "adam":
            for st, p in zip(self.state, params):
                st.append(torch.zeros_like(p))

    def _view(self, vec: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        if not self.batched:
            return vec.reshape(())  # R = 1
        return vec.reshape(-1, *([1] * (p.ndim - 1)))

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor]) -> None:
        self.t += 1
        if self.name == "gd":  # the hot path: one fused call, p <- p - lr * g
            if self._neg_lr is None:
                self._neg_lr = [self._view(-self.lr, p) for p in self.params]
            torch._foreach_addcmul_(self.params, self._neg_lr, grads)
            return
        for p, g, st in zip(self.params, grads, self.state):
            lr = self._view(self.lr, p)
            if self.name == "momentum":
                st[0].mul_(0.9).add_(g)
                p.sub_(lr * st[0])
            else:
                st[0].mul_(0.9).add_(g, alpha=0.1)
                st[1].mul_(0.999).addcmul_(g, g, value=0.001)
                m_hat = st[0] / (1 - 0.9**self.t)
                v_hat = st[1] / (1 - 0.999**self.t)
                p.sub_(lr * m_hat / (v_hat.sqrt() + 1e-8))

    def scale(self, factor: float) -> None:
        """Multiply every run's learning rate by ``factor`` from the next step on."""
        self.lr = self.lr * factor
        self._neg_lr = None

    def freeze(self, run: int) -> None:
        self.lr[run] = 0.0
        self._neg_lr = None

    def state_dict(self) -> dict:
        return {"lr": self.lr, "t": self.t, "state": self.state}

    @torch.no_grad()
    def reset_run(self, run: int) -> None:
        """Zero the optimizer state of one run (a diverged run put back at its start)."""
        for st in self.state:
            for buf in st:
                buf[run] = 0.0

    def set_lr(self, run: int, lr: float) -> None:
        self.lr[run] = lr
        self._neg_lr = None

    def load_state_dict(self, state: dict) -> None:
        self.lr, self.t = state["lr"], state["t"]
        self._neg_lr = None
        for mine, saved in zip(self.state, state["state"]):
            for a, b in zip(mine, saved):
                a.copy_(b)
