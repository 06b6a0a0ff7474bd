"""The ``spectralnn`` command.

Examples::

    spectralnn make-problem gaussian --shape 20x20 --rank 2 --measurements 160 --out p.npz
    spectralnn fit p.npz --model snn --widths 1 --init identity --init-scale 1e-3 \\
        --lr 0.1 --steps 8000 --out run/
    spectralnn recover camera --fraction 0.6 --out rec/

Exit codes: 0 success, 2 bad input (one line naming the argument), 1 internal error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ._common import UsageError

__all__ = ["build_parser", "main", "UsageError"]

# One line per subcommand: a module of this package with ``NAME``, ``add_parser(sub)`` and
# ``run(args)``.
COMMAND_MODULES = (
    "make_problem",
    "fit",
    "recover",
    "theory_check",
    "reproduce",
    "sweep",
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _commands()[args.command].run(args)
    except (UsageError, ValueError, TypeError, FileNotFoundError) as exc:
        if args.debug:
            raise
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"spectralnn {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spectralnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an internal error: say so, point at --debug
        if args.debug:
            raise
        print(f"spectralnn {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        return 1
    return 0
