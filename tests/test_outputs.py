"""Outputs are written as a unit (all new files or all old ones, never a mix of two runs), and
no library call changes process-wide state (the umask)."""

import os
import subprocess
import sys

import pytest

from spectralnn import _io


def test_a_failure_inside_the_group_leaves_the_old_files_whole(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    _io.write_group([(a, lambda f: f.write("old a"), True), (b, lambda f: f.write("old b"), True)])
    with pytest.raises(RuntimeError), _io.write_together():
        _io.write_text(a, "new a")
        raise RuntimeError("the second file failed")
    assert a.read_text() == "old a" and b.read_text() == "old b"
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.txt"]  # no temp file left


def test_a_failing_rename_puts_the_old_files_back(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a")
    with pytest.raises(OSError), _io.write_together():
        _io.write_text(a, "new a")
        _io.write_text(b, "new b")
        b.mkdir()  # in the way of the second rename
    assert a.read_text() == "old a" and b.is_dir()
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.txt"]


def test_nothing_is_renamed_before_the_block_ends(tmp_path):
    a = tmp_path / "a.txt"
    with _io.write_together():
        _io.write_text(a, "1")
        assert not a.exists()
        _io.write_text(a, "2")  # a second write of the same target replaces the first
    assert a.read_text() == "2" and os.listdir(tmp_path) == ["a.txt"]


def test_importing_and_writing_never_change_the_umask(tmp_path):
    code = (
        "import os; os.umask(0o027); import spectralnn._io as io, spectralnn; "
        f"io.write_text({str(tmp_path / 'f.txt')!r}, 'x'); "
        "m = os.umask(0); print(oct(m), oct(os.stat("
        f"{str(tmp_path / 'f.txt')!r}).st_mode & 0o777))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["0o27", "0o640"]


def test_fit_writes_its_results_together(tmp_path, monkeypatch):
    import spectralnn as snn
    from spectralnn.cli import main

    monkeypatch.chdir(tmp_path)
    snn.make_problem("gaussian", (5, 4), 1, 16, seed=0).save("p.npz")
    assert main(["fit", "p.npz", "--model", "free", "--steps", "4", "--out", "o"]) == 0
    before = {n: (tmp_path / "o" / n).read_bytes() for n in os.listdir(tmp_path / "o")}

    def broken(*args, **kwargs):
        raise RuntimeError("disk full while saving the figure")

    monkeypatch.setattr("spectralnn.plotting.save_figure", broken)
    assert main(["fit", "p.npz", "--model", "free", "--steps", "8", "--out", "o"]) == 1
    after = {n: (tmp_path / "o" / n).read_bytes() for n in os.listdir(tmp_path / "o")}
    assert {k: v for k, v in after.items() if k != "checkpoint.pt"} == {
        k: v for k, v in before.items() if k != "checkpoint.pt"
    }


def test_a_rollback_restores_a_symlinked_target(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("data")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    with pytest.raises(OSError), _io.write_together():
        _io.write_text(link, "new")
        _io.write_text(tmp_path / "b", "b")
        (tmp_path / "b").mkdir()
    assert link.is_symlink() and link.read_text() == "data" and real.read_text() == "data"
