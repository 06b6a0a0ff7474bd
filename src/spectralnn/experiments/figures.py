"""Matplotlib renderings of the reproduced figures."""

from __future__ import annotations

import textwrap

import numpy as np

from ..plotting import figure_width, plot_histories, plt


def curves_figure(result: dict):
    """Figures 2-3: one row per model, drawn by :func:`spectralnn.plotting.plot_histories`
    (training error on a log axis with data limits, nuclear norm with the convex minimiser's as
    a dashed reference, 3 leading singular values with their own line-style key); one colour
    and one legend entry per learning rate; rows where nothing moves are marked."""
    labels = list(dict.fromkeys(r["model"] for r in result["runs"]))
    n = max(len(labels), 1)
    w = figure_width()
    fig, axes = plt.subplots(
        n, 3, figsize=(w, w * 0.27 * n + 0.5), squeeze=False, layout="constrained"
    )
    ref = result["reference"]
    for row, label in zip(axes, labels):
        runs = [r for r in result["runs"] if r["model"] == label]
        plot_histories(
            {f"lr = {r['lr']:g}": r["history"] for r in runs},
            axes=row,
            reference_nuclear=ref["min_nuclear_norm"],
            loss_floor=ref["loss_floor"],
            row_label=label,
        )
    quick = " (quick run: fewer iterations than the paper)" if result.get("quick") else ""
    fig.suptitle(
        f"{result['figure']}{quick}\n" + textwrap.fill(result["caption"], 140), fontsize="medium"
    )
    return fig


def frames_figure(result: dict, frames: dict):
    """Figure 4: rows = model x learning rate, columns = the reconstruction at iterations."""
    rows = [(key, snaps) for key, snaps in frames.items() if key[1] != "ground truth"]
    n_cols = max(len(s) for _, s in rows) + 1
    cell = min(1.7, (figure_width() - 0.8) / n_cols)
    fig, axes = plt.subplots(
        len(rows),
        n_cols,
        figsize=(cell * n_cols + 0.8, cell * 1.12 * len(rows) + 0.6),
        squeeze=False,
        layout="constrained",
    )
    for ax_row, ((image, label, lr), snaps) in zip(axes, rows):
        truth = frames[(image, "ground truth", None)][0].numpy()
        for ax, (step, X) in zip(ax_row, snaps.items()):
            ax.imshow(
                np.clip(X.numpy(), truth.min(), truth.max()),
                cmap="gray",
                vmin=truth.min(),
                vmax=truth.max(),
            )
            ax.set_title(f"iter {step:,}", fontsize="small")
        ax_row[-1].imshow(truth, cmap="gray")
        ax_row[-1].set_title("ground truth", fontsize="small")
        ax_row[0].set_ylabel(f"{label}\nlr = {lr:g}", fontsize="small")
        for ax in ax_row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(
        textwrap.fill(
            f"{result['figure']}: {result['caption']} Image: {', '.join(result['images'])}", 110
        ),
        fontsize="medium",
    )
    return fig


def best_runs(result: dict) -> dict:
    """Per (image, model): the kept run with the lowest final test loss."""
    best: dict[tuple[str, str], dict] = {}
    for run in result["runs"]:
        key = (run["image"], run["model"])
        test = run["final"].get("test_loss")
        if key not in best or (test is not None and test < best[key]["final"]["test_loss"]):
            best[key] = run
    return best


def gallery_figure(result: dict, frames: dict):
    """Figure 5: ground truth / linear regression / SNN rows, PSNR and error under each."""
    images = result["images"]
    labels = list(dict.fromkeys(r["model"] for r in result["runs"]))
    best = best_runs(result)
    cell = min(2.2, (figure_width() - 0.8) / len(images))
    fig, axes = plt.subplots(
        1 + len(labels),
        len(images),
        figsize=(cell * len(images) + 0.8, cell * 1.3 * (1 + len(labels)) + 0.5),
        squeeze=False,
        layout="constrained",
    )
    for j, name in enumerate(images):
        truth = frames[(name, "ground truth", None)][0].numpy()
        axes[0, j].imshow(truth, cmap="gray")
        axes[0, j].set_title(name, fontsize="small")
        for i, label in enumerate(labels, start=1):
            run = best.get((name, label))
            ax = axes[i, j]
            if run is not None:
                X = frames[(name, label, run["lr"])]
                ax.imshow(
                    np.clip(X[max(X)].numpy(), truth.min(), truth.max()),
                    cmap="gray",
                    vmin=truth.min(),
                    vmax=truth.max(),
                )
                ax.set_xlabel(
                    f"PSNR {run.get('psnr_255', run['psnr']):.2f} dB\n"
                    f"rel. error {run['rel_error']:.3f}",
                    fontsize="small",
                )
            if j == 0:
                ax.set_ylabel(textwrap.fill(label, 18), fontsize="small")
        axes[0, 0].set_ylabel("ground truth", fontsize="small")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        textwrap.fill(
            f"{result['figure']}: {result['caption']} PSNR: 20 log10(255 / "
            "RMSE) on the 0-255 image.",
            110,
        ),
        fontsize="medium",
    )
    return fig
