"""Generators of sensing problems: random low-rank targets, :func:`make_problem` and
:func:`make_image_problem`."""

from __future__ import annotations

import torch

from ._operators import AlignedOperator, CompletionOperator, DenseOperator, RankOneOperator
from ._problem import _LARGEST, Problem
from ._validation import (
    check_array,
    check_bool,
    check_budget,
    check_choice,
    check_dtype,
    check_int,
    check_positive,
    check_real,
    check_seed,
    check_shape,
    memory_limit,
    problem_bytes,
)
from .errors import InputError, InputTypeError


def low_rank_target(
    shape, rank: int, *, psd: bool = True, generator=None, dtype=torch.float64
) -> torch.Tensor:
    """A rank-``rank`` target with unit nuclear norm.

    ``psd`` (square only): ``W W^T`` with ``W ~ U(0, 1)^{d x r}`` (the paper's target);
    otherwise ``U V^T`` with standard Gaussian factors.
    """
    where = "low_rank_target"
    d1, d2 = check_shape(shape, where)
    check_int(rank, "rank", where, 1, min(d1, d2))
    check_bool(psd, "psd", where)
    dtype = check_dtype(dtype, where)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise InputTypeError(
            f"The 'generator' parameter of {where} must be a torch.Generator "
            f"or None. Got {type(generator).__name__} instead."
        )
    if psd and d1 == d2:
        W = torch.rand(d1, rank, generator=generator, dtype=dtype)
        X = W @ W.mT
    else:
        X = torch.randn(d1, rank, generator=generator, dtype=dtype) @ torch.randn(
            rank, d2, generator=generator, dtype=dtype
        )
    return X / torch.linalg.svdvals(X).sum()


def _sample_operator(kind, shape, m, target, scale, gen, dtype, taken=None):
    d1, d2 = shape
    if kind == "gaussian":
        return DenseOperator(scale * torch.randn(m, d1, d2, generator=gen, dtype=dtype))
    if kind == "rank_one":
        a = scale**0.5 * torch.randn(m, d1, generator=gen, dtype=dtype)
        return RankOneOperator(a, scale**0.5 * torch.randn(m, d2, generator=gen, dtype=dtype))
    if kind == "aligned":
        U, _, Vh = torch.linalg.svd(target, full_matrices=False)
        S = scale * torch.randn(m, U.shape[1], generator=gen, dtype=dtype)
        return AlignedOperator(U, Vh.mT, S.sort(-1, descending=True).values)
    idx = taken[:m]  # completion: distinct entries from a shared permutation
    return CompletionOperator(idx // d2, idx % d2, shape, dtype)


PROBLEM_KINDS = ("aligned", "gaussian", "completion", "rank_one")


def make_problem(
    kind: str,
    shape=(10, 10),
    rank: int = 2,
    measurements: int = 50,
    noise=0.0,
    seed: int | None = 0,
    *,
    target=None,
    psd: bool = True,
    scale: float = 1.0,
    test_measurements: int | None = None,
    dtype=torch.float64,
    max_bytes: float | None = None,
) -> Problem:
    r"""Generate a sensing problem with a held-out test set.

    Parameters
    ----------
    kind : {"aligned", "gaussian", "completion", "rank_one"}
        ``aligned``: :math:`A_i = \Phi \operatorname{diag}(s_i) \Psi^\top` with ``Phi, Psi`` the
        singular vectors of ``X*`` and ``s_i = scale * N(0, I)`` sorted (Assumption 1);
        ``gaussian``: i.i.d. ``N(0, scale^2)`` entries; ``completion``: distinct observed
        entries; ``rank_one``: ``a_i b_i^T`` with ``N(0, scale)`` entries.
    shape : (int, int)
    rank : int
        Rank of the random target (ignored when ``target`` is given).
    measurements : int
        ``m``; the test set has ``test_measurements`` (default ``m``) more.
    noise : float
        Standard deviation of Gaussian noise added to ``y`` and ``y_test``.
    seed : int
    target : array (d1, d2), optional
        A user matrix (or image), rescaled to unit nuclear norm.
    psd : bool, default=True
        Random square targets are ``W W^T``, ``W ~ U(0,1)`` (the paper); else Gaussian factors.
    scale : float, default=1.0
        Measurement scale (the paper uses 10).
    max_bytes : float, optional
        Memory budget: sizes whose estimated memory exceeds it are refused (InputError naming
        ``shape`` or ``measurements``) before anything is allocated. Default: the environment
        variable ``SPECTRALNN_MEMORY_LIMIT``, else half the physical memory; ``math.inf``: no
        check.
    """
    where = "make_problem"
    check_choice(kind, "kind", where, PROBLEM_KINDS)
    shape = check_shape(shape, where)
    rank = check_int(rank, "rank", where, 1, min(shape))
    measurements = check_int(measurements, "measurements", where, 1)
    m_test = (
        measurements
        if test_measurements is None
        else check_int(test_measurements, "test_measurements", where, 1)
    )
    noise = check_positive(noise, "noise", where, allow_zero=True)
    scale = check_positive(scale, "scale", where)
    seed = check_seed(seed, where)
    check_bool(psd, "psd", where)
    dtype = check_dtype(dtype, where)
    if kind == "completion":
        check_int(measurements, "measurements", where, 1, shape[0] * shape[1])
    _check_sizes(kind, shape, rank, measurements, m_test, test_measurements, dtype, max_bytes)
    gen = torch.Generator().manual_seed(0 if seed is None else seed)
    if target is None:
        X = low_rank_target(shape, rank, psd=psd, generator=gen, dtype=dtype)
    else:
        X = _user_target(target, shape, dtype)
    ops, m_test = _sample_operators(kind, shape, measurements, m_test, X, scale, gen, dtype)
    ys = [op(X) + noise * torch.randn(op.m, generator=gen, dtype=dtype) for op in ops]
    if not all(bool(torch.isfinite(y).all()) and float(y.abs().max()) <= _LARGEST for y in ys):
        name, value = ("noise", noise) if noise > scale else ("scale", scale)
        raise InputError(
            f"The {name!r} parameter of {where} gives measurements beyond "
            f"{_LARGEST:g} (their squares overflow). Got {name}={value!r} "
            "instead; use a smaller one."
        )
    meta = {
        "kind": kind,
        "shape": list(shape),
        "rank": int(torch.linalg.matrix_rank(X)),
        "measurements": measurements,
        "test_measurements": m_test,
        "noise": noise,
        "seed": seed,
        "scale": scale,
        "target": "random" if target is None else "user",
    }
    return Problem(ops[0], ys[0], X, ops[1], ys[1], meta)


def _check_sizes(kind, shape, rank, measurements, m_test, test_measurements, dtype, max_bytes):
    """Refuse sizes whose memory estimate exceeds the budget, naming ``shape`` when one
    measurement of each set is already too much, else the larger measurement count."""
    where = "make_problem"
    itemsize = 4 if dtype == torch.float32 else 8
    if problem_bytes(kind, shape, 1, 1, rank, itemsize) > memory_limit(max_bytes, where):
        check_budget(
            problem_bytes(kind, shape, 1, 1, rank, itemsize), "shape", shape, where, max_bytes
        )
    check_budget(
        problem_bytes(kind, shape, measurements, m_test, rank, itemsize),
        "measurements"
        if test_measurements is None or test_measurements <= measurements
        else "test_measurements",
        measurements
        if test_measurements is None or test_measurements <= measurements
        else test_measurements,
        where,
        max_bytes,
    )


def _user_target(target, shape, dtype) -> torch.Tensor:
    """A user's target matrix, checked and rescaled to unit nuclear norm."""
    where = "make_problem"
    X = check_array(target, "target", where, ndim=2, layout=str(shape), cast_ints=True, dtype=dtype)
    if tuple(X.shape) != shape:
        raise InputError(
            f"The 'target' parameter of {where} must have shape {shape}. "
            f"Got {tuple(X.shape)} instead."
        )
    peak = X.abs().max()
    if peak > 0:  # first to O(1), so that the SVD of entries near 1e308 cannot overflow
        X = X / peak
    total = torch.linalg.svdvals(X).sum()
    if not total > 0:
        raise InputError(
            f"The 'target' parameter of {where} must be a nonzero matrix. Got all zeros instead."
        )
    return X / total


def _sample_operators(kind, shape, measurements, m_test, X, scale, gen, dtype):
    """The training and test operators, and the test set's size (completion: the held-out
    entries come from the unobserved ones, fewer if fewer remain; all entries when every entry
    is observed)."""
    perm = test_idx = None
    if kind == "completion":
        n = shape[0] * shape[1]
        perm = torch.randperm(n, generator=gen)
        test_idx = perm[measurements : measurements + m_test] if measurements < n else perm
        m_test = test_idx.numel()
    ops = [
        _sample_operator(kind, shape, m, X, scale, gen, dtype, t)
        for m, t in ((measurements, perm), (m_test, test_idx))
    ]
    return ops, m_test


def make_image_problem(
    image: str,
    shape=(28, 28),
    fraction: float = 0.6,
    noise=0.01,
    seed: int | None = 0,
    *,
    scale: float = 1.0,
) -> tuple[Problem, float]:
    """Gaussian measurements of a real image (see :func:`spectralnn.images.load_image`).

    ``m = round(fraction * d1 * d2)``; the target is the image at unit nuclear norm. Returns the
    problem and the factor that brings matrices back to the image's own scale (for display and
    PSNR).
    """
    from .images import load_image

    where = "make_image_problem"
    if not isinstance(image, str):
        raise InputTypeError(
            f"The 'image' parameter of {where} must be a str (a name or a path). "
            f"Got {type(image).__name__} instead."
        )
    shape = check_shape(shape, where)
    fraction = check_real(fraction, "fraction", where, low=0.0, high=1.0, low_open=True)
    noise = check_positive(noise, "noise", where, allow_zero=True)
    seed = check_seed(seed, where)
    scale = check_positive(scale, "scale", where)
    img = load_image(image, shape)
    m = max(1, round(fraction * img.shape[0] * img.shape[1]))
    problem = make_problem("gaussian", img.shape, 1, m, noise, seed, target=img, scale=scale)
    assert problem.X_true is not None  # the target
    return problem, float(img.sum() / problem.X_true.sum().item())
