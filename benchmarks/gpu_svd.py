"""Which SVD route is fastest on this CUDA device, per matrix size and batch size?

    python benchmarks/gpu_svd.py                 # the route table, training steps, factored
    python benchmarks/gpu_svd.py --steps-only    # skip the route table
    python benchmarks/gpu_svd.py --device cpu    # the same tables on the CPU (a dry run)

Routes: torch's default CUDA SVD, cuSOLVER batched Jacobi (gesvdj), a CPU round trip, the
eigendecomposition of the Gram matrix (the Gram route of ``_spectral.py``, which spectralnn
takes on CPUs for f(0) = 0 and which ``route="auto"`` does not yet take on CUDA: this table is
what should decide it), and spectralnn's own ``_svd``. Then one training step (Figure 2 and 4
settings) per route, batched and not, and the factored path against the full one at 512 x 512.
"""

import sys
import time

import torch

import spectralnn as snn

DEVICE = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cuda"


def sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def bench(fn, reps=5):
    fn()
    sync()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    sync()
    return (time.perf_counter() - t) / reps * 1e3


def routes(X):
    return {
        "default": lambda: torch.linalg.svd(X, full_matrices=False),
        "gesvdj": lambda: torch.linalg.svd(X, full_matrices=False, driver="gesvdj"),
        "cpu": lambda: [t.to(DEVICE) for t in torch.linalg.svd(X.cpu(), full_matrices=False)],
        "eigh(gram)": lambda: torch.linalg.eigh(X.mT @ X),
        "spectralnn": lambda: snn.functional._svd(X),
    }


def main():
    name = torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu"
    print(name, torch.__version__)
    if "--steps-only" not in sys.argv:
        svd_table()
    step_table()
    factored_table()


def svd_table():
    print(f"{'n':>5s} {'batch':>6s} " + " ".join(f"{k:>11s}" for k in routes(torch.eye(2))))
    for n in (10, 28, 32, 64, 128, 256):
        for batch in (1, 16, 256, 1024):
            if n * n * batch > 2**24:
                continue
            X = torch.randn(batch, n, n, device=DEVICE, dtype=torch.float64)
            times = {k: bench(f) for k, f in routes(X).items()}
            print(f"{n:5d} {batch:6d} " + " ".join(f"{v:10.3f}m" for v in times.values()))


def step_table():
    print("\ntraining step, ms per run-step (float64), per spectral route")
    for dev in dict.fromkeys(("cpu", DEVICE)):
        for setting, shape, widths, m, R in (
            ("fig2", 10, (2, 2, 2, 2), 75, 5),
            ("fig4", 28, (4, 8, 16), 470, 3),
        ):
            p = snn.make_problem("gaussian", (shape, shape), 2, m, seed=0).to(dev)
            for runs in (None, R):
                for route in ("svd", "gram"):
                    model = snn.SNNFactorization(
                        (shape, shape), widths, init="gaussian", init_scale=0.1, runs=runs
                    ).to(dev)
                    model.snn.route = route
                    steps = 50
                    kw = {"record_every": steps, "progress": False}
                    fit = (
                        (lambda: snn.fit(model, p, 1e-3, steps, **kw))
                        if runs is None
                        else (lambda: snn.fit_runs(model, p, [1e-3] * runs, steps, **kw))
                    )
                    fit()
                    sync()
                    t = time.perf_counter()
                    fit()
                    sync()
                    per = (time.perf_counter() - t) / steps / (runs or 1) * 1e3
                    print(
                        f"{setting} {dev:5s} runs={runs or 1:3d} {route:>4s}: "
                        f"{per:8.3f} ms/run-step"
                    )


def factored_table():
    """512 x 512 completion, widths (4, 8, 16), p = 32: factored against full (benchmarks/
    scale.py ratio512 on this device)."""
    import pathlib

    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    from scale import lowrank_problem

    from spectralnn._objective import make_objective
    from spectralnn._optim import Optimizer

    print("\n512 x 512 completion, widths (4, 8, 16), p = 32, ms per step")
    p = lowrank_problem("completion", 512, 512, 10, 512 * 512 // 2).to(DEVICE)
    for method, steps in (("factored", 5), ("full", 2)):
        model = snn.SNNFactorization(
            (512, 512), (4, 8, 16), init="gaussian", init_scale=0.1, rank=32, seed=0
        ).to(DEVICE)
        obj = make_objective(method, model, p, "gd")
        opt = Optimizer(
            "gd", obj.params, torch.tensor([1.0], dtype=torch.float64, device=DEVICE), False
        )

        def step(obj=obj, opt=opt):
            obj.evaluate(need_grad=True)
            opt.step(obj.grads([True]))

        print(f"  {method:<9s} {bench(step, reps=steps):9.1f} ms")


if __name__ == "__main__":
    main()
