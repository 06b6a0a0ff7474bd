"""The ``spectralnn`` command.

Examples::

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

# One line per subcommand: a module of this package with ``NAME``, ``add_parser(sub)``,
# ``validate(args) -> job`` (checks everything, writes nothing) and ``run(args, job)``; see
# ``_common``.
COMMAND_MODULES = (
    "make_problem",
    "fit",
    "recover",
    "theory_check",
    "reproduce",
    "sweep",
    "complete",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors: one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _commands() -> dict:
    mods = [importlib.import_module(f"{__name__}.{name}") for name in COMMAND_MODULES]
    return {mod.NAME: mod for mod in mods}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="spectralnn",
        description="Spectral Neural Networks and non-linear matrix sensing.",
        epilog=__doc__.split("Examples::", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"spectralnn {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for mod in _commands().values():
        mod.add_parser(sub)
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
    parser = build_parser()
    args = parser.parse_args(argv)
    cmd, where = _commands()[args.command], f"spectralnn {args.command}"
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
        print(f"{where}: internal error: {type(exc).__name__}: {_first_line(exc)} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        return 1
    return 0
