"""The atomic writer: whole files or nothing, no temp files left, never through a symlink."""

import json
import os
import stat
import tempfile

import numpy as np
import pytest

from spectralnn import _io
from spectralnn.cli import main


def test_writers_round_trip_and_leave_only_the_target(tmp_path):
    _io.write_json(tmp_path / "a.json", {"x": 1.5, "bad": float("nan"), "v": np.float64(2.0)})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1.5, "bad": None, "v": 2.0}
    _io.write_npz(tmp_path / "b.npz", X=np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(np.load(tmp_path / "b.npz")["X"], np.arange(6.0).reshape(2, 3))
    _io.write_history_csv(
        tmp_path / "c.csv", [{"step": 0, "sv": [1.0, 0.5]}, {"step": 1, "sv": [2.0]}]
    )
    assert (tmp_path / "c.csv").read_text().splitlines() == ["step,sv", "0,1 0.5", "1,2"]
    _io.write_text(tmp_path / "d.txt", "héllo\n")
    assert (tmp_path / "d.txt").read_text(encoding="utf-8") == "héllo\n"
    assert sorted(os.listdir(tmp_path)) == ["a.json", "b.npz", "c.csv", "d.txt"]


def test_file_mode_is_what_open_would_give_not_mkstemps_0600(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    _io.write_text(tmp_path / "m.txt", "x")
    with open(tmp_path / "plain.txt", "w") as f:
        f.write("x")
    mode = stat.S_IMODE(os.stat(tmp_path / "m.txt").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "plain.txt").st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("exc", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, exc):
    target = tmp_path / "keep.json"
    _io.write_json(target, {"version": 1})

    def half_then_fail(f):
        f.write('{"version": 2, "trunc')
        raise exc

    with pytest.raises(type(exc)):
        _io.atomic_write(target, half_then_fail, text=True)
    assert json.loads(target.read_text()) == {"version": 1}
    assert os.listdir(tmp_path) == ["keep.json"]


def test_a_symlink_at_the_target_is_replaced_not_written_through(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").symlink_to(outside)
    _io.write_json(out / "summary.json", {"a": 1})
    assert outside.read_text() == "precious"
    assert not (out / "summary.json").is_symlink()
    assert json.loads((out / "summary.json").read_text()) == {"a": 1}


def test_the_temp_name_never_follows_a_planted_symlink(tmp_path, monkeypatch):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    # make the first temp name mkstemp tries a symlink planted by someone else
    names = iter(["planted", "fresh", "spare"])
    monkeypatch.setattr(tempfile, "_get_candidate_names", lambda: names)
    (out / ".t.json.planted.tmp").symlink_to(outside)
    _io.write_json(out / "t.json", {"ok": True})
    assert outside.read_text() == "precious"
    assert json.loads((out / "t.json").read_text()) == {"ok": True}
    assert sorted(os.listdir(out)) == [".t.json.planted.tmp", "t.json"]


def test_fit_outputs_replace_symlinks_planted_in_out(tmp_path):
    """The issue's attack: links named like every output (and the old fixed temp names)."""
    p = tmp_path / "p.npz"
    assert (
        main(
            ["make-problem", "gaussian", "--shape", "5x5", "--measurements", "15", "--out", str(p)]
        )
        == 0
    )
    victim = tmp_path / "victim"
    victim.mkdir()
    out = tmp_path / "run"
    out.mkdir()
    names = [
        "X.npz",
        "history.json",
        "history.csv",
        "history.png",
        "summary.json",
        "checkpoint.pt",
        "checkpoint.pt.tmp",
        "history.tmp.png",
    ]
    for name in names:
        (victim / name).write_text("precious")
        (out / name).symlink_to(victim / name)
    assert (
        main(["fit", str(p), "--model", "free", "--lr", "0.1", "--steps", "20", "--out", str(out)])
        == 0
    )
    assert all((victim / n).read_text() == "precious" for n in names)
    for name in names[:6]:
        assert not (out / name).is_symlink() and (out / name).stat().st_size > 0
    assert not any(n.startswith(".") for n in os.listdir(out))  # no temp files left
