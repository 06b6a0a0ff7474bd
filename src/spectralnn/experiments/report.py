"""``report.md``: settings, numbers and a verdict per paper claim, all computed from the runs.

The claims and their verdicts live in ``_claims`` (re-exported here); this module renders.
"""

from __future__ import annotations

from ._claims import _f, _verdict, claims
from ._claims import _full_iterations as _full_iterations
from ._claims import _share as _share


def _settings_line(result) -> str:
    s = result["settings"]
    keep = (
        ("kind", "shape", "fraction", "noise", "scale", "seed")
        if s["images"]
        else ("kind", "shape", "rank", "measurements", "noise", "scale", "seed")
    )
    parts = [f"{k}={s[k]}" for k in keep]
    if s["images"]:
        parts.insert(3, f"measurements={round(s['fraction'] * s['shape'][0] * s['shape'][1])}")
    return ", ".join(parts) + (" (quick: fewer iterations)" if result["quick"] else "")


def _runs_table(result, images: bool) -> list[str]:
    head = "| model | lr | status | steps | train loss | test loss | rel. error | nuclear norm |"
    sep = "|---|---|---|---|---|---|---|---|"
    if images:
        head, sep = (
            "| image " + head + " PSNR, peak 255 (dB) | PSNR, own peak (dB) |",
            "|---" + sep + "---|---|",
        )
    else:
        head, sep = head + " rate (R^2) | KKT |", sep + "---|---|"
    lines = [head, sep]
    for r in result["runs"]:
        fin = r["final"]
        cells = [
            r["model"],
            f"{r['lr']:g}",
            r["status"],
            str(r["steps"]),
            _f(fin.get("train_loss")),
            _f(fin.get("test_loss")),
            _f(fin.get("rel_error"), ".4f"),
            _f(fin.get("nuclear_norm"), ".4f"),
        ]
        if images:
            cells = [r["image"], *cells, _f(r.get("psnr_255"), ".2f"), _f(r["psnr"], ".2f")]
        else:
            rate = r["rate"]
            kkt = r.get("kkt")
            cells += [
                f"{_f(rate['rate'], '.2e')} ({_f(rate['r2'], '.3f')})",
                "-"
                if kkt is None
                else ("holds" if kkt["holds"] else "fails")
                + f" (feasibility {kkt['feasibility']:.1e}, tangent "
                f"{kkt['tangent_residual']:.1e}, normal {kkt['normal_norm']:.3f})",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def conventions(results) -> list[str]:
    """The conventions this run shares with, or takes differently from, the authors' code."""
    names = {r["figure"] for r in results}
    out = ["## Conventions", ""]
    if "fig2" in names:
        out.append(
            "- Spectral initialisation (fig2): ubar, vbar ~ U(0, 1) sorted **ascending** "
            "along the aligned basis, as in the authors' code (their measurement values "
            's_i are sorted descending); `SNNFactorization(spectral_order="descending")` '
            "is the other order. fig2 trains the exact reduced system of Theorem 1 "
            "(`method` column), which stays on the aligned manifold exactly; full-matrix "
            "gradient descent leaves it by roundoff at larger rates (at lr 5e-3 the "
            "off-diagonal mass grows from about 1e-14 to 1e-8..1e-5 within 1,000 steps, "
            "depending on roundoff; `spectralnn theory-check` measures it)."
        )
    scales = []
    for r in results:
        s = r["settings"]
        if r["figure"] == "fig2":
            scales.append(f"fig2: A_i = Phi diag(s_i) Psi^T, s_i = {s['scale']:g} N(0, I)")
        elif r["figure"] == "fig3":
            scales.append(f"fig3: A_i entries N(0, {s['scale']:g}^2)")
        elif r["figure"] in ("fig4", "fig5"):
            scales.append(
                f"{r['figure']}: A_i entries N(0, {s['scale']:g}^2) (the authors' "
                f"`randn * n`, n = {s['shape'][0]})"
            )
    if scales:
        out.append("- Measurement scale: " + "; ".join(scales) + ".")
    if names & {"fig4", "fig5"}:
        out.append(
            "- PSNR: 20 log10(255 / RMSE) with both images on the 0-255 scale (the "
            "authors' convention), next to the PSNR with the reference image's own "
            "peak; our images are min-max scaled to [0, 1] before the nuclear-norm "
            "scaling, so the two agree whenever the image reaches its full range."
        )
    if names & {"fig3", "fig4", "fig5"}:
        out.append(
            "- Identity initialisation: exactly 1e-4 I (no jitter; our exact backward is "
            "finite at repeated singular values). The authors add diag(1e-6 N(0,1)) to "
            "dodge autograd's NaN; fig3's section measures what that changes."
        )
    out.append(
        "- Learning rates: {5, 1} x 10^e tried largest first; a rate whose loss turns "
        "non-finite is discarded and listed; the first N that do not diverge are kept."
    )
    return out + [""]


def _preamble(results: list[dict], versions: dict, wall_time: float) -> list[str]:
    lines = [
        "# spectralnn: reproduction of Chu, Ghosh, Lam & Mukherjee (arXiv:2402.17595)",
        "",
        "Every number below was computed by this run (`spectralnn reproduce`); nothing is "
        "copied from the paper. Versions: "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f". Total wall time {wall_time:.1f} s.",
        "",
    ]
    if any(r["quick"] for r in results):
        lines += [
            "**Quick run**: every figure ran far fewer iterations than the paper's "
            "protocol, so no claim is judged here; each line says what the numbers look "
            "like at this budget and how many iterations a verdict needs.",
            "",
        ]
    return lines


def _reference_line(res, images: bool) -> str:
    """The images of an image figure, else the convex reference."""
    if images:
        return "Images: " + ", ".join(res["images"]) + "."
    ref = res["reference"]
    return (
        f"Convex reference ({ref['solver']}): minimum nuclear norm "
        f"{ref['min_nuclear_norm']:.4f}, its relative error to X* "
        f"{ref['rel_error_to_X_true']:.4f}; least-squares loss floor "
        f"{ref['loss_floor']:.3e}."
    )


def _diverged_lines(res) -> list[str]:
    """Per model (and image): the rates kept and the rates that diverged."""
    lines = []
    for d in res["diverged"]:
        kept = [
            f"{r['lr']:g}"
            for r in res["runs"]
            if r["model"] == d["model"] and r.get("image") == d["image"]
        ]
        where = d["model"] + (f" / {d['image']}" if d["image"] else "")
        lines.append(
            f"- {where}: kept lr {', '.join(kept) or 'none'}; "
            f"diverged: {', '.join(f'{lr:g}' for lr in d['lrs']) or 'none'}"
        )
    return lines


def _jitter_lines(j) -> list[str]:
    return [
        f"Identity init without jitter: the authors add diag(1e-6 N(0,1)) to each "
        f"1e-4 I factor; with it, the SNN at lr {j['lr']:g} ends {j['steps']:,} "
        f"steps at max |X_jitter - X| = {j['max_abs_diff']:.2e} (relative "
        f"{j['rel_diff']:.2e}; train loss {j['train_loss_jitter']:.3e} vs "
        f"{j['train_loss_exact']:.3e} without).",
        "",
    ]


def _figure_section(res, verdicts: list) -> list[str]:
    """One figure's section; its verdicts are appended to ``verdicts``."""
    images = res["figure"] in ("fig4", "fig5")
    lines = [
        f"## {res['figure']}",
        "",
        f"*{res['caption']}*",
        "",
        f"Settings: {_settings_line(res)}. Compute time {res['compute_time']:.1f} s "
        "(summed over the units of work, which run in parallel).",
        "",
        _reference_line(res, images),
        "",
        *_diverged_lines(res),
        "",
        *_runs_table(res, images),
        "",
    ]
    if not images and res.get("jitter"):
        lines += _jitter_lines(res["jitter"])
    for claim, ok, evidence in claims(res):
        verdict = _verdict(ok, res)
        lines.append(f"- **{claim}**: {verdict}. {evidence}.")
        verdicts.append((res["figure"], claim, verdict))
    lines.append("")
    return lines


def render(results: list[dict], versions: dict, wall_time: float) -> str:
    lines = _preamble(results, versions, wall_time)
    lines += conventions(results)
    verdicts: list = []
    for res in results:
        lines += _figure_section(res, verdicts)
    lines += ["## Claims at a glance", "", "| figure | claim | our run |", "|---|---|---|"]
    lines += [f"| {f} | {c} | {v} |" for f, c, v in verdicts]
    return "\n".join(lines) + "\n"
