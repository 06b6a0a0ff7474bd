"""Which SVD route is fastest on this CUDA device, per matrix size and batch size?

    python benchmarks/gpu_svd.py

Routes: torch's default CUDA SVD, cuSOLVER batched Jacobi (gesvdj), a CPU round trip, and
eigh of the Gram matrix (fast but squares the condition number: not used by spectralnn, shown
for reference). Also times one spectralnn training step (Figure 2 and 4 settings) on CPU and
CUDA, batched and not.
"""

import sys
import time

import torch

import spectralnn as snn


def bench(fn, reps=5):
    fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / reps * 1e3


def routes(X):
    return {
        "default": lambda: torch.linalg.svd(X, full_matrices=False),
        "gesvdj": lambda: torch.linalg.svd(X, full_matrices=False, driver="gesvdj"),
        "cpu": lambda: [t.cuda() for t in torch.linalg.svd(X.cpu(), full_matrices=False)],
        "eigh(gram)": lambda: torch.linalg.eigh(X.mT @ X),
        "spectralnn": lambda: snn.functional._svd(X),
    }


def main():
    print(torch.cuda.get_device_name(), torch.__version__)
    if "--steps-only" not in sys.argv:
        svd_table()
    step_table()


def svd_table():
    print(f"{'n':>5s} {'batch':>6s} " + " ".join(f"{k:>11s}" for k in routes(torch.eye(2))))
    for n in (10, 28, 32, 64, 128, 256):
        for batch in (1, 16, 256, 1024):
            if n * n * batch > 2**24:
                continue
            X = torch.randn(batch, n, n, device="cuda", dtype=torch.float64)
            times = {k: bench(f) for k, f in routes(X).items()}
            print(f"{n:5d} {batch:6d} " + " ".join(f"{v:10.3f}m" for v in times.values()))


def step_table():
    print("\ntraining step, ms per run-step (float64)")
    for dev in ("cpu", "cuda"):
        for setting, shape, widths, m, R in (("fig2", 10, (2, 2, 2, 2), 75, 5),
                                             ("fig4", 28, (4, 8, 16), 470, 3)):
            p = snn.make_problem("gaussian", (shape, shape), 2, m, seed=0).to(dev)
            for runs in (None, R):
                model = snn.SNNFactorization((shape, shape), widths, init="gaussian",
                                             init_scale=0.1, runs=runs).to(dev)
                steps = 50
                fit = (lambda: snn.fit(model, p, 1e-3, steps, record_every=steps)) if runs is None \
                    else (lambda: snn.fit_runs(model, p, [1e-3] * runs, steps, record_every=steps))
                fit()
                if dev == "cuda":
                    torch.cuda.synchronize()
                t = time.perf_counter()
                fit()
                if dev == "cuda":
                    torch.cuda.synchronize()
                per = (time.perf_counter() - t) / steps / (runs or 1) * 1e3
                print(f"{setting} {dev:5s} runs={runs or 1:3d}: {per:8.3f} ms/run-step")


if __name__ == "__main__":
    main()
