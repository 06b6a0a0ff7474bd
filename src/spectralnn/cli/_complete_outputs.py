"""The outputs of ``spectralnn complete``: OUTPUT (the completed matrix, the missing entries or
the predictions of ``--predict``), the summary and the history figure, and the lines printed."""

from __future__ import annotations

import csv
import os

import numpy as np


def _predict(res, fitted, rows, cols) -> np.ndarray:
    if res is not None and hasattr(res, "predict"):
        return np.asarray(res.predict(rows, cols), dtype=np.float64).reshape(-1)
    if fitted is None:
        fitted = res.X.detach().cpu().numpy()
    return np.asarray(fitted[rows, cols], dtype=np.float64)


def _entries(args, values, pred, rows, cols) -> np.ndarray:
    """The values written for ``(rows, cols)``: the model's, clipped, observed ones kept."""
    if args.clip is not None:
        pred = np.clip(pred, *args.clip)
    if not args.fitted_observed:
        seen = values[rows, cols]
        pred = np.where(np.isnan(seen), pred, seen)
    return pred


def _num(v: float) -> str:
    return f"{v:.6g}"


def _write_rows(path, delimiter, header, rows_of_cells) -> None:
    from .. import _io

    def w(f):
        out = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        if header is not None:
            out.writerow(header)
        out.writerows(rows_of_cells)

    _io.atomic_write(path, w, text=True)


def _write_output(args, table, pairs, res, fitted) -> int:
    """Write OUTPUT; returns the number of data lines (entries) written."""
    values = table.values
    if pairs is not None:
        pred = _entries(
            args,
            values,
            _predict(res, fitted, pairs["rows"], pairs["cols"]),
            pairs["rows"],
            pairs["cols"],
        )
        value_name = table.header[2] if table.fmt == "triplets" and table.header else "prediction"
        header = None if pairs["header"] is None else pairs["header"] + [value_name]
        _write_rows(
            args.out,
            pairs["delimiter"],
            header,
            ([r, c, _num(v)] for (r, c), v in zip(pairs["text"], pred)),
        )
        return len(pred)
    if args.only_missing:
        rows, cols = np.nonzero(np.isnan(values))
        pred = _entries(args, values, _predict(res, fitted, rows, cols), rows, cols)
        rl, cl = table.row_labels, table.col_labels
        _write_rows(
            args.out,
            table.delimiter,
            table.header,
            ([rl[i], cl[j], _num(v)] for i, j, v in zip(rows, cols, pred)),
        )
        return len(pred)
    from .._tabular import write_table

    if fitted is None:
        fitted = res.X.detach().cpu().numpy()
    rows, cols = np.indices(values.shape)
    completed = _entries(args, values, fitted, rows, cols)
    write_table(args.out, table, completed)
    return completed.size


def _summary(args, table, res, est, elapsed, written) -> dict:
    from .. import _io

    values = table.values
    obs = ~np.isnan(values)
    s = {
        "input": args.input,
        "output": args.out,
        "format": table.fmt,
        "shape": list(values.shape),
        "observed": int(obs.sum()),
        "observed_fraction": float(obs.mean()),
        "model": args.model,
        "keep_observed": not args.fitted_observed,
        "time_s": elapsed,
        "empty_rows": np.flatnonzero(~obs.any(1)).tolist(),
        "empty_cols": np.flatnonzero(~obs.any(0)).tolist(),
        "predict": args.predict,
        "only_missing": args.only_missing,
        "clip": None if args.clip is None else list(args.clip),
        "entries_written": written,
    }
    if res is not None:
        s.update(
            status=res.status,
            validation_error=res.validation_error,
            lr=res.lr,
            lr_factor=res.lr_factor,
            init_scale=res.init_scale,
            best_step=res.best_step,
            scale=res.normalization.scale,
            offset=res.normalization.offset,
            refit=res.refit,
            refinement=_refinement(res),
            lr_candidates={f"{k:.6g}": v for k, v in res.candidates.items()},
            warnings=res.warnings,
        )
    elif args.model == "softimpute":
        s.update(
            validation_error=est.validation_error_,
            **{"lambda": est.lambda_},
            rank=est.rank_,
            iterations=est.n_iter_,
        )
    else:
        s.update(
            solver=est.method_,
            converged=est.converged_,
            iterations=est.n_iter_,
            validation_error=None,
        )
    s["versions"] = _io.provenance()
    return s


def _history_figure(args, res, est):
    # A bare Figure (no pyplot, no backend switching): the command's start stays light.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    if res is not None and res.history:
        held = any(h["val_rmse"] is not None for h in res.history)
        key = "val_rmse" if held else "train_loss"
        for k in sorted({h["fold"] for h in res.history}):
            pts = [(h["step"], h[key]) for h in res.history if h["fold"] == k]
            if any(y is None for _, y in pts):  # a small matrix's refit: nothing held out
                continue
            ax.plot(*zip(*pts), label=f"part {k + 1}" if held else "all entries")
        ax.set_xlabel("gradient step")
        ax.set_ylabel("held-out RMSE (data units)" if held else "training loss (normalised)")
        # plain "1e-05" labels: mathtext ones cost half a second to draw
        from matplotlib.ticker import LogFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(LogFormatter())
        ax.set_title(f"spectralnn complete {os.path.basename(args.input)}", fontsize=9)
        ax.legend(fontsize=8)
        return fig
    if args.model == "softimpute" and est.validation_errors_:
        ax.semilogx(est.lambdas_, est.validation_errors_, "o-")
        ax.axvline(est.lambda_, color="red", ls="--", label="chosen")
        ax.set_xlabel("lambda")
        ax.set_ylabel("held-out relative error")
        ax.legend()
    else:
        ax.text(0.5, 0.5, f"{args.model}: no training history", ha="center", va="center")
        ax.axis("off")
    return fig


def _settings(s: dict) -> str:
    if "lr" in s:
        init = "" if s["init_scale"] is None else f", init scale {s['init_scale']:g}"
        return (
            f": step size {s['lr']:.4g} ({s['lr_factor']:g} / the loss's curvature){init}, "
            f"best at step {s['best_step']}, {s['status']}{_mixture(s.get('refinement'))}"
        )
    if "lambda" in s:
        return f": lambda {s['lambda']:.4g} (held-out), rank {s['rank']}"
    return f": solver {s['solver']}, {'converged' if s['converged'] else 'NOT converged'}"


def _mixture(ref) -> str:
    """The summary line's words for a table's Gaussian-mixture refinement (none: "")."""
    if not ref:
        return ""
    mix = ref.get("mixture") or {str(ref["components"]): 1.0}
    if len(mix) == 1:
        what = f"a mixture of {next(iter(mix))} Gaussian(s)"
    else:
        terms = " + ".join(
            f"{w:.2f} x {K}" for K, w in sorted(mix.items(), key=lambda t: int(t[0]))
        )
        what = f"mixtures of Gaussians stacked ({terms} Gaussians)"
    return (
        f"; then {what}{' on normal scores' if ref.get('copula') else ''}, ridge {ref['ridge']:g}"
    )


def save_history(fig, path: str) -> None:
    """Write ``fig`` as a PNG at ``path`` atomically (part of the command's output group)."""
    from .._io import atomic_write

    fig.subplots_adjust(left=0.19, right=0.97, bottom=0.13, top=0.9)  # no costly tight bbox
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=130))


def _refinement(res):
    """The summary's record of a table's Gaussian-mixture refinement (None: not refined)."""
    if res.components is None:
        return None
    return {
        "ridge": res.refined,
        "components": res.components,
        "mixture": {str(K): round(float(w), 4) for K, w in (res.mixture or {}).items()},
        "copula": res.copula,
        "mean_columns": np.asarray(res.mean_columns).tolist(),
        "column_weights": [round(float(w), 4) for w in np.asarray(res.weights)],
    }
