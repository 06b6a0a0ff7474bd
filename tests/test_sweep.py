import contextlib
import csv
import dataclasses
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spectralnn import sweep
from spectralnn.cli import main
from spectralnn.sweep import run_sweep

TINY = """
[sweep]
name = "tiny"
seeds = [0, 1]
x = "measurements_per_dr"
y = "rank"

[problem]
kind = "gaussian"
shape = [6, 6]
rank = {range = [1, 2]}
measurements_per_dr = [1, 3]

[model]
name = ["snn", "convex"]

[train]
lr = [0.05, 0.1]
steps = 150
"""


def _write(tmp_path, text, name="c.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_expand_gives_each_model_its_own_axes(tmp_path):
    cfg = sweep.load_config(_write(tmp_path, TINY))
    cells = sweep.expand(cfg)
    snn = [c for c in cells if c["model.name"] == "snn"]
    convex = [c for c in cells if c["model.name"] == "convex"]
    assert len(snn) == 2 * 2 * 2 * 2  # rank x m x lr x seed
    assert len(convex) == 2 * 2 * 2  # rank x m x seed: solved once, not once per lr
    assert all("train.lr" not in c and "model.widths" not in c for c in convex)
    groups = sweep.group_cells(cells)
    assert sorted(len(g) for g in groups) == [1] * 8 + [2] * 8  # lrs batched per SNN group
    assert len({sweep.cell_id(c) for c in cells}) == len(cells)


BAD = [  # (config text, needle in the one-line message)
    ("[problem]\nrnak = 2\nmeasurements = 5", "unknown key problem.rnak. Did you mean 'rank'"),
    ("[problm]\nrank = 2", "unknown section [problm]"),
    ("[problem]\nrank = {range = [3, 1]}\nmeasurements = 5", "problem.rank: the range"),
    ("[problem]\nrank = 'two'\nmeasurements = 5", "problem.rank: expected int"),
    ("[problem]\nmeasurements = []", "problem.measurements: the list is empty"),
    ("[problem]\nshape = [4, 4]", "problem.measurements (or problem.measurements_per_dr)"),
    ("[model]\nname = ['snn', 'sn']\n[problem]\nmeasurements = 5", "model.name: must be one of"),
    ("[sweep]\nmetrics = ['rel_eror']\n[problem]\nmeasurements = 5", "unknown metric"),
    # issue 12: every value of every axis, per model, before the first cell
    ("[train]\nlr = [0.1, -0.1]\n[problem]\nmeasurements = 5", "train.lr: must be a finite"),
    ("[train]\nlr = 0\n[problem]\nmeasurements = 5", "train.lr: must be a finite number > 0"),
    ("[train]\nlr = nan\n[problem]\nmeasurements = 5", "train.lr: must be a finite"),
    ("[train]\nlr = inf\n[problem]\nmeasurements = 5", "train.lr: must be a finite"),
    ("[problem]\nrank = 0\nmeasurements = 5", "problem.rank: must be an int >= 1"),
    ("[problem]\nrank = 9\nshape = [4, 4]\nmeasurements = 5", "problem.rank: 9 exceeds"),
    ("[problem]\nshape = [-2, 2]\nmeasurements = 5", "problem.shape: must be a list of 2 ints"),
    ("[problem]\nshape = [2]\nmeasurements = 5", "problem.shape: must be a list of 2 ints"),
    ("[model]\nwidths = ['a']\n[problem]\nmeasurements = 5", "model.widths: must be a non-empty"),
    ("[model]\ninit = 'identty'\n[problem]\nmeasurements = 5", "Did you mean 'identity'"),
    ("[model]\nfn = 'tnah'\n[problem]\nmeasurements = 5", "Did you mean 'tanh'"),
    ("[train]\noptimizer = 'adm'\n[problem]\nmeasurements = 5", "Did you mean 'adam'"),
    ("[problem]\nkind = ['gaussian', 'gausian']\nmeasurements = 5", "Did you mean 'gaussian'"),
    ("[train]\nsteps = -1\n[problem]\nmeasurements = 5", "train.steps: must be an int >= 1"),
    ("[problem]\nnoise = -0.5\nmeasurements = 5", "problem.noise: must be a finite number >= 0"),
    ("[problem]\nscale = [1.0, -1.0]\nmeasurements = 5", "problem.scale: must be a finite"),
    ("[problem]\nmeasurements = 0", "problem.measurements: must be an int >= 1"),
    ("[problem]\nkind = 'completion'\nshape = [3, 3]\nmeasurements = 10", "exceeds the 9 entries"),
    ("[sweep]\nseeds = [-1]\n[problem]\nmeasurements = 5", "sweep.seeds: must be an int >= 0"),
    ("[sweep]\nrepetitions = 0\n[problem]\nmeasurements = 5", "sweep.repetitions"),
    ("[sweep]\nrecovery_tol = -1\n[problem]\nmeasurements = 5", "sweep.recovery_tol"),
    ("[sweep]\nselect = 'best'\n[problem]\nmeasurements = 5", "sweep.select: must be one of"),
    (
        ('[sweep]\nx = "kind"\n[problem]\nkind = ["gaussian", "aligned"]\nmeasurements = 5'),
        "sweep.x: must be a numeric parameter",
    ),
    (
        '[sweep]\nx = "lr"\n[model]\nname = ["snn", "convex"]\n[train]\nlr = [0.1, 0.2]\n'
        "[problem]\nmeasurements = 5",
        "sweep.x: must be a numeric parameter",
    ),
    (
        "[model]\nname = 'deep'\ninit = 'spectral'\n[problem]\nmeasurements = 5",
        "'spectral' is an SNN init",
    ),
    (
        "[model]\nname = 'snn'\ninit = 'spectral'\n[problem]\nmeasurements = 5",
        "needs problem.kind = 'aligned'",
    ),
    (
        "[model]\nname = ['snn', 'deep']\n[model.deep]\ndepth = 0\n[problem]\nmeasurements = 5",
        "model.deep.depth: must be an int >= 1",
    ),
    (
        "[model]\nname = ['snn', 'deep']\n[model.deep]\nlr = [0.1, -1]\n"
        "[problem]\nmeasurements = 5",
        "model.deep.lr: must be a finite number > 0",
    ),
    (
        "[model]\nname = ['snn', 'convex']\n[model.convex]\nlr = 0.1\n[problem]\nmeasurements = 5",
        "unknown key model.convex.lr",
    ),
    ("[model]\nname = 'snn'\ninit_scale = 0\n[problem]\nmeasurements = 5", "init_scale"),
]


@pytest.mark.parametrize("text, needle", BAD)
def test_malformed_configs_are_rejected_before_running(tmp_path, text, needle):
    with pytest.raises(sweep.ConfigError) as exc:
        sweep.load_config(_write(tmp_path, text))
    assert needle in str(exc.value)
    assert isinstance(exc.value, ValueError)


@pytest.mark.parametrize("text, needle", BAD[8:20])
def test_cli_refuses_bad_configs_with_exit_2_and_writes_nothing(tmp_path, capsys, text, needle):
    out = tmp_path / "out"
    assert main(["sweep", _write(tmp_path, text, "d.toml"), "--out", str(out)]) == 2
    assert not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_best_lr_per_seed_and_wilson_intervals():
    def row(lr, seed, loss, rec):
        return {
            "cell": f"{lr}{seed}",
            "model.name": "snn",
            "problem.rank": "1",
            "train.lr": lr,
            "seed": seed,
            "train_loss": loss,
            "test_loss": "",
            "recovered": rec,
            "rel_error": "0.5",
        }

    rows = [
        row("0.1", "0", "1e-3", "False"),
        row("0.01", "0", "1e-6", "True"),
        row("0.1", "1", "", "False"),
        row("0.01", "1", "nan", "False"),  # diverged
        row("0.1", "2", "2e-9", "True"),
        row("0.01", "2", "1e-2", "False"),
    ]
    best = sweep.best_per_seed(rows, "train_loss")
    assert [(r["seed"], r["train.lr"]) for r in best] == [("0", "0.01"), ("1", "0.1"), ("2", "0.1")]
    assert len(sweep.best_per_seed(rows, "all")) == 6
    lo, hi = sweep.wilson(0, 3)  # by hand: z^2/n / (1 + z^2/n), z = 1.96
    assert lo == 0 and hi == pytest.approx((1.96**2 / 3) / (1 + 1.96**2 / 3), rel=1e-12)
    lo, hi = sweep.wilson(5, 10)
    assert lo == pytest.approx(1 - hi) and 0.2 < lo < 0.3


def test_local_sweep_aggregates_best_lr_per_seed_and_rerun_skips_cells(tmp_path, monkeypatch):
    figs = []
    from spectralnn import plotting

    real_save = plotting.save_figure
    monkeypatch.setattr(
        plotting,
        "save_figure",
        lambda fig, path, formats=("png",): figs.append(fig) or real_save(fig, path, formats),
    )
    cfg = sweep.load_config(_write(tmp_path, TINY))
    out = str(tmp_path / "out")
    summary = run_sweep(cfg, out, workers=2, say=lambda *_: None)
    rows = _rows(os.path.join(out, "results.csv"))
    assert len(rows) == 24 and summary["failed"] == 0
    assert sum(r["model.name"] == "convex" for r in rows) == 8  # once per problem and seed
    assert all(r["status"] in ("max_steps", "converged", "solved") for r in rows)
    # n = number of seeds (not seeds x lrs): one learning rate kept per seed
    assert summary["n"]["snn"] == [[2, 2], [2, 2]] and summary["n"]["convex"] == [[2, 2], [2, 2]]
    assert "best learning rate per seed" in summary["aggregation"]
    # the probability is recomputed from the rows: per seed, the lr with the lowest train loss
    snn = [r for r in rows if r["model.name"] == "snn"]
    for i, rank in enumerate(("1", "2")):
        for j, c in enumerate(("1", "3")):
            hits = []
            for seed in ("0", "1"):
                runs = [
                    r
                    for r in snn
                    if (r["problem.rank"], r["problem.measurements_per_dr"], r["seed"])
                    == (rank, c, seed)
                ]
                best = min(runs, key=lambda r: float(r["train_loss"]))
                hits.append(best["recovered"] == "True")
            assert summary["recovery_probability"]["snn"][i][j] == sum(hits) / 2
    for name in ("phase_transition", "recovery_lines"):
        assert os.path.getsize(os.path.join(out, f"{name}.png")) > 10_000
        assert Path(out, f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    assert len(figs) == 2
    for fig in figs:  # model panels share their y axis
        ax = [a for a in fig.axes if a.get_label() != "<colorbar>"][:2]
        assert ax[0].get_shared_y_axes().joined(ax[0], ax[1])
    lines = figs[1].axes[0]
    assert any(c.__class__.__name__ == "ErrorbarContainer" for c in lines.containers)
    run_sweep(cfg, out, workers=2, say=lambda *_: None)
    assert len(_rows(os.path.join(out, "results.csv"))) == 24  # nothing ran twice


def test_failing_cell_is_recorded_and_the_sweep_goes_on(tmp_path):
    cfg = sweep.load_config(_write(tmp_path, TINY.replace("seeds = [0, 1]", "seeds = [0]")))
    # a value validation would refuse, slipped past it, fails inside the worker
    bad = dataclasses.replace(
        cfg, fixed={**cfg.fixed, "problem": {**cfg.fixed["problem"], "scale": -1.0}}
    )
    summary = run_sweep(bad, str(tmp_path / "o"), workers=2, say=lambda *_: None)
    rows = _rows(tmp_path / "o" / "results.csv")
    assert len(rows) == 12 and summary["failed"] == 12
    assert all(r["status"] == "error" and "'scale'" in r["error"] for r in rows)
    assert all(
        math.isclose(p, 0.0)
        for g in summary["recovery_probability"].values()
        for row in g
        for p in row
    )


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry))
    return kids


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_a_killed_parent(tmp_path):
    path = _write(tmp_path, TINY.replace("steps = 150", "steps = 200000"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spectralnn",
            "sweep",
            path,
            "--out",
            str(tmp_path / "o"),
            "--workers",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline, workers = time.time() + 90, []
        while time.time() < deadline and len(workers) < 2:
            time.sleep(0.3)  # the pool's workers: children running the spawn entry point
            workers = [p for p in _children(proc.pid) if "spawn_main" in _cmdline(p)]
        assert len(workers) == 2
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGKILL)  # the parent only, not its process group
        proc.wait()
        deadline = time.time() + 5
        while time.time() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # clean up whatever a failure left


def test_killed_sweep_resumes_with_the_remaining_cells_only(tmp_path):
    text = TINY.replace("steps = 150", "steps = 400")
    path = _write(tmp_path, text)
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [sys.executable, "-m", "spectralnn", "sweep", path, "--out", str(out), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    results = out / "results.csv"
    deadline = time.time() + 120
    while time.time() < deadline and (not results.exists() or len(_rows(results)) < 6):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _rows(results)
    assert 6 <= len(before) < 24
    assert main(["sweep", path, "--out", str(out)]) == 0
    after = _rows(results)
    assert len(after) == 24 and after[: len(before)] == before
    assert len({r["cell"] for r in after}) == 24


def test_ray_backend_gives_the_same_table_as_local(tmp_path):
    pytest.importorskip("ray")
    cfg = sweep.load_config(_write(tmp_path, TINY))
    run_sweep(cfg, str(tmp_path / "local"), workers=2, say=lambda *_: None)
    run_sweep(cfg, str(tmp_path / "ray"), backend="ray", say=lambda *_: None)
    assert _rows(tmp_path / "local" / "table.csv") == _rows(tmp_path / "ray" / "table.csv")


def test_per_model_settings_and_axes_override_the_shared_ones(tmp_path):
    text = TINY.replace(
        'name = ["snn", "convex"]',
        'name = ["snn", "deep"]\ninit_scale = 1e-3'
        "\n\n[model.deep]\ninit_scale = 0.5\ndepth = 2\nlr = [0.01, 0.02, 0.03]",
    )
    cfg = sweep.load_config(_write(tmp_path, text))
    cells = sweep.expand(cfg)
    deep = [c for c in cells if c["model.name"] == "deep"]
    snn = [c for c in cells if c["model.name"] == "snn"]
    assert all(c["model.init_scale"] == 0.5 and c["model.depth"] == 2 for c in deep)
    assert {c["train.lr"] for c in deep} == {0.01, 0.02, 0.03} and len(deep) == 2 * 2 * 3 * 2
    assert all(c["model.init_scale"] == 1e-3 and "model.depth" not in c for c in snn)
    assert {c["train.lr"] for c in snn} == {0.05, 0.1}
    with pytest.raises(sweep.ConfigError, match="unknown key model.deep.dpeth"):
        sweep.load_config(_write(tmp_path, text.replace("depth = 2", "dpeth = 2"), "e.toml"))
