"""Cost of spectral_apply's exact backward vs autograd through torch.linalg.svd (same process).

    python benchmarks/backward.py [--n 64] [--dtype float32]
    python benchmarks/backward.py --network --n 10 --dtype float64   # a whole SNN, fused vs not

``--network`` times forward + backward of an SNN with widths (2, 2, 2, 2) on n x n inputs:
the fused node (``functional.spectral_network``, what ``snn.SNN`` runs) against the same
network written as spectral_apply + einsum layer by layer.

Autograd's backward is only valid at distinct singular values; on a generic matrix both are
correct, and this compares their speed.
"""

import argparse
import time

import torch

import spectralnn as snn


def autograd_tanh(X):
    U, s, Vh = torch.linalg.svd(X, full_matrices=False)
    return (U * torch.tanh(s).unsqueeze(-2)) @ Vh


def timing(fn, X, reps):
    X = X.clone().requires_grad_()
    G = torch.ones_like(fn(X))
    for _ in range(10):
        fn(X).backward(G)
    fwd = bwd = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        y = fn(X)
        t1 = time.perf_counter()
        y.backward(G)
        t2 = time.perf_counter()
        fwd, bwd = fwd + t1 - t0, bwd + t2 - t1
    return fwd / reps * 1e6, bwd / reps * 1e6


def layer_by_layer(X, alphas):
    for alpha in alphas:
        X = torch.einsum(
            "...kj,...kab->...jab", alpha, snn.spectral_apply(X, "tanh", check_finite=False)
        )
    return X


def network(args):
    gen = torch.Generator().manual_seed(0)
    dtype = getattr(torch, args.dtype)
    X = torch.randn(2, args.n, args.n, dtype=dtype, generator=gen)
    alphas = [
        torch.rand(2, k, dtype=dtype, generator=gen, requires_grad=True) for k in (2, 2, 2, 1)
    ]
    fused = timing(
        lambda Z: snn.functional.spectral_network(Z, alphas, "tanh", check_finite=False),
        X,
        args.reps,
    )
    ref = timing(lambda Z: layer_by_layer(Z, alphas), X, args.reps)
    print(
        f"SNN (2,2,2,2) on {args.n}x{args.n} {args.dtype}, forward + backward us: fused "
        f"{sum(fused):8.1f}  layer by layer {sum(ref):8.1f}  ratio {sum(ref) / sum(fused):.2f}"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--network", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.network:
        return network(args)
    X = torch.randn(
        args.n, args.n, dtype=getattr(torch, args.dtype), generator=torch.Generator().manual_seed(0)
    )
    ours = timing(lambda Z: snn.spectral_apply(Z, "tanh", check_finite=False), X, args.reps)
    ref = timing(autograd_tanh, X, args.reps)
    print(
        f"{args.n}x{args.n} {args.dtype}: forward us  ours {ours[0]:8.1f}  autograd {ref[0]:8.1f}"
    )
    print(
        f"{args.n}x{args.n} {args.dtype}: backward us ours {ours[1]:8.1f}  autograd {ref[1]:8.1f}"
        f"  ratio {ours[1] / ref[1]:.2f}"
    )


if __name__ == "__main__":
    main()
