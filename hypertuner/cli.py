"""The ``hypertuner`` command: ``python -m hypertuner`` or the ``hypertuner`` console script.

Each feature module registers its own subcommands through a function named in
``_COMMAND_PROVIDERS``; the function adds parsers to the subparsers object and sets
``handler=callable(options) -> int`` on each. A subcommand that takes free-form arguments (like
``explain``'s ``--config`` and ``key=value``) also sets ``takes_extra=True`` and reads them from
``options.extra``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from .errors import HypertunerError

__all__ = ["main"]

_COMMAND_PROVIDERS = (
    "hypertuner.cli:_add_explain",
    "hypertuner._runs_cli:add_commands",
    "hypertuner._sweep_cli:add_commands",
    "hypertuner.storage:add_commands",
    "hypertuner.ui.server:add_commands",
)


class UsageError(Exception):
    """A command line that does not parse (argparse's complaint, on one line)."""


class Parser(argparse.ArgumentParser):
    """argparse, with errors raised as :class:`UsageError` so ``main`` prints them on one line."""

    def error(self, message: str) -> NoReturn:
        text = message[:1].upper() + message[1:]
        raise UsageError(text.rstrip(".") + ".")


def add_storage_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--storage DIR`` (default: ``$HYPERTUNER_STORAGE`` or ``./storage``) to ``parser``."""
    parser.add_argument(
        "--storage",
        metavar="DIR",
        default=None,
        help="the storage folder (default: $HYPERTUNER_STORAGE or ./storage)",
    )


def _add_explain(sub: Any) -> None:
    explain = sub.add_parser(
        "explain",
        help="show each config key's final value and which layer set it",
        description="Resolve --config files and key=value overrides as parse() would, and show "
        "where each value comes from. Nothing is written.",
    )
    explain.set_defaults(handler=_explain, takes_extra=True)


def _explain(options: argparse.Namespace) -> int:
    from .config import explain_text, resolve

    res = resolve(list(options.extra), prog="hypertuner explain")
    print(explain_text(res))
    return 0


def _build() -> Parser:
    parser = Parser(prog="hypertuner", description="Compare and manage hypertuner runs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for provider in _COMMAND_PROVIDERS:
        module_name, _, function = provider.partition(":")
        getattr(importlib.import_module(module_name), function)(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hypertuner`` command on ``argv`` (default ``sys.argv[1:]``); return its exit code.

    Bad input prints one ``hypertuner: error: ...`` line on stderr and returns 2.

    Example:
        >>> main(["explain", "+lr=0.1"])
        key  value  set by
        lr   0.1    command line '+lr=0.1'
        0
    """
    parser = _build()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        options, extra = parser.parse_known_args(args)
        if options.command is None:
            parser.print_help()
            return 2
        if extra and not getattr(options, "takes_extra", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        options.extra = extra
        return int(options.handler(options))
    except (HypertunerError, UsageError) as err:
        print(f"hypertuner: error: {err}", file=sys.stderr)
        return 2
