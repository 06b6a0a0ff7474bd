"""``spectralnn reproduce``: run figures, write PNG/PDF plots, results JSON and report.md.

The figures' independent units (one model, or one model on one image) run in a pool of
single-threaded worker processes, one per core: small SVDs do not speed up with threads, so
processes are how two cores pay off.
"""

from __future__ import annotations

import os
import time

from .. import _io
from ..plotting import save_figure
from ..plotting import style as use_style
from ..sweep.backends import run_pool
from . import figures, report
from .configs import FIGURES
from .runner import assemble, run_unit, units

__all__ = ["FIGURES", "reproduce"]


def _strip_history(result: dict) -> dict:
    """The summary JSON keeps final numbers; full histories go to one file per figure."""
    return {
        **result,
        "runs": [{k: v for k, v in r.items() if k != "history"} for r in result["runs"]],
    }


def _run_units(todo, quick, device, workers, say):
    """Run (figure, model index, image) units; largest first so the pool stays busy."""
    cost = {"fig5": 3, "fig4": 3, "fig3": 2, "fig2": 1}
    todo = sorted(todo, key=lambda u: -cost.get(u[0], 0))
    done = []

    def finish(res):
        done.append(res)
        where = f" on {res['image']}" if res["image"] else ""
        say(
            f"[{len(done)}/{len(todo)}] {res['figure']}: {res['model']}{where} "
            f"({res['time']:.1f} s)"
        )

    if workers <= 1 or device != "cpu" or len(todo) == 1:
        for name, k, img in todo:
            finish(run_unit(FIGURES[name], k, img, quick, device))
        return done
    # The same single-threaded process pool as `spectralnn sweep` (workers die with us).
    run_pool(
        run_unit, [(FIGURES[name], k, img, quick, device) for name, k, img in todo], workers, finish
    )
    return done


def reproduce(
    names,
    out: str,
    *,
    quick: bool = False,
    device: str = "cpu",
    images=None,
    workers: int | None = None,
    say=print,
    style: str = "screen",
) -> dict:
    """Run the named figures (``"fig2"``..``"fig5"``) and write everything into ``out``
    (figures as PNG and PDF; ``style="paper"`` sizes them for a two-column paper)."""
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    todo = [u for name in names for u in units(FIGURES[name], quick, images)]
    work = f"{len(todo)} unit{'s' if len(todo) != 1 else ''} of work"
    say(f"reproduce {', '.join(names)}: {work}" + (" (quick)" if quick else ""))
    done = _run_units(todo, quick, device, workers or os.cpu_count() or 1, say)
    results = []
    for name in names:
        cfg = FIGURES[name]
        res, frames = assemble(cfg, [d for d in done if d["figure"] == name], quick, images)
        with use_style(style):
            if cfg.images:
                fig = (
                    figures.frames_figure(res, frames)
                    if name == "fig4"
                    else figures.gallery_figure(res, frames)
                )
            else:
                fig = figures.curves_figure(res)
            written = save_figure(fig, os.path.join(out, f"{name}.png"), formats=("png", "pdf"))
        if cfg.images:
            _io.write_npz(
                os.path.join(out, f"{name}_reconstructions.npz"),
                **{
                    f"{img}|{label}|{lr}|{step}": X.numpy()
                    for (img, label, lr), snaps in frames.items()
                    for step, X in snaps.items()
                },
            )
        _io.write_json(os.path.join(out, f"{name}_histories.json"), res["runs"])
        say(f"{name}: {res['compute_time']:.1f} s of compute -> {', '.join(written)}")
        results.append(res)
    wall = time.perf_counter() - t0
    versions = _io.provenance()
    summary = {
        "figures": [_strip_history(r) for r in results],
        "versions": versions,
        "wall_time": wall,
        "quick": quick,
        "device": device,
        "style": style,
    }
    _io.write_json(os.path.join(out, "results.json"), summary)
    _io.write_text(os.path.join(out, "report.md"), report.render(results, versions, wall))
    return summary
