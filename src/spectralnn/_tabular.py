"""Readers and writers of partially observed matrices for ``spectralnn complete``.

Formats: a delimited text matrix (CSV, TSV; an empty cell, ``NaN``, ``NA``, ``N/A``, ``null`` or
``?`` is a missing entry; an optional header row and index column), a ``.npy`` 2-D array (NaN =
missing; never unpickled) and long-format triplets ``row,col,value`` (one observed entry per line,
as rating data usually comes; detected from a header such as ``user,item,rating`` or flagged).
Errors name the line and column (1-based) and raise :class:`TableError` (an ``InputError``).

The :class:`Table` type and cell parsing live in ``_table_types``, the triplet reader in
``_table_triplets``; their names are re-exported here.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from ._io import atomic_write
from ._table_triplets import _COL_NAMES as _COL_NAMES
from ._table_triplets import _ROW_NAMES as _ROW_NAMES
from ._table_triplets import _is_triplet_header, _read_triplets
from ._table_triplets import _labels as _labels
from ._table_types import FORMATS, Table, TableError, _is_text, _number
from ._table_types import MISSING as MISSING

__all__ = ["FORMATS", "Table", "TableError", "read_table", "write_table"]

_LARGEST = 1e150
_ID_NAMES = {
    "id",
    "user",
    "users",
    "item",
    "items",
    "row",
    "rows",
    "index",
    "idx",
    "key",
    "name",
    "uid",
    "iid",
}


def _rows(path: str, delimiter: str):
    """``[(line_number, [cells])]`` of the non-blank lines; in a one-column file (no delimiter
    on the first non-blank line) a blank line between rows is a row with a missing entry."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise TableError(f"{path}: not a text file (use .npy for binary arrays)") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():  # trailing blank lines end the file
        lines.pop()
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise TableError(f"{path}: the file is empty")
    one_column = len(next(csv.reader([first], delimiter=delimiter))) == 1
    out, started = [], False
    for lineno, line in enumerate(lines, 1):
        if line.strip():
            started = True
            out.append((lineno, next(csv.reader([line], delimiter=delimiter))))
        elif one_column and started:
            out.append((lineno, [""]))
    return out


def _delimiter(path: str, fmt: str | None) -> str:
    if fmt == "tsv" or os.path.splitext(path)[1].lower() in (".tsv", ".tab"):
        return "\t"
    if fmt == "csv":
        return ","
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        first = f.readline()
    return "\t" if "\t" in first else ";" if ";" in first and "," not in first else ","


def read_table(
    path, *, fmt: str | None = None, header: bool | None = None, index_col: bool | None = None
) -> Table:
    """Read ``path`` (format from ``fmt`` or the extension/content; header row and index column
    detected unless given)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise TableError(f"INPUT {path!r}: no such file")
    if fmt is not None and fmt not in FORMATS:
        raise TableError(f"--format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if fmt == "npy" or (fmt is None and path.lower().endswith(".npy")):
        return _observed(path, _read_npy(path))
    delim = _delimiter(path, fmt)
    rows = _rows(path, delim)
    if fmt == "triplets" or (fmt is None and _is_triplet_header(rows[0][1])):
        return _observed(path, _read_triplets(path, rows, delim, header))
    return _observed(path, _read_matrix(path, rows, delim, header, index_col))


def _observed(path: str, table: Table) -> Table:
    """A matrix with at least one entry, at least one of them observed and every value small
    enough that its square is finite."""
    v = table.values
    if v.size == 0:
        raise TableError(
            f"INPUT {path!r} has no entries (shape {v.shape[0]}x{v.shape[1]}); nothing to complete"
        )
    obs = ~np.isnan(v)
    if not obs.any():
        raise TableError(
            f"INPUT {path!r} has no observed entry: all {v.size} entries are "
            "missing; nothing to complete from"
        )
    big = float(np.abs(v[obs]).max())
    if big > _LARGEST:
        raise TableError(
            f"INPUT {path!r} holds a value of magnitude {big:g}, beyond "
            f"{_LARGEST:g} (squares overflow); rescale the data"
        )
    return table


def _read_npy(path: str) -> Table:
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - bad magic, pickles, truncation: "not a .npy"
        raise TableError(f"{path}: not a readable .npy array ({exc})") from None
    if arr.ndim != 2 or arr.dtype.kind not in "fiub":
        raise TableError(
            f"{path}: a .npy input must be a 2-D numeric array; got shape "
            f"{arr.shape}, dtype {arr.dtype}"
        )
    arr = arr.astype(np.float64)
    if np.isinf(arr).any():
        r, c = np.argwhere(np.isinf(arr))[0]
        raise TableError(f"{path}: entry ({r}, {c}) is infinite; use NaN for a missing entry")
    return Table(arr, "npy")


def _read_matrix(path, rows, delim, header, index_col) -> Table:
    first = rows[0][1]
    if header is None:  # labels: some text and no number after the corner cell
        rest = first[1:] if len(first) > 1 else first
        header = any(_is_text(c) for c in rest) and not any(
            _number(c) is not None and _number(c) == _number(c) for c in rest
        )
    body = rows[1:] if header else rows
    if not body:
        raise TableError(f"{path}: no data rows after the header")
    if index_col is None:  # every row starts with a label, or pandas' empty corner cell
        index_col = all(_is_text(cells[0]) for _, cells in body) or bool(
            header and first[0].strip() == "" and len(first) > 1
        )
        if not index_col and header and len(first) > 1 and _id_like(first[0]):
            index_col = _id_column(path, body, first[0])
    width = len(body[0][1])
    for lineno, cells in ([rows[0]] if header else []) + body:
        if len(cells) != width:
            raise TableError(
                f"{path} line {lineno}: {len(cells)} fields, expected {width} "
                f"(as on line {body[0][0]}); ragged rows"
            )
    start = 1 if index_col else 0
    if width - start < 1:
        raise TableError(f"{path}: no value columns (only an index column)")
    values = np.empty((len(body), width - start))
    for i, (lineno, cells) in enumerate(body):
        for j, cell in enumerate(cells[start:]):
            v = _number(cell)
            if v is None or v in (float("inf"), float("-inf")):
                raise TableError(
                    f"{path} line {lineno}, column {j + start + 1}: {cell!r} is "
                    "not a finite number (use an empty cell or NaN for missing)"
                )
            values[i, j] = v
    return Table(
        values,
        "tsv" if delim == "\t" else "csv",
        delim,
        [c.strip() for c in first[start:]] if header else None,
        [cells[0].strip() for _, cells in body] if index_col else None,
        first[0].strip() if header and index_col else "",
    )


def _id_like(name: str) -> bool:
    """A header such as ``id``, ``user``, ``movie_id``, ``userId``: row labels, not data."""
    n = name.strip().lower()
    return n in _ID_NAMES or n.endswith(("_id", " id", "-id", "id")) and len(n) <= 32


def _id_column(path, body, name) -> bool:
    """A first column headed like an id is the index when its values are integers, unique and
    complete; with a missing or repeated id it is ambiguous (never filled in as data)."""
    cells = [(lineno, c[0].strip()) for lineno, c in body]
    for lineno, c in cells:
        v = _number(c)
        if v is None or np.isnan(v):
            raise TableError(
                f"{path} line {lineno}, column 1: {name.strip()!r} looks like an id "
                f"column but this row has {repr(c) if v is None else 'no id'}; give "
                "--index-col (labels) or --no-index-col (data)"
            )
        if v != round(v):
            return False
    if len({float(c) for _, c in cells}) != len(cells):
        raise TableError(
            f"{path}: column 1 {name.strip()!r} looks like an id column but its "
            "values repeat; give --index-col (labels) or --no-index-col (data)"
        )
    return True


def _fmt(v: float) -> str:
    return repr(float(v))


def write_table(path, table: Table, values: np.ndarray) -> str:
    """Write ``values`` (the completed matrix) to ``path`` in ``table``'s format, atomically."""
    values = np.asarray(values, dtype=np.float64)
    if table.fmt == "npy":
        return atomic_write(path, lambda f: np.save(f, values, allow_pickle=False))

    def w(f):
        out = csv.writer(f, delimiter=table.delimiter, lineterminator="\n")
        if table.fmt == "triplets":
            if table.header is not None:
                out.writerow(table.header)
            for i, r in enumerate(table.row_labels):
                for j, c in enumerate(table.col_labels):
                    out.writerow([r, c, _fmt(values[i, j])])
            return
        if table.header is not None:
            out.writerow(([table.corner] if table.index is not None else []) + table.header)
        for i, row in enumerate(values):
            lead = [table.index[i]] if table.index is not None else []
            out.writerow(lead + [_fmt(v) for v in row])

    return atomic_write(path, w, text=True)
