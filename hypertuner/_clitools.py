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
from typing import Any, NoReturn

from .errors import UsageError, suggest

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
        raise UsageError(text.rstrip(".") + ("" if text.endswith("?") else "."))

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        # A misspelt command or choice: argparse's own refusal, with the nearest name added.
        choices = action.choices
        if choices is not None and isinstance(value, str) and value not in choices:
            close = suggest(value, [str(c) for c in choices], n=1)
            if close:
                shown = ", ".join(repr(str(c)) for c in choices)
                name = argparse._get_action_name(action)
                self.error(
                    f"argument {name}: invalid choice: {value!r} (choose from {shown}). "
                    f"Did you mean {close[0]!r}?"
                )
        super()._check_value(action, value)

    def unrecognized(self, extra: list[str], command: str | None) -> NoReturn:
        """Refuse ``extra`` (arguments no option took), naming the nearest option of
        ``command`` (a subcommand's) or of this parser."""
        options: list[str] = list(self._option_string_actions)
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and command in action.choices:
                options = list(action.choices[command]._option_string_actions)
        hint = ""
        flags = [t.split("=", 1)[0] for t in extra if t.startswith("--")]
        close = suggest(flags[0], options, n=1) if flags else []
        if close:
            hint = f" Did you mean {close[0]!r}?"
        self.error(f"unrecognized arguments: {' '.join(extra)}.{hint}")


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
