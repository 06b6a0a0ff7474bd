"""The ``spectralnn`` command.

Examples::

    spectralnn complete ratings.csv --out completed.csv
    spectralnn recover photo.png --mask mask.png --out fixed/
    spectralnn make-problem gaussian --shape 20x20 --rank 2 --measurements 160 --out p.npz
    spectralnn fit p.npz --model snn --widths 1 --init identity --init-scale 1e-3 \\
        --lr 0.1 --steps 8000 --out run/
    spectralnn recover camera --fraction 0.6 --out rec/

Exit codes: 0 success; 2 bad input (one line naming the flag, nothing written); 1 internal
error (rerun with --debug for the traceback); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ..errors import InputError, InputTypeError
from ._common import UsageError

__all__ = ["UsageError", "build_parser", "main"]

# One line per subcommand: its name, the module of this package that implements it (with
# ``NAME``, ``add_parser(sub)``, ``validate(args) -> job`` (checks everything, writes nothing) and
# ``run(args, job)``; see ``_common``) and its one-line help.  Only the module of the command
# being run is imported: the others (some import torch at their top) cost nothing, so
# ``spectralnn complete --help`` or a missing input file answers in a fraction of a second.
COMMANDS = {
    "make-problem": ("make_problem", "generate a sensing problem (.npz)"),
    "fit": ("fit", "train a model on a problem file"),
    "recover": ("recover", "recover or inpaint an image"),
    "theory-check": ("theory_check", "check the paper's claims on random problems"),
    "reproduce": ("reproduce", "reproduce the paper's Figures 2-5"),
    "sweep": ("sweep", "run a grid of runs (phase transitions)"),
    "complete": ("complete", "complete a partially observed matrix (NaN = missing)"),
}
COMMAND_MODULES = tuple(module for module, _ in COMMANDS.values())


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors: one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _command(name: str):
    return importlib.import_module(f"{__name__}.{COMMANDS[name][0]}")


def _commands() -> dict:
    """Every subcommand's module, by name (imports them all)."""
    return {name: _command(name) for name in COMMANDS}


def _chosen(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first word that is not an option)."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(only: str | None | bool = True) -> argparse.ArgumentParser:
    """The argument parser: every subcommand in full (``only=True``, the default), or only the
    subcommand ``only`` in full and the others as one-line stubs (``only=None``: all stubs),
    which imports nothing but the chosen command's module."""
    parser = _Parser(
        prog="spectralnn",
        description="Spectral Neural Networks and non-linear matrix sensing.",
        epilog=__doc__.split("Examples::", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"spectralnn {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (_, line) in COMMANDS.items():
        if only is True or only == name:
            _command(name).add_parser(sub)
        else:
            sub.add_parser(name, help=line)
    return parser


def _is_bad_input(exc: BaseException, validating: bool) -> bool:
    if isinstance(exc, (InputError, InputTypeError)):
        return True
    return validating and isinstance(exc, (ValueError, TypeError, OSError))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code.

    0 success; 2 the user's bad input (one line naming the flag or argument, nothing written);
    1 an internal error (``--debug`` shows the traceback); 130 Ctrl-C.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only=_chosen(argv))
    args = parser.parse_args(argv)
    cmd, where = _command(args.command), f"spectralnn {args.command}"
    validating = True
    try:
        job = cmd.validate(args)
        validating = False
        cmd.run(args, job)
    except KeyboardInterrupt:
        hint = getattr(cmd, "resume_hint", lambda a: None)(args)
        print(f"{where}: interrupted" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        if _is_bad_input(exc, validating):
            print(f"{where}: error: {_first_line(exc)}", file=sys.stderr)
            return 2
        if isinstance(exc, OSError):  # the machine, not the code: disk full, permissions
            print(f"{where}: error: {exc}", file=sys.stderr)
            return 1
        print(
            f"{where}: internal error: {type(exc).__name__}: {_first_line(exc)} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
    return 0
