"""``spectralnn fit``: train a model on a problem file and write its results to a folder."""

from __future__ import annotations

import argparse
import os

from .. import _io
from ..models import INITS, MODELS, make_model
from ..sensing import load_problem
from ..train import OPTIMIZERS, fit, lr_search
from ._common import UsageError, check_out, parse_lr, parse_widths, say

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


def _model_kwargs(args, seed: int) -> dict:
    return {"widths": parse_widths(args.widths), "fn": args.fn, "init": args.init,
            "init_scale": args.init_scale, "depth": args.depth, "rank": args.model_rank,
            "seed": seed}


def run(args) -> None:
    lr = parse_lr(args.lr)
    check_out(args.out)
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
    _write_outputs(args, problem, result, diverged)


def _write_outputs(args, problem, result, diverged) -> None:
    from ..plotting import plot_histories, save_figure

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
    say(f"{result.status}: {result.steps} steps, lr={result.lr:g}, train loss "
        f"{fin.get('train_loss', float('nan')):.3e}, rel error "
        f"{'n/a' if err is None else f'{err:.4f}'}, nuclear norm "
        f"{fin.get('nuclear_norm', float('nan')):.4f}; results in {out}")
