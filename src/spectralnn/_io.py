"""The one way spectralnn writes a file: atomically, never through a planted symlink.

:func:`atomic_write` writes into a fresh temp file in the target folder (``mkstemp``: a unique
name opened with ``O_CREAT | O_EXCL`` and, where the OS has it, ``O_NOFOLLOW``), flushes and
fsyncs it, renames it over the target with :func:`os.replace` (which replaces a symlink at the
target instead of writing through it) and fsyncs the folder.  A reader sees the old file or the
new one, never a torn one; a failed or interrupted write leaves no temp file behind.  JSON, CSV,
text, ``.npz``, figures (:func:`spectralnn.plotting.save_figure`), problems and checkpoints all
go through it.  :func:`write_group` does the same for several files that belong together (an
output and its side files): all are written to temp files first, then renamed together.

The atomic machinery lives in ``_atomic`` (re-exported here); this module holds the writers
of each format and :func:`provenance`.
"""

from __future__ import annotations

import csv
import json
import math
import platform

import numpy as np

from ._atomic import _commit as _commit
from ._atomic import _file_mode as _file_mode
from ._atomic import _fsync_folder as _fsync_folder
from ._atomic import _pending as _pending
from ._atomic import _umask as _umask
from ._atomic import _unlink as _unlink
from ._atomic import _write_temp as _write_temp
from ._atomic import atomic_write as atomic_write
from ._atomic import write_group as write_group
from ._atomic import write_together as write_together


def json_writer(obj):
    """A ``write(f)`` for :func:`atomic_write` / :func:`write_group` (text mode)."""

    def w(f):
        json.dump(_clean(obj), f, indent=2)
        f.write("\n")

    return w


def figure_writer(fig, fmt: str = "png", dpi: int = 130):
    """A ``write(f)`` that saves a matplotlib figure (binary mode)."""
    return lambda f: fig.savefig(f, format=fmt, dpi=dpi, bbox_inches="tight")


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
    return atomic_write(path, json_writer(obj), text=True)


def write_text(path: str, text: str) -> str:
    return atomic_write(path, lambda f: f.write(text), text=True)


def write_history_csv(path: str, history: list) -> str:
    """One row per record; ``singular_values`` as space-separated numbers."""
    keys = [k for k in (history[0] if history else {})]

    def w(f):
        writer = csv.writer(f)
        writer.writerow(keys)
        for rec in history:
            writer.writerow(
                [
                    " ".join(f"{v:.10g}" for v in rec[k])
                    if isinstance(rec.get(k), list)
                    else rec.get(k)
                    for k in keys
                ]
            )

    return atomic_write(path, w, text=True)


def write_npz(path: str, **arrays) -> str:
    """Arrays into an uncompressed ``.npz`` (``np.savez`` on the open temp file)."""
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def provenance() -> dict:
    """Versions and machine, recorded next to every result."""
    import torch

    from . import __version__

    return {
        "spectralnn": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
