"""Matplotlib renderings of the reproduced figures."""

from __future__ import annotations

import numpy as np

from ..plotting import plt


def curves_figure(result: dict):
    """Figures 2-3: one row per model; training error (log), nuclear norm, 3 leading singular
    values vs iteration; one colour per learning rate; the convex minimiser's nuclear norm as a
    dashed reference."""
    labels = list(dict.fromkeys(r["model"] for r in result["runs"]))
    fig, axes = plt.subplots(max(len(labels), 1), 3, figsize=(15, 3.6 * max(len(labels), 1)),
                             squeeze=False)
    ref = result["reference"]
    for row, label in zip(axes, labels):
        runs = [r for r in result["runs"] if r["model"] == label]
        colors = plt.cm.viridis(np.linspace(0, 0.9, max(len(runs), 1)))
        for color, run in zip(colors, runs):
            hist = run["history"]
            steps = [h["step"] for h in hist]
            lab = f"lr={run['lr']:g}"
            row[0].semilogy(steps, [max(h["train_loss"], 1e-300) for h in hist], color=color,
                            label=lab)
            row[1].plot(steps, [h["nuclear_norm"] for h in hist], color=color, label=lab)
            sv = np.array([h["singular_values"][:3] for h in hist])
            for j, ls in zip(range(sv.shape[1]), ("-", "--", ":")):
                row[2].plot(steps, sv[:, j], color=color, ls=ls, label=lab if j == 0 else None)
        row[0].axhline(max(ref["loss_floor"], 1e-300), color="gray", ls=":", lw=1,
                       label="noise floor (least squares)")
        row[1].axhline(ref["min_nuclear_norm"], color="red", ls="--", lw=1,
                       label=f"convex minimiser ({ref['min_nuclear_norm']:.4f})")
        row[0].set_ylabel(f"{label}\ntraining error")
        row[1].set_ylabel("nuclear norm")
        row[2].set_ylabel("3 leading singular values (- / -- / :)")
        for ax in row:
            ax.set_xlabel("iteration")
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=7)
        row[1].legend(fontsize=7)
    fig.suptitle(f"{result['figure']}: {result['caption']}", fontsize=9)
    fig.tight_layout()
    return fig


def frames_figure(result: dict, frames: dict):
    """Figure 4: rows = model x learning rate, columns = the reconstruction at iterations."""
    rows = [(key, snaps) for key, snaps in frames.items() if key[1] != "ground truth"]
    n_cols = max(len(s) for _, s in rows) + 1
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(1.7 * n_cols + 1, 1.9 * len(rows)),
                             squeeze=False)
    for ax_row, ((image, label, lr), snaps) in zip(axes, rows):
        truth = frames[(image, "ground truth", None)][0].numpy()
        for ax, (step, X) in zip(ax_row, snaps.items()):
            ax.imshow(np.clip(X.numpy(), truth.min(), truth.max()), cmap="gray")
            ax.set_title(f"iter {step}", fontsize=7)
        ax_row[-1].imshow(truth, cmap="gray")
        ax_row[-1].set_title("ground truth", fontsize=7)
        ax_row[0].set_ylabel(f"{label}\nlr={lr:g}", fontsize=7)
        for ax in ax_row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"{result['figure']}: {result['caption']} Image: {', '.join(result['images'])}",
                 fontsize=8)
    fig.tight_layout()
    return fig


def best_runs(result: dict) -> dict:
    """Per (image, model): the kept run with the lowest final test loss."""
    best = {}
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
    fig, axes = plt.subplots(1 + len(labels), len(images),
                             figsize=(2.2 * len(images) + 1, 2.4 * (1 + len(labels))),
                             squeeze=False)
    for j, name in enumerate(images):
        truth = frames[(name, "ground truth", None)][0].numpy()
        axes[0, j].imshow(truth, cmap="gray")
        axes[0, j].set_title(name, fontsize=8)
        for i, label in enumerate(labels, start=1):
            run = best.get((name, label))
            ax = axes[i, j]
            if run is not None:
                X = frames[(name, label, run["lr"])]
                ax.imshow(np.clip(X[max(X)].numpy(), truth.min(), truth.max()), cmap="gray")
                ax.set_xlabel(f"PSNR {run['psnr']:.2f} dB\nrel.err {run['rel_error']:.3f}",
                              fontsize=7)
            if j == 0:
                ax.set_ylabel(label, fontsize=8)
        axes[0, 0].set_ylabel("ground truth", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{result['figure']}: {result['caption']}", fontsize=8)
    fig.tight_layout()
    return fig
