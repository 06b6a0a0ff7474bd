"""The objective protocol behind :func:`spectralnn.fit`, and the choice among its implementations.

An objective owns one way of computing the training loss of a model and its exact gradients:

* ``full`` (``_full.py``): autograd through the model itself, ``forward() -> X`` (for an
  SNNFactorization the same chain by hand, without the autograd engine);
* ``reduced`` (``_reduced.py``): the coordinatewise system of docs/math.md section 4;
* ``factored`` (``_factored.py``): the SNN on small cores, docs/math.md section 7.

The training loop (``train._train``) only talks to this interface::

    obj.method               # "full" | "reduced" | "factored"
    obj.module               # nn.Module whose state is checkpointed
    obj.params               # tensors the optimizer updates (leading runs dim when batched)
    obj.evaluate(need_grad)  # -> per-run losses, shape (R,) ((1,) without runs)
    obj.grads(active)        # -> one gradient per param, of the losses of the active runs
    obj.record(i, grad_norm) # -> history metrics of run i at the last evaluate
    obj.matrix(i)            # -> dense X of run i at the last evaluate (snapshots)
    obj.finish(model)        # -> (X, factors) after training; writes the state into ``model``
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from ._validation import check_choice
from .errors import warn_user

METHODS = ("auto", "full", "reduced", "factored")


class Objective(Protocol):
    method: str
    module: nn.Module
    params: list[torch.Tensor]

    def evaluate(self, need_grad: bool) -> torch.Tensor: ...

    def grads(self, active: list[bool]) -> list[torch.Tensor]: ...

    def record(self, i: int, grad_norm: float | None) -> dict: ...

    def matrix(self, i: int) -> torch.Tensor: ...

    def finish(self, model: nn.Module) -> tuple[torch.Tensor | None, tuple | None]: ...


def make_objective(method: str, model: nn.Module, problem, optimizer: str) -> Objective:
    """The objective for ``method``; ``"auto"`` picks reduced, then factored, else full.

    ``auto`` trusts the reduced form only after checking that the model's ``U, V`` still have it
    in the stored spectral basis (a model whose factors were rotated or overwritten falls back,
    with a warning, to the next method).
    """
    from ._factored import FactoredObjective, factored_faster, factored_unsupported
    from ._full import FullObjective, SNNFullObjective
    from ._reduced import ReducedFitObjective, reduced_unsupported
    from .models import SNNFactorization

    def full():
        if isinstance(model, SNNFactorization):
            return SNNFullObjective(model, problem)
        return FullObjective(model, problem)

    check_choice(method, "method", "fit", METHODS)
    if method == "full":
        return full()
    if method == "reduced":
        why = reduced_unsupported(model, problem, optimizer)
        if why is not None:
            raise ValueError(
                f"The 'method' parameter of fit: method='reduced' does not apply: {why}."
            )
        return ReducedFitObjective(model, problem)
    if method == "factored":
        why = factored_unsupported(model, problem)
        if why is not None:
            raise ValueError(
                f"The 'method' parameter of fit: method='factored' does not apply: {why}."
            )
        return FactoredObjective(model, problem)
    why = reduced_unsupported(model, problem, optimizer)
    if why is None:
        return ReducedFitObjective(model, problem)
    if why.startswith("the model's U, V"):
        warn_user(
            UserWarning(
                f"method='auto' does not use the reduced dynamics: {why}; training the "
                "full model instead."
            )
        )
    if factored_unsupported(model, problem) is None and factored_faster(model, problem):
        return FactoredObjective(model, problem)
    return full()
