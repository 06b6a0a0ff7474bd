"""The Gaussian-mixture refinement of a table at the end of a completion: its settings chosen
and judged on the parts' held-out entries (``_gaussian_choice.py``), then the final runs."""

from __future__ import annotations

import time

import numpy as np
import torch

from . import _gaussian, _gaussian_choice, _preprocess
from ._column_weights import (
    _at_one_value,
    _column_means,
    _column_weights,
    _cross_fitted,
    _worse_than_mean,
)
from ._gaussian_choice import Judged
from ._threads import parallel_map


class _Mixture:
    """The methods of :class:`spectralnn._complete_finish._Finish` that refine a table."""

    shape: tuple
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    kwargs: dict
    _worse_columns: np.ndarray
    t0: float
    progress: object

    def _gaussian_step(self, res, fitted):
        """The Gaussian-mixture refinement of a table (``_gaussian.py``), its ridge,
        stacked mixture sizes and copula chosen on the held-out entries (:meth:`_choose_mixture`;
        :data:`_gaussian.DEFAULT_RIDGE` and one Gaussian on the values without them).

        Each column's refined values are pulled toward its mean by the weight that fits the
        held-out entries best (lowered by its standard error where they do not show a sure
        gain: :func:`_column_weights`): a Gaussian is the wrong model for a column that is nearly
        constant with rare spikes (digits' border pixels: 20x the mean fill's error on hidden
        entries without a rule, 1.1x with a filled-by-mean rule decided on one part's held-out
        entries, at most 1.0x with the weights and :func:`_at_one_value`)."""
        seed = self.kwargs.get("seed", 0)
        d2 = self.shape[1]
        if self.progress is not None:  # the mixture takes seconds to a minute: say so
            self.progress(
                {
                    "phase": "Gaussian-mixture refinement",
                    "step": None,
                    "max_steps": None,
                    "held_out": None,
                    "elapsed": time.perf_counter() - self.t0,
                    "eta": None,
                }
            )
        if fitted[0].held is None:
            ch = Judged(_gaussian.DEFAULT_RIDGE, 1, False, np.ones(d2), np.zeros(d2, bool))
        else:
            ch = self._choose_mixture(fitted, seed, res.refit)
            if not ch.better:  # e.g. a sparse ratings matrix with few items: the SNN stays
                return
            res.validation_error = ch.rmse  # of what is returned, not of the SNN parts
        obs = np.zeros(self.shape, dtype=bool)
        obs[self.rows, self.cols] = True
        assert res.X is not None
        X = res.X.numpy().copy()
        X[self.rows, self.cols] = self.values
        if not ch.stats:
            X = _gaussian.refine(X, obs, ch.ridge, ch.components, seed=seed, copula=ch.copula)
        else:  # per stacked size, one refinement from each part's mixture, averaged
            args = (X, obs, ch.ridge)
            tail = (_gaussian.WARM_PASSES, seed, ch.copula)
            todo = [(K, a / len(ch.stats[K]), st) for K, a in ch.mix for st in ch.stats[K]]
            runs = parallel_map(lambda t: t[1] * _gaussian.refine(*args, t[0], *tail, t[2]), todo)
            X = np.sum(runs, axis=0)
        mean = _column_means(self.values, self.cols, d2)
        X = np.where(obs, X, mean + ch.weight * (X - mean))
        res.X = torch.from_numpy(res.clip_dense(X))
        res.refined, res.components, res.copula = ch.ridge, ch.components, ch.copula
        res.mixture = dict(ch.mix) if ch.mix else {ch.components: 1.0}
        res.weights, res.mean_columns = ch.weight, np.flatnonzero(ch.weight == 0)
        self._worse_columns = np.flatnonzero(ch.worse)

    def _choose_mixture(self, fitted, seed, refit=False) -> Judged:
        """The settings chosen on held-out entries (the ridge on the first part's, the copula
        and the stacked mixture sizes on every part's: :func:`_gaussian_choice.choose`, each
        part refined from its own SNN with its held-out entries hidden), then judged on every
        part's held-out entries: the columns' weights (:func:`_column_weights`), the
        held-out RMSE with them (data units) and whether that beats the parts' SNNs on the
        same entries (:func:`_preprocess.judged`), on their sum. The RMSE and that comparison
        use weights cross-fitted across the parts (:func:`_cross_fitted`), not the weights
        fitted on the very entries they judge. A 3000 x 150 ratings matrix at 5% observed:
        refined 0.662 RMSE on hidden entries, the SNN alone 0.677; at 20% the SNN is kept
        (0.459). A small matrix's completion is a refit on all entries, and its parts' SNNs
        only stand in for it: there the refinement must win in most of the parts, as one part
        that stopped too early must not decide it (a 30 x 14 rank-2 matrix at 20% hidden:
        parts stopped at steps 170, 1010 and 2000, the refinement beat their sum and was 0.05
        off, the refit 3e-4). Most parts is the wrong rule elsewhere: on another 3000 x 150
        ratings matrix at 5% the refinement won at most one part of three but their sum, and
        gave 0.915 RMSE on the hidden entries against the SNN's 0.942.

        Judging on all parts triples the entries a column's weight rests on (wine at 30%
        hidden: about 12 a column in one part). Each part's mixture of each stacked size
        (``stats``) then starts one of the final refinements (:data:`_gaussian.WARM_PASSES`),
        averaged per size and combined with the stacking weights."""
        d2 = self.shape[1]
        scales = _preprocess.judge_scales(self.values, self.cols, d2)
        parts = [self._held_part(f) for f in fitted if f.held is not None]
        X0, obs, h, train = parts[0]
        r, c, v = self.rows[h], self.cols[h], self.values[h]
        others = [
            (p[0], p[1], self.rows[p[2]], self.cols[p[2]], self.values[p[2]]) for p in parts[1:]
        ]
        chosen = _gaussian_choice.choose(X0, obs, r, c, v, scales, seed, others)
        preds = chosen.predictions
        snn = [p[0][self.rows[p[2]], self.cols[p[2]]] for p in parts]
        base = [
            _column_means(self.values[train], self.cols[train], d2)[self.cols[h]]
            for _, _, h, train in parts
        ]
        h = np.concatenate([p[2] for p in parts])
        c, v = self.cols[h], self.values[h]
        pred, mean, snn_pred = np.concatenate(preds), np.concatenate(base), np.concatenate(snn)
        weight = _column_weights(pred, mean, v, c, d2)
        worse = _worse_than_mean(pred, mean, v, c, d2) | _at_one_value(v, c, d2)
        final = _cross_fitted(pred, mean, v, c, d2, [len(p[2]) for p in parts], weight)
        judged = _preprocess.judged
        if refit:  # the parts only stand in for the refit: most of them must agree
            ends = np.cumsum([len(p[2]) for p in parts])[:-1]
            wins = sum(
                judged(final[k] - v[k], c[k], scales).sum()
                < judged(snn_pred[k] - v[k], c[k], scales).sum()
                for k in np.split(np.arange(len(h)), ends)
            )
            better = 2 * wins > len(parts)
        else:
            better = judged(final - v, c, scales).sum() < judged(snn_pred - v, c, scales).sum()
        rmse = float(np.sqrt(np.mean((final - v) ** 2)))
        starts = {K: tuple(st for st in sts if st is not None) for K, sts in chosen.stats.items()}
        mix = tuple((K, a) for K, a in chosen.mix if starts[K])  # sizes with a run to start
        total = sum(a for _, a in mix)
        mix = tuple((K, a / total) for K, a in mix)
        starts = {K: starts[K] for K, _ in mix}  # none left: the final refinement starts cold
        size = _gaussian_choice.heaviest(mix) if mix else chosen.components
        return Judged(chosen.ridge, size, chosen.copula, weight, worse, rmse, better, starts, mix)

    def _held_part(self, part):
        """``(X0, observed, held, train)`` of a part: its SNN's completion in data units with
        its training entries filled in, and those entries' mask."""
        train = np.ones(len(self.values), dtype=bool)
        train[part.held] = False
        obs = np.zeros(self.shape, dtype=bool)
        obs[self.rows[train], self.cols[train]] = True
        X0 = part.norm.inverse(part.fit.dense().double().numpy())
        X0[self.rows[train], self.cols[train]] = self.values[train]
        return X0, obs, part.held, train
