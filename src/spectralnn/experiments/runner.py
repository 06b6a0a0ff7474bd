"""Run a :class:`FigureConfig`: problems, the learning-rate protocol per model, references."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import cast

import numpy as np

from .. import theory
from ..metrics import psnr, relative_error
from ..models import make_model
from ..sensing import make_image_problem, make_problem
from ..train import lr_search
from .configs import FigureConfig, ModelSpec


def loss_floor(problem) -> float:
    """The smallest achievable train loss, ``1/(2m) ||y - A A^+ y||^2`` (0 when A can
    interpolate)."""
    resid = problem.y - theory.projected_y(problem)
    return 0.5 * float((resid**2).mean())


def _steps(cfg: FigureConfig, spec: ModelSpec, quick: bool) -> int:
    return min(spec.steps, cfg.quick_steps) if quick else spec.steps


def _frames(steps: int, n: int) -> list[int]:
    """``n`` iterations from 0 to ``steps``, log-spaced so the early change is visible."""
    pts = np.unique(np.round(np.geomspace(1, steps, n - 1)).astype(int))
    return [0, *pts.tolist()]


def _model(cfg, spec, problem, **extra):
    """The model of ``spec`` for ``problem``, seeded by the figure's seed."""
    return make_model(
        spec.name,
        problem.shape,
        widths=spec.widths,
        init=spec.init,
        init_scale=spec.init_scale,
        depth=spec.depth,
        seed=cfg.seed,
        problem=problem,
        **extra,
    )


def _train_model(cfg, spec, problem, steps, device, frame_steps=()):
    def make(runs):
        model = _model(cfg, spec, problem, runs=runs, spectral_order=spec.spectral_order)
        return model.to(device)

    return lr_search(
        make,
        problem,
        steps,
        keep=spec.n_lrs,
        record_every=max(1, steps // 100),
        snapshot_steps=frame_steps,
    )  # copies of X (FitResult.snapshots)


def _run_record(spec, res, problem, image_scale=None, with_kkt=False) -> dict:
    X = res.X.cpu()
    rec = {
        "model": spec.label,
        "name": spec.name,
        "lr": res.lr,
        "status": str(res.status),
        "method": res.method,
        "steps": res.steps,
        "wall_time": res.wall_time,
        "final": {k: v for k, v in res.final.items() if k != "singular_values"},
        "leading_singular_values": res.final.get("singular_values", [])[:3],
        "rate": theory.fit_rate(
            res.column("step"), res.column("train_loss"), floor=loss_floor(problem)
        ),
        "history": res.history,
    }
    if with_kkt:
        cert = theory.kkt_certificate(X, problem.to("cpu"))
        rec["kkt"] = {
            "holds": cert.holds,
            "normal_norm": cert.normal_norm,
            "tangent_residual": cert.tangent_residual,
            "feasibility": cert.feasibility,
            "rank": cert.rank,
            "method": cert.method,
        }
    if image_scale is not None:
        Xt = problem.X_true.cpu()
        rec["psnr"] = psnr(X * image_scale, Xt * image_scale)  # peak = the image's own max
        rec["psnr_255"] = psnr_255(X * image_scale, Xt * image_scale)
        rec["rel_error"] = relative_error(X, Xt).item()
    return rec


def psnr_255(X, X_true) -> float:
    """The authors' convention: ``20 log10(255 / RMSE)`` with both images on the 0-255 scale
    (``X, X_true`` in the image's [0, 1] scale)."""
    rmse = float(((X - X_true) ** 2).mean().sqrt()) * 255.0
    return math.inf if rmse == 0 else 20 * math.log10(255.0 / rmse)


def jitter_effect(
    cfg: FigureConfig, spec: ModelSpec, problem, lr: float, steps: int, X_exact
) -> dict:
    """What the authors' identity-init jitter (``diag(1e-6 N(0,1))`` added to each ``1e-4 I``
    factor) changes: train the same model from the jittered init and compare the final X."""
    import torch

    from ..train import fit

    model = _model(cfg, spec, problem)
    gen = torch.Generator().manual_seed(cfg.seed)
    with torch.no_grad():
        factors = cast("tuple[torch.Tensor, torch.Tensor]", (model.U, model.V))
        for W in factors:  # (L0, d, p)
            k = min(W.shape[-2:])
            noise = 1e-6 * torch.randn(W.shape[0], k, generator=gen, dtype=W.dtype)
            W[..., :k, :k] += torch.diag_embed(noise)
    res = fit(model, problem, lr, steps, record_every=steps)
    assert res.X is not None  # small problem: X is formed (DENSE_X_LIMIT)
    X = res.X.detach().cpu()
    X0 = X_exact.detach().cpu()
    return {
        "lr": lr,
        "steps": res.steps,
        "status": str(res.status),
        "max_abs_diff": float((X - X0).abs().max()),
        "rel_diff": relative_error(X, X0).item(),
        "train_loss_exact": problem.loss(X0).item(),
        "train_loss_jitter": problem.loss(X).item(),
    }


def _images(cfg: FigureConfig, quick: bool, images=None) -> list[str]:
    images = list(images or cfg.images)
    return images[: cfg.quick_images] if quick else images


def _problem_for(cfg: FigureConfig, image: str | None):
    """The figure's problem (deterministic in the seed) and, for images, the display scale."""
    if image is None:
        return make_problem(
            cfg.kind, cfg.shape, cfg.rank, cfg.measurements, cfg.noise, cfg.seed, scale=cfg.scale
        ), None
    return make_image_problem(image, cfg.shape, cfg.fraction, cfg.noise, cfg.seed, scale=cfg.scale)


def units(cfg: FigureConfig, quick: bool, images=None) -> list[tuple]:
    """The independent pieces of work of a figure: (figure, model index, image or None)."""
    targets = _images(cfg, quick, images) if cfg.images else [None]
    return [(cfg.name, k, img) for img in targets for k in range(len(cfg.models))]


def run_unit(cfg: FigureConfig, spec_index: int, image, quick: bool, device: str = "cpu") -> dict:
    """One model (on one image) under the lr protocol; picklable in and out."""
    t0 = time.perf_counter()
    spec = cfg.models[spec_index]
    problem, scale = _problem_for(cfg, image)
    steps = _steps(cfg, spec, quick)
    frames_at = _frames(steps, cfg.n_frames) if cfg.images else ()
    kept, diverged = _train_model(cfg, spec, problem, steps, device, frames_at)
    records, frames = [], {}
    for res in kept:
        rec = _run_record(
            spec, res, problem, image_scale=scale, with_kkt=cfg.kind == "aligned" and image is None
        )
        if image is not None:
            rec["image"] = image
            frames[(image, spec.label, res.lr)] = {
                k: v.cpu() * scale for k, v in sorted(res.snapshots.items())
            }
        records.append(rec)
    extra = {}
    if spec.name == "snn" and spec.init == "identity" and image is None and kept:
        extra["jitter"] = jitter_effect(cfg, spec, problem, kept[0].lr, steps, kept[0].X)
    return {
        "figure": cfg.name,
        "image": image,
        "model": spec.label,
        "records": records,
        "diverged": {"model": spec.label, "image": image, "lrs": diverged},
        "frames": frames,
        "time": time.perf_counter() - t0,
        **extra,
    }


def assemble(cfg: FigureConfig, done: list[dict], quick: bool, images=None) -> tuple[dict, dict]:
    """A figure's result (and reconstructions over time) from its finished units, in config
    order."""
    order = {u: i for i, u in enumerate(units(cfg, quick, images))}
    done = sorted(
        done,
        key=lambda d: order[
            (cfg.name, [m.label for m in cfg.models].index(d["model"]), d["image"])
        ],
    )
    out = {
        "figure": cfg.name,
        "caption": cfg.caption,
        "quick": quick,
        "settings": dataclasses.asdict(cfg),
        "runs": [r for d in done for r in d["records"]],
        "diverged": [d["diverged"] for d in done],
        "jitter": next((d["jitter"] for d in done if "jitter" in d), None),
        "compute_time": sum(d["time"] for d in done),
    }
    frames = {}
    if cfg.images:
        out["images"] = _images(cfg, quick, images)
        out["problems"] = {}
        for name in out["images"]:
            problem, scale = _problem_for(cfg, name)
            out["problems"][name] = {**problem.meta, "image_scale": scale}
            frames[(name, "ground truth", None)] = {0: problem.X_true * scale}
        for d in done:
            frames.update(d["frames"])
    else:
        problem, _ = _problem_for(cfg, None)
        X_ref, info = theory.min_nuclear_norm(problem, return_info=True)
        out["problem"] = problem.meta
        out["reference"] = {
            "min_nuclear_norm": info.nuclear_norm,
            "solver": info.method,
            "feasibility": info.feasibility,
            "rel_error_to_X_true": relative_error(X_ref, problem.X_true).item(),
            "loss_floor": loss_floor(problem),
        }
    return out, frames
