"""Implementations of the ``spectralnn`` subcommands (parsing lives in :mod:`spectralnn.cli`)."""

from __future__ import annotations

import argparse
import os
import re
import sys

import numpy as np
import torch

from . import _io
from .models import INITS, MODELS, make_model
from .sensing import PROBLEM_KINDS, load_problem, make_image_problem, make_problem
from .train import OPTIMIZERS, fit, lr_search


class UsageError(ValueError):
    """Bad command-line input; reported in one line with exit code 2."""


def parse_shape(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise UsageError(f"--shape must look like 20x20 (two positive ints); got {text!r}")
    return int(m.group(1)), int(m.group(2))


def parse_widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise UsageError(f"--widths must be comma-separated positive ints like 2,2,2,2; got {text!r}")
    return widths


def parse_lr(text: str) -> float | str:
    if text == "search":
        return text
    try:
        lr = float(text)
    except ValueError:
        lr = float("nan")
    if not lr > 0 or lr == float("inf"):
        raise UsageError(f"--lr must be a positive number or 'search'; got {text!r}")
    return lr


def _check_out(path: str, flag: str = "--out") -> str:
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{flag} {path!r} exists and is not a folder")
    return path


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


# ----------------------------------------------------------------------------- make-problem


def cmd_make_problem(args) -> None:
    shape = parse_shape(args.shape)
    if not args.out.endswith(".npz"):
        raise UsageError(f"--out must name an .npz file; got {args.out!r}")
    target = None
    if args.target is not None:
        target = (np.load(args.target) if args.target.endswith(".npy")
                  else _image(args.target, shape))
    problem = make_problem(args.kind, shape, args.rank, args.measurements, args.noise, args.seed,
                           target=target, psd=not args.general, scale=args.scale,
                           test_measurements=args.test_measurements)
    problem.save(args.out)
    _say(f"wrote {args.out}: {problem.operator!r}, target rank {problem.meta['rank']}")


def _image(name: str, shape) -> np.ndarray:
    from .images import load_image

    return load_image(name, shape)


# ----------------------------------------------------------------------------- fit


def _model_kwargs(args, seed: int) -> dict:
    return {"widths": parse_widths(args.widths), "fn": args.fn, "init": args.init,
            "init_scale": args.init_scale, "depth": args.depth, "rank": args.model_rank,
            "seed": seed}


def cmd_fit(args) -> None:
    lr = parse_lr(args.lr)
    _check_out(args.out)
    problem = load_problem(args.problem)
    kwargs = _model_kwargs(args, args.seed)
    if args.model == "snn" and args.init == "spectral":
        kwargs["problem"] = problem
    model = make_model(args.model, problem.shape, **kwargs)  # validates before writing
    os.makedirs(args.out, exist_ok=True)
    fit_kw = {"optimizer": args.optimizer, "tol": args.tol, "record_every": args.record_every,
              "progress": None}
    diverged = []
    if lr == "search":
        results, diverged = lr_search(
            lambda runs: make_model(args.model, problem.shape, runs=runs, **kwargs), problem,
            args.steps, **fit_kw)
        if not results:
            raise UsageError("every learning rate of the search diverged")
        result = results[0]
    else:
        ckpt = os.path.join(args.out, "checkpoint.pt")
        if not args.resume and os.path.exists(ckpt):
            os.unlink(ckpt)
        result = fit(model, problem, lr, args.steps, checkpoint=ckpt, **fit_kw)
    _write_fit_outputs(args, problem, result, diverged)


def _write_fit_outputs(args, problem, result, diverged) -> None:
    from .plotting import plot_histories, save_figure

    out = args.out
    _io.write_npz(os.path.join(out, "X.npz"), X=result.X.cpu().numpy())
    _io.write_json(os.path.join(out, "history.json"), result.history)
    _io.write_history_csv(os.path.join(out, "history.csv"), result.history)
    summary = {"status": str(result.status), "lr": result.lr, "diverged_at": result.diverged_at,
               "diverged_lrs": diverged, "steps": result.steps, "wall_time": result.wall_time,
               "final": result.final, "problem": args.problem, "problem_meta": problem.meta,
               "settings": {k: v for k, v in vars(args).items() if k != "func"},
               "versions": _io.provenance()}
    _io.write_json(os.path.join(out, "summary.json"), summary)
    if result.history:
        fig = plot_histories({f"{args.model} lr={result.lr:g}": result.history},
                             title=f"spectralnn fit {os.path.basename(args.problem)}")
        save_figure(fig, os.path.join(out, "history.png"))
    fin = result.final
    err = fin.get("rel_error")
    _say(f"{result.status}: {result.steps} steps, lr={result.lr:g}, train loss "
         f"{fin.get('train_loss', float('nan')):.3e}, rel error "
         f"{'n/a' if err is None else f'{err:.4f}'}, nuclear norm "
         f"{fin.get('nuclear_norm', float('nan')):.4f}; results in {out}")


# ----------------------------------------------------------------------------- recover


def cmd_recover(args) -> None:
    from .metrics import psnr, relative_error
    from .plotting import plot_images, save_figure

    if not 0 < args.fraction <= 1:
        raise UsageError(f"--fraction must be in (0, 1]; got {args.fraction}")
    _check_out(args.out)
    problem, scale = make_image_problem(args.image, (args.size, args.size), args.fraction,
                                        args.noise, args.seed)
    img, m = (problem.X_true * scale).numpy(), problem.m
    os.makedirs(args.out, exist_ok=True)
    cells, metrics = [(img, "ground truth")], {}
    for name, lr in (("free", args.lr_free), ("snn", args.lr_snn)):
        kw = {"widths": parse_widths(args.widths), "init_scale": args.init_scale, "seed": args.seed}
        model = make_model(name, img.shape, **kw) if name == "snn" else make_model(name, img.shape)
        res = fit(model, problem, lr, args.steps)
        X = res.X * scale
        p = psnr(X, problem.X_true * scale)
        e = relative_error(res.X, problem.X_true).item()
        metrics[name] = {"psnr": p, "rel_error": e, "lr": lr, "status": str(res.status)}
        _io.write_npz(os.path.join(args.out, f"X_{name}.npz"), X=X.numpy())
        label = "linear regression" if name == "free" else "SNN"
        cells.append((X.numpy(), f"{label}\nPSNR {p:.2f} dB, rel.err {e:.3f}"))
        _say(f"{label}: PSNR {p:.2f} dB, relative error {e:.4f} ({res.status})")
    fig = plot_images([(args.image, cells)], title=f"{args.image}: {m} Gaussian measurements "
                      f"({args.fraction:.0%} of {args.size}x{args.size})")
    save_figure(fig, os.path.join(args.out, "recover.png"))
    _io.write_json(os.path.join(args.out, "metrics.json"),
                   {"image": args.image, "measurements": m, "models": metrics,
                    "versions": _io.provenance()})


# ----------------------------------------------------------------------------- theory-check


def cmd_theory_check(args) -> None:
    from .experiments import theory_check as tc
    from .plotting import save_figure

    _check_out(args.out)
    seeds, steps = (1, 2000) if args.quick else (args.seeds, args.steps)
    if seeds < 1 or steps < 1:
        raise UsageError(f"--seeds and --steps must be >= 1; got {seeds} and {steps}")
    os.makedirs(args.out, exist_ok=True)

    def progress(i, n, row):
        _say(f"[{i}/{n}] {row['scenario']}, init {row['init_scale']:g}, seed {row['seed']}: "
             f"dist {row['dist_to_min_nuclear']:.2e}, KKT {row['kkt_holds']} "
             f"({row['time']:.1f} s)")

    rows = tc.run_theory_check(seeds, steps, progress)
    summary = tc.summarise(rows)
    table = tc.format_table(summary)
    print(table)
    _io.write_json(os.path.join(args.out, "theory_check.json"),
                   {"settings": {"seeds": seeds, "steps": steps}, "summary": summary,
                    "runs": rows, "versions": _io.provenance()})
    _io.write_history_csv(os.path.join(args.out, "theory_check.csv"), rows)
    _io.write_text(os.path.join(args.out, "theory_check.txt"), table + "\n")
    save_figure(tc.plot(rows), os.path.join(args.out, "theory_check.png"))


# ----------------------------------------------------------------------------- reproduce


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available here (use cpu or auto)")
    return name


def cmd_reproduce(args) -> None:
    from .experiments.configs import FIGURES
    from .experiments.reproduce import reproduce

    names = list(FIGURES) if args.figure == "all" else [args.figure]
    _check_out(args.out)
    device = _device(args.device)
    images = list(args.images) if args.images else None
    if args.mnist:
        if not os.path.isfile(args.mnist):
            raise UsageError(f"--mnist {args.mnist!r}: no such file")
        images = [f"mnist:{args.mnist}:{k}" for k in range(5)]
    if images:
        from .images import load_image

        for name in images:  # fail before any run starts
            load_image(name, 28)
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be >= 1; got {args.workers}")
    summary = reproduce(names, args.out, quick=args.quick, device=device, images=images,
                        workers=args.workers, say=_say)
    _say(f"all done in {summary['wall_time']:.1f} s; report: "
         f"{os.path.join(args.out, 'report.md')}")


# ----------------------------------------------------------------------------- sweep


def cmd_sweep(args) -> None:
    from ._sweep_run import format_summary, run_sweep
    from .sweep import load_config

    cfg = load_config(args.config)  # rejects a malformed config before any run
    if args.backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise UsageError("--backend ray needs Ray: pip install 'spectralnn[ray]'") from None
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be >= 1; got {args.workers}")
    out = _check_out(args.out or os.path.splitext(os.path.basename(args.config))[0])
    summary = run_sweep(cfg, out, backend=args.backend, address=args.address,
                        workers=args.workers, say=_say)
    print(format_summary(summary))
    _say(f"results: {os.path.join(out, 'table.csv')}, plots: "
         f"{os.path.join(out, 'phase_transition.png')}")


# ----------------------------------------------------------------------------- parsers


def add_subcommands(sub) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("make-problem", help="generate a sensing problem (.npz)",
                       formatter_class=fmt, epilog="example:\n  spectralnn make-problem gaussian "
                       "--shape 20x20 --rank 2 --measurements 160 --out p.npz")
    p.add_argument("kind", help=f"one of {', '.join(PROBLEM_KINDS)}")
    p.add_argument("--shape", default="10x10", help="d1xd2 (default 10x10)")
    p.add_argument("--rank", type=int, default=2, help="target rank (default 2)")
    p.add_argument("--measurements", type=int, default=50, help="m (default 50)")
    p.add_argument("--test-measurements", type=int, default=None, help="held-out m (default m)")
    p.add_argument("--noise", type=float, default=0.0, help="noise std (default 0)")
    p.add_argument("--scale", type=float, default=1.0, help="measurement scale (paper: 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--general", action="store_true", help="Gaussian-factor target, not W W^T")
    p.add_argument("--target", help="a .npy matrix or an image (name or file) as the target")
    p.add_argument("--out", required=True, help="output .npz path")

    p = sub.add_parser("fit", help="train a model on a problem file", formatter_class=fmt,
                       epilog="example:\n  spectralnn fit p.npz --model snn --widths 1 --init "
                       "identity --init-scale 1e-3 --lr 0.1 --steps 8000 --out run/")
    p.add_argument("problem", help="problem .npz (see spectralnn.sensing for the format)")
    p.add_argument("--model", choices=sorted(MODELS), default="snn")
    p.add_argument("--widths", default="2,2,2,2", help="SNN widths (default 2,2,2,2)")
    p.add_argument("--fn", default="tanh", help="spectral activation (default tanh)")
    p.add_argument("--init", choices=INITS, default="identity")
    p.add_argument("--init-scale", type=float, default=None,
                   help="initial scale c (default: the model's, 1e-4; free starts at 0)")
    p.add_argument("--depth", type=int, default=3, help="depth of --model deep")
    p.add_argument("--model-rank", type=int, default=None, help="inner dimension of factors")
    p.add_argument("--lr", default="1e-2", help="learning rate, or 'search' (paper protocol)")
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="gd")
    p.add_argument("--tol", type=float, default=None, help="stop when train loss <= tol")
    p.add_argument("--record-every", type=int, default=None)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--out", required=True, help="output folder")

    p = sub.add_parser("recover", help="recover an image from random measurements",
                       formatter_class=fmt, epilog="example:\n  spectralnn recover camera "
                       "--fraction 0.6 --out rec/")
    p.add_argument("image", help="image file, skimage name (camera, moon, ...), lfw:K, "
                   "mnist:PATH[:K]")
    p.add_argument("--fraction", type=float, default=0.6, help="m / (size^2) (default 0.6)")
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--widths", default="4,8,16")
    p.add_argument("--init-scale", type=float, default=1e-4)
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--lr-snn", type=float, default=0.1)
    p.add_argument("--lr-free", type=float, default=0.1)
    p.add_argument("--noise", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True)


    p = sub.add_parser("theory-check", help="check the paper's claims on random problems",
                       formatter_class=fmt, epilog="example:\n  spectralnn theory-check --quick "
                       "--out tc/")
    p.add_argument("--seeds", type=int, default=3, help="random problems per cell (default 3)")
    p.add_argument("--steps", type=int, default=20000, help="GD steps per run (default 20000)")
    p.add_argument("--quick", action="store_true", help="1 seed, 2000 steps")
    p.add_argument("--out", required=True)


    p = sub.add_parser("reproduce", help="reproduce the paper's Figures 2-5",
                       formatter_class=fmt, epilog="examples:\n  spectralnn reproduce all --quick "
                       "--out r/\n  spectralnn reproduce fig2 --out r2/")
    p.add_argument("figure", choices=["fig2", "fig3", "fig4", "fig5", "all"])
    p.add_argument("--quick", action="store_true", help="same code, few iterations")
    p.add_argument("--out", default="reproduction", help="output folder (default reproduction/)")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    p.add_argument("--images", nargs="+", help="images for fig4/fig5 (names or files)")
    p.add_argument("--mnist", help="a local MNIST IDX file: use its first 5 digits as images")
    p.add_argument("--workers", type=int, default=None,
                   help="processes (default: one per core; the GPU path uses one)")


    p = sub.add_parser("sweep", help="run a grid of runs (phase transitions)",
                       formatter_class=fmt, epilog="examples:\n  spectralnn sweep "
                       "examples/phase_transition.toml --out pt/\n  spectralnn sweep "
                       "examples/phase_transition.toml --backend ray --address auto")
    p.add_argument("config", help="TOML grid (grammar: python -c 'import spectralnn.sweep as s; "
                   "help(s)')")
    p.add_argument("--backend", choices=["local", "ray"], default="local")
    p.add_argument("--address", default=None, help="Ray cluster address (default: start one)")
    p.add_argument("--workers", type=int, default=None, help="local processes (default: cores)")
    p.add_argument("--out", default=None, help="output folder (default: the config's name)")


COMMANDS = {"make-problem": cmd_make_problem, "fit": cmd_fit, "recover": cmd_recover,
            "theory-check": cmd_theory_check, "reproduce": cmd_reproduce, "sweep": cmd_sweep}
