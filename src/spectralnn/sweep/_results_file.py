"""The resumable ``results.csv`` of a sweep: its columns, the appender, the reader."""

from __future__ import annotations

import csv
import json
import os

from .config import SweepConfig

RESULTS = "results.csv"


def finished_cells(path: str) -> set[str]:
    """Cell ids already in the results file (a re-run skips them)."""
    if not os.path.exists(path):
        return set()
    with open(path, newline="") as f:
        return {row["cell"] for row in csv.DictReader(f) if row.get("cell")}


class _Appender:
    """Append rows to the CSV as cells finish; each row is flushed and fsync'ed, so a killed
    sweep loses at most the cells in flight. The file is opened without following symlinks."""

    def __init__(self, path: str, columns: list[str]):
        self.path, self.columns = path, columns
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        if not new:
            with open(path, newline="") as f:
                self.columns = next(csv.reader(f))
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        self.f = os.fdopen(os.open(path, flags, 0o644), "a", newline="")
        self.w = csv.DictWriter(self.f, self.columns, extrasaction="ignore")
        if new:
            self.w.writeheader()

    def add(self, rows):
        for row in rows:
            self.w.writerow(
                {k: json.dumps(v) if isinstance(v, (list, tuple)) else v for k, v in row.items()}
            )
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self):
        self.f.close()


def _columns(cfg: SweepConfig, cells) -> list[str]:
    params = list(dict.fromkeys(k for c in cells for k in c))
    extra = [
        "status",
        *[m for m in cfg.metrics if m != "status"],
        "rel_error",
        "train_loss",
        "test_loss",
        "lr",
        "recovered",
        "error",
    ]
    return ["cell", *params, *dict.fromkeys(extra)]


def read_results(path: str) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
