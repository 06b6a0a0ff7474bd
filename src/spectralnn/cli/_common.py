"""Helpers shared by the ``spectralnn`` subcommands: argument parsing and messages."""

from __future__ import annotations

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


def check_out(path: str, flag: str = "--out") -> str:
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{flag} {path!r} exists and is not a folder")
    return path


def say(msg: str) -> None:
    print(msg, file=sys.stderr)
