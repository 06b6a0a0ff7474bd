"""Small matrices: spectralnn's full path against the naive autograd reference, in one process.

    python benchmarks/small.py              # the table (about a minute on 2 quiet cores)
    python benchmarks/small.py --quick      # fewer steps and rounds
    python benchmarks/small.py --threads 1 --clock cpu   # steadier on a busy machine

The naive reference is ``naive_train`` of ``benchmarks/run.py``: autograd through
``torch.linalg.svd``, measurements as ``(A * X.repeat(m, 1, 1)).sum()``, ``torch.optim.SGD``,
one run at a time (so its time per run-step is its time per step at any number of runs).
"spectralnn" is ``snn.fit`` / ``snn.fit_runs`` with ``method="full"`` (the general path, not the
reduced aligned system); "bare step" is the same model, loss and gradient in a plain loop
without ``fit``'s bookkeeping, which shows how much of a step the network itself costs.

Settings (float64, 10 x 10, widths (2, 2, 2, 2), tanh):

* fig3: Gaussian sensing, N(0, 10^2) entries, m = 75, rank-6 PSD target; the authors' init
  U_k = V_k = 1e-4 I plus diag(1e-6 N(0, 1)) (the jitter keeps the naive reference finite:
  autograd through the SVD is NaN at 1e-4 I); lr 1e-2.
* fig2: aligned sensing (Assumption 1), spectral init, lr 1e-4 (the full path, not the
  reduced system that ``method="auto"`` would pick).

Every implementation starts from the same parameters; the last column is the relative
difference of its train loss after 50 steps to the naive reference's. The last rows of each
setting time only the LAPACK decompositions a forward pass takes, at 1 and at ``--runs`` runs
(of the layer inputs half-way through the timed steps, serial on the CPU): the SVDs, which the
SVD route takes (and which ``route="auto"`` keeps for stacks under 8 matrices of under 16 x 16,
as in the unbatched rows), and the eigendecompositions of the Gram matrices, which the Gram
route takes (the batched rows). No implementation that computes these on one core can beat
their speed-ups.
Timings are the best of ``--rounds`` interleaved rounds; ratios come from this process only.
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import time

import torch

import spectralnn as snn


def _naive_train():
    spec = importlib.util.spec_from_file_location(
        "_bench_run", pathlib.Path(__file__).with_name("run.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.naive_train


def fig3_setting():
    p = snn.make_problem("gaussian", (10, 10), 6, 75, noise=0.01, scale=10.0, seed=42)

    def model(runs=None):
        m = snn.SNNFactorization(
            (10, 10), (2, 2, 2, 2), init="identity", init_scale=1e-4, seed=0, runs=runs
        )
        gen = torch.Generator().manual_seed(1)
        jitter = 1e-6 * torch.randn(m.U.shape[-3:-1], generator=gen, dtype=m.U.dtype)
        with torch.no_grad():
            m.U += torch.diag_embed(jitter)
        return m

    return p, model, 1e-2


def fig2_setting():
    p = snn.make_problem("aligned", (10, 10), 6, 75, noise=0.01, scale=10.0, seed=42)

    def model(runs=None):
        return snn.SNNFactorization(
            (10, 10), (2, 2, 2, 2), init="spectral", init_scale=1.0, problem=p, seed=0, runs=runs
        )

    return p, model, 1e-4


SETTINGS = {"fig3": fig3_setting, "fig2": fig2_setting}


def bare_steps(model, problem, lr, steps):
    """Forward, loss, backward and a GD update, nothing else. Returns the final loss."""
    params = [p for p in model.parameters()]
    for _ in range(steps):
        for p in params:
            p.grad = None
        problem.loss(model()).sum().backward()
        with torch.no_grad():
            torch._foreach_add_(params, [p.grad for p in params], alpha=-lr)
    with torch.no_grad():
        return problem.loss(model()).reshape(-1)[0].item()


def implementations(setting, runs, naive_train):
    problem, make, lr = SETTINGS[setting]()
    fit_kw = {"method": "full", "record_every": 10**9, "progress": False}
    return {
        # name: (runs, model factory, train(model, steps) -> final train loss of run 0)
        "naive reference": (1, make, lambda m, n: naive_train(m, problem, lr, n)),
        "spectralnn fit": (
            1,
            make,
            lambda m, n: snn.fit(m, problem, lr, n, **fit_kw).final["train_loss"],
        ),
        "spectralnn bare step": (1, make, lambda m, n: bare_steps(m, problem, lr, n)),
        "spectralnn fit_runs": (
            runs,
            lambda: make(runs),
            lambda m, n: snn.fit_runs(m, problem, [lr] * runs, n, **fit_kw)[0].final["train_loss"],
        ),
        "spectralnn bare step, batched": (
            runs,
            lambda: make(runs),
            lambda m, n: bare_steps(m, problem, lr, n),
        ),
    }


def layer_inputs(model):
    """The matrices a forward pass of an SNNFactorization decomposes, one stack per layer."""
    from spectralnn.functional import spectral_network

    stacks, X = [], model.inputs().detach()
    with torch.no_grad():
        for layer in model.snn.layers:
            stacks.append(X.reshape(-1, *X.shape[-2:]).clone())
            X = spectral_network(X, [layer.alpha], model.snn.act)
    return stacks


DECOMPOSITIONS = {  # what each route takes per layer (Note [Gram route] in _spectral.py)
    "SVDs": lambda X: torch.linalg.svd(X, full_matrices=False),
    "eigh of the Gram matrices": lambda X: torch.linalg.eigh(X.mT @ X),
}


def decomposition_floor(problem, make, lr, runs, steps, clock, decompose, reps=10):
    """Time per run-step of the layers' decompositions alone (forward only; the backward reuses
    them), at the point reached after ``steps // 2`` steps (near the initial point they are
    cheaper)."""
    model = make(runs)
    bare_steps(model, problem, lr, steps // 2)
    stacks = layer_inputs(model)
    best = float("inf")
    for _ in range(3):
        t = clock()
        for _ in range(reps):
            for X in stacks:
                decompose(X)
        best = min(best, (clock() - t) / (reps * runs))
    return best


def measure(setting, steps, rounds, runs, naive_train, clock, check_steps=50):
    impls = implementations(setting, runs, naive_train)
    # Same start, same number of steps: the losses must agree (also the warm-up).
    losses = {name: train(make(), check_steps) for name, (_, make, train) in impls.items()}
    best = {name: float("inf") for name in impls}
    for _ in range(rounds):
        for name, (r, make, train) in impls.items():
            n = steps  # the same stretch of the trajectory for everyone
            model = make()
            t = clock()
            train(model, n)
            best[name] = min(best[name], (clock() - t) / (n * r))
    base, ref = best["naive reference"], losses["naive reference"]
    rows = [
        (
            setting,
            name,
            r,
            best[name] * 1e3,
            base / best[name],
            f"{abs(losses[name] - ref) / abs(ref):.1e}",
        )
        for name, (r, _, _) in impls.items()
    ]
    for what, decompose in DECOMPOSITIONS.items():
        for r in (1, runs):
            floor = decomposition_floor(*SETTINGS[setting](), r, steps, clock, decompose)
            rows.append((setting, f"(its LAPACK {what} alone)", r, floor * 1e3, base / floor, "-"))
    return rows


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--steps", type=int, default=None, help="steps per timing (default 200)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3)")
    ap.add_argument("--runs", type=int, default=64)
    ap.add_argument("--settings", default="fig3,fig2")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: time.perf_counter; cpu: time.process_time (CPU time of this "
        "process, steadier on a loaded machine; use with --threads 1)",
    )
    args = ap.parse_args()
    steps = args.steps or (50 if args.quick else 200)
    rounds = args.rounds or (2 if args.quick else 3)
    if args.threads:
        torch.set_num_threads(args.threads)
    naive_train = _naive_train()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(
        f"float64, cpu, {torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"best of {rounds} rounds of {steps} steps, {args.clock} clock"
    )
    print()
    print(
        "| setting | implementation | runs | ms per run-step | speed-up vs naive | loss rel. diff |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for setting in args.settings.split(","):
        for row in measure(setting, steps, rounds, args.runs, naive_train, clock):
            print("| {} | {} | {} | {:.4f} | {:.1f}x | {} |".format(*row))


if __name__ == "__main__":
    main()
