"""``spectralnn fit``: train a model on a problem file and write its results to a folder."""

from __future__ import annotations

import argparse
import os

from .. import _io
from .._defaults import DEEP_DEPTH, FIT_LR, FIT_SEED, FIT_STEPS, FIT_WIDTHS, FN, PROTOCOL_INIT
from ..models import INITS, MODELS, make_model
from ..sensing import load_problem
from ..train import OPTIMIZERS, fit, lr_search
from ._common import (
    UsageError,
    add_size_flag,
    check_int,
    check_out,
    check_out_file,
    check_real,
    check_size,
    max_bytes,
    output_dir,
    parse_lr,
    parse_widths,
    say,
)

NAME = "fit"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        NAME,
        help="train a model on a problem file",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  spectralnn fit p.npz --model snn --widths 1 --init "
        "identity --init-scale 1e-3 --lr 0.1 --steps 8000 --out run/",
    )
    p.add_argument("problem", help="problem .npz (see spectralnn.sensing for the format)")
    p.add_argument("--model", choices=sorted(MODELS), default="snn")
    widths = ",".join(map(str, FIT_WIDTHS))
    p.add_argument("--widths", default=widths, help=f"SNN widths (default {widths})")
    p.add_argument("--fn", default=FN, help=f"spectral activation (default {FN})")
    p.add_argument("--init", choices=INITS, default=PROTOCOL_INIT)
    p.add_argument(
        "--init-scale",
        type=float,
        default=None,
        help="initial scale c (default: the model's, 1e-4; free starts at 0)",
    )
    p.add_argument("--depth", type=int, default=DEEP_DEPTH, help="depth of --model deep")
    p.add_argument("--model-rank", type=int, default=None, help="inner dimension of factors")
    p.add_argument("--lr", default=FIT_LR, help="learning rate, or 'search' (paper protocol)")
    p.add_argument("--steps", type=int, default=FIT_STEPS)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="gd")
    p.add_argument("--tol", type=float, default=None, help="stop when train loss <= tol")
    p.add_argument("--record-every", type=int, default=None)
    p.add_argument("--seed", type=int, default=FIT_SEED)
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress lines on stderr (default: a line "
        "every few seconds: step, elapsed time, ETA)",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--out", required=True, help="output folder")
    add_size_flag(p)
    return p


def _model_kwargs(args) -> dict:
    return {
        "widths": parse_widths(args.widths),
        "fn": args.fn,
        "init": args.init,
        "init_scale": args.init_scale,
        "depth": args.depth,
        "rank": args.model_rank,
        "seed": args.seed,
    }


OUTPUTS = ("X.npz", "history.json", "history.csv", "summary.json", "history.png", "checkpoint.pt")
_SIZE_FLAG = {"snn": "--widths", "deep": "--depth", "factor": "--model-rank", "free": "PROBLEM"}


def _check_budget(args, problem, lr) -> None:
    """Memory and time of this fit, estimated before any model is built."""
    from .._validation import model_cost, train_seconds

    if args.model_rank is not None and args.model not in ("snn", "factor"):
        raise UsageError(f"--model-rank applies to --model snn and factor, not {args.model}")
    opts = {"widths": parse_widths(args.widths), "depth": args.depth, "rank": args.model_rank}
    nbytes, flops, tensors = model_cost(args.model, problem.shape, opts)
    d1, d2 = problem.shape
    op = problem.operator
    flops += 4.0 * op.m * (d1 * d2 if op.kind == "dense" else d1 + d2)
    per_step = train_seconds(1, flops, tensors)
    steps = args.steps * 3 + 26 * min(args.steps, 500) if lr == "search" else args.steps
    flag, value = (
        _SIZE_FLAG[args.model],
        {"snn": args.widths, "deep": args.depth, "factor": args.model_rank, "free": args.problem}[
            args.model
        ],
    )
    if (
        args.model_rank is not None
        and args.model == "snn"
        and model_cost("snn", problem.shape, {**opts, "rank": None})[0] < nbytes
    ):
        flag, value = "--model-rank", args.model_rank
    check_size(args, flag, value, nbytes, per_step * min(steps, 10_000))
    check_size(args, "--steps", args.steps, 0.0, per_step * steps)


def validate(args) -> dict:
    lr = parse_lr(args.lr)
    check_int(args.steps, "--steps", 1)
    check_int(args.record_every, "--record-every", 1)
    check_real(args.tol, "--tol", low=0.0)
    check_real(args.init_scale, "--init-scale", low=0.0)
    check_int(args.depth, "--depth", 1)
    check_int(args.model_rank, "--model-rank", 1)
    check_out(args.out)
    for name in OUTPUTS:  # a folder or a device where a result goes: refused before any work
        path = os.path.join(args.out, name)
        if os.path.lexists(path):
            check_out_file(path, "", f"--out {args.out!r}: the output")
    problem = load_problem(args.problem, max_bytes=max_bytes(args))
    _check_budget(args, problem, lr)
    kwargs = _model_kwargs(args)
    if args.model == "snn" and args.init == "spectral":
        kwargs["problem"] = problem
    model = make_model(args.model, problem.shape, max_bytes=max_bytes(args), **kwargs)
    ckpt = os.path.join(args.out, "checkpoint.pt")
    if args.resume and os.path.exists(ckpt):
        from .. import _checkpoint

        try:  # integrity and problem now; the rest (model, rates, step) when training starts
            _checkpoint.verify(ckpt, problem.to(dtype=next(model.parameters()).dtype))
        except ValueError as exc:
            raise UsageError(f"--resume: {str(exc).strip().splitlines()[0]}") from None
    return {"lr": lr, "problem": problem, "model": model, "kwargs": kwargs, "checkpoint": ckpt}


def resume_hint(args) -> str | None:
    if os.path.exists(os.path.join(args.out, "checkpoint.pt")):
        return f"a checkpoint is in {args.out}: resume with the same command plus --resume"
    return None


def run(args, job) -> None:
    problem, lr = job["problem"], job["lr"]
    fit_kw = {
        "optimizer": args.optimizer,
        "tol": args.tol,
        "record_every": args.record_every,
        "progress": _printer(args),
        "checkpoint": job["checkpoint"],
        "resume": args.resume,
    }
    with output_dir(args.out):
        diverged = []
        if lr == "search":
            results, diverged = _resuming(
                args,
                lr_search,
                lambda runs: make_model(
                    args.model, problem.shape, runs=runs, max_bytes=max_bytes(args), **job["kwargs"]
                ),
                problem,
                args.steps,
                **fit_kw,
            )
            if not results:
                raise UsageError("--lr search: every learning rate of the search diverged")
            result = results[0]
        else:
            result = _resuming(args, fit, job["model"], problem, lr, args.steps, **fit_kw)
        with _io.write_together():  # all results, or (on an error) none of them
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
    summary = {
        "status": str(result.status),
        "lr": result.lr,
        "diverged_at": result.diverged_at,
        "diverged_lrs": diverged,
        "steps": result.steps,
        "wall_time": result.wall_time,
        "final": result.final,
        "problem": args.problem,
        "problem_meta": problem.meta,
        "settings": vars(args),
        "versions": _io.provenance(),
    }
    _io.write_json(os.path.join(out, "summary.json"), summary)
    if result.history:
        fig = plot_histories(
            {f"{args.model} lr={result.lr:g}": result.history},
            title=f"spectralnn fit {os.path.basename(args.problem)}",
        )
        save_figure(fig, os.path.join(out, "history.png"))
    fin = result.final
    err = fin.get("rel_error")
    say(
        f"{result.status}: {result.steps} steps, lr={result.lr:g}, train loss "
        f"{fin.get('train_loss', float('nan')):.3e}, rel error "
        f"{'n/a' if err is None else f'{err:.4f}'}, nuclear norm "
        f"{fin.get('nuclear_norm', float('nan')):.4f}; results in {out}"
    )


def _printer(args):
    """Progress lines on stderr (also when it is a file), unless --quiet."""
    if getattr(args, "quiet", False):
        return False
    from .._progress import ProgressPrinter

    return ProgressPrinter(prefix="fit")
