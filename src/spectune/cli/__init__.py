"""The ``spectune`` command line: one module per subcommand, each a thin face over the stages.

Only the command being run is imported (with torch, Optuna and pandas behind it): ``spectune
--help`` lists the commands from the table below and answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import shlex
import sys
from collections.abc import Sequence
from typing import NoReturn

from spectune import __version__

#: command -> (module under spectune.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("_data", "export a built-in real dataset (fermentation, coffee, spectrapepper) as "
                      "CSV"),
    "check": ("_check", "read spectra (a table or instrument files) and say what was read"),
    "baseline": ("_baseline", "PLS / PLS-DA and quick references, tuned by CV on calibration "
                              "data"),
    "fit": ("_fit", "train one CNN/MLP with given settings and save it"),
    "lr-find": ("_lr_find", "LR range test: pick the initial LR (LR_max) and its floor "
                            "(LR_min)"),
    "predict": ("_predict", "predict with a saved model folder"),
    "tune": ("_tune", "tune a CNN/MLP with Optuna, stack the best with PLS and Ridge "
                      "(logistic regression for classes), test once"),
    "compare-samplers": ("_compare", "run TPE and random search on the same budget and seeds"),
    "worker": ("_worker", "join a shared study (PostgreSQL, journal) and run its trials"),
    "finish": ("_finish", "build the final model of a shared study, test once, write the "
                          "report"),
    "report": ("_report", "write DIR/report.html for a finished `spectune tune` run"),
    "transfer": ("_transfer", "move a model to a new instrument with transfer standards"),
}


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (the usage is one --help away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s options are added (all commands' when None)."""
    parser = OneLineParser(
        prog="spectune",
        description="Automatic deep models for 1-D spectra, compared honestly with PLS.",
    )
    parser.add_argument("--version", action="version", version=f"spectune {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text)
        if command in (None, name):
            importlib.import_module(f"spectune.cli.{module}").register(command_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user errors print one line on stderr and exit with status 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    try:
        args = build_parser(chosen if chosen in COMMANDS else "").parse_args(argv)
    except SystemExit as done:  # --help, --version, or a refused option (one line printed)
        return int(done.code or 0)
    args.command_line = shlex.join(["spectune", *argv])  # what the report says reproduces it
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
    )
    from spectune.exceptions import SpectuneError

    try:
        return int(args.func(args) or 0)
    except (SpectuneError, FileNotFoundError, FileExistsError, IsADirectoryError,
            NotADirectoryError, PermissionError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"spectune {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spectune {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
