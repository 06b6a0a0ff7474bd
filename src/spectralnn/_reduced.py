r"""Exact reduced dynamics of an SNN under Assumptions 1-2 (docs/math.md section 4).

With aligned measurements :math:`A_i = \Phi \operatorname{diag}(s_i) \Psi^\top`, the spectral
initialisation :math:`U_k = \Phi \operatorname{diag}(\bar u_k) G`,
:math:`V_k = \Psi \operatorname{diag}(\bar v_k) G` and an odd activation, every matrix of the
network stays :math:`\Phi \operatorname{diag}(\cdot) \Psi^\top`: the network acts coordinatewise
on the diagonal with the same alphas, and gradient descent on ``(U, V, alpha)`` equals gradient
descent on ``(ubar, vbar, alpha)`` step for step (``grad_U = Phi diag(grad_ubar) G``). The cost
per step drops from O(m d1 d2 + L d^3) to O(m r + L r).
"""

from __future__ import annotations

import torch
from torch import nn

from ._history import record_from
from ._operators import AlignedOperator


def _is_odd(act, dtype=torch.float64) -> bool:
    s = torch.linspace(0.0, 3.0, 31, dtype=dtype)
    return act.zero_at_zero and bool(torch.allclose(act.f(-s), -act.f(s), atol=1e-12))


def reduced_unsupported(model, problem, optimizer: str = "gd") -> str | None:
    """Why the reduced dynamics do not apply (None when they do)."""
    from .models import SNNFactorization

    if not isinstance(model, SNNFactorization):
        return f"the model is a {type(model).__name__}, not an SNNFactorization"
    if model.init != "spectral" or model.spectral_basis is None:
        return "the model was not built with init='spectral'"
    if not isinstance(problem.operator, AlignedOperator):
        return f"the operator is a {type(problem.operator).__name__}, not an AlignedOperator"
    Phi, Psi, _ = model.spectral_basis
    op = problem.operator
    if (
        Phi.shape != op.Phi.shape
        or not torch.allclose(Phi, op.Phi.to(Phi))
        or not torch.allclose(Psi, op.Psi.to(Psi))
    ):
        return "the model's spectral basis is not the problem's (Phi, Psi)"
    resid = spectral_form_residual(model)
    if resid > (1e-5 if model.U.dtype == torch.float32 else 1e-10):
        return (
            f"the model's U, V no longer have the spectral form Phi diag(ubar) G of its "
            f"stored basis (relative residual {resid:.1e})"
        )
    if not _is_odd(model.snn.act):
        return f"the activation {model.snn.act.name!r} is not odd"
    if optimizer not in ("gd", "momentum"):
        return f"optimizer {optimizer!r} is not linear in the gradient (use 'gd' or 'momentum')"
    return None


@torch.no_grad()
def spectral_form_residual(model) -> float:
    """``max(||U - Phi diag(ubar) G|| / ||U||, same for V)`` with ``ubar`` read off ``U`` in the
    model's stored basis: 0 (to rounding) while ``U, V`` keep the form of Assumption 2."""
    Phi, Psi, G = model.spectral_basis
    worst = 0.0
    for F, B in ((model.U, Phi), (model.V, Psi)):
        F = F.detach()
        coef = ((F @ G.mT) * B).sum(-2)  # ([R,] L0, r)
        recon = (B * coef.unsqueeze(-2)) @ G
        norm = torch.linalg.vector_norm(F).item()
        err = torch.linalg.vector_norm(F - recon).item()
        worst = max(worst, err / norm if norm > 0 else err)
    return worst


class ReducedSNN(nn.Module):
    """Coordinatewise SNN: ``x0 = ubar * vbar`` (L0, r), then layers ``x' = alpha^T f(x)``.

    Parameters may carry a leading runs dimension. ``forward() -> x: ([runs,] r)``, the diagonal
    of ``Phi^T X Psi``. :meth:`loss_and_grads` differentiates by hand (no autograd graph): the
    system is a few small tensors, so per-op overhead is what costs.
    """

    def __init__(self, model):
        super().__init__()
        Phi, Psi, G = model.spectral_basis
        # ubar_k = diag(Phi^T U_k G^T): exact for U_k = Phi diag(ubar_k) G.
        self.ubar = nn.Parameter(((model.U.detach() @ G.mT) * Phi).sum(-2))  # ([R,] L0, r)
        self.vbar = nn.Parameter(((model.V.detach() @ G.mT) * Psi).sum(-2))  # ([R,] L0, r)
        self.alphas = nn.ParameterList(
            nn.Parameter(layer.alpha.detach().clone()) for layer in model.snn.layers
        )
        self.act = model.snn.act

    def forward(self) -> torch.Tensor:
        x = self.ubar * self.vbar  # (..., L0, r)
        for alpha in self.alphas:
            x = alpha.mT @ self.act.f(x)  # (..., K_out, r)
        return x.squeeze(-2)

    @torch.no_grad()
    def loss_and_grads(self, S, y, need_grad: bool = True):
        """Loss ``1/(2m) ||S x - y||^2`` per run, and the gradients of every parameter."""
        f, df = self.act.f, self.act.df
        alphas = list(self.alphas)  # plain list: ParameterList indexing is slow in a hot loop
        xs, fxs = [self.ubar * self.vbar], []
        for alpha in alphas:
            fxs.append(f(xs[-1]))
            xs.append(alpha.mT @ fxs[-1])
        x = xs[-1].squeeze(-2)  # (..., r)
        res = x @ S.mT - y  # (..., m)
        loss = 0.5 * (res * res).mean(-1)
        if not need_grad:
            return x, loss, None
        g = ((res @ S) / S.shape[0]).unsqueeze(-2)  # dL/dx (..., 1, r)
        g_alphas = [None] * len(alphas)
        for i in range(len(alphas) - 1, -1, -1):
            g_alphas[i] = fxs[i] @ g.mT  # (..., K, J)
            g = (alphas[i] @ g) * df(xs[i])  # (..., K, r)
        return x, loss, [g * self.vbar, g * self.ubar, *g_alphas]

    @torch.no_grad()
    def write_back(self, model) -> None:
        """Set the full model's parameters to the state these reduced ones represent."""
        Phi, Psi, G = model.spectral_basis
        model.U.copy_((Phi * self.ubar.unsqueeze(-2)) @ G)
        model.V.copy_((Psi * self.vbar.unsqueeze(-2)) @ G)
        for layer, alpha in zip(model.snn.layers, self.alphas):
            layer.alpha.copy_(alpha)


class ReducedObjective:
    """Loss and metrics of a reduced run in O(m r): never forms ``X`` until asked."""

    def __init__(self, problem):
        op = problem.operator
        self.op, self.y = op, problem.y
        self.test = (
            problem.test_operator if isinstance(problem.test_operator, AlignedOperator) else None
        )
        self.y_test = problem.y_test
        if self.test is not None and not (
            torch.equal(self.test.Phi, op.Phi) and torch.equal(self.test.Psi, op.Psi)
        ):
            self.test = None
        self.xt = self.off2 = None
        if problem.X_true is not None:
            self.xt = op.coordinates(problem.X_true)
            total = torch.linalg.matrix_norm(problem.X_true) ** 2
            self.off2 = (total - (self.xt**2).sum()).clamp_min(0)
            self.norm_true = total.sqrt()
        self.k = min(op.shape)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((x @ self.op.S.mT - self.y) ** 2).mean(-1)

    def coordinate_record(self, x: torch.Tensor, grad_norm=None) -> dict:
        x = x.detach()
        s = x.abs().sort(descending=True).values
        return record_from(
            s,
            self.loss(x).item(),
            test_loss=(0.5 * ((x @ self.test.S.mT - self.y_test) ** 2).mean()).item()
            if self.test is not None
            else None,
            rel_error=(((x - self.xt) ** 2).sum() + self.off2).sqrt().item() / self.norm_true.item()
            if self.xt is not None
            else None,
            grad_norm=grad_norm,
            pad_to=self.k,
        )

    def coordinate_matrix(self, x: torch.Tensor) -> torch.Tensor:
        return self.op.embed(x.detach())


class ReducedFitObjective(ReducedObjective):
    """The reduced system as a training objective (the protocol of ``_objective.py``)."""

    method = "reduced"

    def __init__(self, model, problem):
        super().__init__(problem)
        self.module = ReducedSNN(model)
        self.params = list(self.module.parameters())
        self.batched = getattr(model, "runs", None) is not None
        self._x = self._grads = None

    def evaluate(self, need_grad: bool) -> torch.Tensor:
        self._x, losses, self._grads = self.module.loss_and_grads(self.op.S, self.y, need_grad)
        return losses.reshape(-1)

    def grads(self, active: list[bool]) -> list[torch.Tensor]:
        return self._grads

    def _coords(self, i: int) -> torch.Tensor:
        return self._x[i] if self.batched else self._x

    def matrix(self, i: int) -> torch.Tensor:
        return self.coordinate_matrix(self._coords(i))

    def record(self, i: int, grad_norm) -> dict:
        return self.coordinate_record(self._coords(i), grad_norm)

    def finish(self, model):
        self.module.write_back(model)
        with torch.no_grad():
            return self.coordinate_matrix(self.module()), None
