"""``spectralnn reproduce``: run figures, write PNG/PDF plots, results JSON and report.md."""

from __future__ import annotations

import os
import time


from .. import _io
from ..plotting import save_figure
from . import figures, report
from .configs import FIGURES
from .runner import run_curves, run_images

__all__ = ["reproduce", "FIGURES"]


def _strip_history(result: dict) -> dict:
    """The summary JSON keeps final numbers; full histories go to one file per figure."""
    return {**result, "runs": [{k: v for k, v in r.items() if k != "history"}
                               for r in result["runs"]]}


def reproduce(names, out: str, *, quick: bool = False, device: str = "cpu", images=None,
              say=print) -> dict:
    """Run the named figures (``"fig2"``..``"fig5"``) and write everything into ``out``."""
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    results = []
    for name in names:
        cfg = FIGURES[name]
        if cfg.images:
            res, frames = run_images(cfg, quick, device, images, say)
            fig = (figures.frames_figure(res, frames) if name == "fig4"
                   else figures.gallery_figure(res, frames))
            _io.write_npz(os.path.join(out, f"{name}_reconstructions.npz"), **{
                f"{img}|{label}|{lr}|{step}": X.numpy()
                for (img, label, lr), snaps in frames.items() for step, X in snaps.items()})
        else:
            res = run_curves(cfg, quick, device, say)
            fig = figures.curves_figure(res)
        written = save_figure(fig, os.path.join(out, f"{name}.png"), formats=("png", "pdf"))
        _io.write_json(os.path.join(out, f"{name}_histories.json"), res["runs"])
        say(f"{name}: done in {res['wall_time']:.1f} s -> {', '.join(written)}")
        results.append(res)
    versions = _io.provenance()
    summary = {"figures": [_strip_history(r) for r in results], "versions": versions,
               "wall_time": time.perf_counter() - t0, "quick": quick, "device": device}
    _io.write_json(os.path.join(out, "results.json"), summary)
    _io.write_text(os.path.join(out, "report.md"), report.render(results, versions))
    return summary


