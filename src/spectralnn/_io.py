"""Atomic writers for results: JSON, CSV, .npz (temp file in the same folder + rename)."""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import tempfile

import numpy as np


def _atomic(path: str, write) -> str:
    folder = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
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
    def w(tmp):
        with open(tmp, "w") as f:
            json.dump(_clean(obj), f, indent=2)
            f.write("\n")

    return _atomic(path, w)


def write_text(path: str, text: str) -> str:
    def w(tmp):
        with open(tmp, "w") as f:
            f.write(text)

    return _atomic(path, w)


def write_history_csv(path: str, history: list) -> str:
    """One row per record; ``singular_values`` as space-separated numbers."""
    keys = [k for k in (history[0] if history else {})]

    def w(tmp):
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(keys)
            for rec in history:
                writer.writerow([" ".join(f"{v:.10g}" for v in rec[k]) if isinstance(rec.get(k), list)
                                 else rec.get(k) for k in keys])

    return _atomic(path, w)


def write_npz(path: str, **arrays) -> str:
    return _atomic(path, lambda tmp: np.savez(tmp, **arrays))


def provenance() -> dict:
    """Versions and machine, recorded next to every result."""
    import torch

    from . import __version__

    return {"spectralnn": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "machine": platform.machine()}
