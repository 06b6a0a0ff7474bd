import json

import numpy as np
import pytest

import spectralnn as snn
from spectralnn.cli import main
from spectralnn.experiments import configs, runner


def test_figure_configs_follow_the_paper_settings():
    f2, f3, f4 = configs.FIG2, configs.FIG3, configs.FIG4
    assert (f2.kind, f2.shape, f2.rank, f2.measurements, f2.scale) == (
        "aligned",
        (10, 10),
        6,
        75,
        10.0,
    )
    assert f2.models[0].steps == 100_000 and f2.models[0].n_lrs == 5  # 100,001 iterations
    assert [m.name for m in f3.models] == ["snn", "free", "deep"]
    assert [m.n_lrs for m in f3.models] == [5, 5, 10]
    assert round(f4.fraction * 28 * 28) == 470 and f4.models[1].widths == (4, 8, 16)


def test_loss_floor_is_the_least_squares_residual():
    p = snn.make_problem("aligned", (6, 6), 2, 30, noise=0.1, seed=0)
    S, y = p.operator.S.numpy(), p.y.numpy()
    x = np.linalg.lstsq(S, y, rcond=None)[0]
    assert runner.loss_floor(p) == pytest.approx(0.5 * np.mean((S @ x - y) ** 2), rel=1e-10)
    under = snn.make_problem("gaussian", (6, 6), 2, 10, noise=0.1, seed=0)
    assert runner.loss_floor(under) < 1e-20  # m < d1 d2: the data can be interpolated


def test_reproduce_fig2_quick_writes_figures_and_an_honest_report(tmp_path):
    out = tmp_path / "r"
    assert main(["reproduce", "fig2", "--quick", "--style", "paper", "--out", str(out)]) == 0
    assert (out / "fig2.png").stat().st_size > 10_000
    pdf = (out / "fig2.pdf").read_bytes()
    assert pdf[:5] == b"%PDF-" and b"/FontFile2" in pdf and b"/Type3" not in pdf  # embedded
    report = (out / "report.md").read_text()
    assert "sorted **ascending**" in report and "s_i = 10 N(0, I)" in report
    assert "not tested at this budget (needs 100,001 iterations" in report
    assert (
        "| fig2 | SNN training error falls exponentially to the noise floor | not tested" in report
    )
    results = json.loads((out / "results.json").read_text())
    assert results["style"] == "paper" and results["quick"] is True


@pytest.mark.slow
def test_reproduce_all_quick_end_to_end(tmp_path):
    out = tmp_path / "r"
    assert main(["reproduce", "all", "--quick", "--out", str(out)]) == 0
    for name in ("fig2", "fig3", "fig4", "fig5"):
        assert (out / f"{name}.png").stat().st_size > 10_000
        assert (out / f"{name}.pdf").exists()
    results = json.loads((out / "results.json").read_text())
    assert [f["figure"] for f in results["figures"]] == ["fig2", "fig3", "fig4", "fig5"]
    fig2 = results["figures"][0]
    assert len(fig2["runs"]) == 5 and all("kkt" in r for r in fig2["runs"])
    lrs = [r["lr"] for r in fig2["runs"]]
    assert lrs == sorted(lrs, reverse=True) and all(d > lrs[0] for d in fig2["diverged"][0]["lrs"])
    report = (out / "report.md").read_text()
    for needle in ("## fig2", "## fig5", "Claims at a glance", "PSNR", "KKT"):
        assert needle in report
    fig5 = results["figures"][3]
    assert {r["image"] for r in fig5["runs"]} == set(fig5["images"])


def test_reproduce_rejects_bad_images(tmp_path):
    assert (
        main(
            [
                "reproduce",
                "fig4",
                "--quick",
                "--images",
                "no_such.png",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert not (tmp_path / "x").exists()


def _fake_curves(quick=True, floor=0.0):
    hist = [
        {
            "step": s,
            "train_loss": 10.0 * 0.5**s,
            "nuclear_norm": 1.0 - 0.5**s,
            "singular_values": [0.8, 0.1, 0.05],
        }
        for s in range(0, 50, 5)
    ]
    flat = [
        {"step": s, "train_loss": 24.0, "nuclear_norm": 1e-8, "singular_values": [1e-8, 1e-8, 1e-8]}
        for s in range(0, 50, 5)
    ]
    runs = [
        {
            "model": "SNN",
            "name": "snn",
            "lr": lr,
            "history": hist,
            "steps": 45,
            "final": {"train_loss": hist[-1]["train_loss"], "rel_error": 0.1, "nuclear_norm": 0.9},
            "rate": {"rate": 0.1, "r2": 0.99},
        }
        for lr in (1e-2, 1e-3)
    ]
    runs += [
        {
            "model": "deep",
            "name": "deep",
            "lr": lr,
            "history": flat,
            "steps": 45,
            "final": {"train_loss": 24.0, "rel_error": 1.0, "nuclear_norm": 1e-8},
            "rate": {"rate": None, "r2": None},
        }
        for lr in (1e-2, 1e-3)
    ]
    return {
        "figure": "fig3",
        "caption": "c",
        "quick": quick,
        "runs": runs,
        "reference": {"min_nuclear_norm": 0.97, "loss_floor": floor},
    }


def test_curves_figure_draws_every_row_with_plot_histories(monkeypatch):
    from spectralnn import plotting
    from spectralnn.experiments import figures

    calls = []
    monkeypatch.setattr(
        figures,
        "plot_histories",
        lambda h, **kw: calls.append((list(h), kw)) or plotting.plot_histories(h, **kw),
    )
    fig = figures.curves_figure(_fake_curves())
    assert [c[0] for c in calls] == [["lr = 0.01", "lr = 0.001"]] * 2
    loss_ax = fig.axes[0]
    lo, hi = loss_ax.get_ylim()
    assert lo > 1e-20 and hi < 1e3  # from the data, never a zero floor on a log axis
    labels = loss_ax.get_legend().get_texts()
    assert [t.get_text() for t in labels] == ["lr = 0.01", "lr = 0.001"]  # one entry per lr
    sv_key = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert sv_key == ["$\\sigma_1$", "$\\sigma_2$", "$\\sigma_3$"]
    flat_row = [t.get_text() for ax in fig.axes[3:6] for t in ax.texts]
    assert sum("flat: no visible change" in t for t in flat_row) == 3
    assert not any("flat" in t.get_text() for ax in fig.axes[:3] for t in ax.texts)
    plotting.plt.close(fig)


def test_log_limits_ignore_zeros_and_use_a_positive_floor():
    from spectralnn.plotting import log_limits

    assert log_limits([0.0, 1e-3, 10.0, None, float("nan")]) == (5e-4, 20.0)
    assert log_limits([1e-3, 10.0], floor=1e-6) == (5e-7, 20.0)
    assert log_limits([1e-3, 10.0], floor=0.0) == (5e-4, 20.0)
    assert log_limits([0.0, -1.0]) is None


def test_quick_report_does_not_judge_claims_and_states_conventions():
    from spectralnn.experiments import report

    res = _fake_curves(quick=True)
    res.update(
        settings={
            "kind": "gaussian",
            "shape": (10, 10),
            "rank": 6,
            "measurements": 75,
            "noise": 0.01,
            "scale": 10.0,
            "seed": 42,
            "images": (),
        },
        diverged=[],
        compute_time=1.0,
        jitter=None,
    )
    res["reference"].update(solver="cvxpy", rel_error_to_X_true=0.1)
    for r in res["runs"]:
        r["final"]["test_loss"] = 1.0
        r["status"] = "max_steps"
    text = report.render([res], {"spectralnn": "x"}, 1.0)
    assert "NOT supported" not in text.split("at this budget the numbers read")[0]
    assert "not tested at this budget (needs 10,001 iterations; this run: 46" in text
    assert "identity initialisation: exactly 1e-4 i" in text.lower()
    assert "N(0, 10^2)" in text
    full = report.render([{**res, "quick": False}], {"spectralnn": "x"}, 1.0)
    assert "not tested at this budget" not in full


def test_psnr_255_is_the_authors_convention():
    import torch

    X_true = torch.zeros(4, 4, dtype=torch.float64)
    X = X_true + 0.1  # RMSE 0.1 on [0, 1] = 25.5 on 0-255: 20 log10(255 / 25.5) = 20 dB
    assert runner.psnr_255(X, X_true) == pytest.approx(20.0, abs=1e-9)


def test_image_configs_use_the_authors_measurement_scale():
    assert configs.FIG4.scale == configs.FIG5.scale == 28.0 == configs.FIG4.shape[0]
    assert configs.FIG2.models[0].spectral_order == "ascending"
