"""The one way spectralnn writes a file: atomically, never through a planted symlink.

:func:`atomic_write` writes into a fresh temp file in the target folder (``mkstemp``: a unique
name opened with ``O_CREAT | O_EXCL`` and, where the OS has it, ``O_NOFOLLOW``), flushes and
fsyncs it, renames it over the target with :func:`os.replace` (which replaces a symlink at the
target instead of writing through it) and fsyncs the folder.  A reader sees the old file or the
new one, never a torn one; a failed or interrupted write leaves no temp file behind.  JSON, CSV,
text, ``.npz``, figures (:func:`spectralnn.plotting.save_figure`), problems and checkpoints all
go through it.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import tempfile

import numpy as np


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp alone gives 0o600


def _fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # e.g. Windows cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write, *, text: bool = False) -> str:
    """Write ``path`` atomically: ``write(f)`` fills an open temp file ``f``, then a rename.

    Parameters
    ----------
    path : path
        The target.  Its folder is created if missing.
    write : callable
        Called once with the temp file object (binary, or text with ``newline=""`` when
        ``text``); it must write through that object, never reopen a name.
    text : bool, default=False
        Open the temp file in text mode (UTF-8).

    Returns
    -------
    str
        ``path``.

    Examples
    --------
    >>> import os, pathlib, tempfile
    >>> from spectralnn._io import atomic_write
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = atomic_write(target, lambda f: f.write("hello"), text=True)
    >>> target.read_text(), os.listdir(target.parent)
    ('hello', ['a.txt'])
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, _FILE_MODE)
        f = (os.fdopen(fd, "w", encoding="utf-8", newline="") if text else os.fdopen(fd, "wb"))
        with f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(folder)
    return path


def _clean(obj):
    """JSON-safe: non-finite floats become None, numpy/torch scalars become Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: str, obj) -> str:
    """``obj`` as indented JSON (non-finite floats as ``null``)."""
    def w(f):
        json.dump(_clean(obj), f, indent=2)
        f.write("\n")

    return atomic_write(path, w, text=True)


def write_text(path: str, text: str) -> str:
    return atomic_write(path, lambda f: f.write(text), text=True)


def write_history_csv(path: str, history: list) -> str:
    """One row per record; ``singular_values`` as space-separated numbers."""
    keys = [k for k in (history[0] if history else {})]

    def w(f):
        writer = csv.writer(f)
        writer.writerow(keys)
        for rec in history:
            writer.writerow([" ".join(f"{v:.10g}" for v in rec[k]) if isinstance(rec.get(k), list)
                             else rec.get(k) for k in keys])

    return atomic_write(path, w, text=True)


def write_npz(path: str, **arrays) -> str:
    """Arrays into an uncompressed ``.npz`` (``np.savez`` on the open temp file)."""
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def provenance() -> dict:
    """Versions and machine, recorded next to every result."""
    import torch

    from . import __version__

    return {"spectralnn": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "machine": platform.machine()}


