"""``report.md``: settings, numbers and a verdict per paper claim, all computed from the runs."""

from __future__ import annotations

import math

from .figures import best_runs


def _f(v, spec=".3e"):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec)


def _settings_line(result) -> str:
    s = result["settings"]
    keep = (("kind", "shape", "fraction", "noise", "scale", "seed") if s["images"] else
            ("kind", "shape", "rank", "measurements", "noise", "scale", "seed"))
    parts = [f"{k}={s[k]}" for k in keep]
    if s["images"]:
        parts.insert(3, f"measurements={round(s['fraction'] * s['shape'][0] * s['shape'][1])}")
    return ", ".join(parts) + (" (quick: fewer iterations)" if result["quick"] else "")


def _runs_table(result, images: bool) -> list[str]:
    head = "| model | lr | status | steps | train loss | test loss | rel. error | nuclear norm |"
    sep = "|---|---|---|---|---|---|---|---|"
    if images:
        head, sep = "| image " + head + " PSNR (dB) |", "|---" + sep + "---|"
    else:
        head, sep = head + " rate (R^2) | KKT |", sep + "---|---|"
    lines = [head, sep]
    for r in result["runs"]:
        fin = r["final"]
        cells = [r["model"], f"{r['lr']:g}", r["status"], str(r["steps"]),
                 _f(fin.get("train_loss")), _f(fin.get("test_loss")), _f(fin.get("rel_error"), ".4f"),
                 _f(fin.get("nuclear_norm"), ".4f")]
        if images:
            cells = [r["image"], *cells, _f(r["psnr"], ".2f")]
        else:
            rate = r["rate"]
            kkt = r.get("kkt")
            cells += [f"{_f(rate['rate'], '.2e')} ({_f(rate['r2'], '.3f')})",
                      "-" if kkt is None else ("holds" if kkt["holds"] else "fails") +
                      f" (feasibility {kkt['feasibility']:.1e}, tangent "
                      f"{kkt['tangent_residual']:.1e}, normal {kkt['normal_norm']:.3f})"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _share(hits: int, total: int):
    """All: True; some: "partly"; none (or nothing to judge): False."""
    if total and hits == total:
        return True
    return "partly" if hits else False


def claims(result) -> list[tuple[str, bool | str | None, str]]:
    """(claim, supported?, evidence) for the claims a figure can test."""
    out = []
    runs = [r for r in result["runs"]]
    if result["figure"] in ("fig2", "fig3"):
        ref = result["reference"]
        floor = ref["loss_floor"]
        snn_runs = [r for r in runs if r["name"] == "snn"]
        # "At the floor": excess loss below half the floor or 1e-8 of the initial loss.
        ok = [r for r in snn_runs if r["final"]["train_loss"] - floor <=
              max(0.5 * floor, 1e-8 * r["history"][0]["train_loss"])]
        exp = [r for r in snn_runs if r["rate"]["r2"] is not None and not math.isnan(
            r["rate"]["r2"]) and r["rate"]["r2"] > 0.9]
        out.append(("SNN training error falls exponentially to the noise floor",
                    _share(len(ok), len(snn_runs)) if exp else False,
                    f"{len(ok)}/{len(snn_runs)} SNN runs end at the least-squares floor "
                    f"{floor:.2e} (excess < max(floor/2, 1e-8 x initial loss)); {len(exp)} with "
                    f"an exponential fit R^2 > 0.9"))
    if result["figure"] == "fig2":
        ref = result["reference"]
        held = [r for r in runs if r.get("kkt", {}).get("holds")]
        gaps = [abs(r["final"]["nuclear_norm"] - ref["min_nuclear_norm"]) /
                ref["min_nuclear_norm"] for r in runs]
        out.append(("Under Assumptions 1-2 the limit meets the nuclear-norm KKT conditions",
                    _share(len(held), len(runs)),
                    f"certificate holds for {len(held)}/{len(runs)} learning rates; nuclear norm "
                    f"within {_f(max(gaps, default=None), '.1e')} (relative) of the convex "
                    f"minimiser's {ref['min_nuclear_norm']:.4f}"))
    if result["figure"] == "fig3":
        def best(name):
            errs = [r["final"]["rel_error"] for r in runs if r["name"] == name]
            return min(errs) if errs else None

        s, f = best("snn"), best("free")
        out.append(("The SNN recovers the low-rank target where linear regression cannot",
                    None if s is None or f is None else s < 0.5 * f,
                    f"best relative error: SNN {_f(s, '.4f')}, linear regression {_f(f, '.4f')}, "
                    f"deep factorisation {_f(best('deep'), '.4f')}"))
    if result["figure"] in ("fig4", "fig5"):
        best = best_runs(result)
        better, lines = 0, []
        for name in result["images"]:
            s = best.get((name, next((r["model"] for r in runs if r["name"] == "snn"), "")))
            f = best.get((name, next((r["model"] for r in runs if r["name"] == "free"), "")))
            if s is None or f is None:
                continue
            better += s["psnr"] > f["psnr"]
            lines.append(f"{name}: SNN {s['psnr']:.2f} dB vs linear regression {f['psnr']:.2f} dB")
        out.append(("Images the SNN recovers are measurably better (PSNR) than linear "
                    "regression's", _share(better, len(lines)),
                    f"SNN better on {better}/{len(lines)} images (" + "; ".join(lines) + ")"))
    return out


def render(results: list[dict], versions: dict, wall_time: float) -> str:
    lines = ["# spectralnn: reproduction of Chu, Ghosh, Lam & Mukherjee (arXiv:2402.17595)", "",
             "Every number below was computed by this run (`spectralnn reproduce`); nothing is "
             "copied from the paper. Versions: " +
             ", ".join(f"{k} {v}" for k, v in versions.items()) +
             f". Total wall time {wall_time:.1f} s.", ""]
    verdicts = []
    for res in results:
        images = res["figure"] in ("fig4", "fig5")
        lines += [f"## {res['figure']}", "", f"*{res['caption']}*", "",
                  f"Settings: {_settings_line(res)}. Compute time {res['compute_time']:.1f} s "
                  "(summed over the units of work, which run in parallel).", ""]
        if images:
            lines.append("Images: " + ", ".join(res["images"]) + ".")
        else:
            ref = res["reference"]
            lines.append(f"Convex reference ({ref['solver']}): minimum nuclear norm "
                         f"{ref['min_nuclear_norm']:.4f}, its relative error to X* "
                         f"{ref['rel_error_to_X_true']:.4f}; least-squares loss floor "
                         f"{ref['loss_floor']:.3e}.")
        lines.append("")
        for d in res["diverged"]:
            kept = [f"{r['lr']:g}" for r in res["runs"]
                    if r["model"] == d["model"] and r.get("image") == d["image"]]
            where = d["model"] + (f" / {d['image']}" if d["image"] else "")
            lines.append(f"- {where}: kept lr {', '.join(kept) or 'none'}; "
                         f"diverged: {', '.join(f'{lr:g}' for lr in d['lrs']) or 'none'}")
        lines += ["", *_runs_table(res, images), ""]
        for claim, ok, evidence in claims(res):
            verdict = {True: "supported", False: "NOT supported", None: "not testable",
                       "partly": "partly supported"}[ok]
            lines.append(f"- **{claim}**: {verdict}. {evidence}.")
            verdicts.append((res["figure"], claim, verdict))
        lines.append("")
    lines += ["## Claims at a glance", "", "| figure | claim | our run |", "|---|---|---|"]
    lines += [f"| {f} | {c} | {v} |" for f, c, v in verdicts]
    return "\n".join(lines) + "\n"
