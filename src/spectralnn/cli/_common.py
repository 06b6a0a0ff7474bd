"""Helpers shared by the ``spectralnn`` subcommands: flag parsing, checks, the output folder.

Every subcommand module defines ``NAME``, ``add_parser(sub)``, ``validate(args) -> job`` and
``run(args, job)``.  ``validate`` reads and checks every input and writes nothing; any
``ValueError``, ``TypeError`` or ``OSError`` it raises is the user's bad input (exit code 2).
``run`` does the work and writes the outputs; there only :class:`~spectralnn.errors.InputError`
(and ``InputTypeError``) count as bad input, anything else is an internal error (exit code 1).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys

from ..errors import InputError


class UsageError(InputError):
    """Bad command-line input; reported in one line with exit code 2."""


def parse_shape(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise UsageError(f"--shape must look like 20x20 (two positive ints); got {text!r}")
    return int(m.group(1)), int(m.group(2))


def parse_widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise UsageError(f"--widths must be comma-separated positive ints like 2,2,2,2; got {text!r}")
    return widths


def parse_lr(text: str) -> float | str:
    if text == "search":
        return text
    try:
        lr = float(text)
    except ValueError:
        lr = float("nan")
    if not lr > 0 or lr == float("inf"):
        raise UsageError(f"--lr must be a positive number or 'search'; got {text!r}")
    return lr


def check_int(value: int | None, flag: str, low: int = 1) -> int | None:
    """``value >= low`` (``None`` passes: the flag was not given)."""
    if value is not None and value < low:
        raise UsageError(f"{flag} must be an integer >= {low}; got {value}")
    return value


def check_real(value: float | None, flag: str, *, low: float = 0.0, strict: bool = False,
               high: float = math.inf) -> float | None:
    """A finite number in ``[low, high]`` (``(low, high]`` when ``strict``); ``None`` passes."""
    if value is None:
        return None
    ok = math.isfinite(value) and (value > low if strict else value >= low) and value <= high
    if not ok:
        lo = f"> {low:g}" if strict else f">= {low:g}"
        hi = "" if high == math.inf else f" and <= {high:g}"
        raise UsageError(f"{flag} must be a finite number {lo}{hi}; got {value}")
    return value


def check_out(path: str, flag: str = "--out") -> str:
    """An output folder: existing, or creatable (no file in the way on its path)."""
    head = os.path.abspath(path)
    while not os.path.exists(head):
        head = os.path.dirname(head)
    if not os.path.isdir(head):
        raise UsageError(f"{flag} {path!r}: {head!r} exists and is not a folder")
    if not os.access(head, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path!r}: the folder {head!r} is not writable")
    return path


def check_out_file(path: str, suffix: str, flag: str = "--out") -> str:
    if not path.endswith(suffix):
        raise UsageError(f"{flag} must name a {suffix} file; got {path!r}")
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path!r} is a folder, not a {suffix} file")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{flag} {path!r}: the folder {parent!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path!r}: the folder {parent!r} is not writable")
    return path


@contextlib.contextmanager
def output_dir(path: str):
    """Create the output folder for the work inside the block.

    If the block fails (other than by Ctrl-C, which keeps checkpoints for ``--resume``), the
    folders created here that are still empty are removed again.
    """
    created, head = [], os.path.abspath(path)
    while not os.path.exists(head):
        created.append(head)
        head = os.path.dirname(head)
    os.makedirs(path, exist_ok=True)
    try:
        yield path
    except KeyboardInterrupt:
        raise
    except BaseException:
        for folder in created:  # innermost first
            try:
                os.rmdir(folder)  # only succeeds when empty
            except OSError:
                break
        raise


def write_recovery(out: str, arrays: dict, fig, meta: dict) -> None:
    """``recover``'s outputs, written together once every model is done: ``X_<model>.npz``,
    ``recover.png`` and ``metrics.json`` (``meta`` plus the versions)."""
    from .. import _io
    from ..plotting import save_figure

    with output_dir(out):
        for name, X in arrays.items():
            _io.write_npz(os.path.join(out, f"X_{name}.npz"), X=X)
        save_figure(fig, os.path.join(out, "recover.png"))
        _io.write_json(os.path.join(out, "metrics.json"), {**meta, "versions": _io.provenance()})


def say(msg: str) -> None:
    print(msg, file=sys.stderr)
