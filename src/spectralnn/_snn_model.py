"""The SNN matrix model of :mod:`spectralnn.models`: :class:`SNNFactorization`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._model_init import (
    INITS,
    _aligned_factors,
    _check_common,
    _factor,
    _generator,
    _replicate,
)
from ._validation import check_choice, check_int, check_positive
from .errors import InputError
from .nn import SNN


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
