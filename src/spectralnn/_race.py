"""The learning-rate race of the sensing recipe (:func:`spectralnn.recipe.fit_recipe`)."""

from __future__ import annotations

import contextlib
import math

import torch

from .errors import warn_user
from .models import make_model
from .sensing import Problem
from .train import Status, fit_runs


def _state(model, i):
    return {k: v.detach()[i].clone() for k, v in model.state_dict().items()}


def _warn(result_warnings, cls, msg):
    result_warnings.append(msg)
    warn_user(cls(msg))


class _Race:
    """Candidate rates trained together in chunks, scored on the held-out part after each.

    Scores are relative RMS errors ``e = sqrt(loss / loss_at_start)`` (held-out loss, or the
    training loss without a held-out part). A run has converged when its best ``e`` fell by less
    than ``tol`` over the last ``patience`` chunks (after it left its starting plateau).
    """

    def __init__(self, model, lrs, train, val, patience, tol):
        self.model, self.lrs, self.train, self.val = model, list(lrs), train, val
        # Held-out scores come from fit's own records (test_loss): no dense X per chunk.
        self.scored = (
            train
            if val is None
            else Problem(
                train.operator, train.y, train.X_true, val.operator, val.y, dict(train.meta)
            )
        )
        ref = train.y if val is None else val.y
        self.zero_score = max(float(0.5 * (ref * ref).mean()), 1e-300)  # the loss of X = 0
        self.patience, self.tol = patience, tol
        k = len(lrs)
        self.ids = list(range(k))  # candidate index of each run still in the batch
        self.best, self.best_step = [math.inf] * k, [0] * k
        self.best_state = [_state(model, i) for i in range(k)]
        self.trace = [[] for _ in range(k)]  # best e after each chunk
        self.dead, self.moved = [False] * k, [False] * k
        self.loss0, self.score0 = [None] * k, [None] * k
        self.hist = [[] for _ in range(k)]
        self.last_train = [math.inf] * k

    def _score(self, res):
        return float(res.final["test_loss" if self.val is not None else "train_loss"])

    def chunk(self, step, n):
        lrs = [self.lrs[c] for c in self.ids]
        results = fit_runs(self.model, self.scored, lrs, n, record_every=n, progress=False)
        for j, (c, res) in enumerate(zip(self.ids, results)):
            if self.dead[c] or res.status == Status.DIVERGED:
                self.dead[c] = True
                continue
            if self.loss0[c] is None:
                self.loss0[c] = res.history[0]["train_loss"]
                self.score0[c] = self.zero_score
            score = self._score(res)
            rec = {k: v for k, v in res.final.items() if k not in ("test_loss", "step")}
            self.hist[c].append(
                dict(rec, step=step + n, val_loss=score if self.val is not None else None)
            )
            self.last_train[c] = rec.get("train_loss", math.inf)
            if score < self.best[c]:
                self.best[c], self.best_step[c] = score, step + n
                self.best_state[c] = _state(self.model, j)
            self.trace[c].append(math.sqrt(self.best[c] / self.score0[c]))
            # Past the plateau of a small init: the fit halved or the held-out error fell 10%.
            self.moved[c] = self.moved[c] or (
                self.last_train[c] < 0.5 * self.loss0[c] or self.trace[c][-1] < 0.9
            )
        return step + n

    def converged(self, c) -> bool:
        t = self.trace[c]
        return self.moved[c] and len(t) > self.patience and t[-1 - self.patience] - t[-1] < self.tol

    def leader(self) -> int:
        return min(range(len(self.lrs)), key=lambda c: (self.dead[c], self.best[c]))

    def narrow(self, model_name, shape, kwargs) -> None:
        """Keep only the leader: continue it alone (cheaper than the whole batch)."""
        c = self.leader()
        j = self.ids.index(c)
        state = {k: v.detach()[j : j + 1].clone() for k, v in self.model.state_dict().items()}
        self.model = _build(model_name, shape, 1, kwargs)
        self.model.load_state_dict(state)
        self.ids = [c]


def _matrix(model) -> torch.Tensor:
    """The model's X: through the factored cores where ``method="auto"`` would train there
    (a d1 x d2 spectral map of a large matrix costs O(d^3)), else ``model()``."""
    from ._factored import factored_faster, factored_matrix

    with torch.no_grad():
        big = hasattr(model, "snn") and factored_faster(model, None)
        X = factored_matrix(model) if big else None
        return model().detach() if X is None else X


def _build(model_name, shape, runs, kwargs):
    return make_model(model_name, shape, runs=runs, **kwargs)


@contextlib.contextmanager
def one_thread_up_to(shape, limit: int):
    """One intra-op thread while a ``shape`` matrix with at most ``limit`` entries trains, the
    caller's setting restored afterwards (OpenMP threads spin on small problems)."""
    n = torch.get_num_threads()
    small = shape[0] * shape[1] <= limit and n > 1
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small:
            torch.set_num_threads(n)


def _small_threads(shape):
    """One intra-op thread for small matrices (restored after): measured on 2 busy cores, a
    60x40 SNN step took 33 ms of CPU with 2 threads (OpenMP spinning) and 2.1 ms with 1."""
    return one_thread_up_to(shape, SMALL_MATRIX)


SMALL_MATRIX = 256 * 256
"""Matrices with at most this many entries are trained on one thread (see ``_small_threads``)."""
LARGE_SIDE = 256
"""From this smallest side on, the SNN's factors get rank ``min(d) / (4 L0)`` (factored path)."""
MAX_RANK = 32
"""...but at most this rank (cores of ``L0 * MAX_RANK`` columns; 128 with the default widths)."""
