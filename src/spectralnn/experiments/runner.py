"""Run a :class:`FigureConfig`: problems, the learning-rate protocol per model, references."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from .. import theory
from ..images import load_image
from ..metrics import psnr, relative_error
from ..models import make_model
from ..sensing import make_problem
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


def _train_model(cfg, spec, problem, steps, device, snapshot_steps=()):
    def make(runs):
        model = make_model(spec.name, problem.shape, runs=runs, widths=spec.widths,
                           init=spec.init, init_scale=spec.init_scale, depth=spec.depth,
                           seed=cfg.seed, problem=problem)
        return model.to(device)

    return lr_search(make, problem, steps, keep=spec.n_lrs, record_every=max(1, steps // 100),
                     snapshot_steps=snapshot_steps)


def _run_record(spec, res, problem, image_scale=None, with_kkt=False) -> dict:
    X = res.X.cpu()
    rec = {
        "model": spec.label, "name": spec.name, "lr": res.lr, "status": str(res.status),
        "method": res.method, "steps": res.steps, "wall_time": res.wall_time,
        "final": {k: v for k, v in res.final.items() if k != "singular_values"},
        "leading_singular_values": res.final.get("singular_values", [])[:3],
        "rate": theory.fit_rate(res.column("step"), res.column("train_loss"),
                                floor=loss_floor(problem)),
        "history": res.history,
    }
    if with_kkt:
        cert = theory.kkt_certificate(X, problem.to("cpu"))
        rec["kkt"] = {"holds": cert.holds, "normal_norm": cert.normal_norm,
                      "tangent_residual": cert.tangent_residual,
                      "feasibility": cert.feasibility, "rank": cert.rank, "method": cert.method}
    if image_scale is not None:
        Xt = problem.X_true.cpu()
        rec["psnr"] = psnr(X * image_scale, Xt * image_scale)
        rec["rel_error"] = relative_error(X, Xt).item()
    return rec


def run_curves(cfg: FigureConfig, quick: bool = False, device: str = "cpu", say=print) -> dict:
    """Figures 2 and 3: one synthetic problem, every model under the lr protocol."""
    t0 = time.perf_counter()
    problem = make_problem(cfg.kind, cfg.shape, cfg.rank, cfg.measurements, cfg.noise, cfg.seed,
                           scale=cfg.scale)
    X_ref, info = theory.min_nuclear_norm(problem, return_info=True)
    out = {"figure": cfg.name, "caption": cfg.caption, "quick": quick,
           "settings": dataclasses.asdict(cfg), "problem": problem.meta,
           "reference": {"min_nuclear_norm": info.nuclear_norm, "solver": info.method,
                         "feasibility": info.feasibility,
                         "rel_error_to_X_true": relative_error(X_ref, problem.X_true).item(),
                         "loss_floor": loss_floor(problem)},
           "runs": [], "diverged": []}
    for spec in cfg.models:
        steps = _steps(cfg, spec, quick)
        say(f"{cfg.name}: {spec.label}, {steps} steps, keeping {spec.n_lrs} learning rates")
        kept, diverged = _train_model(cfg, spec, problem, steps, device)
        out["diverged"].append({"model": spec.label, "image": None, "lrs": diverged})
        for res in kept:
            out["runs"].append(_run_record(spec, res, problem, with_kkt=cfg.kind == "aligned"))
    out["wall_time"] = time.perf_counter() - t0
    return out


def run_images(cfg: FigureConfig, quick: bool = False, device: str = "cpu", images=None,
               say=print) -> tuple[dict, dict]:
    """Figures 4 and 5: each image, both models under the lr protocol. Also returns the
    reconstructions over time, ``{(image, label, lr): {step: X in image scale}}``."""
    t0 = time.perf_counter()
    images = list(images or cfg.images)
    if quick:
        images = images[:cfg.quick_images]
    out = {"figure": cfg.name, "caption": cfg.caption, "quick": quick,
           "settings": dataclasses.asdict(cfg), "images": images, "problems": {}, "runs": [],
           "diverged": []}
    frames = {}
    for name in images:
        img = load_image(name, cfg.shape)
        m = round(cfg.fraction * cfg.shape[0] * cfg.shape[1])
        problem = make_problem(cfg.kind, cfg.shape, 1, m, cfg.noise, cfg.seed, target=img,
                               scale=cfg.scale)
        scale = float(img.sum() / problem.X_true.sum().item())  # back to the image's scale
        out["problems"][name] = {**problem.meta, "image_scale": scale}
        frames[(name, "ground truth", None)] = {0: torch.from_numpy(img)}
        for spec in cfg.models:
            steps = _steps(cfg, spec, quick)
            say(f"{cfg.name}: {name}, {spec.label}, {steps} steps")
            kept, diverged = _train_model(cfg, spec, problem, steps, device,
                                          _frames(steps, cfg.n_frames))
            out["diverged"].append({"model": spec.label, "image": name, "lrs": diverged})
            for res in kept:
                rec = _run_record(spec, res, problem, image_scale=scale)
                rec["image"] = name
                out["runs"].append(rec)
                frames[(name, spec.label, res.lr)] = {
                    k: v.cpu() * scale for k, v in sorted(res.snapshots.items())}
    out["wall_time"] = time.perf_counter() - t0
    return out, frames
