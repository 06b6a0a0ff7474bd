"""Shared helpers for ``benchmarks/movielens.py`` and ``benchmarks/imputers.py``.

Metrics (RMSE, relative Frobenius error, PSNR), a seeded uniform mask that never hides a whole
row or column, a wall + CPU timer, warning capture, and a Markdown table writer. Nothing here
downloads or bundles data.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import time
import warnings

import numpy as np

# ----------------------------------------------------------------------------------- metrics


def rmse(pred, truth) -> float:
    """Root mean squared error of two equal-length arrays."""
    d = np.asarray(pred, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    return float(np.sqrt(np.mean(d * d)))


def relative_error(pred, truth, where) -> float:
    """``||pred - truth||_F / ||truth||_F`` over the entries where ``where`` is True."""
    p = np.asarray(pred, dtype=np.float64)[where]
    t = np.asarray(truth, dtype=np.float64)[where]
    return float(np.linalg.norm(p - t) / np.linalg.norm(t))


def psnr(pred, truth, where, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB on the entries where ``where`` is True:
    ``10 log10(peak^2 / MSE)`` (``inf`` for an exact match)."""
    d = np.asarray(pred, dtype=np.float64)[where] - np.asarray(truth, dtype=np.float64)[where]
    mse = float(np.mean(d * d))
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak * peak / mse))


def column_rmse(pred, truth, where) -> np.ndarray:
    """Per-column RMSE over the entries where ``where`` is True (NaN for a column with none)."""
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    sq = np.where(where, (p - t) ** 2, 0.0).sum(axis=0)
    n = where.sum(axis=0)
    out = np.full(p.shape[1], np.nan)
    out[n > 0] = np.sqrt(sq[n > 0] / n[n > 0])
    return out


# ------------------------------------------------------------------------------------- masks


def hide_entries(shape, fraction: float, seed: int, max_tries: int = 1000) -> np.ndarray:
    """Boolean mask (True = hidden) of exactly ``round(fraction * size)`` entries drawn uniformly
    at random with ``numpy.random.default_rng(seed)``, redrawn (same generator, so still
    deterministic) until no row and no column is entirely hidden."""
    d1, d2 = shape
    n = d1 * d2
    k = round(fraction * n)
    if not 0 < k < n:
        raise ValueError(f"fraction {fraction} hides {k} of {n} entries")
    rng = np.random.default_rng(seed)
    for _ in range(max_tries):
        mask = np.zeros(n, dtype=bool)
        mask[rng.choice(n, size=k, replace=False)] = True
        mask = mask.reshape(d1, d2)
        if not mask.all(axis=1).any() and not mask.all(axis=0).any():
            return mask
    raise RuntimeError(
        f"no mask of {fraction:.0%} of a {d1} x {d2} matrix without a fully "
        f"hidden row or column in {max_tries} draws"
    )


# ------------------------------------------------------------------------------------ timing


class Timer:
    """``with Timer() as t: ...`` then ``t.wall`` (``time.perf_counter``) and ``t.cpu``
    (``time.process_time``: all threads of this process, so it can exceed ``t.wall``)."""

    def __enter__(self):
        self._w, self._c = time.perf_counter(), time.process_time()
        self.wall = self.cpu = float("nan")
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._w
        self.cpu = time.process_time() - self._c
        return False


@contextlib.contextmanager
def recorded_warnings(ignore=()):
    """Collect warnings raised inside the block into the yielded list as ``"Category: text"``
    strings (deduplicated, in order); categories in ``ignore`` are dropped silently."""
    seen: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for cat in ignore:
            warnings.simplefilter("ignore", cat)
        yield seen
    for w in caught:
        text = f"{w.category.__name__}: {str(w.message).splitlines()[0][:160]}"
        if text not in seen:
            seen.append(text)


# ---------------------------------------------------------------------------------- printing


def progress(*parts) -> None:
    """One progress line to stderr (the tables go to stdout)."""
    print(*parts, file=sys.stderr, flush=True)


def markdown_table(header, rows, align=None) -> str:
    """A GitHub Markdown table; ``align`` is a string of ``l``/``r`` per column (default: first
    column left, the rest right)."""
    header = [str(h) for h in header]
    rows = [[str(c) for c in r] for r in rows]
    if align is None:
        align = "l" + "r" * (len(header) - 1)
    widths = [
        max(len(header[j]), *(len(r[j]) for r in rows)) if rows else len(header[j])
        for j in range(len(header))
    ]

    def line(cells):
        out = []
        for j, c in enumerate(cells):
            out.append(c.ljust(widths[j]) if align[j] == "l" else c.rjust(widths[j]))
        return "| " + " | ".join(out) + " |"

    rule = (
        "|"
        + "|".join(
            (":" + "-" * (w + 1)) if a == "l" else ("-" * (w + 1) + ":")
            for w, a in zip(widths, align)
        )
        + "|"
    )
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def fmt(x, digits: int = 4) -> str:
    """A number for a table cell; ``-`` for None / NaN."""
    if x is None:
        return "-"
    x = float(x)
    if np.isnan(x):
        return "-"
    if np.isinf(x):
        return "inf"
    return f"{x:.{digits}f}"


def environment() -> dict:
    """Versions and machine facts recorded in the JSON outputs."""
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
    }
    for name in ("spectralnn", "torch", "sklearn", "skimage", "surprise"):
        try:
            mod = __import__(name)
            info[name] = getattr(mod, "__version__", "?")
        except Exception:  # noqa: BLE001 - absence is recorded, not fatal
            info[name] = None
    info["cpu_count"] = os.cpu_count()
    return info


def write_json(path: str, payload: dict) -> None:
    """Write ``payload`` (NaN/inf as null) with a trailing newline."""

    def clean(o):
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        if isinstance(o, (np.floating, float)):
            o = float(o)
            return None if not np.isfinite(o) else o
        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.bool_):
            return bool(o)
        return o

    with open(path, "w") as f:
        json.dump(clean(payload), f, indent=2)
        f.write("\n")


def fmt_s(seconds) -> str:
    """Seconds for a table cell: two decimals below 10 s, one above."""
    if seconds is None or not np.isfinite(seconds):
        return "-"
    return f"{seconds:.2f}" if seconds < 10 else f"{seconds:.1f}"
