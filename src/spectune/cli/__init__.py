"""The ``spectune`` command line: one module per subcommand, each a thin face over the stages."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Sequence

from spectune import __version__
from spectune.cli import (
    _baseline,
    _compare,
    _data,
    _finish,
    _fit,
    _lr_find,
    _predict,
    _report,
    _tune,
    _worker,
)
from spectune.exceptions import SpectuneError

_COMMANDS = (_data, _baseline, _fit, _lr_find, _predict, _tune, _compare, _worker, _finish,
             _report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spectune",
        description="Automatic deep models for 1-D spectra, compared honestly with PLS.",
    )
    parser.add_argument("--version", action="version", version=f"spectune {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user errors print one line on stderr and exit with status 2."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.command_line = shlex.join(["spectune", *argv])  # what the report says reproduces it
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except (SpectuneError, FileNotFoundError, FileExistsError, IsADirectoryError,
            PermissionError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"spectune {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spectune {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
