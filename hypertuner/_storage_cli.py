"""``hypertuner pull`` and ``hypertuner push``: runs to and from a backup URL (see
:mod:`hypertuner.storage`).
"""

from __future__ import annotations

import argparse
from typing import Any

from . import storage
from ._clitools import add_storage_option

__all__ = ["add_commands"]


def add_commands(sub: Any) -> None:
    """Add ``hypertuner pull`` and ``hypertuner push`` to the subparsers ``sub``.

    Example:
        >>> from hypertuner.cli import main
        >>> main(["push", "nope", "memory://bucket", "--storage", "/nonexistent-doc"])
        2
    """
    pull_parser = sub.add_parser(
        "pull",
        help="copy a backed-up run into the local storage folder",
        description="Copy the run at URL (<backup url>/<run>, e.g. s3://bucket/runs/baseline) into "
        "storage/<run>/.",
    )
    pull_parser.add_argument("url", metavar="URL")
    pull_parser.add_argument(
        "--force", action="store_true", help="overwrite a local run of that name"
    )
    add_storage_option(pull_parser)
    pull_parser.set_defaults(handler=_pull_command)

    push_parser = sub.add_parser(
        "push",
        help="copy a local run to a backup URL",
        description="Copy storage/<run>/ to URL/<run>/ (new and changed files).",
    )
    push_parser.add_argument("run", metavar="RUN")
    push_parser.add_argument("url", metavar="URL")
    add_storage_option(push_parser)
    push_parser.set_defaults(handler=_push_command)


def _pull_command(options: argparse.Namespace) -> int:
    target = storage.pull(options.url, options.storage, force=options.force)
    count = sum(1 for p in target.rglob("*") if p.is_file())
    print(f"Pulled run {target.name!r} ({count} files) into {str(target)!r}.")
    return 0


def _push_command(options: argparse.Namespace) -> int:
    count = storage.push(options.run, options.url, options.storage)
    print(
        f"Pushed run {options.run!r} ({count} files) to "
        f"{options.url.rstrip('/') + '/' + options.run!r}."
    )
    return 0
