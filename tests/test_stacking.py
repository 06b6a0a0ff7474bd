"""The stacked mixture sizes of a table's refinement (``_gaussian_choice.stack`` and
``choose``): exact convex weights, judged on every part's held-out entries."""

import warnings

import numpy as np
import pytest

from spectralnn import _gaussian_choice
from spectralnn._preprocess import judged


def _problem(seed, m=4, n=300, d=5):
    rng = np.random.default_rng(seed)
    target = rng.standard_normal(n)
    cols = rng.integers(0, d, n)
    preds = [target + s * rng.standard_normal(n) + b for s, b in zip(rng.random(m), rng.random(m))]
    scales = np.stack([0.5 + rng.random(d), np.full(d, 1.3)])
    scales[0, 0] = np.inf  # a flat column: only the second judge counts it
    return preds, target, cols, scales


@pytest.mark.parametrize("seed", range(5))
def test_stack_matches_an_independent_convex_solver(seed):
    cp = pytest.importorskip("cvxpy")
    preds, target, cols, scales = _problem(seed)
    a = _gaussian_choice.stack(preds, target, cols, scales)
    assert np.all(a >= 0) and np.isclose(a.sum(), 1.0)
    P = np.stack(preds, 1)
    w = np.sqrt(np.sum(1.0 / scales[:, cols] ** 2, axis=0))
    x = cp.Variable(len(preds))
    cp.Problem(
        cp.Minimize(cp.sum_squares(cp.multiply(w, P @ x - target))), [x >= 0, cp.sum(x) == 1]
    ).solve()
    ours = judged(P @ a - target, cols, scales).sum()
    theirs = judged(P @ x.value - target, cols, scales).sum()
    assert ours <= theirs * (1 + 1e-6)
    assert np.allclose(a, np.clip(x.value, 0, None), atol=1e-4)
    for k in range(len(preds)):  # no single candidate does better
        assert ours <= judged(preds[k] - target, cols, scales).sum() + 1e-12


def test_stack_picks_an_exact_candidate_alone_and_drops_negligible_weights():
    preds, target, cols, scales = _problem(0)
    a = _gaussian_choice.stack([preds[0], target, preds[1]], target, cols, scales)
    assert np.array_equal(a, [0.0, 1.0, 0.0])
    e = preds[0] - target  # exact at weight 1/1001 on the second: below MIN_WEIGHT, dropped
    a = _gaussian_choice.stack([target + e, target - 1000 * e], target, cols, scales)
    assert 1 / 1001 < _gaussian_choice.MIN_WEIGHT and np.array_equal(a, [1.0, 0.0])


def _wine_30(seed=3):
    """wine and ``benchmarks/imputers.py``'s mask of 30% of its entries (mask seed ``seed``)."""
    datasets = pytest.importorskip("sklearn.datasets")
    X = datasets.load_wine().data
    miss = np.zeros(X.size, dtype=bool)
    miss[np.random.default_rng(seed).choice(X.size, size=round(0.3 * X.size), replace=False)] = 1
    miss = miss.reshape(X.shape)
    assert not miss.all(0).any() and not miss.all(1).any()  # the benchmark's first draw
    return X, miss


def test_stacked_sizes_judged_on_every_part_help_wine():
    """wine at 30% hidden, ``benchmarks/imputers.py``'s mask of seed 3: the sizes chosen on
    the first part's held-out entries were one Gaussian (relative error 0.2395); judged on
    every part and stacked: 0.196."""
    from spectralnn.recipe import complete

    X, miss = _wine_30()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = complete(np.where(miss, np.nan, X))
    rel = np.linalg.norm((res.X.numpy() - X)[miss]) / np.linalg.norm(X[miss])
    assert rel < 0.215
    assert len(res.mixture) >= 2 and np.isclose(sum(res.mixture.values()), 1.0)
    assert res.components == max(res.mixture, key=res.mixture.get)
    assert " x " in repr(res)  # the summary names the stacked sizes


def _clustered(n=400, d=6, seed=0, k=5):
    rng = np.random.default_rng(seed)
    X = (4.0 * rng.standard_normal((k, d)))[rng.integers(0, k, n)]
    return X + 0.3 * rng.standard_normal((n, d)), rng


@pytest.mark.parametrize("per_column", [20, 80])
def test_sizes_are_judged_on_every_part_only_when_the_first_holds_few_entries(
    monkeypatch, per_column
):
    X, rng = _clustered()
    n, d = X.shape
    calls = []
    real = _gaussian_choice._refine

    def counting(X0, observed, ridge, K, *args):
        calls.append((id(observed), K))  # which part: its own mask
        return real(X0, observed, ridge, K, *args)

    monkeypatch.setattr(_gaussian_choice, "_refine", counting)
    parts = []
    for _ in range(3):  # three parts, each holding ``per_column`` entries a column out
        hidden = np.zeros((n, d), dtype=bool)
        for j in range(d):
            hidden[rng.choice(n, per_column, replace=False), j] = True
        r, c = np.nonzero(hidden)
        X0 = np.where(hidden, X[~hidden].mean(), X)
        parts.append((X0, ~hidden, r, c, X[r, c]))
    first, others = parts[0], parts[1:]
    chosen = _gaussian_choice.choose(*first, np.ones((2, d)), 0, others)
    sizes = {K for _, K in calls}
    per_part = {K: len({m for m, k in calls if k == K}) for K in sizes}
    pooled = per_column < _gaussian_choice.POOLED_HELD
    assert sizes >= {1, 2, 4}  # the doubling went past one Gaussian on clustered rows
    if pooled:  # every size tried ran on all three parts, and the stack weighs them
        assert all(per_part[K] == 3 for K in sizes)
        assert {K for K, _ in chosen.mix} <= sizes
    else:  # the other parts ran only the chosen size beyond one Gaussian
        assert len(chosen.mix) == 1 and chosen.mix[0][1] == 1.0
        assert [K for K in sizes if K > 1 and per_part[K] == 3] == [chosen.components]
    assert all(p.shape == part[2].shape for p, part in zip(chosen.predictions, parts))


def test_stack_leaves_out_a_non_finite_candidate():
    preds, target, cols, scales = _problem(1, m=3)
    broken = preds[1].copy()
    broken[5] = np.nan
    a = _gaussian_choice.stack([preds[0], broken, preds[2]], target, cols, scales)
    assert np.all(np.isfinite(a)) and a[1] == 0.0 and np.isclose(a.sum(), 1.0)
    assert np.allclose(
        a[[0, 2]], _gaussian_choice.stack([preds[0], preds[2]], target, cols, scales)
    )


@pytest.mark.parametrize("lost", ["all", "largest"])
def test_a_refinement_without_mixture_starts_refines_cold(monkeypatch, lost):
    """Sizes whose parts left no mixture statistics are dropped from the stack and the rest
    rescaled (the review of the stacking change: all of them gone made the final refinement an
    empty sum, 0); with none left the final refinement starts cold."""
    from spectralnn.recipe import complete

    X, miss = _wine_30()  # stacks four sizes
    real = _gaussian_choice.choose
    dropped = []

    def no_starts(*args, **kwargs):
        ch = real(*args, **kwargs)
        gone = {K for K, _ in ch.mix} if lost == "all" else {ch.components}
        dropped.extend(gone)
        stats = {K: [None] * len(v) if K in gone else v for K, v in ch.stats.items()}
        return ch._replace(stats=stats)

    monkeypatch.setattr(_gaussian_choice, "choose", no_starts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = complete(np.where(miss, np.nan, X))
    assert res.refined is not None and sum(res.mixture.values()) == pytest.approx(1.0)
    if lost == "largest":  # the others stay, rescaled
        assert len(res.mixture) >= 2 and not set(dropped) & set(res.mixture)
    rel = np.linalg.norm((res.X.numpy() - X)[miss]) / np.linalg.norm(X[miss])
    mean_fill = np.linalg.norm((np.nanmean(np.where(miss, np.nan, X), 0) - X)[miss])
    assert rel < 0.7 * mean_fill / np.linalg.norm(X[miss])
