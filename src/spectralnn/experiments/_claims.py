"""The paper's claims that a figure can test: (claim, supported?, evidence) per figure, and the
verdict the report prints for each (``report`` re-exports these names)."""

from __future__ import annotations

import math

from .figures import best_runs


def _f(v, spec=".3e"):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec)


def _share(hits: int, total: int):
    """All: True; some: "partly"; none (or nothing to judge): False."""
    if total and hits == total:
        return True
    return "partly" if hits else False


def _training_claim(runs, ref):
    """fig2, fig3: the SNN's training error reaches the least-squares floor exponentially."""
    floor = ref["loss_floor"]
    snn_runs = [r for r in runs if r["name"] == "snn"]
    # "At the floor": excess loss below half the floor or 1e-8 of the initial loss.
    ok = [
        r
        for r in snn_runs
        if r["final"]["train_loss"] - floor
        <= max(0.5 * floor, 1e-8 * r["history"][0]["train_loss"])
    ]
    exp = [
        r
        for r in snn_runs
        if r["rate"]["r2"] is not None and not math.isnan(r["rate"]["r2"]) and r["rate"]["r2"] > 0.9
    ]
    return (
        "SNN training error falls exponentially to the noise floor",
        _share(len(ok), len(snn_runs)) if exp else False,
        f"{len(ok)}/{len(snn_runs)} SNN runs end at the least-squares floor "
        f"{floor:.2e} (excess < max(floor/2, 1e-8 x initial loss)); {len(exp)} with "
        f"an exponential fit R^2 > 0.9",
    )


def _kkt_claim(runs, ref):
    """fig2: the limit meets the nuclear-norm KKT conditions."""
    held = [r for r in runs if r.get("kkt", {}).get("holds")]
    gaps = [
        abs(r["final"]["nuclear_norm"] - ref["min_nuclear_norm"]) / ref["min_nuclear_norm"]
        for r in runs
    ]
    return (
        "Under Assumptions 1-2 the limit meets the nuclear-norm KKT conditions",
        _share(len(held), len(runs)),
        f"certificate holds for {len(held)}/{len(runs)} learning rates; nuclear norm "
        f"within {_f(max(gaps, default=None), '.1e')} (relative) of the convex "
        f"minimiser's {ref['min_nuclear_norm']:.4f}",
    )


def _recovery_claim(runs):
    """fig3: the SNN recovers the low-rank target where linear regression cannot."""

    def best_error(name):
        errs = [r["final"]["rel_error"] for r in runs if r["name"] == name]
        return min(errs) if errs else None

    s, f = best_error("snn"), best_error("free")
    return (
        "The SNN recovers the low-rank target where linear regression cannot",
        None if s is None or f is None else s < 0.5 * f,
        f"best relative error: SNN {_f(s, '.4f')}, linear regression {_f(f, '.4f')}, "
        f"deep factorisation {_f(best_error('deep'), '.4f')}",
    )


def _image_claim(result, runs):
    """fig4, fig5: the SNN's images have a higher PSNR than linear regression's."""
    best = best_runs(result)
    better, lines = 0, []
    for name in result["images"]:
        s = best.get((name, next((r["model"] for r in runs if r["name"] == "snn"), "")))
        f = best.get((name, next((r["model"] for r in runs if r["name"] == "free"), "")))
        if s is None or f is None:
            continue
        better += s["psnr"] > f["psnr"]
        lines.append(
            f"{name}: SNN {s.get('psnr_255', s['psnr']):.2f} dB vs linear "
            f"regression {f.get('psnr_255', f['psnr']):.2f} dB"
        )
    return (
        "Images the SNN recovers are measurably better (PSNR) than linear regression's",
        _share(better, len(lines)),
        f"SNN better on {better}/{len(lines)} images (" + "; ".join(lines) + ")",
    )


def claims(result) -> list[tuple[str, bool | str | None, str]]:
    """(claim, supported?, evidence) for the claims a figure can test."""
    out = []
    runs = [r for r in result["runs"]]
    if result["figure"] in ("fig2", "fig3"):
        out.append(_training_claim(runs, result["reference"]))
    if result["figure"] == "fig2":
        out.append(_kkt_claim(runs, result["reference"]))
    if result["figure"] == "fig3":
        out.append(_recovery_claim(runs))
    if result["figure"] in ("fig4", "fig5"):
        out.append(_image_claim(result, runs))
    return out


def _full_iterations(res) -> int:
    """Iterations of the paper's protocol for this figure (the largest over its models)."""
    from .configs import FIGURES

    cfg = FIGURES.get(res["figure"])
    if not cfg:
        return 0
    snn = [m.steps for m in cfg.models if m.name == "snn"]  # every claim is about the SNN
    return 1 + max(snn or [m.steps for m in cfg.models])


def _verdict(ok, res) -> str:
    word = {
        True: "supported",
        False: "NOT supported",
        None: "not testable",
        "partly": "partly supported",
    }[ok]
    if not res["quick"] or ok is None:
        return word
    budget = 1 + max(r["steps"] for r in res["runs"]) if res["runs"] else 0
    return (
        f"not tested at this budget (needs {_full_iterations(res):,} iterations; this run: "
        f"{budget:,}; at this budget the numbers read '{word}')"
    )
