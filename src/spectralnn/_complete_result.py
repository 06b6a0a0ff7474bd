"""What the completion recipe returns (:class:`CompletionResult`) and its parts."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from . import _preprocess
from .errors import ColumnWarning  # noqa: F401 (re-exported: its home before it was public)


@dataclasses.dataclass
class CompletionResult:
    """What :func:`complete` returns.

    ``X`` is the completed matrix in the user's units (torch, ``None`` past
    :data:`DENSE_LIMIT` entries: use :meth:`predict`); ``folds`` the trained parts (or the
    model refit on all entries of a small matrix: :attr:`refit`);
    ``validation_error`` the mean held-out RMSE of the parts in the user's units (for a
    refined table: the refinement's, on every part's held-out entries, with cross-fitted
    column weights);
    ``history`` one record per held-out check (``fold``, ``step``, ``train_loss`` normalised,
    ``val_rmse`` in the user's units).
    """

    X: torch.Tensor | None
    normalization: _preprocess.Normalization
    folds: list
    history: list
    status: str
    validation_error: float | None
    column_scale: bool
    lr: float
    lr_factor: float
    init_scale: float | None
    best_step: int
    wall_time: float
    warnings: list
    shape: tuple
    clip: bool = True
    refit: bool = False
    """Whether :attr:`folds` is one model refit on every entry of a small matrix (its parts'
    runs are in :attr:`history`; :attr:`lr` is the first part's rate)."""
    candidates: dict = dataclasses.field(default_factory=dict)
    refined: float | None = None
    """The ridge of the Gaussian-mixture refinement of a table (None: not refined)."""
    components: int | None = None
    """The number of Gaussians of that refinement, of its stacked mixtures the one with the
    largest weight (None: not refined)."""
    mixture: dict | None = None
    """The stacked mixtures of that refinement: ``{number of Gaussians: weight}``, weights
    summing to 1, chosen on held-out entries (None: not refined)."""
    copula: bool | None = None
    """Whether that refinement modelled the columns' normal scores (a Gaussian copula) rather
    than their values (None: not refined)."""
    weights: np.ndarray | None = None
    """Per column of a table, the weight w of its model's values in mean + w (model - mean),
    chosen on held-out entries: of the refined values (a refined table), or of the SNN's
    (a table left unrefined, whose parts' held-out predictions chose them; None if every
    weight is 1 or without held-out entries)."""
    column_means: np.ndarray | None = None
    """The observed column means :attr:`weights` pull toward (None: no weights)."""
    mean_columns: np.ndarray | None = None
    """Columns of a table filled by their observed mean: of a refined table, those of weight 0
    in :attr:`weights` (held out at one value, or predicted with no useful correlation on
    their held-out entries); of a table left unrefined, those observed at one value (all but
    a few of their entries). None for a ratings matrix (over 200 columns) or without
    :attr:`X`."""

    filled: np.ndarray | None = None
    """The entries of an unrefined table set to their column's mean (the missing entries of
    :attr:`mean_columns`; None if none)."""

    def _sizes(self) -> str:
        if not self.mixture or len(self.mixture) < 2:
            return str(self.components)
        return " + ".join(f"{w:.2f} x {K}" for K, w in sorted(self.mixture.items()))

    def __repr__(self) -> str:  # the fields hold matrices and histories: a summary instead
        val = "n/a" if self.validation_error is None else f"{self.validation_error:.4g}"
        mixture = (
            ""
            if self.components is None
            else f", mixture of {self._sizes()}{' (copula)' if self.copula else ''}"
        )
        return (
            f"CompletionResult(shape={tuple(self.shape)}, status={self.status!r}, "
            f"held-out RMSE={val}, parts={len(self.folds)}{mixture}, "
            f"wall_time={self.wall_time:.3g} s)"
        )

    @property
    def model(self):
        return self.folds[0].fit.model

    @property
    def X_normalized(self):
        return (
            None
            if self.X is None
            else torch.as_tensor(
                self.folds[0]
                .norm.forward(self.X.numpy().ravel(), *np.indices(self.shape).reshape(2, -1))
                .reshape(self.shape)
            )
        )

    def predict(self, rows, cols, clip: bool | None = None) -> np.ndarray:
        """Predictions at integer positions ``rows, cols`` (1-D, the user's units)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        cols = np.asarray(cols, dtype=np.int64).reshape(-1)
        if self.X is not None and self.refined is not None:
            return self.X.numpy()[rows, cols]
        live = [f for f in self.folds if f.fit.status != "diverged"] or self.folds
        out = np.mean(
            [f.norm.inverse_at(f.fit.predict(rows, cols), rows, cols, clip=False) for f in live],
            axis=0,
        )
        if self.weights is not None and self.column_means is not None:  # an unrefined table
            m, w = self.column_means[cols], self.weights[cols]
            out = np.where(w < 1, m + w * (out - m), out)
        out = self._clip(out, cols) if (self.clip if clip is None else clip) else out
        if self.filled is not None and self.X is not None:  # column means, within the range
            at = self.filled[rows, cols]
            out[at] = self.X.numpy()[rows[at], cols[at]]
        return out

    def clip_dense(self, X):
        """``X`` (the whole matrix) clipped as :meth:`predict` clips its entries."""
        return self._clip(X, np.arange(X.shape[1])[None, :])

    def _clip(self, u, cols):
        return self.normalization.clip(u, cols)


@dataclasses.dataclass
class _Fold:
    fit: object
    norm: _preprocess.Normalization
    held: np.ndarray | None


def _status(fitted) -> str:
    states = [f.fit.status for f in fitted]
    for s in ("diverged", "stalled", "time", "max_steps"):
        if s in states:
            return s
    return "converged"
