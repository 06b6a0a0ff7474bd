"""Matplotlib figures of training histories and image grids (non-interactive Agg backend)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["plot_histories", "plot_images", "save_figure"]


def save_figure(fig, path: str | os.PathLike, formats=("png",)) -> list[str]:
    """Save ``fig`` as ``path`` with each extension in ``formats`` (atomically); close it."""
    base = os.path.splitext(os.fspath(path))[0]
    written = []
    for ext in formats:
        out = f"{base}.{ext}"
        tmp = f"{base}.tmp.{ext}"
        fig.savefig(tmp, dpi=130, bbox_inches="tight")
        os.replace(tmp, out)
        written.append(out)
    plt.close(fig)
    return written


def plot_histories(histories: dict, title: str = "", reference_nuclear: float | None = None,
                   n_singular: int = 3):
    """Three panels vs step: train loss (log), nuclear norm, leading singular values.

    ``histories`` maps a label (e.g. ``"snn lr=0.1"``) to a list of history records.
    """
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    colors = plt.cm.viridis(np.linspace(0, 0.9, max(len(histories), 1)))
    for color, (label, hist) in zip(colors, histories.items()):
        steps = [r["step"] for r in hist]
        axes[0].semilogy(steps, [max(r["train_loss"], 1e-300) for r in hist], color=color,
                         label=label)
        axes[1].plot(steps, [r["nuclear_norm"] for r in hist], color=color, label=label)
        sv = np.array([r["singular_values"][:n_singular] for r in hist])
        for j in range(sv.shape[1]):
            axes[2].plot(steps, sv[:, j], color=color, ls=("-", "--", ":")[j % 3],
                         label=label if j == 0 else None)
    if reference_nuclear is not None:
        axes[1].axhline(reference_nuclear, color="red", ls="--", lw=1,
                        label="convex minimiser")
    axes[0].set_ylabel("training error (1/2m ||A(X)-y||^2)")
    axes[1].set_ylabel("nuclear norm ||X||_*")
    axes[2].set_ylabel(f"{n_singular} leading singular values (- / -- / :)")
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_images(rows: list[tuple[str, list]], col_titles: list[str] | None = None,
                title: str = "", vmin: float = 0.0, vmax: float = 1.0):
    """A grid of grayscale images: ``rows`` is ``[(row_label, [(image, caption), ...]), ...]``."""
    n_rows, n_cols = len(rows), max(len(r[1]) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.9 * n_cols + 1, 2.1 * n_rows),
                             squeeze=False)
    for i, (label, cells) in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(cells):
                ax.axis("off")
                continue
            img, caption = cells[j]
            ax.imshow(np.clip(img, vmin, vmax), cmap="gray", vmin=vmin, vmax=vmax)
            ax.set_xlabel(caption, fontsize=7)
            if i == 0 and col_titles:
                ax.set_title(col_titles[j], fontsize=8)
        axes[i, 0].set_ylabel(label, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
