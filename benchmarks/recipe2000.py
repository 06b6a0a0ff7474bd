"""The no-tuning recipe at scale: a 2,000 x 2,000 rank-10 matrix from 200,000 observed entries
(5%), completed by ``SNNCompleter()`` with every default (the factored path is picked by itself).

    python benchmarks/recipe2000.py            # about 5 minutes on 2 cores
    python benchmarks/recipe2000.py --d 500 --m 25000   # a smaller run of the same kind
"""

import argparse
import time

import numpy as np

import spectralnn as snn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=2000)
    ap.add_argument("--rank", type=int, default=10)
    ap.add_argument("--m", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    d, r = args.d, args.rank
    X = rng.standard_normal((d, r)) @ rng.standard_normal((r, d)) / np.sqrt(r)
    idx = rng.choice(d * d, args.m, replace=False)
    M = np.full(d * d, np.nan)
    M[idx] = X.reshape(-1)[idx]
    M = M.reshape(d, d)
    t = time.perf_counter()
    est = snn.SNNCompleter()
    Y = est.fit_transform(M)
    wall = time.perf_counter() - t
    err = np.linalg.norm(Y - X) / np.linalg.norm(X)
    print(
        f"{d}x{d}, rank {r}, {args.m} observed: relative error {err:.2e} in {wall:.0f} s "
        f"(status {est.status_}, lr {est.lr_:.3g}, {est.n_iter_} steps, held-out error "
        f"{est.validation_error_:.2e})"
    )


if __name__ == "__main__":
    main()
