"""Write the issue-10 ratings example: a 60x40 rank-3 matrix with values in [1, 5], 30% observed.

    python benchmarks/ratings_example.py [OUT_DIR] [--noise 0.1] [--times 1]

writes OUT_DIR/ratings.csv (NaN = missing; the observed entries, plus Gaussian noise of std
--noise, times --times) and OUT_DIR/ratings_truth.npy (the full noiseless matrix, times --times),
deterministically (seed 0). Score a completion with

    spectralnn complete OUT_DIR/ratings.csv --out OUT_DIR/completed.csv
    python benchmarks/ratings_example.py OUT_DIR --score OUT_DIR/completed.csv

which prints the relative error on the missing entries.
"""

from __future__ import annotations

import argparse
import os

import numpy as np


def ratings(seed: int = 0, shape=(60, 40), rank: int = 3, fraction: float = 0.3):
    """``(X, mask)``: ``X = U V^T`` with a constant first column of ``U`` (so the affine map to
    [1, 5] keeps rank ``rank``), and ``round(fraction * d1 * d2)`` observed entries."""
    rng = np.random.default_rng(seed)
    d1, d2 = shape
    U = np.hstack([np.ones((d1, 1)), rng.standard_normal((d1, rank - 1))])
    X = U @ rng.standard_normal((d2, rank)).T
    X = 1 + 4 * (X - X.min()) / (X.max() - X.min())
    mask = np.zeros(d1 * d2, dtype=bool)
    mask[rng.permutation(d1 * d2)[: round(fraction * d1 * d2)]] = True
    return X, mask.reshape(shape)


def observed(noise: float = 0.0, times: float = 1.0, seed: int = 0):
    """``(M, X)``: the observed matrix with NaN (noisy, scaled) and the truth (scaled)."""
    X, mask = ratings(seed)
    noisy = X + noise * np.random.default_rng(seed + 1).standard_normal(X.shape)
    return np.where(mask, noisy * times, np.nan), X * times


def missing_error(completed: np.ndarray, M: np.ndarray, X: np.ndarray) -> float:
    miss = np.isnan(M)
    return float(np.linalg.norm((completed - X)[miss]) / np.linalg.norm(X[miss]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=".")
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument("--times", type=float, default=1.0)
    ap.add_argument("--score", help="a completed CSV: print its error on the missing entries")
    args = ap.parse_args()
    M, X = observed(args.noise, args.times)
    if args.score:
        C = np.loadtxt(args.score, delimiter=",")
        print(f"relative error on the missing entries: {missing_error(C, M, X):.5f}")
        return
    os.makedirs(args.out, exist_ok=True)
    np.savetxt(os.path.join(args.out, "ratings.csv"), M, delimiter=",", fmt="%.10g")
    np.save(os.path.join(args.out, "ratings_truth.npy"), X)
    print(
        f"wrote {args.out}/ratings.csv ({int((~np.isnan(M)).sum())} of {M.size} observed) "
        f"and ratings_truth.npy"
    )


if __name__ == "__main__":
    main()
