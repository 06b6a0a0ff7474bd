r"""Linear measurement operators :math:`\mathcal{A}(X)_i = \langle A_i, X \rangle` and adjoints.

Every operator maps ``X: (..., d1, d2) -> (..., m)`` and ``r: (..., m) -> (..., d1, d2)`` at the
costs of docs/math.md section 1, without materialising ``m`` copies of ``X``.

The operator protocol
---------------------
Everything the package does with an operator goes through methods of
:class:`AbstractOperator`, so that a new kind of measurement is one subclass (and one
:func:`register_operator` for the ``.npz`` format), with no edit anywhere else:

* ``_apply``, ``_adjoint`` (required): ``op(X)`` and ``op.adjoint(r)``, used everywhere;
  ``arrays`` and ``to`` (required): checkpoints, devices and dtypes.
* The ``.npz`` format (``Problem.save`` / ``load_problem``): ``npz_keys``, ``float_keys``,
  ``npz_arrays`` (default ``arrays()``) and ``from_npz`` (default ``cls(*arrays)``).
* The factored engine (``fit(method="factored")``): ``measure_low_rank`` (not supported by
  default: ``low_rank_unsupported`` says why), ``measure_low_rank_outside`` and
  ``streaming_order`` (defaults built on ``measure_low_rank``).
* The recipe: ``sq_norm_sum`` (default: Gaussian probes), ``curvature`` (power iteration),
  ``subset`` (none) and ``holdout`` (``perm[:n]``) for the held-out split,
  ``center_by_default`` (False).
* :mod:`spectralnn.theory`: ``range_matrix``, ``is_onto`` and ``min_norm_solution``
  (defaults from :meth:`~AbstractOperator.dense`); ``exact_lp`` with ``nuclear_lp`` and
  ``kkt_lp`` (aligned operators: ``min_nuclear_norm(method="lp")`` and
  ``kkt_certificate(method="aligned")``).
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
import torch

from ._validation import check_array, check_dtype, check_index_array, check_shape
from .errors import InputError, InputTypeError

CHUNK = 1 << 13  # observed entries per gather in completion (cache-sized blocks)


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


class _SampledProduct(torch.autograd.Function):
    """``out[..., i] = <L[..., rows_i, :], R[..., cols_i, :]>`` in chunks (memory O(chunk k))."""

    @staticmethod
    def forward(ctx, L, R, rows, cols):
        ctx.save_for_backward(L, R, rows, cols)
        m = rows.shape[0]
        out = L.new_empty(*L.shape[:-2], m)
        for a in range(0, m, CHUNK):
            r, c = rows[a : a + CHUNK], cols[a : a + CHUNK]
            out[..., a : a + CHUNK] = (L.index_select(-2, r) * R.index_select(-2, c)).sum(-1)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        L, R, rows, cols = ctx.saved_tensors
        gL = torch.zeros_like(L) if ctx.needs_input_grad[0] else None
        gR = torch.zeros_like(R) if ctx.needs_input_grad[1] else None
        for a in range(0, rows.shape[0], CHUNK):
            r, c = rows[a : a + CHUNK], cols[a : a + CHUNK]
            ga = g[..., a : a + CHUNK].unsqueeze(-1)
            if gL is not None:
                gL.index_add_(-2, r, ga * R.index_select(-2, c))
            if gR is not None:
                gR.index_add_(-2, c, ga * L.index_select(-2, r))
        return gL, gR, None, None


class _SampledWithOutside(torch.autograd.Function):
    """Completion of ``X = P Q2^T + Q1 E12`` where ``E12t`` is a zero-valued outside part:
    the forward gathers ``P`` and ``Q2`` only (the ``E12`` term is 0), the backward returns the
    exact derivatives for ``P`` and ``E12t`` (constants ``Q1, Q2``). Half the memory traffic of
    :class:`_SampledProduct` on the stacked ``[P, Q1] [Q2, E12t]^T``."""

    @staticmethod
    def forward(ctx, P, E12t, Q1, Q2, rows, cols):
        m = rows.shape[0]
        d1, d2 = P.shape[-2], Q2.shape[-2]
        ctx.shapes = (P.shape, E12t.shape)
        ctx.dense = _dense_route(d1, d2, m, P.shape[-1])
        if ctx.dense:  # many entries per row: one GEMM beats m gathers of width r
            flat = rows * d2 + cols
            ctx.save_for_backward(Q1, Q2, flat)
            return (P @ Q2.mT).flatten(-2).index_select(-1, flat)
        out = P.new_empty(*P.shape[:-2], m)
        Q2c = Q2.new_empty(*Q2.shape[:-2], m, Q2.shape[-1])  # Q2[cols], kept for backward
        for a in range(0, m, CHUNK):
            r, c = rows[a : a + CHUNK], cols[a : a + CHUNK]
            torch.index_select(Q2, -2, c, out=Q2c[..., a : a + CHUNK, :]) if Q2.ndim == 2 else Q2c[
                ..., a : a + CHUNK, :
            ].copy_(Q2.index_select(-2, c))
            out[..., a : a + CHUNK] = (P.index_select(-2, r) * Q2c[..., a : a + CHUNK, :]).sum(-1)
        ctx.save_for_backward(Q1, Q2c, rows, cols)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        if ctx.dense:
            Q1, Q2, flat = ctx.saved_tensors
            (d1, _), d2 = ctx.shapes[0][-2:], ctx.shapes[1][-2]
            G = g.new_zeros(*g.shape[:-1], d1 * d2).index_add_(-1, flat, g).unflatten(-1, (d1, d2))
            return G @ Q2, G.mT @ Q1, None, None, None, None
        Q1, Q2c, rows, cols = ctx.saved_tensors
        gP, gE = g.new_zeros(ctx.shapes[0]), g.new_zeros(ctx.shapes[1])
        for a in range(0, rows.shape[0], CHUNK):
            r, c = rows[a : a + CHUNK], cols[a : a + CHUNK]
            ga = g[..., a : a + CHUNK].unsqueeze(-1)
            gP.index_add_(-2, r, ga * Q2c[..., a : a + CHUNK, :])
            gE.index_add_(-2, c, ga * Q1.index_select(-2, r))
        return gP, gE, None, None, None, None


DENSE_ROUTE_LIMIT = 2**23
"""Completion losses of matrices up to this many entries use one dense product when the gathers
would move more data (``m r >= d1 d2 / 4``): 512 x 512 at 50% observed, not 10,000 x 10,000."""


def _dense_route(d1: int, d2: int, m: int, r: int) -> bool:
    return d1 * d2 <= DENSE_ROUTE_LIMIT and 4 * m * r >= d1 * d2


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


def register_operator(cls: type[AbstractOperator]) -> type[AbstractOperator]:
    """Class decorator: add ``cls.kind`` to the ``.npz`` format of :class:`Problem
    <spectralnn.Problem>` (``save`` writes it, ``load_problem`` reads it back through
    ``cls.from_npz``). ``cls.npz_keys`` names its arrays; re-registering a kind for another
    class raises."""
    where = "register_operator"
    if not (isinstance(cls, type) and issubclass(cls, AbstractOperator)):
        raise InputTypeError(
            f"The 'cls' parameter of {where} must be a subclass of AbstractOperator. "
            f"Got {cls!r} instead."
        )
    kind = cls.__dict__.get("kind")
    if not isinstance(kind, str) or not kind.isidentifier():
        raise InputError(
            f"The 'cls' parameter of {where} must set its own 'kind' (an identifier). "
            f"Got {kind!r} for {cls.__name__} instead."
        )
    keys = cls.npz_keys
    floats = keys if cls.float_keys is None else cls.float_keys
    if (
        not isinstance(keys, tuple)
        or not keys
        or not all(isinstance(k, str) and k.isidentifier() for k in keys)
        or len(set(keys)) != len(keys)
    ):
        raise InputError(
            f"The 'npz_keys' of {cls.__name__} ({where}) must be a non-empty tuple of distinct "
            f"identifiers. Got {keys!r} instead."
        )
    bad = [k for k in keys if k in _RESERVED or k.startswith("test_")]
    if bad or not set(floats) <= set(keys):
        raise InputError(
            f"The 'npz_keys' of {cls.__name__} ({where}) must avoid {sorted(_RESERVED)} and "
            f"the prefix 'test_', and contain its 'float_keys'. Got npz_keys={keys!r}, "
            f"float_keys={cls.float_keys!r} instead."
        )
    old = OPERATORS.get(kind)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise InputError(
            f"The 'kind' of {cls.__name__} ({where}) must be new. Got {kind!r}, "
            f"already the kind of {old.__module__}.{old.__qualname__}, instead."
        )
    OPERATORS[kind] = cls
    return cls


OPERATORS: dict[str, type[AbstractOperator]] = {}
"""The registered operator kinds (:func:`register_operator`), by ``kind``."""

_RESERVED = frozenset({"operator", "meta", "y", "X_true", "y_test"})


class DenseOperator(AbstractOperator):
    """Arbitrary ``A: (m, d1, d2)``; apply is one ``(m, d1 d2) x (d1 d2)`` product."""

    kind = "dense"
    npz_keys = ("A",)

    def __init__(self, A):
        A = check_array(A, "A", "DenseOperator", ndim=3, layout="(m, d1, d2)")
        self.A = A
        self._flat = A.reshape(A.shape[0], -1)  # (m, d1 d2), a view

    shape = property(lambda self: tuple(self.A.shape[1:]))
    m = property(lambda self: self.A.shape[0])
    dtype = property(lambda self: self.A.dtype)

    def _apply(self, X):
        return X.flatten(-2) @ self._flat.mT

    def _adjoint(self, r):
        return (r @ self._flat).unflatten(-1, self.shape)

    def arrays(self):
        return {"A": self.A.cpu().numpy()}

    def dense(self):
        return self.A

    def to(self, *args, **kwargs):
        return DenseOperator(self.A.to(*args, **kwargs))

    def measure_low_rank(self, L, R):
        return self(L @ R.mT)  # the product costs less than the m d1 d2 apply

    def sq_norm_sum(self, seed=0):
        return float((self.A**2).sum())

    def subset(self, idx):
        return DenseOperator(self.A[idx])


class AlignedOperator(AbstractOperator):
    r"""Assumption 1: :math:`A_i = \Phi \operatorname{diag}(s_i) \Psi^\top`.

    ``Phi: (d1, r)`` and ``Psi: (d2, r)`` with orthonormal columns, ``S: (m, r)`` (row i is s_i).
    Apply: ``x = diag(Phi^T X Psi)`` then ``S x``, O(d1 d2 r + m r).
    """

    kind = "aligned"
    npz_keys = ("Phi", "Psi", "S")
    exact_lp = True

    def __init__(self, Phi, Psi, S):
        where = "AlignedOperator"
        Phi, Psi, S = (
            check_array(a, n, where, ndim=2, layout=lay)
            for a, n, lay in ((Phi, "Phi", "(d1, r)"), (Psi, "Psi", "(d2, r)"), (S, "S", "(m, r)"))
        )
        _same_dtype(where, Phi=Phi, Psi=Psi, S=S)
        r = S.shape[1]
        if Phi.shape[1] != r or Psi.shape[1] != r:
            raise InputError(
                f"Phi {tuple(Phi.shape)}, Psi {tuple(Psi.shape)} and S {tuple(S.shape)} of "
                "AlignedOperator must share their last dimension r."
            )
        for a, n in ((Phi, "Phi"), (Psi, "Psi")):
            err = (a.mT @ a - torch.eye(r, dtype=a.dtype, device=a.device)).abs().max().item()
            if err > 1e-4 if a.dtype == torch.float32 else err > 1e-8:
                raise InputError(
                    f"The {n!r} parameter of AlignedOperator must have orthonormal columns. "
                    f"Got max |{n}^T {n} - I| = {err:.2e} instead."
                )
        self.Phi, self.Psi, self.S = Phi, Psi, S

    shape = property(lambda self: (self.Phi.shape[0], self.Psi.shape[0]))
    m = property(lambda self: self.S.shape[0])
    rank = property(lambda self: self.S.shape[1])
    dtype = property(lambda self: self.S.dtype)

    def coordinates(self, X):
        """``diag(Phi^T X Psi)``: ``(..., d1, d2) -> (..., r)``."""
        return ((X @ self.Psi) * self.Phi).sum(-2)

    def embed(self, x):
        """``Phi diag(x) Psi^T``: ``(..., r) -> (..., d1, d2)``."""
        return (self.Phi * x.unsqueeze(-2)) @ self.Psi.mT

    def _apply(self, X):
        return self.coordinates(X) @ self.S.mT

    def _adjoint(self, r):
        return self.embed(r @ self.S)

    def arrays(self):
        return {k: getattr(self, k).cpu().numpy() for k in ("Phi", "Psi", "S")}

    def to(self, *args, **kwargs):
        return AlignedOperator(*(a.to(*args, **kwargs) for a in (self.Phi, self.Psi, self.S)))

    def measure_low_rank(self, L, R):
        coords = ((self.Phi.mT @ L) * (self.Psi.mT @ R)).sum(-1)  # diag(Phi^T L R^T Psi)
        return coords @ self.S.mT

    def range_matrix(self):
        return self.S  # the coordinates map onto R^r, so range(A) = range(S)

    def min_norm_solution(self, y):
        return self.embed(torch.linalg.pinv(self.S) @ y)  # A^+ = embed S^+ (coordinates: onto)

    def nuclear_lp(self, y_hat):
        """``min ||x||_1`` s.t. ``S x = y_hat`` (scipy HiGHS); ``X = embed(x)``."""
        from scipy.optimize import linprog

        S = self.S.cpu().numpy()
        r = S.shape[1]
        # x = p - q with p, q >= 0: min 1^T (p + q) s.t. S (p - q) = y_hat.
        res = linprog(
            np.ones(2 * r),
            A_eq=np.hstack([S, -S]),
            b_eq=y_hat.cpu().numpy(),
            bounds=(0, None),
            method="highs",
        )
        if res.status != 0:
            raise RuntimeError(f"HiGHS could not solve the aligned LP: {res.message}")
        x = torch.from_numpy(res.x[:r] - res.x[r:]).to(self.S)
        return self.embed(x), {
            "status": "optimal",
            "converged": True,
            "iterations": int(getattr(res, "nit", 0)) or None,
        }

    def kkt_lp(self, X, rank_tol, tol):
        """An aligned ``X`` (off-diagonal mass at most ``tol``): the support of ``x =
        coordinates(X)`` plays the role of the rank, and the dual is the LP over ``S^T nu``
        (docs/math.md section 5)."""
        from ._kkt import _fallback, _lstsq_dual
        from .metrics import alignment

        if alignment(X, self.Phi, self.Psi).item() > tol:
            return None
        x = self.coordinates(X)
        supp = x.abs() > rank_tol * x.abs().max()
        U = self.Phi[:, supp] * torch.sign(x[supp])
        V = self.Psi[:, supp]
        nu, status = self._kkt_dual(x, supp)
        if nu is None:
            _fallback("aligned LP", status)
            return U, V, int(supp.sum()), _lstsq_dual(self, U, V), "aligned-lstsq-fallback", status
        return U, V, int(supp.sum()), nu, "aligned-lp", status

    def _kkt_dual(self, x, supp):
        """nu with (S^T nu)_j = sign(x_j) on the support, min max |.| off it (LP)."""
        from scipy.optimize import linprog

        S = self.S.cpu().numpy()
        supp = supp.cpu().numpy()
        m = S.shape[0]
        sign = np.sign(x.cpu().numpy())
        # variables (nu, t): min t s.t. S_supp^T nu = sign, -t <= S_off^T nu <= t
        c = np.r_[np.zeros(m), 1.0]
        off = S[:, ~supp].T
        A_ub = np.vstack([np.c_[off, -np.ones(len(off))], np.c_[-off, -np.ones(len(off))]])
        A_eq = np.c_[S[:, supp].T, np.zeros(int(supp.sum()))]
        res = linprog(
            c,
            A_ub=A_ub if len(off) else None,
            b_ub=np.zeros(len(A_ub)) if len(off) else None,
            A_eq=A_eq if supp.any() else None,
            b_eq=sign[supp] if supp.any() else None,
            bounds=[(None, None)] * m + [(0, None)],
            method="highs",
        )
        if res.status == 0:
            return torch.from_numpy(res.x[:m]).to(self.S), "optimal"
        if res.status == 2:  # proven: no nu matches the signs, so no certificate exists
            nu = np.linalg.lstsq(S[:, supp].T, sign[supp], rcond=None)[0]  # residuals to show
            return torch.from_numpy(nu).to(self.S), "infeasible"
        return None, f"HiGHS: {res.message}"


class CompletionOperator(AbstractOperator):
    """Entry sampling: ``A_i = e_{rows_i} e_{cols_i}^T``; O(m) gather and scatter-add."""

    kind = "completion"
    npz_keys = ("rows", "cols", "shape")
    float_keys = ()
    center_by_default = True

    def __init__(self, rows, cols, shape, dtype: torch.dtype = torch.float64):
        where = "CompletionOperator"
        self._shape = check_shape(shape, where)
        dtype = check_dtype(dtype, where)
        rows = check_index_array(rows, "rows", where, self._shape[0])
        cols = check_index_array(cols, "cols", where, self._shape[1])
        if rows.shape != cols.shape or rows.numel() == 0:
            raise InputError(
                f"The 'rows' and 'cols' parameters of {where} must be non-empty and of equal "
                f"length. Got shapes {tuple(rows.shape)} and {tuple(cols.shape)} instead."
            )
        self.rows, self.cols, self._dtype = rows, cols, dtype
        self._flat_idx = rows * self._shape[1] + cols

    shape = property(lambda self: self._shape)
    m = property(lambda self: self.rows.shape[0])
    dtype = property(lambda self: self._dtype)

    def _apply(self, X):
        return X.flatten(-2)[..., self._flat_idx]

    def _adjoint(self, r):
        out = r.new_zeros(*r.shape[:-1], self._shape[0] * self._shape[1])
        return out.index_add_(-1, self._flat_idx, r).unflatten(-1, self._shape)

    def arrays(self):
        return {
            "rows": self.rows.cpu().numpy(),
            "cols": self.cols.cpu().numpy(),
            "shape": np.array(self._shape),
        }

    def to(self, *args, **kwargs):
        dtype = next(
            (a for a in (*args, *kwargs.values()) if isinstance(a, torch.dtype)), self._dtype
        )
        dev = next(
            (a for a in (*args, *kwargs.values()) if isinstance(a, (str, torch.device))),
            self.rows.device,
        )
        return CompletionOperator(self.rows.to(dev), self.cols.to(dev), self._shape, dtype)

    @classmethod
    def from_npz(cls, arrays, dtype=torch.float64):
        return cls(arrays["rows"], arrays["cols"], arrays["shape"], dtype)

    def measure_low_rank(self, L, R):
        return _SampledProduct.apply(L, R, self.rows, self.cols)

    def measure_low_rank_outside(self, P, Q2, Q1, E12t):
        return _SampledWithOutside.apply(P, E12t, Q1, Q2, self.rows, self.cols)

    def streaming_order(self):
        return torch.argsort(self.rows, stable=True)  # row-sorted entries: streaming gathers

    def sq_norm_sum(self, seed=0):
        return float(self.m)

    def curvature(self, iters=30, seed=0):
        """Exact: the largest multiplicity of an observed entry over ``m``."""
        return float(torch.bincount(self._flat_idx).max()) / self.m

    def subset(self, idx):
        return CompletionOperator(self.rows[idx], self.cols[idx], self._shape, self._dtype)

    def holdout(self, perm, n):
        """Never a row's or a column's last observed entry."""
        rows_left = torch.bincount(self.rows, minlength=self._shape[0]).clone()
        cols_left = torch.bincount(self.cols, minlength=self._shape[1]).clone()
        chosen = []
        for i in perm.tolist():
            r, c = int(self.rows[i]), int(self.cols[i])
            if rows_left[r] > 1 and cols_left[c] > 1:
                chosen.append(i)
                rows_left[r] -= 1
                cols_left[c] -= 1
                if len(chosen) == n:
                    break
        return torch.tensor(chosen, dtype=torch.long)

    def is_onto(self):
        return len(set(self._flat_idx.tolist())) == self.m  # distinct entries


class RankOneOperator(AbstractOperator):
    """``A_i = a_i b_i^T`` with ``a: (m, d1)``, ``b: (m, d2)``; apply ``a_i^T X b_i``,
    O(m d1 d2)."""

    kind = "rank_one"
    npz_keys = ("a", "b")

    def __init__(self, a, b):
        where = "RankOneOperator"
        a = check_array(a, "a", where, ndim=2, layout="(m, d1)")
        b = check_array(b, "b", where, ndim=2, layout="(m, d2)")
        _same_dtype(where, a=a, b=b)
        if a.shape[0] != b.shape[0]:
            raise InputError(
                f"The 'a' and 'b' parameters of {where} must have the same number of rows m. "
                f"Got {a.shape[0]} and {b.shape[0]} instead."
            )
        self.a, self.b = a, b

    shape = property(lambda self: (self.a.shape[1], self.b.shape[1]))
    m = property(lambda self: self.a.shape[0])
    dtype = property(lambda self: self.a.dtype)

    def _apply(self, X):
        return ((X @ self.b.mT) * self.a.mT).sum(-2)  # (..., d1, m) -> (..., m)

    def _adjoint(self, r):
        return (self.a.mT * r.unsqueeze(-2)) @ self.b

    def arrays(self):
        return {"a": self.a.cpu().numpy(), "b": self.b.cpu().numpy()}

    def to(self, *args, **kwargs):
        return RankOneOperator(self.a.to(*args, **kwargs), self.b.to(*args, **kwargs))

    def measure_low_rank(self, L, R):
        return ((self.a @ L) * (self.b @ R)).sum(-1)

    def sq_norm_sum(self, seed=0):
        return float(((self.a**2).sum(-1) * (self.b**2).sum(-1)).sum())

    def subset(self, idx):
        return RankOneOperator(self.a[idx], self.b[idx])


for _cls in (DenseOperator, AlignedOperator, CompletionOperator, RankOneOperator):
    register_operator(_cls)
