"""The one builder of a training-history record (docs/design.md, "History records").

The three engines (full, reduced, factored) compute the ingredients their own way (an SVD of
``X``, the sorted ``|x|`` of the reduced coordinates, the SVD of the factored core) and all hand
them to :func:`record_from`, so every history has the same keys in the same order.
"""

from __future__ import annotations

import torch

from .functional import effective_rank_of


def record_from(
    s: torch.Tensor,
    train_loss: float,
    test_loss: float | None = None,
    rel_error: float | None = None,
    grad_norm: float | None = None,
    pad_to: int = 0,
) -> dict:
    """One history record from the singular values ``s`` (descending) and the losses.

    ``singular_values`` is ``s`` padded with zeros up to ``pad_to`` entries (the engines that
    see only the nonzero part pass ``min(d1, d2)``); ``nuclear_norm`` and ``erank`` come from
    the unpadded ``s``. ``grad_norm`` is stored only when given.
    """
    rec = {
        "train_loss": train_loss,
        "test_loss": test_loss,
        "rel_error": rel_error,
        "nuclear_norm": s.sum().item(),
        "singular_values": s.tolist() + [0.0] * max(pad_to - s.numel(), 0),
        "erank": effective_rank_of(s).item(),
    }
    if grad_norm is not None:
        rec["grad_norm"] = grad_norm
    return rec
