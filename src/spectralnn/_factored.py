r"""The factored SNN (docs/math.md section 7): an SNN on ``r x r'`` cores, never ``d1 x d2``.

With ``U_k (d1, p)``, ``V_k (d2, p)`` and ``f(0) = 0``, every matrix of the network has its
column space in ``span[U_1..U_L0]`` and its row space in ``span[V_1..V_L0]``. One orthonormal
basis per step (rank-revealing where the stack is rank-deficient), ``Q1 (d1, r)`` of
``S_U = [U_1 .. U_L0]`` and ``Q2 (d2, r')`` of ``S_V`` (``r, r' <= L0 p``; identical blocks, as
in identity-like inits, give smaller ranks and no jitter is needed), turns the network into one
on cores,

.. math:: \Gamma_f(Q_1 C Q_2^\top) = Q_1 \Gamma_f(C) Q_2^\top,
          \qquad C_k^{(0)} = (Q_1^\top U_k)(Q_2^\top V_k)^\top,

and the loss needs ``X = Q_1 C Q_2^\top`` only through the operator.

Exact gradients
---------------
Autograd through the cores alone, with the basis held fixed, is *not* the gradient: it misses
the directions in which ``U_k`` leaves ``span(Q1)`` (for ``f(s) = s`` it returns
``Q1 Q1^T G V`` instead of ``G V``). We therefore carry the first-order outside parts too, as in
docs/math.md sec. 7: ``E21`` (``d1 x r'``, column space outside ``Q1``) and ``E12^T`` (``d2 x r``)
with ``X = Q1 C Q2^T + E21 Q2^T + Q1 E12``. Their values are exactly 0 (they are built from
``U - U.detach()``), so the forward values are untouched, but their derivatives are the true
ones: at a zero singular value the Frechet derivative of :math:`\Gamma_f` acts on a one-sided
outside block as ``D_L = P h(C C^T)`` on the left, ``D_R = h(C^T C)`` on the right, with
``h(s^2) = f(s)/s`` (``f'(0)`` at 0), and never mixes the blocks; the doubly-outside block never
reaches ``dL/dU_k = (dL/dX_k^{(0)}) V_k``. So autograd through ``(C, E21, E12)`` returns the
exact gradient of the full model (tests/test_factored.py checks it against the full path to
1e-10 and by finite differences).

The cores run through the fused network on the Gram route (``_spectral.py``, Note [Gram
route]): its eigendecompositions ``C^T C = W diag(lam) W^T`` give ``D_R = W diag(h) W^T`` and
``D_L`` for free, and the first layer's (rank-p inputs) come from ``p x p`` problems.

Cost per step: the two bases ``O((d1 + d2)(L0 p)^2)``, the cores ``O(K r^3)``, the outside
parts ``O(K (d1 + d2) r^2)``, and the loss: completion ``O(m r)`` (chunked gathers), rank-one
``O(m (d1 + d2) r)``, aligned ``O((d1 + d2) r r_A + m r_A)``, dense ``O(m d1 d2)`` (it forms
``X``). Memory ``O((d1 + d2) K r + chunk r)``; the dense ``d1 x d2`` matrix is formed only for
dense operators, for snapshots, and for ``FitResult.X`` up to :data:`DENSE_X_LIMIT` entries.

A low-rank truth: a :class:`~spectralnn.Problem` too large for a dense ``X_true`` may carry
``problem.X_true_factors = (A, B)`` with ``X* = A B^T``; ``rel_error`` then uses it.

The linear algebra of the bases, the first layer's Gram matrices and the outside parts is in
:mod:`spectralnn._factored_linalg`.
"""

from __future__ import annotations

import torch

from ._factored_linalg import FULL_RANK_GAP as FULL_RANK_GAP
from ._factored_linalg import _basis, _first_gram, _Outside, _side_factors, _transfers
from ._history import record_from
from ._spectral import _spectral_network

DENSE_X_LIMIT = 2**25
"""``FitResult.X`` of a factored fit is dense up to this many entries (else None; use
``FitResult.factors``)."""


def _rank_of(model) -> int:
    return model.U.shape[-1]


def factored_unsupported(model, problem) -> str | None:
    """Why ``method="factored"`` does not apply (None when it does)."""
    from .models import SNNFactorization

    if not isinstance(model, SNNFactorization):
        return f"the model is a {type(model).__name__}, not an SNNFactorization"
    if not model.snn.act.zero_at_zero:
        return (
            f"the activation {model.snn.act.name!r} has f(0) != 0, so the network does not "
            "keep the factors' spans"
        )
    why = problem.operator.low_rank_unsupported()
    if why is not None:
        return why
    p, L0 = _rank_of(model), model.snn.widths[0]
    limit = min(model.shape)
    if L0 * p >= limit:
        return (
            f"the 'rank' p={p} of the model gives L0 * p = {L0} * {p} = {L0 * p} stacked "
            f"columns, not below min(d1, d2) = {limit}; use p < {-(-limit // L0)} "
            "(or method='full')"
        )
    return None


def factored_faster(model, problem) -> bool:
    """``method="auto"``: the factored path where it was measured to be faster.

    Measured in one process (1 thread, float64, completion at 50% and rank-one, widths (1,) and
    (2, 2)): at d = 24-48 the factored path is 0.1-1.0x the full one (its fixed per-step work
    dominates), at d = 96 with ``L0 p <= d / 4`` it is 1.0-1.7x, and from there it grows like
    ``(d / r)^3`` (512 x 512, widths (4, 8, 16), p = 32: 18-22x, both paths on the Gram route;
    ``benchmarks/results_cpu_scale.txt``). So: ``min(d1, d2) >= 96`` and
    ``4 L0 p <= min(d1, d2)``.
    """
    p, L0 = _rank_of(model), model.snn.widths[0]
    k = min(model.shape)
    return k >= 96 and 4 * L0 * p <= k


def measure_with_outside(op, P, Q2, Q1, E12t) -> torch.Tensor:
    """``op(P Q2^T + Q1 E12)`` for a zero-valued ``E12t`` (the factored objective's outside
    part), with exact derivatives for ``P`` and ``E12t``
    (:meth:`~spectralnn.AbstractOperator.measure_low_rank_outside`)."""
    return op.measure_low_rank_outside(P, Q2, Q1, E12t)


def measure(op, L: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """``op(L R^T)`` without forming ``L R^T`` where the operator's structure allows it
    (:meth:`~spectralnn.AbstractOperator.measure_low_rank`).

    ``L: (..., d1, k)``, ``R: (..., d2, k)`` -> ``(..., m)``."""
    return op.measure_low_rank(L, R)


def _network(model, alphas, act, need_grad: bool):
    """Bases, output core and (with ``need_grad``) the zero-valued outside parts of an
    SNNFactorization: ``(Q1, Q2, C, E21, E12t)`` (module docstring)."""
    U, V = model.U, model.V  # ([R,] L0, d1, p), ([R,] L0, d2, p)
    with torch.no_grad():
        Q1 = _basis(U.detach().movedim(-3, -2).flatten(-2))  # ([R,] d1, r)
        Q2 = _basis(V.detach().movedim(-3, -2).flatten(-2))  # ([R,] d2, r')
    Q1t, Q2t = Q1.mT.unsqueeze(-3), Q2.mT.unsqueeze(-3)
    Uc, Vc = Q1t @ U, Q2t @ V  # ([R,] L0, r, p), ([R,] L0, r', p)
    C = Uc @ Vc.mT  # ([R,] L0, r, r')
    lead, wide = C.shape[:-3], C.shape[-2] < C.shape[-1]
    rec: list[tuple[torch.Tensor, ...]] = []  # the layers' Gram decompositions, for D_L, D_R
    first = None
    if Uc.shape[-1] < min(C.shape[-2:]):  # the first layer's Gram matrices have rank <= p
        with torch.no_grad():
            F, H = (Uc, Vc) if wide else (Vc, Uc)
            first = _first_gram(F, H.mT @ H)
    C = _spectral_network(
        C, alphas, act, squeeze=True, route="gram", record=rec if need_grad else None, first=first
    )
    E21 = E12t = None
    if need_grad:  # zero-valued outside parts that carry the exact derivatives
        sides = []
        for layer in rec:
            lam, W, XW, h = (t.view(*lead, -1, *t.shape[1:]) for t in layer)
            sides.append(_side_factors(lam, W, XW, h, act, wide))
        T, S = _transfers(sides, [a.detach() for a in alphas])
        E21, E12t = _Outside.apply(U, V, Q1, Q2, Uc.detach(), Vc.detach(), T, S)
    return Q1, Q2, C, E21, E12t


def factored_matrix(model) -> torch.Tensor | None:
    """``model()`` of an SNNFactorization computed on its cores, ``(Q1 C) Q2^T``, without any
    d1 x d2 spectral map (None where the factored path does not apply: another model, f(0) != 0,
    or ``L0 p >= min(d1, d2)``). Equal to ``model()`` to roundoff; no gradient."""
    from .models import SNNFactorization

    if not isinstance(model, SNNFactorization) or not model.snn.act.zero_at_zero:
        return None
    if model.snn.widths[0] * _rank_of(model) >= min(model.shape):
        return None
    with torch.no_grad():
        alphas = [layer.alpha for layer in model.snn.layers]
        Q1, Q2, C, _, _ = _network(model, alphas, model.snn.act, need_grad=False)
        return (Q1 @ C) @ Q2.mT


class FactoredObjective:
    """:class:`~spectralnn.SNNFactorization` trained on cores; see the module docstring."""

    method = "factored"

    def __init__(self, model, problem):
        self.model = self.module = model
        self.problem = problem
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.act = model.snn.act
        self.alphas = [layer.alpha for layer in model.snn.layers]
        self.batched = getattr(model, "runs", None) is not None
        self.k = min(model.shape)
        self.truth = None
        fac = getattr(problem, "X_true_factors", None)
        if fac is not None:
            A, B = (torch.as_tensor(t).to(problem.y) for t in fac)
            self.truth = ("factors", A, B, ((A.mT @ A) * (B.mT @ B)).sum().clamp_min(0))
        elif problem.X_true is not None:
            X = problem.X_true
            self.truth = ("dense", X, None, (X * X).sum())
        self._Q1 = self._Q2 = self._C = self._losses = None
        # The operator and measurements the gradient steps use: in the operator's streaming
        # order where it has one (completion: row-sorted entries), the same loss.
        self.op, self.y = problem.operator, problem.y
        order = self.op.streaming_order()
        sorted_op = None if order is None else self.op.subset(order)
        if sorted_op is not None:
            self.op, self.y = sorted_op, problem.y[order]

    def _network(self, need_grad: bool):
        return _network(self.model, self.alphas, self.act, need_grad)

    def evaluate(self, need_grad: bool) -> torch.Tensor:
        for p in self.params:
            p.grad = None
        with torch.set_grad_enabled(need_grad):
            Q1, Q2, C, E21, E12t = self._network(need_grad)
            if need_grad:  # X = (Q1 C + E21) Q2^T + Q1 E12
                pred = measure_with_outside(self.op, Q1 @ C + E21, Q2, Q1, E12t)
                res = pred - self.y
            else:
                res = measure(self.problem.operator, Q1 @ C, Q2) - self.problem.y
            losses = 0.5 * (res * res).mean(-1)
        self._Q1, self._Q2, self._C = Q1, Q2, C.detach()
        self._losses = losses.reshape(-1)
        return self._losses.detach()

    def grads(self, active: list[bool]) -> list[torch.Tensor]:
        losses = self._losses
        total = losses.sum() if all(active) else losses[torch.tensor(active)].sum()
        total.backward()
        self._losses = self._losses.detach()
        return [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]

    # ------------------------------------------------------------------ metrics
    def factors(self, i: int):
        """``(Q1, Q2, C, loss)`` of run ``i``: its matrix is ``Q1 C Q2^T``."""
        if self.batched:
            return self._Q1[i], self._Q2[i], self._C[i], self._losses[i]
        return self._Q1, self._Q2, self._C, self._losses[0]

    def matrix(self, i: int) -> torch.Tensor:
        Q1, Q2, C, _ = self.factors(i)
        return (Q1 @ C) @ Q2.mT

    def record(self, i: int, grad_norm) -> dict:
        """The metrics of ``metrics.record`` from the core: ``X = Q1 C Q2^T`` has the
        singular values of ``C`` (padded with zeros to ``min(d1, d2)``)."""
        Q1, Q2, C, loss = self.factors(i)
        s = torch.linalg.svdvals(C)
        pb = self.problem
        test_loss = rel_error = None
        if pb.test_operator is not None:
            with torch.no_grad():
                res = measure(pb.test_operator, Q1 @ C, Q2) - pb.y_test
            test_loss = (0.5 * (res * res).mean()).item()
        if self.truth is not None:
            kind, A, B, norm2 = self.truth
            # ||X - X*||^2 = ||C - M||^2 + ||X*||^2 - ||M||^2 with M = Q1^T X* Q2 (the part of
            # X* inside the spans; the rest is X*'s energy outside them).
            M = (Q1.mT @ A) @ (Q2.mT @ B).mT if kind == "factors" else Q1.mT @ A @ Q2
            err2 = ((C - M) ** 2).sum() + (norm2 - (M * M).sum()).clamp_min(0)
            rel_error = (err2.sqrt() / norm2.sqrt()).item()
        return record_from(s, loss.item(), test_loss, rel_error, grad_norm, pad_to=self.k)

    def finish(self, model):
        with torch.no_grad():
            Q1, Q2, C, _, _ = self._network(need_grad=False)
            L = Q1 @ C
            d1, d2 = model.shape
            X = L @ Q2.mT if d1 * d2 <= DENSE_X_LIMIT else None
        return X, (L, Q2)
