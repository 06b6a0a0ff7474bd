"""Image grids of :mod:`spectralnn.plotting` (:func:`plot_images`), on the same non-interactive
Agg backend."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def plot_images(
    rows: list[tuple[str, list]],
    col_titles: list[str] | None = None,
    title: str = "",
    vmin: float = 0.0,
    vmax: float = 1.0,
):
    """A grid of grayscale images: ``rows`` is ``[(row_label, [(image, caption), ...]), ...]``."""
    n_rows, n_cols = len(rows), max(len(r[1]) for r in rows)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(1.9 * n_cols + 1, 2.1 * n_rows), squeeze=False
    )
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
