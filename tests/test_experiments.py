import json

import numpy as np
import pytest

import spectralnn as snn
from spectralnn.cli import main
from spectralnn.experiments import configs, runner


def test_figure_configs_follow_the_paper_settings():
    f2, f3, f4 = configs.FIG2, configs.FIG3, configs.FIG4
    assert (f2.kind, f2.shape, f2.rank, f2.measurements, f2.scale) == ("aligned", (10, 10), 6,
                                                                      75, 10.0)
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
    assert main(["reproduce", "fig4", "--quick", "--images", "no_such.png",
                 "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
