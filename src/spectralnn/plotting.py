"""Matplotlib figures of training histories and image grids (non-interactive Agg backend).

Two styles: ``"screen"`` (the default) and ``"paper"`` (7 in wide = a two-column paper's full
text width, 8 pt fonts). PDFs embed their fonts as TrueType (``pdf.fonttype = 42``), as
journals ask. :func:`plot_images` is in :mod:`spectralnn._image_grid`, re-exported here.

>>> from spectralnn import plotting
>>> with plotting.style("paper"):
...     plotting.figure_width()
7.0
"""

from __future__ import annotations

import contextlib
import math
import os
import textwrap
from typing import TYPE_CHECKING, Any, TypedDict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from ._image_grid import plot_images

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

__all__ = [
    "STYLES",
    "figure_width",
    "log_limits",
    "plot_histories",
    "plot_images",
    "save_figure",
    "style",
]


class _Style(TypedDict):
    width: float
    rc: dict[RcKeyType, Any]


_EMBED: dict[RcKeyType, Any] = {"pdf.fonttype": 42, "ps.fonttype": 42}
STYLES: dict[str, _Style] = {
    "screen": {
        "width": 13.0,
        "rc": {
            "font.size": 9,
            "axes.titlesize": 9,
            "axes.labelsize": 9,
            "legend.fontsize": 7.5,
            "xtick.labelsize": 8,
            "ytick.labelsize": 8,
            **_EMBED,
        },
    },
    "paper": {
        "width": 7.0,
        "rc": {
            "font.size": 7,
            "axes.titlesize": 7,
            "axes.labelsize": 7,
            "legend.fontsize": 6,
            "xtick.labelsize": 6,
            "ytick.labelsize": 6,
            "lines.linewidth": 0.9,
            "axes.linewidth": 0.6,
            "grid.linewidth": 0.4,
            "figure.titlesize": 7.5,
            **_EMBED,
        },
    },
}
_current = ["screen"]
SV_STYLES = ("-", "--", ":")


@contextlib.contextmanager
def style(name: str = "screen"):
    """Use a style (``"screen"`` or ``"paper"``) for the figures made inside the block."""
    if name not in STYLES:
        raise ValueError(
            f"The 'style' parameter of plotting.style must be one of "
            f"{sorted(STYLES)}. Got {name!r} instead."
        )
    prev = _current[0]
    _current[0] = name
    try:
        with matplotlib.rc_context(STYLES[name]["rc"]):
            yield
    finally:
        _current[0] = prev


def figure_width() -> float:
    """Width in inches of a full-width figure in the current style."""
    return STYLES[_current[0]]["width"]


def current_style() -> str:
    return _current[0]


def save_figure(fig, path: str | os.PathLike, formats=("png",)) -> list[str]:
    """Save ``fig`` as ``path`` with each extension in ``formats`` (atomically: a unique temp
    file in the target folder, then a rename); PDFs embed TrueType fonts. Closes ``fig``."""
    from ._io import atomic_write

    base = os.path.splitext(os.fspath(path))[0]
    written = []
    try:
        with matplotlib.rc_context(_EMBED):
            for ext in formats:
                out = f"{base}.{ext}"
                atomic_write(
                    out,
                    lambda f, ext=ext: fig.savefig(
                        f,
                        format=ext,
                        dpi=200 if _current[0] == "paper" else 130,
                        bbox_inches="tight",
                    ),
                )
                written.append(out)
    finally:
        plt.close(fig)
    return written


def log_limits(values, floor: float | None = None, pad: float = 2.0):
    """Limits of a log axis from the positive, finite data (and a positive floor): never a
    zero floor, never a limit no point is near. None when there is nothing positive."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if floor is not None and math.isfinite(floor) and floor > 0:
        v = np.append(v, floor)
    if v.size == 0:
        return None
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo * 1.0001:
        return lo / 10, hi * 10
    return lo / pad, hi * pad


def _flat(
    histories: dict, key: str = "train_loss", rtol: float = 1e-3, scale: float | None = None
) -> bool:
    """True when no curve of ``key`` changes by more than ``rtol`` of its size (or of
    ``scale``, when given and larger)."""
    for hist in histories.values():
        v = np.asarray([r[key] for r in hist if r.get(key) is not None], dtype=float)
        v = v[np.isfinite(v)]
        if v.size and (v.max() - v.min()) > rtol * max(abs(v).max(), scale or 0, 1e-300):
            return False
    return True


_ITER_FORMAT = FuncFormatter(lambda v, _: f"{v / 1000:g}k" if abs(v) >= 1000 else f"{v:g}")


def plot_histories(
    histories: dict,
    title: str = "",
    reference_nuclear: float | None = None,
    n_singular: int = 3,
    *,
    axes=None,
    loss_floor: float | None = None,
    row_label: str | None = None,
    colors=None,
):
    """Three panels vs iteration: training error (log), nuclear norm, leading singular values.

    ``histories`` maps a label (e.g. ``"lr=0.1"``) to a list of history records. One legend
    entry per label; the singular values' line styles get their own key. ``loss_floor`` (the
    least-squares floor) is drawn only when positive; log limits come from the data. A set of
    curves where nothing moves is marked as such. With ``axes`` (three Axes, e.g. one row of a
    larger figure) the panels are drawn there; otherwise a new figure is made. Returns the
    figure.
    """
    if axes is None:
        w = figure_width()
        fig, axes = plt.subplots(1, 3, figsize=(w, w * 0.3), layout="constrained")
    fig = axes[0].figure
    if colors is None:
        colors = plt.cm.viridis(np.linspace(0, 0.85, max(len(histories), 1)))
    losses = _draw_curves(axes, histories, colors, n_singular)
    _draw_references(axes, losses, loss_floor, reference_nuclear)
    if histories and _flat(histories) and _flat(histories, "nuclear_norm", scale=reference_nuclear):
        _mark_flat(axes, histories)
    _label_axes(axes, histories, n_singular, row_label, reference_nuclear)
    if title:
        fig.suptitle(title)
    return fig


def _draw_curves(axes, histories: dict, colors, n_singular: int) -> list:
    """The three panels' curves, one color per label; returns every training error drawn."""
    losses = []
    for color, (label, hist) in zip(colors, histories.items()):
        steps = np.array([r["step"] for r in hist])
        loss = np.array(
            [np.nan if r["train_loss"] is None else r["train_loss"] for r in hist], dtype=float
        )
        losses.extend(loss.tolist())
        axes[0].plot(steps, np.where(loss > 0, loss, np.nan), color=color, label=label)
        axes[1].plot(steps, [r["nuclear_norm"] for r in hist], color=color)
        sv = np.array([r["singular_values"][:n_singular] for r in hist])
        for j in range(sv.shape[1]):
            axes[2].plot(steps, sv[:, j], color=color, ls=SV_STYLES[j % 3])
    return losses


def _draw_references(axes, losses: list, loss_floor, reference_nuclear) -> None:
    """Log limits of the error panel, the least-squares floor and the convex minimiser's norm."""
    axes[0].set_yscale("log")
    lim = log_limits(losses, loss_floor)
    if lim is not None:
        axes[0].set_ylim(*lim)
    if loss_floor is not None and math.isfinite(loss_floor) and loss_floor > 0:
        axes[0].axhline(loss_floor, color="gray", ls=":", lw=1, label="least-squares floor")
    elif loss_floor is not None:
        axes[0].set_title(
            "least-squares floor 0 (not drawn)", loc="right", fontsize="x-small", color="gray"
        )
    if reference_nuclear is not None:
        axes[1].axhline(
            reference_nuclear,
            color="red",
            ls="--",
            lw=1,
            label=f"convex minimiser ({reference_nuclear:.4g})",
        )


def _mark_flat(axes, histories: dict) -> None:
    """A note on every panel that nothing moved."""
    n_steps = max(max((r["step"] for r in h), default=0) for h in histories.values())
    for ax in axes:
        ax.text(
            0.5,
            0.5,
            f"flat: no visible change in {n_steps:,} iterations at any lr",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize="small",
            color="firebrick",
            bbox={"fc": "white", "ec": "firebrick", "alpha": 0.85},
        )


def _label_axes(axes, histories: dict, n_singular: int, row_label, reference_nuclear) -> None:
    """Axis labels, iteration ticks, grids and legends (the singular values' styles get a key)."""
    prefix = textwrap.fill(row_label, 40) + "\n" if row_label else ""
    axes[0].set_ylabel(prefix + "training error")
    axes[1].set_ylabel("nuclear norm")
    axes[2].set_ylabel(f"{n_singular} leading singular values")
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.xaxis.set_major_formatter(_ITER_FORMAT)  # 20k, not 20000 (ticks that never collide)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best", ncol=1 + (len(histories) > 5))
    if reference_nuclear is not None:
        axes[1].legend(loc="best")
    key = [
        Line2D([], [], color="black", ls=SV_STYLES[j % 3], label=f"$\\sigma_{j + 1}$")
        for j in range(n_singular)
    ]
    axes[2].legend(
        handles=key,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        frameon=False,
        ncol=n_singular,
        borderaxespad=0.2,
        handlelength=2.5,
    )
