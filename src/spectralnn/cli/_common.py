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
import stat
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
        raise UsageError(
            f"--widths must be comma-separated positive ints like 2,2,2,2; got {text!r}"
        )
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


def check_real(
    value: float | None,
    flag: str,
    *,
    low: float = 0.0,
    strict: bool = False,
    high: float = math.inf,
) -> float | None:
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
    if not isinstance(path, str) or not path.strip():
        raise UsageError(f"{flag} must name a folder; got {path!r}")
    _check_writable_ancestor(os.path.abspath(path), path, flag)
    return path


def _check_writable_ancestor(head: str, path: str, flag: str) -> None:
    """The nearest existing folder at or above ``head`` must be a writable folder (what will
    hold ``path``, or the folders to be created for it)."""
    while not os.path.exists(head):
        head = os.path.dirname(head)
    if not os.path.isdir(head):
        raise UsageError(f"{flag} {path!r}: {head!r} exists and is not a folder")
    if not os.access(head, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path!r}: the folder {head!r} is not writable")


def check_out_file(
    path: str, suffix: str = "", flag: str = "--out", create_folder: bool = False
) -> str:
    """An output file: a regular file (replaced) or a new name in a writable folder (with
    ``create_folder``, one that will be created); refused up front: '', a folder, a device
    (``/dev/null``), a pipe, a socket."""
    if not isinstance(path, str) or not path.strip():
        raise UsageError(f"{flag} must name a file; got {path!r}")
    if suffix and not path.endswith(suffix):
        raise UsageError(f"{flag} must name a {suffix} file; got {path!r}")
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        raise UsageError(f"{flag} {path!r} is a folder; give a file name")
    if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
        raise UsageError(
            f"{flag} {path!r} exists and is not a regular file (a device, pipe or "
            "socket); refusing to replace it"
        )
    head = os.path.dirname(os.path.abspath(path))
    if not create_folder and not os.path.isdir(head):
        raise UsageError(f"{flag} {path!r}: the folder {head!r} does not exist")
    _check_writable_ancestor(head, path, flag)
    return path


def _same_file(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def check_outputs(outputs, inputs=(), flag: str = "--out") -> list[str]:
    """Every file a command will write, checked before any work.

    ``outputs``: the main output first, then its side files (paths, or ``(label, path)``
    pairs); ``inputs``: the files it reads.  Each output must be a regular file or a new name
    in a writable folder (:func:`check_out_file`), none may be an input (not even through a
    symlink or hard link), and no two outputs may be the same file.
    """
    pairs = [(o if isinstance(o, tuple) else (None, o)) for o in outputs]
    main = pairs[0][1]
    seen: list[str] = []
    for label, path in pairs:
        check_out_file(
            path,
            "",
            flag if path == main else f"{label or 'the side file'} of {flag} {main!r}:",
            create_folder=True,
        )
        for inp in inputs:
            if inp is not None and _same_file(path, inp):
                where = "" if path == main else f" would write {path!r}, which"
                raise UsageError(
                    f"{flag} {main!r}{where} is the input {inp!r}; choose another "
                    f"{flag} (the input is never overwritten)"
                )
        for other in seen:
            if _same_file(path, other):
                raise UsageError(
                    f"{flag} {main!r}: two outputs would both write {path!r}; choose another {flag}"
                )
        seen.append(path)
    return seen


# ---------------------------------------------------------------------- size budget, CLI side


def add_size_flag(p) -> None:
    p.add_argument(
        "--no-size-check",
        action="store_true",
        help="skip the memory/time estimate that refuses oversized arguments "
        "(limits: SPECTRALNN_MEMORY_LIMIT, SPECTRALNN_TIME_LIMIT)",
    )


def max_bytes(args) -> float | None:
    """``math.inf`` with ``--no-size-check``, else None (the default budget)."""
    return math.inf if getattr(args, "no_size_check", False) else None


def check_size(args, flag: str, value, nbytes: float = 0.0, seconds: float = 0.0) -> None:
    """Refuse ``flag value`` when its estimated memory or run time exceeds the budget
    (SPECTRALNN_MEMORY_LIMIT / SPECTRALNN_TIME_LIMIT; ``--no-size-check`` skips the check)."""
    from .._validation import human_bytes, human_seconds, memory_limit, time_limit

    if getattr(args, "no_size_check", False):
        return
    limit = memory_limit()
    if nbytes > limit:
        raise UsageError(
            f"{flag} {value}: needs about {human_bytes(nbytes)} of memory "
            f"(estimate), over the limit of {human_bytes(limit)}; use a smaller "
            "value, or set SPECTRALNN_MEMORY_LIMIT or --no-size-check"
        )
    tlimit = time_limit()
    if seconds > tlimit:
        raise UsageError(
            f"{flag} {value}: would take about {human_seconds(seconds)} "
            f"(estimate), over the limit of {human_seconds(tlimit)}; use a smaller "
            "value, or set SPECTRALNN_TIME_LIMIT or --no-size-check"
        )


MAX_STEPS = 10**7
"""Largest step count of ``complete --max-steps`` (its recipe trains a few runs of this)."""


def check_steps(value: int, flag: str = "--max-steps", high: int = MAX_STEPS) -> int:
    if value < 1 or value > high:
        raise UsageError(f"{flag} must be an integer in [1, {high:,}]; got {value}")
    return value


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
    ``recover.png`` and ``metrics.json`` (``meta`` plus the versions); an error leaves the
    old set whole (:func:`spectralnn._io.write_together`)."""
    from .. import _io
    from ..plotting import save_figure

    with output_dir(out), _io.write_together():  # all of them, or none
        for name, X in arrays.items():
            _io.write_npz(os.path.join(out, f"X_{name}.npz"), X=X)
        save_figure(fig, os.path.join(out, "recover.png"))
        _io.write_json(os.path.join(out, "metrics.json"), {**meta, "versions": _io.provenance()})


def say(msg: str) -> None:
    """Progress, notes and warnings: standard error."""
    print(msg, file=sys.stderr)


def result(msg: str) -> None:
    """A command's results (what it measured, what it wrote): standard output, as
    ``spectralnn complete`` prints its summary."""
    print(msg, file=sys.stdout, flush=True)
