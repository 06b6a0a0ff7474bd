"""Long-format triplets ``row,col,value`` (one observed entry per line, as rating data usually
comes): the header that flags them and the reader behind ``_tabular.read_table``."""

from __future__ import annotations

import numpy as np

from ._table_types import Table, TableError, _is_text, _number

_ROW_NAMES = {"row", "rows", "i", "user", "user_id", "userid", "r"}
_COL_NAMES = {"col", "cols", "column", "j", "item", "item_id", "itemid", "movie", "movie_id", "c"}


def _is_triplet_header(cells) -> bool:
    names = [c.strip().lower() for c in cells]
    return len(names) == 3 and names[0] in _ROW_NAMES and names[1] in _COL_NAMES


def _labels(raw):
    """Sorted numerically when every label is an integer, else in order of appearance."""
    uniq = list(dict.fromkeys(raw))
    try:
        return sorted(uniq, key=lambda s: int(s))
    except ValueError:
        return uniq


def _read_triplets(path, rows, delim, header) -> Table:
    if header is None:
        header = _is_triplet_header(rows[0][1]) or any(_is_text(c) for c in rows[0][1][2:])
    body = rows[1:] if header else rows
    if not body:
        raise TableError(f"{path}: no data rows after the header")
    trip = []
    for lineno, cells in body:
        if len(cells) != 3:
            raise TableError(
                f"{path} line {lineno}: {len(cells)} fields, expected 3 "
                "(row, col, value) in a triplet file; ragged rows"
            )
        r, c = cells[0].strip(), cells[1].strip()
        for col, lab in ((1, r), (2, c)):
            if lab == "":
                raise TableError(f"{path} line {lineno}, column {col}: empty label")
        v = _number(cells[2])
        if v is None or v in (float("inf"), float("-inf")):
            raise TableError(f"{path} line {lineno}, column 3: {cells[2]!r} is not a finite number")
        trip.append((lineno, r, c, v))
    row_labels, col_labels = _labels([t[1] for t in trip]), _labels([t[2] for t in trip])
    ri = {s: i for i, s in enumerate(row_labels)}
    ci = {s: i for i, s in enumerate(col_labels)}
    values = np.full((len(row_labels), len(col_labels)), np.nan)
    seen: dict = {}
    for lineno, r, c, v in trip:
        key = (ri[r], ci[c])
        if key in seen:
            raise TableError(
                f"{path} line {lineno}: duplicate entry ({r}, {c}), first on line {seen[key]}"
            )
        seen[key] = lineno
        values[key] = v
    return Table(
        values,
        "triplets",
        delim,
        [c.strip() for c in rows[0][1]] if header else None,
        row_labels=row_labels,
        col_labels=col_labels,
    )
