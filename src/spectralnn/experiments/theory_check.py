"""``spectralnn theory-check``: do the paper's claims hold on random problems?

For aligned problems (over- and under-determined, several init scales) and Gaussian problems,
train an SNN and report: distance of the trained X to the nuclear-norm minimiser, the KKT
verdict, the fitted exponential rate, the alignment (off-diagonal mass) and, for aligned
problems, the gap between gradient descent and the gradient flow.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from .. import theory
from ..metrics import alignment, relative_error
from ..models import SNNFactorization
from ..sensing import AlignedOperator, make_problem
from ..train import fit


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # "aligned" or "gaussian"
    shape: tuple = (10, 10)
    rank: int = 3
    measurements: int = 30
    init: str = "spectral"
    lr: float = 0.5  # stable for unit-scale measurements at these sizes
    noise: float = 0.0


SCENARIOS = (
    Scenario("aligned, over-determined (m=30 > r=10)", "aligned", measurements=30, noise=0.01),
    Scenario("aligned, under-determined (m=5 < r=10)", "aligned", measurements=5),
    Scenario(
        "gaussian (m=40 < d1 d2=100)", "gaussian", rank=2, measurements=40, init="identity", lr=0.2
    ),
)
INIT_SCALES = (1e-3, 1e-1, 0.5)


def _flow_gap(model_fn, problem, lr, steps, res) -> float:
    """max_t |L_GD(t) - L_flow(t)| / L(0) over the recorded steps (t = step * lr)."""
    t = np.array(res.column("step"), dtype=float) * lr
    flow = theory.gradient_flow(model_fn(), problem, t_max=float(t[-1]), n_eval=len(t))
    gd = np.array(res.column("train_loss"))
    return float(np.abs(gd - flow["loss"]).max() / gd[0])


def run_cell(sc: Scenario, scale: float, seed: int, steps: int, with_flow: bool) -> dict:
    problem = make_problem(sc.kind, sc.shape, sc.rank, sc.measurements, sc.noise, seed)

    def model_fn():
        return SNNFactorization(
            sc.shape, (1,), init=sc.init, init_scale=scale, problem=problem, seed=seed
        )

    t0 = time.perf_counter()
    res = fit(model_fn(), problem, sc.lr, steps)
    assert res.X is not None  # small problem: X is formed (DENSE_X_LIMIT)
    X_nuc, info = theory.min_nuclear_norm(problem, return_info=True)
    cert = theory.kkt_certificate(res.X, problem)
    rate = theory.fit_rate(res.column("step"), res.column("train_loss"))
    op = problem.operator
    row = {
        "scenario": sc.name,
        "init_scale": scale,
        "seed": seed,
        "steps": res.steps,
        "status": str(res.status),
        "method": res.method,
        "train_loss": res.final["train_loss"],
        "rel_error_to_X_true": res.final["rel_error"],
        "dist_to_min_nuclear": relative_error(res.X, X_nuc).item(),
        "nuclear_norm": res.final["nuclear_norm"],
        "min_nuclear_norm": info.nuclear_norm,
        "solver": info.method,
        "kkt_holds": cert.holds,
        "kkt_normal_norm": cert.normal_norm,
        "kkt_tangent_residual": cert.tangent_residual,
        "kkt_rank": cert.rank,
        "rate": rate["rate"],
        "rate_r2": rate["r2"],
        "alignment": alignment(res.X, op.Phi, op.Psi).item()
        if isinstance(op, AlignedOperator)
        else None,
        "flow_gap": None,
    }
    if with_flow and res.method == "reduced" and res.status != "diverged":
        row["flow_gap"] = _flow_gap(model_fn, problem, sc.lr, steps, res)
    row["time"] = time.perf_counter() - t0
    return row


def run_theory_check(seeds: int = 3, steps: int = 20000, progress=None) -> list[dict]:
    rows = []
    cells = [(sc, s, k) for sc in SCENARIOS for s in INIT_SCALES for k in range(seeds)]
    for i, (sc, scale, seed) in enumerate(cells):
        rows.append(run_cell(sc, scale, seed, steps, with_flow=seed == 0))
        if progress is not None:
            progress(i + 1, len(cells), rows[-1])
    return rows


def manifold_drift(lr: float = 5e-3, steps: int = 20_000, at=(1_000, 20_000)) -> list[dict]:
    """Figure 2's problem and SNN at ``lr``: the off-diagonal mass
    ``||offdiag(Phi^T X Psi)||_F / ||X||_F`` of the full-matrix gradient descent and of the
    exact reduced system at the steps ``at`` (and ``steps``). Exact arithmetic keeps both at 0
    (Theorem 1); in floating point the full path leaves the aligned manifold by roundoff,
    the reduced one cannot."""
    from .configs import FIG2

    spec = FIG2.models[0]
    problem = make_problem(
        FIG2.kind, FIG2.shape, FIG2.rank, FIG2.measurements, FIG2.noise, FIG2.seed, scale=FIG2.scale
    )
    op = problem.operator
    assert isinstance(op, AlignedOperator)  # Figure 2's problem is aligned
    marks = sorted({s for s in (*at, steps) if 1 <= s <= steps})
    rows = []
    for method in ("full", "reduced"):
        model = SNNFactorization(
            FIG2.shape,
            spec.widths,
            init="spectral",
            init_scale=spec.init_scale,
            problem=problem,
            seed=FIG2.seed,
            spectral_order=spec.spectral_order,
        )
        t0 = time.perf_counter()
        res = fit(
            model, problem, lr, steps, method=method, record_every=steps, snapshot_steps=marks
        )
        wall = time.perf_counter() - t0
        frames = dict(res.snapshots)
        frames.setdefault(res.steps, res.X)
        for step in sorted(frames):
            rows.append(
                {
                    "method": res.method,
                    "lr": lr,
                    "step": step,
                    "status": str(res.status),
                    "offdiag_mass": alignment(frames[step], op.Phi, op.Psi).item(),
                    "time": wall,
                }
            )
    return rows


def format_drift(rows: list[dict]) -> str:
    lines = [
        f"Off the aligned manifold? Figure 2's problem and SNN at lr {rows[0]['lr']:g}: "
        "||offdiag(Phi^T X Psi)||_F / ||X||_F",
        f"{'method':>10s} "
        + " ".join(
            f"{'step ' + format(r['step'], ','):>14s}"
            for r in rows
            if r["method"] == rows[0]["method"]
        ),
    ]
    for method in dict.fromkeys(r["method"] for r in rows):
        lines.append(
            f"{method:>10s} "
            + " ".join(f"{r['offdiag_mass']:14.2e}" for r in rows if r["method"] == method)
        )
    return "\n".join(lines)


def summarise(rows: list[dict]) -> list[dict]:
    """One line per (scenario, init scale): medians and the KKT pass count."""
    out = []
    keys = sorted(
        {(r["scenario"], r["init_scale"]) for r in rows},
        key=lambda k: ([s.name for s in SCENARIOS].index(k[0]), k[1]),
    )
    for name, scale in keys:
        sel = [r for r in rows if r["scenario"] == name and r["init_scale"] == scale]

        def med(key, sel=sel):
            vals = [
                r[key]
                for r in sel
                if r[key] is not None and not (isinstance(r[key], float) and math.isnan(r[key]))
            ]
            return float(np.median(vals)) if vals else None

        out.append(
            {
                "scenario": name,
                "init_scale": scale,
                "runs": len(sel),
                "median_dist_to_min_nuclear": med("dist_to_min_nuclear"),
                "kkt_holds": sum(r["kkt_holds"] for r in sel),
                "median_rate": med("rate"),
                "median_alignment": med("alignment"),
                "flow_gap": med("flow_gap"),
                "median_train_loss": med("train_loss"),
            }
        )
    return out


def format_table(summary: list[dict]) -> str:
    def f(v, spec=".2e"):
        return "-" if v is None else format(v, spec)

    head = (
        f"{'scenario':42s} {'init':>7s} {'dist to min-nuc':>15s} {'KKT':>5s} "
        f"{'rate':>9s} {'align':>9s} {'GD-flow':>9s}"
    )
    lines = [head, "-" * len(head)]
    for s in summary:
        lines.append(
            f"{s['scenario']:42s} {s['init_scale']:7.0e} "
            f"{f(s['median_dist_to_min_nuclear']):>15s} "
            f"{s['kkt_holds']}/{s['runs']:<3d} {f(s['median_rate']):>9s} "
            f"{f(s['median_alignment']):>9s} {f(s['flow_gap']):>9s}"
        )
    return "\n".join(lines)


def kkt_violation(row: dict) -> float:
    """How far the certificate is from holding (feasibility is judged by train loss)."""
    return max(row["kkt_tangent_residual"], row["kkt_normal_norm"] - 1.0, 0.0)


def plot(rows: list[dict]):
    from ..plotting import figure_width, plt

    w = figure_width()
    fig, axes = plt.subplots(1, 2, figsize=(w, w * 0.4), layout="constrained")
    for k, sc in enumerate(SCENARIOS):
        sel = [r for r in rows if r["scenario"] == sc.name]
        xs = [r["init_scale"] * (1 + 0.08 * (k - 1)) for r in sel]
        axes[0].scatter(
            xs, [max(r["dist_to_min_nuclear"], 1e-16) for r in sel], label=sc.name, marker="o^s"[k]
        )
        axes[1].scatter(
            xs, [max(kkt_violation(r), 1e-16) for r in sel], label=sc.name, marker="o^s"[k]
        )
    axes[0].set_ylabel("||X_GD - X_min-nuc||_F / ||X_min-nuc||_F")
    axes[1].axhline(1e-3, color="red", ls="--", lw=1, label="certificate tolerance")
    axes[1].set_ylabel("KKT violation: max(tangent res., ||W||_2 - 1)")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("initialisation scale")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(
        "Does gradient descent on an SNN find the nuclear-norm minimiser? "
        "(values below 1e-16 drawn at 1e-16)"
    )
    return fig
