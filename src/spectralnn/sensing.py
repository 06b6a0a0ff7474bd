r"""Matrix-sensing problems: operators, :class:`Problem`, generators and the ``.npz`` format.

``.npz`` format (written by :meth:`Problem.save`, read by :func:`load_problem`):

* ``operator`` -- the kind: ``"dense"``, ``"aligned"``, ``"completion"`` or ``"rank_one"``
  (absent: ``"dense"``, so a plain ``np.savez(path, A=A, y=y)`` file loads);
* the operator's arrays -- dense: ``A (m, d1, d2)``; aligned: ``Phi (d1, r)``, ``Psi (d2, r)``,
  ``S (m, r)``; completion: ``rows (m,)``, ``cols (m,)``, ``shape (2,)``; rank_one: ``a (m, d1)``,
  ``b (m, d2)``;
* ``y (m,)``; optional ``X_true (d1, d2)``;
* optional held-out set: the same operator arrays prefixed ``test_`` and ``y_test``;
* ``meta`` -- a JSON string (kind, seed, noise, ...).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from typing import Any

import numpy as np
import torch

from ._operators import (
    OPERATORS,
    AbstractOperator,
    AlignedOperator,
    CompletionOperator,
    DenseOperator,
    RankOneOperator,
    _as_tensor,
)
from ._validation import check_choice, check_int, check_positive, check_shape

__all__ = [
    "AbstractOperator", "DenseOperator", "AlignedOperator", "CompletionOperator",
    "RankOneOperator", "Problem", "make_problem", "load_problem", "low_rank_target",
    "PROBLEM_KINDS", "ProblemFormatError", "make_image_problem",
]


class ProblemFormatError(ValueError):
    """A problem file that is missing, unreadable or inconsistent."""


def _check_y(y, m: int, name: str) -> torch.Tensor:
    y = _as_tensor(y, name, "Problem")
    if y.ndim != 1 or y.shape[0] != m:
        raise ValueError(
            f"The {name!r} parameter of Problem must have shape (m,) = ({m},) to match the "
            f"operator. Got shape {tuple(y.shape)} instead."
        )
    if not bool(torch.isfinite(y).all()):
        raise ValueError(f"The {name!r} parameter of Problem must be finite. Got NaN or inf.")
    return y


@dataclasses.dataclass(repr=False)
class Problem:
    """Measurements ``y = A(X*) + noise`` with an optional held-out set and the target.

    Attributes
    ----------
    operator : AbstractOperator
    y : torch.Tensor, shape (m,)
    X_true : torch.Tensor, shape (d1, d2), optional
    test_operator : AbstractOperator, optional
    y_test : torch.Tensor, shape (m_test,), optional
    meta : dict
        Provenance: generator kind, seed, noise, ...
    """

    operator: AbstractOperator
    y: torch.Tensor
    X_true: torch.Tensor | None = None
    test_operator: AbstractOperator | None = None
    y_test: torch.Tensor | None = None
    meta: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.operator, AbstractOperator):
            raise TypeError(
                "The 'operator' parameter of Problem must be a measurement operator. "
                f"Got {type(self.operator).__name__} instead."
            )
        dtype = self.operator.dtype
        self.y = _check_y(self.y, self.operator.m, "y").to(dtype)
        if self.X_true is not None:
            X = _as_tensor(self.X_true, "X_true", "Problem", dtype)
            if tuple(X.shape) != self.shape:
                raise ValueError(
                    f"The 'X_true' parameter of Problem must have shape {self.shape}. "
                    f"Got {tuple(X.shape)} instead."
                )
            self.X_true = X
        if (self.test_operator is None) != (self.y_test is None):
            raise ValueError("Problem needs both 'test_operator' and 'y_test', or neither.")
        if self.test_operator is not None:
            self.y_test = _check_y(self.y_test, self.test_operator.m, "y_test").to(dtype)

    def __repr__(self) -> str:
        test = "none" if self.test_operator is None else self.test_operator.m
        return (f"Problem({self.operator!r}, m_test={test}, "
                f"X_true={'yes' if self.X_true is not None else 'no'}, meta={self.meta})")

    shape = property(lambda self: self.operator.shape)
    m = property(lambda self: self.operator.m)
    dtype = property(lambda self: self.operator.dtype)

    @classmethod
    def from_arrays(cls, A, y, X_true=None) -> Problem:
        """A dense problem from ``A: (m, d1, d2)`` and ``y: (m,)`` (numpy or torch)."""
        A = _as_tensor(A, "A", "Problem.from_arrays")
        if not A.is_floating_point():
            A = A.double()
        return cls(DenseOperator(A), y, X_true)

    def loss(self, X: torch.Tensor, test: bool = False) -> torch.Tensor:
        """``1/(2m) ||A(X) - y||^2``, ``X: (..., d1, d2) -> (...)``."""
        op, y = (self.test_operator, self.y_test) if test else (self.operator, self.y)
        return 0.5 * ((op(X) - y) ** 2).mean(-1)

    def to(self, *args, **kwargs) -> Problem:
        def mv(t):
            return None if t is None else t.to(*args, **kwargs)

        test = None if self.test_operator is None else self.test_operator.to(*args, **kwargs)
        return Problem(self.operator.to(*args, **kwargs), mv(self.y), mv(self.X_true), test,
                       mv(self.y_test), dict(self.meta))

    def save(self, path: str | os.PathLike) -> None:
        """Write the documented ``.npz`` format atomically (temp file + rename)."""
        data: dict[str, Any] = {"operator": np.array(self.operator.kind)}
        data.update(self.operator.arrays())
        data["y"] = self.y.cpu().numpy()
        if self.X_true is not None:
            data["X_true"] = self.X_true.cpu().numpy()
        if self.test_operator is not None:
            data.update({f"test_{k}": v for k, v in self.test_operator.arrays().items()})
            data["y_test"] = self.y_test.cpu().numpy()
        data["meta"] = np.array(json.dumps(self.meta))
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(suffix=".npz", dir=folder)
        os.close(fd)
        try:
            np.savez(tmp, **data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise


def _operator_from(data, prefix: str, kind: str) -> AbstractOperator:
    keys = {"dense": ["A"], "aligned": ["Phi", "Psi", "S"], "completion": ["rows", "cols", "shape"],
            "rank_one": ["a", "b"]}[kind]
    missing = [prefix + k for k in keys if prefix + k not in data]
    if missing:
        raise ProblemFormatError(
            f"A {kind!r} problem file needs the keys {[prefix + k for k in keys]}; "
            f"missing {missing}. Found keys {sorted(data)}."
        )
    arrays = [data[prefix + k] for k in keys]
    if kind == "completion":
        dtype = torch.from_numpy(data["y"]).dtype
        return CompletionOperator(arrays[0], arrays[1], tuple(int(s) for s in arrays[2]), dtype)
    arrays = [a.astype(np.float64) if a.dtype.kind in "iub" else a for a in arrays]
    return OPERATORS[kind](*arrays)


def load_problem(path: str | os.PathLike) -> Problem:
    """Read a problem written by :meth:`Problem.save` (or a plain ``A``/``y`` ``.npz``).

    Raises
    ------
    ProblemFormatError
        Missing file, not an ``.npz``, missing keys, or inconsistent arrays.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ProblemFormatError(f"Problem file {path!r} does not exist.")
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except Exception as exc:  # zipfile / pickle / OS errors all mean "not a problem file"
        raise ProblemFormatError(f"Could not read {path!r} as an .npz file: {exc}") from None
    kind = str(data["operator"]) if "operator" in data else "dense"
    if kind not in OPERATORS:
        raise ProblemFormatError(f"Unknown operator kind {kind!r} in {path!r}; "
                                 f"expected one of {sorted(OPERATORS)}.")
    if "y" not in data:
        raise ProblemFormatError(f"Problem file {path!r} has no 'y'. Found keys {sorted(data)}.")
    try:
        op = _operator_from(data, "", kind)
        test = _operator_from(data, "test_", kind) if "y_test" in data else None
        meta = json.loads(str(data["meta"])) if "meta" in data else {}
        return Problem(op, data["y"], data.get("X_true"), test, data.get("y_test"), meta)
    except ProblemFormatError:
        raise
    except (ValueError, TypeError) as exc:
        raise ProblemFormatError(f"Invalid problem file {path!r}: {exc}") from None


# --------------------------------------------------------------------------- generators


def low_rank_target(shape, rank: int, *, psd: bool = True, generator=None,
                    dtype=torch.float64) -> torch.Tensor:
    """A rank-``rank`` target with unit nuclear norm.

    ``psd`` (square only): ``W W^T`` with ``W ~ U(0, 1)^{d x r}`` (the paper's target);
    otherwise ``U V^T`` with standard Gaussian factors.
    """
    d1, d2 = check_shape(tuple(shape), "low_rank_target")
    check_int(rank, "rank", "low_rank_target", 1, min(d1, d2))
    if psd and d1 == d2:
        W = torch.rand(d1, rank, generator=generator, dtype=dtype)
        X = W @ W.mT
    else:
        X = torch.randn(d1, rank, generator=generator, dtype=dtype) @ torch.randn(
            rank, d2, generator=generator, dtype=dtype)
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


def make_problem(kind: str, shape=(10, 10), rank: int = 2, measurements: int = 50, noise=0.0,
                 seed: int = 0, *, target=None, psd: bool = True, scale: float = 1.0,
                 test_measurements: int | None = None, dtype=torch.float64) -> Problem:
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
    """
    where = "make_problem"
    check_choice(kind, "kind", where, PROBLEM_KINDS)
    shape = check_shape(tuple(shape) if isinstance(shape, (list, tuple)) else shape, where)
    check_int(rank, "rank", where, 1, min(shape))
    check_int(measurements, "measurements", where, 1)
    m_test = measurements if test_measurements is None else check_int(
        test_measurements, "test_measurements", where, 1)
    check_positive(noise, "noise", where, allow_zero=True)
    check_positive(scale, "scale", where)
    check_int(seed, "seed", where, 0)
    gen = torch.Generator().manual_seed(seed)
    if target is None:
        X = low_rank_target(shape, rank, psd=psd, generator=gen, dtype=dtype)
    else:
        X = _as_tensor(target, "target", where, dtype)
        if tuple(X.shape) != shape:
            raise ValueError(f"The 'target' parameter of {where} must have shape {shape}. "
                             f"Got {tuple(X.shape)} instead.")
        X = X / torch.linalg.svdvals(X).sum()
    perm = None
    if kind == "completion":
        n = shape[0] * shape[1]
        check_int(measurements, "measurements", where, 1, n)
        perm = torch.randperm(n, generator=gen)
        # Held-out entries come from the unobserved ones (fewer if fewer remain; all entries
        # when every entry is observed).
        test_idx = perm[measurements:measurements + m_test] if measurements < n else perm
        m_test = test_idx.numel()
    ops = [_sample_operator(kind, shape, m, X, scale, gen, dtype, t)
           for m, t in ((measurements, perm), (m_test, None if perm is None else test_idx))]
    ys = [op(X) + noise * torch.randn(op.m, generator=gen, dtype=dtype) for op in ops]
    meta = {"kind": kind, "shape": list(shape), "rank": int(torch.linalg.matrix_rank(X)),
            "measurements": measurements, "test_measurements": m_test, "noise": noise,
            "seed": seed, "scale": scale, "target": "random" if target is None else "user"}
    return Problem(ops[0], ys[0], X, ops[1], ys[1], meta)


def make_image_problem(image: str, shape=(28, 28), fraction: float = 0.6, noise=0.01,
                       seed: int = 0, *, scale: float = 1.0) -> tuple[Problem, float]:
    """Gaussian measurements of a real image (see :func:`spectralnn.images.load_image`).

    ``m = round(fraction * d1 * d2)``; the target is the image at unit nuclear norm. Returns the
    problem and the factor that brings matrices back to the image's own scale (for display and
    PSNR).
    """
    from .images import load_image

    img = load_image(image, tuple(shape))
    m = max(1, round(fraction * img.shape[0] * img.shape[1]))
    problem = make_problem("gaussian", img.shape, 1, m, noise, seed, target=img, scale=scale)
    return problem, float(img.sum() / problem.X_true.sum().item())
