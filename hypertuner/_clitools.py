"""Shared pieces of the ``hypertuner`` command: the parser class and the ``--storage`` option.

Each command group (``_runs_cli``, ``_sweep_cli``, ``_storage_cli``, ``ui.server``) builds its
subcommands with these; :mod:`hypertuner.cli` puts them together and turns errors into one line.

Example:
    >>> parser = Parser(prog="demo")
    >>> add_storage_option(parser)
    >>> parser.parse_args(["--storage", "runs"]).storage
    'runs'
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from .errors import UsageError

__all__ = ["Parser", "add_storage_option"]


class Parser(argparse.ArgumentParser):
    """argparse, with its complaints raised as :class:`~hypertuner.errors.UsageError` (printed on
    one stderr line by ``hypertuner.cli.main``) rather than printed with the usage.

    Example:
        >>> try:
        ...     Parser(prog="demo").parse_args(["--nope"])
        ... except UsageError as err:
        ...     print(err)
        Unrecognized arguments: --nope.
    """

    def error(self, message: str) -> NoReturn:
        text = message[:1].upper() + message[1:]
        raise UsageError(text.rstrip(".") + ".")


def add_storage_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--storage DIR`` (default: ``$HYPERTUNER_STORAGE`` or ``./storage``) to ``parser``.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_storage_option(parser)
        >>> parser.parse_args([]).storage is None
        True
    """
    parser.add_argument(
        "--storage",
        metavar="DIR",
        default=None,
        help="the storage folder (default: $HYPERTUNER_STORAGE or ./storage)",
    )
