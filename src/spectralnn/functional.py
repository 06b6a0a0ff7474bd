r"""Functional core: spectral maps with an exact backward, and matrix metrics.

Depends on torch alone. Every Module in :mod:`spectralnn.nn` is a thin wrapper over
:func:`spectral_apply` or :func:`spectral_network`; their autograd Functions live in
``_spectral.py``.

Note [degenerate singular values]
---------------------------------
Autograd through ``torch.linalg.svd`` divides by ``s_i^2 - s_j^2`` and returns NaN (or finite but
wrong values) at repeated or zero singular values, although :math:`\Gamma_f` itself is smooth
there for smooth odd ``f``. The backward below uses the Frechet derivative of a generalised matrix
function (Noferini 2016), written with divided differences of ``f`` that have finite limits at
ties. Each divided difference switches to ``f'`` at the midpoint when the two nodes agree to
``eps**(1/3)`` relative: there both the truncation error of the midpoint rule and the
cancellation error of the quotient are about ``eps**(2/3)``.

Note [f(0) != 0]
----------------
For ``f`` with ``f(0) != 0`` (the paper's plain sigmoid) the map depends on the singular vectors
chosen for zero singular values, so it is discontinuous at rank-deficient inputs. We still
compute it (with a warning) from the thin SVD torch returns (docs/math.md section 2).
"""

from __future__ import annotations

import torch

from ._activations import ACTIVATIONS, Activation, get_activation, register_activation
from ._spectral import (  # noqa: F401  (_svd, CUDA_SVD_VIA_CPU: used by tests, benchmarks)
    CUDA_SVD_VIA_CPU,
    ROUTES,
    _spectral_apply,
    _spectral_network,
    _svd,
)
from ._validation import check_choice, check_matrix
from .errors import InputError

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "effective_rank",
    "nuclear_norm",
    "register_activation",
    "spectral_apply",
    "spectral_network",
]


def check_route(route, act: Activation, where: str) -> str:
    """``route`` checked against :data:`_spectral.ROUTES`; "gram" needs f(0) = 0."""
    check_choice(route, "route", where, ROUTES)
    if route == "gram" and not act.zero_at_zero:
        raise InputError(
            f"The 'route' parameter of {where}: 'gram' needs f(0) = 0, and the activation "
            f"{act.name!r} has f(0) != 0. Got route='gram' instead (use 'auto' or 'svd')."
        )
    return route


def spectral_network(
    X: torch.Tensor,
    alphas,
    fn: str | Activation | tuple = "tanh",
    *,
    route: str = "auto",
    check_finite: bool = True,
) -> torch.Tensor:
    r"""The layers of a spectral network, :math:`X^{(i+1)}_j = \sum_k \alpha^{(i)}_{kj}
    \Gamma_f(X^{(i)}_k)`, with one exact backward for all of them.

    :class:`spectralnn.SNN` (and :class:`~spectralnn.SNNLayer`, one layer) is this function
    with its ``alpha`` parameters. It equals composing :func:`spectral_apply` with
    ``einsum("...kj,...kab->...jab", alpha, .)`` layer by layer, values and gradients, but runs
    as one autograd node: one batched decomposition per layer forward, and a backward whose
    divided-difference weights are computed for all layers at once (Note [fused network] in
    ``_spectral.py``).

    Two exact routes compute the same map and gradient: the SVD of every input (any ``f``),
    and for ``f(0) = 0`` the *Gram route*, ``Gamma_f(X) = X h(X^T X)`` with
    ``h(s^2) = f(s)/s`` from one symmetric eigendecomposition (about half the SVD's cost;
    Note [Gram route]). They agree to about 1e-13 (tests/test_nn.py).

    Parameters
    ----------
    X : torch.Tensor, shape (..., K_0, d1, d2)
        Inputs of the first layer (tall or wide).
    alphas : sequence of torch.Tensor, shapes ([...,] K_i, K_{i+1})
        Mixing weights of layer ``i``; leading dimensions broadcast against those of ``X``
        (e.g. a runs dimension).
    fn : str or Activation or (f, df), default="tanh"
    route : {"auto", "gram", "svd"}, default="auto"
        "auto" takes the Gram route when ``f(0) = 0`` and the stacks are not tiny (where it
        measured faster; ``_spectral.GRAM_MIN_STACK``), else the SVD. "gram" needs f(0) = 0.
    check_finite : bool, default=True
        Raise on NaN/inf entries of ``X`` (one device synchronisation).

    Returns
    -------
    torch.Tensor, shape (..., K_D, d1, d2)

    Examples
    --------
    >>> import torch, spectralnn as snn
    >>> X = torch.randn(3, 2, 5, 4, dtype=torch.float64)
    >>> alphas = [torch.rand(2, 2, dtype=torch.float64), torch.rand(2, 1, dtype=torch.float64)]
    >>> snn.functional.spectral_network(X, alphas, "tanh").shape
    torch.Size([3, 1, 5, 4])
    """
    act = get_activation(fn)
    check_matrix(X, "X", "spectral_network", finite=check_finite)
    check_route(route, act, "spectral_network")
    alphas = list(alphas)
    k = X.shape[-3] if X.ndim >= 3 else None
    for i, alpha in enumerate(alphas):
        if not isinstance(alpha, torch.Tensor) or alpha.ndim < 2 or alpha.shape[-2] != k:
            got = tuple(alpha.shape) if isinstance(alpha, torch.Tensor) else type(alpha).__name__
            raise ValueError(
                f"The 'alphas' parameter of spectral_network must hold ([...,] K_in, K_out) "
                f"tensors chaining from X's K_0 = {k}; entry {i} should have K_in = {k}. "
                f"Got {got} instead."
            )
        k = alpha.shape[-1]
    return _spectral_network(X, alphas, act, route=route)


def spectral_apply(
    X: torch.Tensor, fn: str | Activation | tuple = "tanh", *, check_finite: bool = True
) -> torch.Tensor:
    r"""Apply a scalar function to the singular values of a (batch of) matrices.

    .. math::

        X = U \operatorname{diag}(s) V^\top \;\mapsto\;
        \Gamma_f(X) = U \operatorname{diag}(f(s)) V^\top

    The backward pass is the exact Frechet derivative, finite at repeated and zero singular
    values (see Note [degenerate singular values] in this module), at the cost of the SVD kept
    from the forward pass plus a few matrix products.

    Parameters
    ----------
    X : torch.Tensor, shape (..., d1, d2)
        Real floating matrices (float32 or float64, any device); tall or wide.
    fn : str or Activation or (f, df), default="tanh"
        A name in :data:`ACTIVATIONS`, an :class:`Activation`, or a pair of callables.
        ``f`` should satisfy ``f(0) = 0`` (odd-extendable) for the map to be well defined.
    check_finite : bool, default=True
        Raise on NaN/inf entries of ``X`` (one device synchronisation).

    Returns
    -------
    torch.Tensor, shape (..., d1, d2)

    Raises
    ------
    TypeError
        ``X`` not a tensor or not floating; ``fn`` of the wrong type.
    ValueError
        ``X`` with fewer than 2 dimensions or non-finite entries; unknown activation name.

    References
    ----------
    V. Noferini, "A formula for the Frechet derivative of a generalized matrix function",
    SIAM J. Matrix Anal. Appl. 38(2), 2017. arXiv:1609.03542.
    H. T. M. Chu, S. Ghosh, C. T. Lam, S. S. Mukherjee, "Implicit Regularization via Spectral
    Neural Networks and Non-linear Matrix Sensing", arXiv:2402.17595.

    Examples
    --------
    >>> import torch, spectralnn as snn
    >>> X = torch.diag(torch.tensor([2.0, 0.5], dtype=torch.float64))
    >>> snn.spectral_apply(X, "tanh").diagonal()
    tensor([0.9640, 0.4621], dtype=torch.float64)
    """
    act = get_activation(fn)
    check_matrix(X, "X", "spectral_apply", finite=check_finite)
    return _spectral_apply(X, act)


def nuclear_norm(X: torch.Tensor) -> torch.Tensor:
    """Sum of singular values, ``(..., d1, d2) -> (...)``.

    ``X`` must be a finite float32/float64 tensor with at least 2 dimensions (InputError /
    InputTypeError otherwise)."""
    return torch.linalg.svdvals(check_matrix(X, "X", "nuclear_norm")).sum(-1)


def effective_rank(X: torch.Tensor) -> torch.Tensor:
    r"""Roy & Vetterli's effective rank :math:`\exp(-\sum_j p_j \log p_j)`, ``p = s / \sum s``.

    ``(..., d1, d2) -> (...)``; 0 for the zero matrix. ``X`` must be a finite float32/float64
    tensor with at least 2 dimensions (InputError / InputTypeError otherwise).
    """
    return effective_rank_of(torch.linalg.svdvals(check_matrix(X, "X", "effective_rank")))


def effective_rank_of(s: torch.Tensor) -> torch.Tensor:
    """:func:`effective_rank` from the singular values ``s: (..., k)`` (any order, >= 0)."""
    total = s.sum(-1, keepdim=True)
    p = s / torch.where(total > 0, total, torch.ones_like(total))
    ent = -(torch.where(p > 0, p * torch.log(p), torch.zeros_like(p))).sum(-1)
    return torch.where(total.squeeze(-1) > 0, torch.exp(ent), torch.zeros_like(ent))
