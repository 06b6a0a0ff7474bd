"""Time one GD step of the full SNN vs the exact reduced system on an aligned problem.

python benchmarks/reduced_vs_full.py --d 1000
"""

import argparse
import time

import spectralnn as snn


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--d", type=int, default=1000)
    ap.add_argument("--measurements", type=int, default=500)
    ap.add_argument("--full-steps", type=int, default=3)
    ap.add_argument("--reduced-steps", type=int, default=1000)
    args = ap.parse_args()
    d = args.d
    t = time.perf_counter()
    p = snn.make_problem("aligned", (d, d), 5, args.measurements, noise=0.01, seed=0)
    print(f"problem d={d}, m={args.measurements}: built in {time.perf_counter() - t:.1f} s")

    def model():
        return snn.SNNFactorization(
            (d, d), (2, 2, 2, 2), init="spectral", init_scale=1e-2, problem=p, seed=0
        )

    timings, same = {}, {}
    for method, steps in (("full", args.full_steps), ("reduced", args.reduced_steps)):
        t = time.perf_counter()
        snn.fit(model(), p, 1e-3, steps, method=method, record_every=steps)
        timings[method] = (time.perf_counter() - t) / steps
        same[method] = snn.fit(model(), p, 1e-3, args.full_steps, method=method).X
        print(
            f"{method:8s}: {steps} steps, {timings[method] * 1e3:10.3f} ms/step "
            f"(incl. 2 metric records)"
        )
    diff = (same["full"] - same["reduced"]).abs().max().item()
    print(f"max |X_full - X_reduced| after {args.full_steps} steps: {diff:.2e}")
    print(f"speed-up of the reduced system: {timings['full'] / timings['reduced']:.0f}x")


if __name__ == "__main__":
    main()
