r"""SNN modules: thin ``nn.Module`` wrappers over :func:`spectralnn.functional.spectral_apply`
and :func:`spectralnn.functional.spectral_network`.

Shapes follow docs/math.md section 3: a block maps ``K`` matrices to one, a layer ``K_in`` to
``K_out``, and all matrices are ``d1 x d2`` with any leading batch dimensions.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from ._activations import Activation, get_activation
from ._validation import check_choice, check_int
from .functional import _spectral_apply, _spectral_network, check_route

__all__ = ["SNN", "SNNBlock", "SNNLayer", "SpectralActivation"]

ALPHA_INITS = ("uniform", "ones")


def _init_alpha(shape, alpha_init: str, generator, dtype) -> torch.Tensor:
    check_choice(alpha_init, "alpha_init", "SNN modules", ALPHA_INITS)
    if alpha_init == "ones":
        return torch.ones(shape, dtype=dtype)
    return torch.rand(shape, generator=generator, dtype=dtype)  # the paper: alpha ~ U(0, 1)


def _check_stack(X: torch.Tensor, K: int, where: str) -> None:
    if not isinstance(X, torch.Tensor) or X.ndim < 3 or X.shape[-3] != K:
        shape = tuple(X.shape) if isinstance(X, torch.Tensor) else type(X).__name__
        raise ValueError(
            f"The input of {where} must have shape (..., {K}, d1, d2). Got {shape} instead."
        )


class SpectralActivation(nn.Module):
    r"""Module form of :func:`~spectralnn.spectral_apply`: ``(..., d1, d2) -> (..., d1, d2)``."""

    def __init__(self, fn: str | Activation | tuple = "tanh"):
        super().__init__()
        self.act = get_activation(fn)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return _spectral_apply(X, self.act)

    def extra_repr(self) -> str:
        return f"fn={self.act.name!r}"


class SNNLayer(nn.Module):
    r"""``K_in`` matrices to ``K_out``: :math:`X'_j = \sum_k \alpha_{kj} \Gamma_f(X_k)`.

    Parameters
    ----------
    in_matrices, out_matrices : int
        ``K_in`` and ``K_out``.
    fn : str or Activation or (f, df), default="tanh"
    alpha_init : {"uniform", "ones"}, default="uniform"
        ``alpha ~ U(0, 1)`` as in the paper, or all ones.
    generator : torch.Generator, optional
    dtype : torch.dtype, default=torch.float32
    runs : int, optional
        Independent copies trained at once (see :func:`spectralnn.train.fit_runs`): ``alpha``
        gets a leading ``runs`` dimension (all copies start equal) and the input must be
        ``(runs, K_in, d1, d2)``.

    Shapes: ``(..., K_in, d1, d2) -> (..., K_out, d1, d2)``; ``alpha``: ``([runs,] K_in, K_out)``.
    """

    def __init__(
        self,
        in_matrices: int,
        out_matrices: int,
        fn="tanh",
        *,
        alpha_init: str = "uniform",
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        runs: int | None = None,
    ):
        super().__init__()
        self.in_matrices = check_int(in_matrices, "in_matrices", type(self).__name__)
        self.out_matrices = check_int(out_matrices, "out_matrices", type(self).__name__)
        self.act = get_activation(fn)
        alpha = _init_alpha((in_matrices, out_matrices), alpha_init, generator, dtype)
        if runs is not None:
            alpha = alpha.expand(check_int(runs, "runs", type(self).__name__), -1, -1).clone()
        self.alpha = nn.Parameter(alpha)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        _check_stack(X, self.in_matrices, type(self).__name__)
        return _spectral_network(X, (self.alpha,), self.act)  # (..., K_out, d1, d2)

    def extra_repr(self) -> str:
        return f"{self.in_matrices} -> {self.out_matrices}, fn={self.act.name!r}"


class SNNBlock(SNNLayer):
    r"""One SNN block, :math:`B(X_1, \dots, X_K) = \sum_k \alpha_k \Gamma_f(X_k)`.

    Shapes: ``(..., K, d1, d2) -> (..., d1, d2)``; ``alpha``: ``(K, 1)``.
    """

    def __init__(self, in_matrices: int, fn="tanh", **kwargs):
        super().__init__(in_matrices, 1, fn, **kwargs)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        _check_stack(X, self.in_matrices, type(self).__name__)
        return _spectral_network(X, (self.alpha,), self.act, squeeze=True)

    def extra_repr(self) -> str:
        return f"{self.in_matrices} -> 1, fn={self.act.name!r}"


class SNN(nn.Module):
    r"""Depth-D spectral network with widths ``(L_0, ..., L_{D-1})`` and one output block.

    Layer ``i`` maps ``L_{i-1}`` matrices to ``L_i`` (with ``L_D = 1``), so ``widths=(2, 2, 2, 2)``
    is the paper's ``2 -> 2 -> 2 -> 2 -> 1``.

    Shapes: ``(..., L_0, d1, d2) -> (..., d1, d2)``.

    The attribute ``route`` (``"auto"``, ``"gram"`` or ``"svd"``; default ``"auto"``) chooses
    how the spectral maps are computed; every route gives the same values and exact gradients
    (:func:`spectralnn.functional.spectral_network`).

    Examples
    --------
    >>> import torch, spectralnn as snn
    >>> net = snn.SNN((2, 2, 2, 2), "tanh", generator=torch.Generator().manual_seed(0))
    >>> net(torch.randn(5, 2, 4, 3)).shape
    torch.Size([5, 4, 3])
    """

    def __init__(
        self,
        widths: Sequence[int],
        fn="tanh",
        *,
        alpha_init: str = "uniform",
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        runs: int | None = None,
    ):
        super().__init__()
        widths = tuple(widths) if isinstance(widths, (list, tuple)) else widths
        if not isinstance(widths, tuple) or not widths:
            raise ValueError(
                f"The 'widths' parameter of SNN must be a non-empty sequence of positive ints. "
                f"Got {widths!r} instead."
            )
        for w in widths:
            check_int(w, "widths", "SNN")
        self.widths = widths
        self._route = "auto"
        sizes = (*widths, 1)
        self.layers = nn.ModuleList(
            SNNLayer(a, b, fn, alpha_init=alpha_init, generator=generator, dtype=dtype, runs=runs)
            for a, b in itertools.pairwise(sizes)
        )

    @property
    def act(self) -> Activation:
        return cast(SNNLayer, self.layers[0]).act

    @property
    def route(self) -> str:
        return self._route

    @route.setter
    def route(self, value: str) -> None:
        self._route = check_route(value, self.act, type(self).__name__)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        _check_stack(X, self.widths[0], type(self).__name__)
        # One fused autograd node for all layers (Note [fused network] in _spectral.py).
        alphas = [layer.alpha for layer in self.layers]
        return _spectral_network(X, alphas, self.act, squeeze=True, route=self.route)

    def extra_repr(self) -> str:
        return f"widths={self.widths}, fn={self.act.name!r}"
