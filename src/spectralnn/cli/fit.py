"""``spectralnn fit``: train a model on a problem file and write its results to a folder."""

from __future__ import annotations

import argparse
import os

from .. import _io
from ..models import INITS, MODELS, make_model
from ..sensing import load_problem
from ..train import OPTIMIZERS, fit, lr_search
from ._common import (
    UsageError,
    check_int,
    check_out,
    check_real,
    output_dir,
    parse_lr,
    parse_widths,
    say,
)

NAME = "fit"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="train a model on a problem file",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
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
    return p


def _model_kwargs(args) -> dict:
    return {"widths": parse_widths(args.widths), "fn": args.fn, "init": args.init,
            "init_scale": args.init_scale, "depth": args.depth, "rank": args.model_rank,
            "seed": args.seed}


def validate(args) -> dict:
    lr = parse_lr(args.lr)
    check_int(args.steps, "--steps", 1)
    check_int(args.record_every, "--record-every", 1)
    check_real(args.tol, "--tol", low=0.0)
    check_real(args.init_scale, "--init-scale", low=0.0)
    check_int(args.depth, "--depth", 1)
    check_int(args.model_rank, "--model-rank", 1)
    check_out(args.out)
    problem = load_problem(args.problem)
    kwargs = _model_kwargs(args)
    if args.model == "snn" and args.init == "spectral":
        kwargs["problem"] = problem
    model = make_model(args.model, problem.shape, **kwargs)
    ckpt = os.path.join(args.out, "checkpoint.pt")
    return {"lr": lr, "problem": problem, "model": model, "kwargs": kwargs, "checkpoint": ckpt}


def resume_hint(args) -> str | None:
    if os.path.exists(os.path.join(args.out, "checkpoint.pt")):
        return f"a checkpoint is in {args.out}: resume with the same command plus --resume"
    return None


def run(args, job) -> None:
    problem, lr = job["problem"], job["lr"]
    fit_kw = {"optimizer": args.optimizer, "tol": args.tol, "record_every": args.record_every,
              "progress": None, "checkpoint": job["checkpoint"], "resume": args.resume}
    with output_dir(args.out):
        diverged = []
        if lr == "search":
            results, diverged = _resuming(
                args, lr_search,
                lambda runs: make_model(args.model, problem.shape, runs=runs, **job["kwargs"]),
                problem, args.steps, **fit_kw)
            if not results:
                raise UsageError("--lr search: every learning rate of the search diverged")
            result = results[0]
        else:
            result = _resuming(args, fit, job["model"], problem, lr, args.steps, **fit_kw)
        _write_outputs(args, problem, result, diverged)


def _resuming(args, func, *a, **kw):
    """Call ``func``; a checkpoint that does not match this run is a bad ``--resume``."""
    try:
        return func(*a, **kw)
    except ValueError as exc:
        if args.resume and "checkpoint" in str(exc).lower():
            raise UsageError(f"--resume: {str(exc).strip().splitlines()[0]}") from exc
        raise


def _write_outputs(args, problem, result, diverged) -> None:
    from ..plotting import plot_histories, save_figure

    out = args.out
    if result.X is not None:
        _io.write_npz(os.path.join(out, "X.npz"), X=result.X.cpu().numpy())
    else:  # a factored fit too large for a dense X (FitResult.X is None): X = L R^T
        L, R = (f.cpu().numpy() for f in result.factors)
        _io.write_npz(os.path.join(out, "X.npz"), L=L, R=R)
    _io.write_json(os.path.join(out, "history.json"), result.history)
    _io.write_history_csv(os.path.join(out, "history.csv"), result.history)
    summary = {"status": str(result.status), "lr": result.lr, "diverged_at": result.diverged_at,
               "diverged_lrs": diverged, "steps": result.steps, "wall_time": result.wall_time,
               "final": result.final, "problem": args.problem, "problem_meta": problem.meta,
               "settings": vars(args),
               "versions": _io.provenance()}
    _io.write_json(os.path.join(out, "summary.json"), summary)
    if result.history:
        fig = plot_histories({f"{args.model} lr={result.lr:g}": result.history},
                             title=f"spectralnn fit {os.path.basename(args.problem)}")
        save_figure(fig, os.path.join(out, "history.png"))
    fin = result.final
    err = fin.get("rel_error")
    say(f"{result.status}: {result.steps} steps, lr={result.lr:g}, train loss "
        f"{fin.get('train_loss', float('nan')):.3e}, rel error "
        f"{'n/a' if err is None else f'{err:.4f}'}, nuclear norm "
        f"{fin.get('nuclear_norm', float('nan')):.4f}; results in {out}")
