"""The operator protocol: :class:`AbstractOperator`, the base of every measurement operator,
with the generic defaults of its methods (the protocol is described in
:mod:`spectralnn._operators`)."""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
import torch

from .errors import InputError, InputTypeError


def _same_dtype(where: str, **arrays: torch.Tensor) -> None:
    dtypes = {n: str(a.dtype).replace("torch.", "") for n, a in arrays.items()}
    if len(set(dtypes.values())) > 1:
        raise InputTypeError(
            f"The parameters {list(arrays)} of {where} must share one dtype. Got {dtypes} instead."
        )


def _check_input(op: AbstractOperator, X, name: str, where: str, last: tuple) -> None:
    """Why ``X`` (``(..., *last)``, the operator's dtype) was refused by ``op`` or
    ``op.adjoint``."""
    if not isinstance(X, torch.Tensor):
        raise InputTypeError(
            f"The {name!r} parameter of {where} must be a torch.Tensor. "
            f"Got {type(X).__name__} instead."
        )
    if tuple(X.shape[-len(last) :]) != last or X.ndim < len(last):
        dims = ", ".join(str(d) for d in last)
        raise InputError(
            f"The {name!r} parameter of {where} must have shape (..., {dims}). "
            f"Got shape {tuple(X.shape)} instead."
        )
    raise InputTypeError(
        f"The {name!r} parameter of {where} must have the operator's dtype "
        f"{str(op.dtype).replace('torch.', '')}. Got {str(X.dtype).replace('torch.', '')} instead."
    )


class AbstractOperator(abc.ABC):
    """A linear map from ``d1 x d2`` matrices to ``R^m``.

    Subclasses set ``kind`` and implement ``shape``, ``m``, ``_apply`` (``X -> A(X)``),
    ``_adjoint`` (``r -> A^*(r)``), ``arrays`` and ``to``; the public ``__call__`` and
    ``adjoint`` check the input's type, trailing shape and dtype first (no synchronisation).
    The other methods (module docstring) have generic defaults that a subclass overrides where
    its structure gives something exact or faster; :func:`register_operator` adds the kind to
    the ``.npz`` format.
    """

    kind: str

    npz_keys: tuple[str, ...] = ()
    """The names of the operator's arrays in a problem file, in the order :meth:`from_npz`'s
    default passes them to the constructor (a test set prefixes them with ``test_``)."""

    float_keys: tuple[str, ...] | None = None
    """Which of :attr:`npz_keys` hold real numbers (cast to float, checked finite on load);
    None: all of them. The others (indices, shapes) are only checked to be real."""

    center_by_default: bool = False
    """Whether the recipe centres the measurements by default (``normalize(center=None)``):
    True when they are entries of ``X`` (completion)."""

    exact_lp: bool = False
    """Whether :meth:`nuclear_lp` and :meth:`kkt_lp` exist: the minimum-nuclear-norm problem
    and its certificate are exact linear programs (Assumption 1)."""

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, int]: ...

    @property
    @abc.abstractmethod
    def m(self) -> int: ...

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """``(..., d1, d2) -> (..., m)``: :math:`\\langle A_i, X \\rangle`.

        ``X`` must have the operator's dtype (see :meth:`to`); a shape or dtype mismatch raises.
        """
        shape, dtype, _ = self._signature()
        if not isinstance(X, torch.Tensor) or X.shape[-2:] != shape or X.dtype is not dtype:
            _check_input(self, X, "X", f"{type(self).__name__}.__call__", self.shape)
        return self._apply(X)

    def adjoint(self, r: torch.Tensor) -> torch.Tensor:
        """``(..., m) -> (..., d1, d2)``: :math:`\\sum_i r_i A_i`."""
        _, dtype, m = self._signature()
        if not isinstance(r, torch.Tensor) or r.shape[-1:] != (m,) or r.dtype is not dtype:
            _check_input(self, r, "r", f"{type(self).__name__}.adjoint", (self.m,))
        return self._adjoint(r)

    def _signature(self) -> tuple[torch.Size, torch.dtype, int]:
        """``(shape, dtype, m)``, cached: operators are immutable (``to`` builds a new one)."""
        sig = self.__dict__.get("_sig")
        if sig is None:
            sig = self.__dict__["_sig"] = (torch.Size(self.shape), self.dtype, self.m)
        return sig

    @abc.abstractmethod
    def _apply(self, X: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def _adjoint(self, r: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays that define the operator (the ``.npz`` format)."""

    @abc.abstractmethod
    def to(self, *args, **kwargs) -> AbstractOperator: ...

    @property
    def dtype(self) -> torch.dtype:
        return torch.float64

    def dense(self) -> torch.Tensor:
        """All ``A_i`` as one ``(m, d1, d2)`` tensor (for small problems and solvers)."""
        eye = torch.eye(self.m, dtype=self.dtype, device=self._device())
        return self._adjoint(eye)

    def _device(self) -> torch.device:
        return next(v for v in vars(self).values() if isinstance(v, torch.Tensor)).device

    def __repr__(self) -> str:
        return f"{type(self).__name__}(m={self.m}, shape={self.shape})"

    # ------------------------------------------------------------------ the .npz format
    def npz_arrays(self) -> dict[str, np.ndarray]:
        """The arrays :meth:`Problem.save <spectralnn.Problem.save>` writes, keyed by
        :attr:`npz_keys` (default: :meth:`arrays`)."""
        return self.arrays()

    @classmethod
    def from_npz(
        cls, arrays: dict[str, np.ndarray], dtype: torch.dtype = torch.float64
    ) -> AbstractOperator:
        """The operator from the arrays of :meth:`npz_arrays` (read back from a file).

        ``dtype`` is the measurements' dtype, for operators whose arrays do not carry one
        (completion); the default passes the arrays of :attr:`npz_keys`, in order, to the
        constructor. Invalid arrays raise ``ValueError`` or ``TypeError``."""
        return cls(*(arrays[k] for k in cls.npz_keys))

    # ------------------------------------------------------------------ the factored engine
    def measure_low_rank(self, L: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
        """``self(L @ R^T)`` without forming ``L R^T`` where the structure allows it, with
        autograd through ``L`` and ``R`` (``L: (..., d1, k)``, ``R: (..., d2, k)`` ->
        ``(..., m)``): what ``fit(method="factored")`` needs. Not supported by default;
        ``self(L @ R.mT)`` is a correct (dense, ``O(d1 d2)`` memory) implementation."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement measure_low_rank (the factored path)."
        )

    def low_rank_unsupported(self) -> str | None:
        """Why the factored engine cannot use this operator (None when it can)."""
        if type(self).measure_low_rank is AbstractOperator.measure_low_rank:
            return (
                f"the operator {type(self).__name__} is not one the factored path can serve "
                "(it does not implement measure_low_rank)"
            )
        return None

    def measure_low_rank_outside(
        self, P: torch.Tensor, Q2: torch.Tensor, Q1: torch.Tensor, E12t: torch.Tensor
    ) -> torch.Tensor:
        """``self(P Q2^T + Q1 E12)`` where ``E12t (..., d2, r)`` is zero-valued (the factored
        objective's outside part), with exact derivatives for ``P`` and ``E12t``; ``Q1, Q2``
        are constants. Default: :meth:`measure_low_rank` of the stacked factors."""
        return self.measure_low_rank(torch.cat([P, Q1], -1), torch.cat([Q2, E12t], -1))

    def streaming_order(self) -> torch.Tensor | None:
        """A permutation of the measurements under which :meth:`measure_low_rank` of
        ``self.subset(order)`` is faster (the factored objective trains on it); None: as is."""
        return None

    # ------------------------------------------------------------------ the recipe
    def sq_norm_sum(self, seed: int = 0) -> float:
        """``sum_i ||A_i||_F^2``; default: the mean of ``||A(G)||^2`` over 8 Gaussian probes
        ``G`` (an unbiased estimate), drawn from ``seed``."""
        gen = torch.Generator().manual_seed(seed)
        probes = torch.randn(8, *self.shape, generator=gen, dtype=self.dtype)
        return float((self(probes) ** 2).sum(-1).mean())

    def curvature(self, iters: int = 30, seed: int = 0) -> float:
        """Largest eigenvalue of ``A^* A / m`` (the Hessian of ``1/(2m) ||A(X) - y||^2``);
        default: ``iters`` steps of power iteration from a Gaussian start drawn from ``seed``."""
        gen = torch.Generator().manual_seed(seed)
        v = torch.randn(*self.shape, generator=gen, dtype=self.dtype)
        lam = 0.0
        for _ in range(iters):
            v = v / torch.linalg.matrix_norm(v)
            w = self.adjoint(self(v))
            lam = float((w * v).sum())
            v = w
        return max(lam, 1e-300) / self.m

    def subset(self, idx: torch.Tensor) -> AbstractOperator | None:
        """The operator of the measurements ``idx`` (a 1-D index tensor), for held-out splits;
        None (the default) when the operator cannot be restricted."""
        return None

    def holdout(self, perm: torch.Tensor, n: int) -> torch.Tensor:
        """Up to ``n`` measurements to hold out, taken in the order of the permutation
        ``perm``, such that the rest still determine what they did; default ``perm[:n]``."""
        return perm[:n]

    # ------------------------------------------------------------------ theory
    def range_matrix(self) -> torch.Tensor:
        """A matrix ``(m, n)`` whose column space is the range of the operator (default: the
        ``(m, d1 d2)`` matrix of :meth:`dense`)."""
        return self.dense().reshape(self.m, -1)

    def is_onto(self) -> bool:
        """True when the operator is known to be onto ``R^m`` without computing a rank (then
        ``y`` is its own projection onto the range); False: unknown."""
        return False

    def min_norm_solution(self, y: torch.Tensor) -> torch.Tensor:
        """``A^+ y``, the minimum-Frobenius-norm least-squares solution, ``(d1, d2)``."""
        return (torch.linalg.pinv(self.dense().reshape(self.m, -1)) @ y).reshape(self.shape)

    def nuclear_lp(self, y_hat: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        """``min ||X||_*`` s.t. ``A(X) = y_hat`` as an exact LP (only where :attr:`exact_lp`):
        ``(X, info)`` with ``info`` keys ``status``, ``converged``, ``iterations``."""
        raise NotImplementedError(f"{type(self).__name__} has no exact nuclear-norm LP.")

    def kkt_lp(self, X: torch.Tensor, rank_tol: float, tol: float) -> tuple | None:
        """The KKT dual of ``X`` by an exact LP (only where :attr:`exact_lp`):
        ``(U, V, rank, nu, method, status)`` as in :mod:`spectralnn._kkt`, or None when ``X``
        does not have the structure the LP needs (the general dual is used then)."""
        return None
