"""The linear baselines of :mod:`spectralnn.models`: :class:`FreeMatrix`,
:class:`DeepFactorization` and :class:`Factorization`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._model_init import INITS, _check_common, _factor, _generator, _replicate
from ._validation import check_choice, check_int, check_positive


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
