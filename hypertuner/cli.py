"""The ``hypertuner`` command: ``python -m hypertuner`` or the ``hypertuner`` console script.

Each command group lives in its own module and adds its subcommands with an ``add_commands(sub)``
function: runs, show, diff, compare and board (``_runs_cli``), sweep (``_sweep_cli``), pull and
push (``_storage_cli``), ui (``ui.server``); ``explain`` is here. Each subcommand sets
``handler=callable(options) -> int``; one that takes free-form arguments (``explain``'s
``--config`` and ``key=value``) also sets ``takes_extra=True`` and reads them from
``options.extra``. Errors become exit codes here and only here.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Sequence
from typing import Any, TextIO, cast

from . import _files, _runs_cli, _storage_cli, _sweep_cli
from ._clitools import Parser
from .config import explain_text, resolve
from .errors import HypertunerError
from .ui import server as ui_server

__all__ = ["main"]


def _add_explain(sub: Any) -> None:
    explain = sub.add_parser(
        "explain",
        help="show each config key's final value and which layer set it",
        description="Resolve --config files and key=value overrides as parse() would, and show "
        "where each value comes from. Nothing is written.",
    )
    explain.set_defaults(handler=_explain, takes_extra=True)


def _explain(options: argparse.Namespace) -> int:
    res = resolve(list(options.extra), prog="hypertuner explain")
    print(explain_text(res))
    return 0


class _Version(argparse.Action):
    """``--version``: the installed version, read only when asked (importlib.metadata is slow)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from importlib import metadata

        try:
            version = metadata.version("hypertuner")
        except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
            version = "unknown"
        print(f"hypertuner {version}")
        parser.exit()


def _build() -> Parser:
    parser = Parser(prog="hypertuner", description="Compare and manage hypertuner runs.")
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    parser.add_argument(
        "--storage",
        dest="global_storage",
        metavar="DIR",
        default=None,
        help="the storage folder, before the command as after it (hypertuner --storage DIR runs)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    _add_explain(sub)
    for group in (_runs_cli, _sweep_cli, _storage_cli, ui_server):
        group.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hypertuner`` command on ``argv`` (default ``sys.argv[1:]``); return its exit code.

    Bad input prints one ``hypertuner: error: ...`` line on stderr and returns 2. Output into a
    pipe that closes early (``hypertuner runs | head``) ends quietly, as Unix tools do; output
    that cannot be written (a full disk, ``> /dev/full``) is one line on stderr and returns 1.

    Example:
        >>> main(["explain", "+lr=0.1"])
        key  value  set by
        lr   0.1    command line '+lr=0.1'
        0
    """
    parser = _build()
    args = list(sys.argv[1:] if argv is None else argv)
    output = _Output(sys.stdout)
    try:
        with contextlib.redirect_stdout(cast(TextIO, output)):
            code = _run(parser, args)
            sys.stdout.flush()  # a write error shows here, not when Python exits
        return code
    except HypertunerError as err:
        print(f"hypertuner: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        _files.silence_stdout()
        return 128 + signal.SIGPIPE  # the exit status a process killed by SIGPIPE has
    except OSError as exc:
        if exc is not output.failed:
            raise  # not our output: a bug, keep its traceback
        reason = exc.strerror or str(exc)
        print(f"hypertuner: error: Cannot write the output to stdout: {reason}.", file=sys.stderr)
        _files.silence_stdout()
        return 1


def _run(parser: Parser, args: list[str]) -> int:
    try:
        options, extra = parser.parse_known_args(args)
    except SystemExit as stop:  # --help and --version print, then stop argparse
        return int(stop.code or 0)
    if options.command is None:
        parser.print_help()
        return 2
    if extra and not getattr(options, "takes_extra", False):
        parser.unrecognized(extra, options.command)
    if options.global_storage is not None:
        if not hasattr(options, "storage"):
            parser.error(f"'hypertuner {options.command}' does not use --storage")
        if options.storage is None:  # given after the command too: that one wins
            options.storage = options.global_storage
    options.extra = extra
    return int(options.handler(options))


class _Output:
    """``sys.stdout`` while a command runs: the same stream, remembering the error a write or
    flush raised, so that :func:`main` tells a failed output (a full disk) from a bug."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.failed: OSError | None = None

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except OSError as exc:
            self.failed = exc
            raise

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as exc:
            self.failed = exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
