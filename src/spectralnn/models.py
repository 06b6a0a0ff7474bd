r"""Matrix parameterisations for sensing: each module's ``forward()`` returns ``X: (d1, d2)``.

* :class:`SNNFactorization` -- first inputs :math:`X_k^{(0)} = U_k V_k^\top`, then an :class:`SNN`.
* :class:`FreeMatrix` -- ``X`` itself (the paper's "linear regression").
* :class:`DeepFactorization` -- :math:`X = W_1 W_2 \cdots W_N`.
* :class:`Factorization` -- :math:`X = U V^\top`.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ._validation import (
    check_budget,
    check_choice,
    check_dtype,
    check_int,
    check_kwargs,
    check_positive,
    check_seed,
    check_shape,
    memory_limit,
    model_cost,
)
from .errors import InputError
from .nn import SNN

__all__ = [
    "INITS",
    "MODELS",
    "DeepFactorization",
    "Factorization",
    "FreeMatrix",
    "SNNFactorization",
    "make_model",
]

INITS = ("identity", "gaussian", "orthogonal", "spectral")


def _generator(seed: int | None) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(0 if seed is None else int(seed))
    return g


def _factor(rows: int, cols: int, init: str, scale: float, gen, dtype) -> torch.Tensor:
    """A (rows, cols) factor: c*I (rectangular), c*N(0,1)/sqrt(cols) or c*orthonormal."""
    if init == "identity":
        return scale * torch.eye(rows, cols, dtype=dtype)
    if init == "gaussian":
        return scale * torch.randn(rows, cols, generator=gen, dtype=dtype) / cols**0.5
    Z = torch.randn(max(rows, cols), min(rows, cols), generator=gen, dtype=dtype)
    Q = torch.linalg.qr(Z).Q
    return scale * (Q if rows >= cols else Q.mT)


def _replicate(t: torch.Tensor, runs: int | None) -> torch.Tensor:
    """``runs`` identical copies along a new leading dimension (None: unchanged)."""
    return t if runs is None else t.expand(runs, *t.shape).clone()


def _check_common(where: str, shape, seed, dtype, runs):
    """The arguments every model takes: ``(shape, seed, dtype, runs)`` in canonical form."""
    return (
        check_shape(shape, where),
        check_seed(seed, where),
        check_dtype(dtype, where),
        None if runs is None else check_int(runs, "runs", where),
    )


def _aligned_factors(problem, where: str):
    op = getattr(problem, "operator", problem)
    Phi, Psi = getattr(op, "Phi", None), getattr(op, "Psi", None)
    if Phi is None or Psi is None:
        raise InputError(
            f"init='spectral' in {where} needs an aligned problem (AlignedOperator with Phi, Psi; "
            f"Assumption 1). Got problem={type(problem).__name__} with operator "
            f"{type(op).__name__} instead."
        )
    return Phi, Psi


class SNNFactorization(nn.Module):
    r"""SNN matrix model: :math:`X = \mathrm{SNN}(U_1 V_1^\top, \dots, U_{L_0} V_{L_0}^\top)`.

    Parameters
    ----------
    shape : (int, int)
        ``(d1, d2)``.
    widths : sequence of int, default=(2, 2, 2, 2)
        SNN widths ``(L_0, ..., L_{D-1})``; the last layer is one block (see :class:`SNN`).
    fn : str or Activation or (f, df), default="tanh"
    init : {"identity", "gaussian", "orthogonal", "spectral"}, default="identity"
        ``identity``: ``U_k = V_k = c I``; ``gaussian``/``orthogonal``: scaled random factors;
        ``spectral`` (Assumption 2): ``U_k = Phi diag(ubar_k) G``, ``V_k = Psi diag(vbar_k) G``
        with ``ubar, vbar = c * sorted U(0, 1)`` and ``G`` orthogonal; needs an aligned ``problem``.
    spectral_order : {"ascending", "descending"}, default="ascending"
        Order of ``ubar, vbar`` along the aligned basis for ``init="spectral"``. "ascending" is
        the paper authors' (their ``A_i`` values are sorted descending, ``ubar, vbar``
        ascending); "descending" pairs the largest ``ubar`` with the largest measurement scale.
    init_scale : float, default=1e-4
        ``c`` above (the paper: 1e-4 for identity).
    problem : Problem, optional
        Required for ``init="spectral"``.
    seed : int, optional
        Seeds alpha and the random inits (0 when None).
    rank : int, optional
        Inner dimension ``p`` of ``U_k (d1, p)``, ``V_k (d2, p)``; default ``min(d1, d2)``
        (``r`` for spectral init).
    dtype : torch.dtype, default=torch.float64
    runs : int, optional
        Train ``runs`` independent copies at once (:func:`spectralnn.fit_runs`): every parameter
        gets a leading ``runs`` dimension (all copies start equal) and ``forward()`` returns
        ``(runs, d1, d2)``.

    Examples
    --------
    >>> import spectralnn as snn
    >>> model = snn.SNNFactorization((6, 4), widths=(2, 2), init_scale=1e-2)
    >>> model().shape
    torch.Size([6, 4])
    """

    def __init__(
        self,
        shape: Sequence[int],
        widths: Sequence[int] = (2, 2, 2, 2),
        fn="tanh",
        init: str = "identity",
        init_scale: float = 1e-4,
        problem=None,
        seed: int | None = None,
        rank: int | None = None,
        dtype: torch.dtype = torch.float64,
        runs: int | None = None,
        spectral_order: str = "ascending",
    ):
        super().__init__()
        where = type(self).__name__
        (d1, d2), self.seed, dtype, self.runs = _check_common(where, shape, seed, dtype, runs)
        self.shape = d1, d2
        self.init = check_choice(init, "init", where, INITS)
        self.spectral_order = check_choice(
            spectral_order, "spectral_order", where, ("ascending", "descending")
        )
        self.init_scale = check_positive(init_scale, "init_scale", where)
        gen = _generator(seed)
        self.snn = SNN(widths, fn, generator=gen, dtype=dtype, runs=self.runs)
        L0 = self.snn.widths[0]
        self._basis = None
        if init == "spectral":
            U, V = self._spectral_factors(problem, L0, gen, dtype)
        else:
            p = min(d1, d2) if rank is None else check_int(rank, "rank", where)
            U = torch.stack([_factor(d1, p, init, self.init_scale, gen, dtype) for _ in range(L0)])
            V = torch.stack([_factor(d2, p, init, self.init_scale, gen, dtype) for _ in range(L0)])
        self.U = nn.Parameter(_replicate(U, self.runs))  # ([runs,] L0, d1, p)
        self.V = nn.Parameter(_replicate(V, self.runs))  # ([runs,] L0, d2, p)

    def _spectral_factors(self, problem, L0, gen, dtype):
        Phi, Psi = _aligned_factors(problem, type(self).__name__)
        if tuple(Phi.shape[:1] + Psi.shape[:1]) != self.shape:
            raise InputError(
                f"The aligned problem's shape {(Phi.shape[0], Psi.shape[0])} does not match "
                f"SNNFactorization shape {self.shape}."
            )
        r = Phi.shape[-1]
        Phi, Psi = Phi.to(dtype), Psi.to(dtype)
        G = _factor(r, r, "orthogonal", 1.0, gen, dtype)
        c = self.init_scale
        desc = self.spectral_order == "descending"
        ubar = c * torch.rand(L0, r, generator=gen, dtype=dtype).sort(-1, descending=desc).values
        vbar = c * torch.rand(L0, r, generator=gen, dtype=dtype).sort(-1, descending=desc).values
        # Buffers, so that .to(device) moves the basis with the parameters.
        self.register_buffer("_Phi", Phi, persistent=False)
        self.register_buffer("_Psi", Psi, persistent=False)
        self.register_buffer("_G", G, persistent=False)
        self._basis = True
        return (Phi * ubar.unsqueeze(-2)) @ G, (Psi * vbar.unsqueeze(-2)) @ G

    @property
    def spectral_basis(self):
        """``(Phi, Psi, G)`` of a spectral initialisation (None otherwise); see ``_reduced.py``."""
        return (self._Phi, self._Psi, self._G) if self._basis else None

    def inputs(self) -> torch.Tensor:
        """First-layer inputs ``U_k V_k^T``, shape ``([runs,] L0, d1, d2)``."""
        return self.U @ self.V.mT

    def forward(self) -> torch.Tensor:
        return self.snn(self.inputs())

    def extra_repr(self) -> str:
        return f"shape={self.shape}, init={self.init!r}, init_scale={self.init_scale:g}"


class FreeMatrix(nn.Module):
    """``X`` itself as the parameter (the paper's "linear regression"), initialised at
    ``init_scale * N(0, 1)`` entries, or at 0 (the default, as in the paper).

    ``runs``, as in :class:`SNNFactorization`, gives ``X`` a leading dimension of copies."""

    def __init__(
        self,
        shape: Sequence[int],
        init_scale: float = 0.0,
        seed: int | None = None,
        dtype: torch.dtype = torch.float64,
        runs: int | None = None,
    ):
        super().__init__()
        where = type(self).__name__
        self.shape, seed, dtype, self.runs = _check_common(where, shape, seed, dtype, runs)
        self.init_scale = check_positive(init_scale, "init_scale", where, allow_zero=True)
        X = self.init_scale * torch.randn(self.shape, generator=_generator(seed), dtype=dtype)
        self.X = nn.Parameter(_replicate(X, self.runs))

    def forward(self) -> torch.Tensor:
        return self.X

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class DeepFactorization(nn.Module):
    r"""Deep linear factorisation :math:`X = W_1 W_2 \cdots W_N` with ``W_i = c I`` (rectangular
    at the ends: ``W_1 (d1, h)``, ``W_i (h, h)``, ``W_N (h, d2)``, ``h = max(d1, d2)``).

    ``runs``, as in :class:`SNNFactorization`, gives every factor a leading dimension."""

    def __init__(
        self,
        shape: Sequence[int],
        depth: int = 3,
        init_scale: float = 1e-4,
        init: str = "identity",
        seed: int | None = None,
        dtype: torch.dtype = torch.float64,
        runs: int | None = None,
    ):
        super().__init__()
        where = type(self).__name__
        (d1, d2), seed, dtype, self.runs = _check_common(where, shape, seed, dtype, runs)
        self.shape = d1, d2
        self.depth = check_int(depth, "depth", where, low=1)
        self.init_scale = check_positive(init_scale, "init_scale", where)
        check_choice(init, "init", where, INITS[:3])
        gen = _generator(seed)
        h = max(d1, d2)
        dims = [d1] + [h] * (depth - 1) + [d2]
        self.factors = nn.ParameterList(
            nn.Parameter(_replicate(_factor(a, b, init, self.init_scale, gen, dtype), self.runs))
            for a, b in zip(dims[:-1], dims[1:])
        )

    def forward(self) -> torch.Tensor:
        X = self.factors[0]
        for W in self.factors[1:]:
            X = X @ W
        return X

    def extra_repr(self) -> str:
        return f"shape={self.shape}, depth={self.depth}, init_scale={self.init_scale:g}"


class Factorization(nn.Module):
    r""":math:`X = U V^\top` with ``U (d1, r)``, ``V (d2, r)``, ``r = rank or min(d1, d2)``.

    ``runs``, as in :class:`SNNFactorization`, gives ``U`` and ``V`` a leading dimension."""

    def __init__(
        self,
        shape: Sequence[int],
        rank: int | None = None,
        init_scale: float = 1e-4,
        init: str = "identity",
        seed: int | None = None,
        dtype: torch.dtype = torch.float64,
        runs: int | None = None,
    ):
        super().__init__()
        where = type(self).__name__
        (d1, d2), seed, dtype, self.runs = _check_common(where, shape, seed, dtype, runs)
        self.shape = d1, d2
        self.rank = min(d1, d2) if rank is None else check_int(rank, "rank", where)
        self.init_scale = check_positive(init_scale, "init_scale", where)
        check_choice(init, "init", where, INITS[:3])
        gen = _generator(seed)
        self.U = nn.Parameter(
            _replicate(_factor(d1, self.rank, init, self.init_scale, gen, dtype), self.runs)
        )
        self.V = nn.Parameter(
            _replicate(_factor(d2, self.rank, init, self.init_scale, gen, dtype), self.runs)
        )

    def forward(self) -> torch.Tensor:
        return self.U @ self.V.mT

    def extra_repr(self) -> str:
        return f"shape={self.shape}, rank={self.rank}, init_scale={self.init_scale:g}"


MODELS = {
    "snn": SNNFactorization,
    "free": FreeMatrix,
    "deep": DeepFactorization,
    "factor": Factorization,
}
"""Short names used by the command line, configs and sweeps."""


def make_model(name: str, shape, *, max_bytes: float | None = None, **kwargs) -> nn.Module:
    """Build ``MODELS[name](shape, **kwargs)``.

    Keyword values that are ``None``, or that the chosen model does not take but another model
    does (``widths`` for ``"free"``, say), are left out, so one set of command-line options serves
    every model. Two exceptions: ``rank`` (a size) is refused by the models that have no inner
    dimension (``"deep"``, ``"free"``) rather than ignored, and a keyword that no model takes
    raises ``TypeError`` with the nearest valid name.

    Before anything is allocated, the model's estimated training memory (parameters, gradients,
    optimizer state, activations) is checked against ``max_bytes`` (default: the environment
    variable ``SPECTRALNN_MEMORY_LIMIT``, else half the physical memory; ``math.inf``: no
    check); a model too large raises InputError naming ``widths``, ``rank`` or ``depth``.

    Examples
    --------
    >>> import spectralnn as snn
    >>> snn.make_model("deep", (4, 4), depth=3).depth
    3
    """
    where = "make_model"
    check_choice(name, "model", where, MODELS)
    check_kwargs(kwargs, set().union(*map(_keywords, MODELS.values())), where)
    accepted = _keywords(MODELS[name])
    if kwargs.get("rank") is not None and "rank" not in accepted:
        raise InputError(
            f"The 'rank' parameter of {where} is not taken by the {name!r} model "
            f"(only 'snn' and 'factor' have an inner dimension). Got "
            f"rank={kwargs['rank']!r} instead; leave it out."
        )
    kwargs = {k: v for k, v in kwargs.items() if v is not None and k in accepted}
    _check_size(name, shape, kwargs, max_bytes)
    return MODELS[name](shape, **kwargs)


def _check_size(name: str, shape, kwargs: dict, max_bytes) -> None:
    """The budget check of :func:`make_model` on the size-bearing arguments (types first)."""
    where = "make_model"
    shape = check_shape(shape, where)
    opts: dict[str, Any] = {}
    if "widths" in kwargs:
        widths = kwargs["widths"]
        if (
            isinstance(widths, Sequence)
            and widths
            and all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths)
        ):
            opts["widths"] = tuple(widths)
    for key in ("rank", "depth", "runs"):
        v = kwargs.get(key)
        if isinstance(v, int) and not isinstance(v, bool) and v >= 1:
            opts[key] = v
    dtype = kwargs.get("dtype", torch.float64)
    itemsize = 4 if dtype == torch.float32 else 8
    limit = memory_limit(max_bytes, where)
    nbytes = model_cost(name, shape, opts, opts.get("runs", 1), itemsize)[0]
    if nbytes <= limit:
        return
    base = model_cost(name, shape, {}, 1, itemsize)[0]
    for key in ("widths", "rank", "depth", "runs"):  # blame the first that alone is too big
        if (
            key in opts
            and model_cost(
                name, shape, {key: opts[key]}, opts.get("runs", 1) if key == "runs" else 1, itemsize
            )[0]
            > limit
        ):
            check_budget(nbytes, key, opts[key], where, max_bytes)
    check_budget(max(nbytes, base), "shape", shape, where, max_bytes)


def _keywords(cls) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters) - {"self", "shape"}
