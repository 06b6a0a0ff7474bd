"""spectralnn speed and memory benchmarks against a naive reference, measured in one process.

    python benchmarks/run.py                 # everything (a few minutes on 2 cores)
    python benchmarks/run.py --quick         # fewer steps and sizes
    python benchmarks/run.py --device cuda   # on a GPU

The naive reference is written here on purpose the way one would without spectralnn: autograd
through ``torch.linalg.svd``, measurements as ``(A * X.repeat(m, 1, 1)).sum()``, one run at a
time, ``torch.optim.SGD``. Ratios are per run-step and come from the same process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch

import spectralnn as snn
from spectralnn.images import load_image

# ----------------------------------------------------------------------------- settings


def fig2_problem(device, dtype=torch.float64):
    p = snn.make_problem("aligned", (10, 10), 6, 75, noise=0.01, scale=10.0, seed=42)
    return p.to(device=device, dtype=dtype)


def fig4_problem(device, dtype=torch.float64):
    img = load_image("camera", 28)
    p = snn.make_problem("gaussian", (28, 28), 1, 470, noise=0.01, seed=42, target=img)
    return p.to(device=device, dtype=dtype)


SETTINGS = {
    # name: (problem, widths, init, init_scale, lr)
    "fig2": (fig2_problem, (2, 2, 2, 2), "spectral", 1.0, 1e-4),
    # The naive reference is NaN at the paper's identity init (autograd through the SVD at
    # repeated singular values), so both sides start from a small Gaussian init here.
    "fig4": (fig4_problem, (4, 8, 16), "gaussian", 1e-2, 1e-2),
}


def make_model(setting, problem, runs=None, device="cpu"):
    _, widths, init, scale, _ = SETTINGS[setting]
    model = snn.SNNFactorization(
        problem.shape,
        widths,
        init=init,
        init_scale=scale,
        problem=problem.to("cpu"),
        seed=0,
        runs=runs,
    )
    return model.to(device)


# ----------------------------------------------------------------------------- naive reference


def naive_train(model, problem, lr, steps):
    """One run, autograd through torch.linalg.svd, X.repeat measurement. Returns final loss."""
    A, y = problem.operator.dense(), problem.y
    U = model.U.detach().clone().requires_grad_()
    V = model.V.detach().clone().requires_grad_()
    alphas = [layer.alpha.detach().clone().requires_grad_() for layer in model.snn.layers]
    opt = torch.optim.SGD([U, V, *alphas], lr=lr)
    for _ in range(steps + 1):
        opt.zero_grad()
        X = U @ V.mT
        for a in alphas:
            Uu, s, Vh = torch.linalg.svd(X, full_matrices=False)
            X = torch.einsum("kj,kab->jab", a, (Uu * torch.tanh(s).unsqueeze(-2)) @ Vh)
        X = X[0]
        pred = (A * X.repeat(A.shape[0], 1, 1)).sum((1, 2))
        loss = 0.5 * ((pred - y) ** 2).mean()
        if _ == steps:
            break
        loss.backward()
        opt.step()
    return loss.item()


# ----------------------------------------------------------------------------- timing


def _sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device):
    _sync(device)
    t = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - t, out


def speed_table(setting, steps, runs, device):
    problem = SETTINGS[setting][0](device)
    lr = SETTINGS[setting][4]
    rows = []
    t, naive_loss = timed(
        lambda: naive_train(make_model(setting, problem, None, device), problem, lr, steps), device
    )
    base = t / steps
    rows.append(("naive reference", 1, base, naive_loss))
    methods = ["full", "reduced"] if setting == "fig2" else ["full"]  # reduced: aligned only
    for method in methods:
        t, res = timed(
            lambda: snn.fit(
                make_model(setting, problem, None, device),
                problem,
                lr,
                steps,
                method=method,
                record_every=steps,
            ),
            device,
        )
        rows.append((f"spectralnn {res.method}", 1, t / steps, res.final["train_loss"]))
        t, res = timed(
            lambda: snn.fit_runs(
                make_model(setting, problem, runs, device),
                problem,
                [lr] * runs,
                steps,
                method=method,
                record_every=steps,
            ),
            device,
        )
        rows.append(
            (
                f"spectralnn {res[0].method}, batched",
                runs,
                t / steps / runs,
                res[0].final["train_loss"],
            )
        )
    print(
        f"\n{setting}: {steps} steps, float64, {device}  (time per run-step; loss after "
        f"{steps} steps)"
    )
    print(
        f"{'implementation':34s} {'runs':>5s} {'ms/run-step':>12s} {'speed-up':>9s} "
        f"{'final loss':>14s} {'rel. diff':>10s}"
    )
    for name, r, per, loss in rows:
        diff = abs(loss - naive_loss) / abs(naive_loss)
        print(f"{name:34s} {r:5d} {per * 1e3:12.4f} {base / per:8.1f}x {loss:14.8e} {diff:10.1e}")
    return rows


def scaling(device, quick):
    print(f"\nscaling of spectralnn per-step time (full path, widths (2,2), float64, {device})")
    ds = (16, 32, 64, 128) if quick else (16, 32, 64, 128, 256, 512)
    print(f"{'d':>5s} {'m':>6s} {'ms/step':>10s}")
    for d in ds:
        p = snn.make_problem("gaussian", (d, d), 2, 4 * d, seed=0).to(device)
        model = snn.SNNFactorization((d, d), (2, 2), init="gaussian", init_scale=0.1).to(device)
        steps = max(3, 2000 // d)
        t, _ = timed(lambda: snn.fit(model, p, 1e-3, steps, record_every=steps), device)
        print(f"{d:5d} {4 * d:6d} {t / steps * 1e3:10.3f}")
    p = fig2_problem(device)
    print(f"\nscaling with the number of runs R (Figure 2 setting, {device})")
    print(
        f"{'R':>5s} {'full ms/step':>13s} {'full ms/run-step':>17s} {'reduced ms/step':>16s} "
        f"{'reduced ms/run-step':>20s}"
    )
    for R in (1, 4, 16, 64) if quick else (1, 4, 16, 64, 256):
        cells = []
        for method in ("full", "reduced"):
            steps = 50 if method == "full" else 500
            t, _ = timed(
                lambda: snn.fit_runs(
                    make_model("fig2", p, R, device),
                    p,
                    [1e-5] * R,
                    steps,
                    method=method,
                    record_every=steps,
                ),
                device,
            )
            cells += [t / steps * 1e3, t / steps / R * 1e3]
        print(f"{R:5d} {cells[0]:13.3f} {cells[1]:17.4f} {cells[2]:16.3f} {cells[3]:20.5f}")


def memory(device):
    """Peak resident memory of one training process per implementation (fresh subprocesses)."""
    print(
        "peak memory (peak RSS of a fresh process that trains 200 steps, Figure 4 setting; "
        "'baseline' only builds the problem)"
    )
    for impl in ("baseline", "naive", "spectralnn"):
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", impl, "--device", device],
            capture_output=True,
            text=True,
            check=True,
        )
        print(f"{impl:12s} {json.loads(out.stdout)['max_rss_mb']:10.1f} MB")


def memory_child(impl, device):
    problem = fig4_problem(device)
    if impl == "naive":
        naive_train(make_model("fig4", problem, None, device), problem, 1e-2, 200)
    elif impl == "spectralnn":
        snn.fit(make_model("fig4", problem, None, device), problem, 1e-2, 200)
    # VmHWM (peak resident set of this process image); ru_maxrss would carry the parent's
    # peak across fork + exec.
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
    print(json.dumps({"max_rss_mb": hwm / 1024}))


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child, args.device)
    torch.manual_seed(0)
    memory(args.device)
    speed_table("fig2", 200 if args.quick else 1000, 5, args.device)
    speed_table("fig4", 20 if args.quick else 100, 3, args.device)
    scaling(args.device, args.quick)


if __name__ == "__main__":
    main()
