"""Cost of spectral_apply's exact backward vs autograd through torch.linalg.svd (same process).

    python benchmarks/backward.py [--n 64] [--dtype float32]

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
    G = torch.ones_like(X)
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--reps", type=int, default=300)
    args = ap.parse_args()
    X = torch.randn(args.n, args.n, dtype=getattr(torch, args.dtype),
                    generator=torch.Generator().manual_seed(0))
    ours = timing(lambda Z: snn.spectral_apply(Z, "tanh", check_finite=False), X, args.reps)
    ref = timing(autograd_tanh, X, args.reps)
    print(f"{args.n}x{args.n} {args.dtype}: forward us  ours {ours[0]:8.1f}  autograd {ref[0]:8.1f}")
    print(f"{args.n}x{args.n} {args.dtype}: backward us ours {ours[1]:8.1f}  autograd {ref[1]:8.1f}"
          f"  ratio {ours[1] / ref[1]:.2f}")


if __name__ == "__main__":
    main()
