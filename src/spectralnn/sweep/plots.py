"""Sweep figures: recovery-probability heat maps and line plots with 95% intervals."""

from __future__ import annotations

import os

import numpy as np

from ._labels import MODEL_LABELS
from .config import SweepConfig


def _ticks(values, max_ticks=8):
    step = max(1, int(np.ceil(len(values) / max_ticks)))
    idx = list(range(0, len(values), step))
    return idx, [f"{values[i]:g}" for i in idx]


def _annotate(ax, grid, ys, xs) -> None:
    """Write each finite probability into its cell of the heat map."""
    for i in range(len(ys)):
        for j in range(len(xs)):
            if np.isfinite(grid[i, j]):
                ax.text(
                    j,
                    i,
                    f"{grid[i, j]:.2f}".replace("0.", "."),
                    ha="center",
                    va="center",
                    fontsize="small",
                    color="black" if grid[i, j] > 0.55 else "white",
                )


def _heat_maps(cfg: SweepConfig, summary: dict, prob: dict, panel: float, n_text: str, out: str):
    """``phase_transition.{png,pdf}``: one heat map per model, shared axes and colour scale."""
    from ..plotting import plt, save_figure

    xs, ys, n = summary["xs"], summary["ys"], len(prob)
    fig, axes = plt.subplots(
        1,
        n,
        figsize=(panel * n + 0.8, panel * 0.95 + 0.6),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    im = None
    small = len(xs) * len(ys) <= 64
    for ax, (m, grid) in zip(axes[0], prob.items()):
        im = ax.imshow(grid, origin="lower", aspect="auto", vmin=0, vmax=1, cmap="magma")
        if small:
            _annotate(ax, grid, ys, xs)
        ax.set_xticks(*_ticks(xs))
        ax.set_yticks(*_ticks(ys))
        ax.set_xlabel(cfg.label(cfg.x))
        ax.set_title(MODEL_LABELS.get(m, m))
    axes[0, 0].set_ylabel(cfg.label(cfg.y))
    assert im is not None  # one panel per model, at least one
    fig.colorbar(
        im, ax=axes[0].tolist(), label=f"P(rel. error $\\leq$ {cfg.recovery_tol:g})", shrink=0.9
    )
    how = summary["aggregation"]
    fig.suptitle(f"{cfg.name}: recovery probability\n({how}; {n_text} seeds per cell)")
    return save_figure(fig, os.path.join(out, "phase_transition.png"), ("png", "pdf"))


def _line_panel(ax, cfg: SweepConfig, grid, lo, hi, xs, ys, colors) -> None:
    """Probability vs x for one model, one line per y with Wilson 95% bars."""
    for i, (yv, color) in enumerate(zip(ys, colors)):
        ok = np.isfinite(grid[i])
        if not ok.any():
            continue
        span = (max(xs) - min(xs)) or 1.0  # dodge the lines so bars stay visible
        x = np.asarray(xs, dtype=float)[ok] + span * 0.012 * (i - (len(ys) - 1) / 2)
        p = grid[i][ok]
        err = np.vstack([p - lo[i][ok], hi[i][ok] - p])
        ax.errorbar(
            x,
            p,
            yerr=err,
            marker="o",
            ms=3,
            capsize=2,
            color=color,
            label=f"{cfg.y} = {yv:g}",
        )


def _recovery_lines(cfg: SweepConfig, summary: dict, prob: dict, panel: float, n_text: str, out):
    """``recovery_lines.{png,pdf}``: probability vs x, one line per y, Wilson 95% bars."""
    from ..plotting import plt, save_figure

    lo = {m: np.array(g, dtype=float) for m, g in summary["ci95_low"].items()}
    hi = {m: np.array(g, dtype=float) for m, g in summary["ci95_high"].items()}
    xs, ys, n = summary["xs"], summary["ys"], len(prob)
    fig, axes = plt.subplots(
        1,
        n,
        figsize=(panel * n + 0.8, panel * 0.85 + 0.6),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    colors = plt.cm.viridis(np.linspace(0, 0.85, max(len(ys), 1)))
    for ax, (m, grid) in zip(axes[0], prob.items()):
        _line_panel(ax, cfg, grid, lo[m], hi[m], xs, ys, colors)
        ax.set_xticks([xs[i] for i in _ticks(xs)[0]], _ticks(xs)[1])
        ax.set_xlabel(cfg.label(cfg.x))
        ax.set_title(MODEL_LABELS.get(m, m))
        ax.set_ylim(-0.04, 1.04)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(f"P(rel. error $\\leq$ {cfg.recovery_tol:g})")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        title = cfg.label(cfg.y).split(",")[0]
        fig.legend(handles, labels, loc="outside right center", title=title)
    fig.suptitle(
        f"{cfg.name}: recovery probability with 95% Wilson intervals\n({summary['aggregation']}; "
        f"{n_text} seeds per point; points of different lines dodged sideways)"
    )
    return save_figure(fig, os.path.join(out, "recovery_lines.png"), ("png", "pdf"))


def plot_summary(cfg: SweepConfig, summary: dict, out: str, style: str = "screen") -> list[str]:
    """``phase_transition.{png,pdf}`` (one heat map per model, shared axes and colour scale)
    and ``recovery_lines.{png,pdf}`` (probability vs x, one line per y, Wilson 95% bars)."""
    from ..plotting import figure_width
    from ..plotting import style as use_style

    prob = {m: np.array(g, dtype=float) for m, g in summary["recovery_probability"].items()}
    count = {m: np.array(g) for m, g in summary["n"].items()}
    n_max = max((int(c.max()) for c in count.values() if c.size), default=0)
    n_min = min((int(c[c > 0].min()) for c in count.values() if (c > 0).any()), default=0)
    n_text = f"n = {n_min}" if n_min == n_max else f"n = {n_min}-{n_max}"
    written = []
    with use_style(style):
        panel = min(figure_width() / len(prob), 4.2)
        written += _heat_maps(cfg, summary, prob, panel, n_text, out)
        written += _recovery_lines(cfg, summary, prob, panel, n_text, out)
    return written
