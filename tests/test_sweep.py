import csv
import os
import signal
import subprocess
import sys
import time

import pytest

from spectralnn import sweep
from spectralnn._sweep_run import run_sweep
from spectralnn.cli import main

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


def test_expand_counts_cells_and_groups_lrs(tmp_path):
    cfg = sweep.load_config(_write(tmp_path, TINY))
    cells = sweep.expand(cfg)
    assert len(cells) == 2 * 2 * 2 * 2 * 2  # rank x m x model x lr x seed
    groups = sweep.group_cells(cells)
    assert len(groups) == 16 and all(len(g) == 2 for g in groups)  # lrs batched per group
    assert len({sweep.cell_id(c) for c in cells}) == len(cells)


@pytest.mark.parametrize("text, needle", [
    ("[problem]\nrnak = 2\nmeasurements = 5", "unknown key problem.rnak. Did you mean 'rank'"),
    ("[problm]\nrank = 2", "unknown section [problm]"),
    ("[problem]\nrank = {range = [3, 1]}\nmeasurements = 5", "problem.rank: the range"),
    ("[problem]\nrank = 'two'\nmeasurements = 5", "problem.rank: expected int"),
    ("[problem]\nmeasurements = []", "problem.measurements: the list is empty"),
    ("[problem]\nshape = [4, 4]", "problem.measurements (or problem.measurements_per_dr)"),
    ("[model]\nname = ['snn', 'sn']\n[problem]\nmeasurements = 5", "model.name: 'sn'"),
    ("[sweep]\nmetrics = ['rel_eror']\n[problem]\nmeasurements = 5", "unknown metric"),
])
def test_malformed_configs_are_rejected_before_running(tmp_path, text, needle):
    with pytest.raises(sweep.ConfigError) as exc:
        sweep.load_config(_write(tmp_path, text))
    assert needle in str(exc.value)
    out = tmp_path / "out"
    assert main(["sweep", _write(tmp_path, text, "d.toml"), "--out", str(out)]) == 2
    assert not out.exists()


def test_local_sweep_and_rerun_skips_finished_cells(tmp_path):
    cfg = sweep.load_config(_write(tmp_path, TINY))
    out = str(tmp_path / "out")
    summary = run_sweep(cfg, out, workers=2, say=lambda *_: None)
    rows = _rows(os.path.join(out, "results.csv"))
    assert len(rows) == 32 and summary["failed"] == 0
    assert all(r["status"] in ("max_steps", "converged", "solved") for r in rows)
    assert os.path.exists(os.path.join(out, "phase_transition.png"))
    run_sweep(cfg, out, workers=2, say=lambda *_: None)
    assert len(_rows(os.path.join(out, "results.csv"))) == 32  # nothing ran twice


def test_failing_cell_is_recorded_and_the_sweep_goes_on(tmp_path):
    text = TINY.replace("measurements_per_dr = [1, 3]", "measurements_per_dr = [1, 3]\n"
                        "scale = [1.0, -1.0]")
    cfg = sweep.load_config(_write(tmp_path, text))
    summary = run_sweep(cfg, str(tmp_path / "o"), workers=2, say=lambda *_: None)
    rows = _rows(tmp_path / "o" / "results.csv")
    bad = [r for r in rows if r["status"] == "error"]
    assert len(bad) == 32 and summary["cells"] == 64
    assert all("'scale'" in r["error"] for r in bad)


def test_killed_sweep_resumes_with_the_remaining_cells_only(tmp_path):
    text = TINY.replace("steps = 150", "steps = 400")
    path = _write(tmp_path, text)
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "spectralnn", "sweep", path, "--out",
                             str(out), "--workers", "1"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    results = out / "results.csv"
    deadline = time.time() + 120
    while time.time() < deadline and (not results.exists() or len(_rows(results)) < 6):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _rows(results)
    assert 6 <= len(before) < 32
    assert main(["sweep", path, "--out", str(out)]) == 0
    after = _rows(results)
    assert len(after) == 32 and after[:len(before)] == before
    assert len({r["cell"] for r in after}) == 32


def test_ray_backend_gives_the_same_table_as_local(tmp_path):
    pytest.importorskip("ray")
    cfg = sweep.load_config(_write(tmp_path, TINY))
    run_sweep(cfg, str(tmp_path / "local"), workers=2, say=lambda *_: None)
    run_sweep(cfg, str(tmp_path / "ray"), backend="ray", say=lambda *_: None)
    assert _rows(tmp_path / "local" / "table.csv") == _rows(tmp_path / "ray" / "table.csv")


def test_per_model_settings_override_the_shared_ones(tmp_path):
    text = TINY.replace('name = ["snn", "convex"]', 'name = ["snn", "deep"]\ninit_scale = 1e-3'
                        '\n\n[model.deep]\ninit_scale = 0.5\ndepth = 2')
    cfg = sweep.load_config(_write(tmp_path, text))
    cell = next(c for c in sweep.expand(cfg) if c["model.name"] == "deep")
    assert cell["model.deep.init_scale"] == 0.5 and cell["model.init_scale"] == 1e-3
    with pytest.raises(sweep.ConfigError, match="unknown key model.deep.dpeth"):
        sweep.load_config(_write(tmp_path, text.replace("depth = 2", "dpeth = 2"), "e.toml"))
