"""``spectralnn complete --predict PAIRS``: reading the row,col pairs of PAIRS as indices into
INPUT (labels of a triplet file, a labelled matrix's index column and header, else 0-based
positions)."""

from __future__ import annotations

import csv

import numpy as np

from ._common import UsageError

ROW_NAMES = {"row", "rows", "i", "user", "user_id", "userid", "r", "u", "uid"}
COL_NAMES = {
    "col",
    "cols",
    "column",
    "j",
    "item",
    "item_id",
    "itemid",
    "movie",
    "movie_id",
    "movieid",
    "c",
    "i",
    "iid",
}


def _id_maps(table):
    """Row and column id -> index maps of the input (None: ids are 0-based positions)."""
    if table.fmt == "triplets":
        rows, cols = table.row_labels, table.col_labels
    else:
        rows, cols = table.index, table.header

    def as_map(labels):
        return None if labels is None else {str(lab).strip(): i for i, lab in enumerate(labels)}

    return as_map(rows), as_map(cols)


def _resolve(text: str, ids: dict | None, n: int) -> int | None:
    if ids is None:
        try:
            k = int(text)
        except ValueError:
            return None
        return k if 0 <= k < n else None
    if text in ids:
        return ids[text]
    try:  # "07" and "7" name the same integer id
        return ids.get(str(int(text)))
    except ValueError:
        return None


def _pair_delimiter(first_line: str) -> str:
    if "\t" in first_line:
        return "\t"
    return ";" if ";" in first_line and "," not in first_line else ","


def _is_pair_header(cells, table) -> bool:
    names = [c.strip().lower() for c in cells[:2]]
    known = (
        [str(h).strip().lower() for h in (table.header or [])[:2]]
        if table.fmt == "triplets"
        else [table.corner.strip().lower()]
    )
    known = [k for k in known if k]
    return names[0] in ROW_NAMES | set(known) or names[1] in COL_NAMES | set(known)


def read_pairs(path: str, table) -> dict:
    """The pairs of ``--predict PAIRS`` as indices into ``table``: ``{"rows", "cols", "text",
    "header", "delimiter"}``; an unknown id raises a UsageError naming its line."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError:
        raise UsageError(f"--predict {path!r}: not a text file of row,col lines") from None
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    if not numbered:
        raise UsageError(f"--predict {path!r}: the file is empty")
    delim = _pair_delimiter(numbered[0][1])
    row_ids, col_ids = _id_maps(table)
    d1, d2 = table.values.shape
    rows, cols, text, header = [], [], [], None
    for k, (lineno, line) in enumerate(numbered):
        cells = next(csv.reader([line], delimiter=delim))
        if len(cells) < 2:
            raise UsageError(
                f"--predict {path!r} line {lineno}: {len(cells)} field, expected row{delim}col"
            )
        r_txt, c_txt = cells[0].strip(), cells[1].strip()
        r, c = _resolve(r_txt, row_ids, d1), _resolve(c_txt, col_ids, d2)
        if k == 0 and (r is None or c is None) and _is_pair_header(cells, table):
            header = [r_txt, c_txt]
            continue
        for what, got, txt in (("row", r, r_txt), ("column", c, c_txt)):
            if got is None:
                raise UsageError(
                    f"--predict {path!r} line {lineno}: unknown {what} id {txt!r} (not in INPUT)"
                )
        rows.append(r)
        cols.append(c)
        text.append((r_txt, c_txt))
    if not rows:
        raise UsageError(f"--predict {path!r}: no row,col pairs after the header")
    return {
        "rows": np.asarray(rows, dtype=np.int64),
        "cols": np.asarray(cols, dtype=np.int64),
        "text": text,
        "header": header,
        "delimiter": delim,
    }
