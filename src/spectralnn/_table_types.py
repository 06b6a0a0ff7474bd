"""The :class:`Table` that ``_tabular`` reads and writes, :class:`TableError`, and the parsing of
one cell (a number, a missing token, or text)."""

from __future__ import annotations

import dataclasses

import numpy as np

from .errors import InputError

FORMATS = ("csv", "tsv", "npy", "triplets")
MISSING = {"", "nan", "na", "n/a", "null", "none", "?"}  # compared lower-cased: NA, NaN, N/A


class TableError(InputError):
    """An unreadable or malformed input matrix; the message names the line and column."""


@dataclasses.dataclass
class Table:
    """A read matrix (NaN = missing) and what is needed to write its completion back alike."""

    values: np.ndarray
    fmt: str
    delimiter: str = ","
    header: list | None = None  # column labels (a text matrix) or the triplet header
    index: list | None = None  # row labels
    corner: str = ""  # header cell above the index column
    row_labels: list | None = None  # triplets: label of each matrix row / column
    col_labels: list | None = None


def _number(cell: str):
    """``float`` for a number, ``nan`` for a missing token, None for text."""
    s = cell.strip()
    if s.lower() in MISSING:
        return float("nan")
    try:
        v = float(s)
    except ValueError:
        return None
    return v


def _is_text(cell: str) -> bool:
    return _number(cell) is None
