"""The script's front door: :func:`parse` and :class:`Args`.

``parse()`` reads the command line, resolves the config layers (:func:`hypertuner.config.resolve`:
defaults, ``--config`` files, ``key=value`` overrides), starts the run through the one path
(:func:`hypertuner.start_run`), and returns the run's config as :class:`Args`, which is also the
base scope of ``param_scope`` and ``@auto_param``.

Example:
    >>> import tempfile
    >>> args = parse(["lr=0.01"], defaults={"lr": 0.1}, name="front", storage=tempfile.mkdtemp())
    >>> args.lr
    0.01
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from . import _files, scope
from ._view import ConfigView
from .config import Resolution, explain_text, help_text, resolve
from .errors import HypertunerError
from .run import recall_note, saved_config, start_run

__all__ = ["Args", "parse", "parse_known"]


class Args(ConfigView):
    """The resolved config: attributes (``args.model.layers``), items, ``in``, iteration.

    ``hypertuner.Args()`` is the same as :func:`hypertuner.parse`: it reads ``sys.argv`` and
    starts the run. Sections are ``Args`` too; lists stay lists. Args are read-only: change a
    value in a config file or on the command line. ``to_dict()`` exports plain data.

    Example:
        >>> args = Args.from_dict({"lr": 0.1, "model": {"layers": 4}})
        >>> args.model.layers, args["model.layers"], "lr" in args, list(args)
        (4, 4, True, ['lr', 'model'])
        >>> args.to_dict()
        {'lr': 0.1, 'model': {'layers': 4}}
    """

    __slots__ = ()

    def __new__(cls, argv: list[str] | None = None, **options: Any) -> Args:
        return parse(argv, **options)

    def __init__(self, argv: list[str] | None = None, **options: Any) -> None:
        """Parse the command line (see :func:`hypertuner.parse`)."""


def parse_known(
    argv: list[str] | None = None,
    *,
    defaults: Any = None,
    name: str | None = None,
    storage: str | None = None,
) -> tuple[Args, list[str]]:
    """Like :func:`parse` with ``strict=False``, also returning the tokens it left alone.

    Example:
        >>> import tempfile
        >>> args, rest = parse_known(["--epochs", "3", "lr=0.1"], defaults={"lr": 0.0},
        ...                          storage=tempfile.mkdtemp())
        >>> args.lr, rest
        (0.1, ['--epochs', '3'])
    """
    return _parse(argv, defaults=defaults, strict=False, name=name, storage=storage)


def parse(
    argv: list[str] | None = None,
    *,
    defaults: Any = None,
    strict: bool = True,
    name: str | None = None,
    storage: str | None = None,
) -> Args:
    """Resolve the config from the command line and start the current run.

    Reads ``--config PATH`` (repeatable; JSON, YAML or ``.cfg``), ``key=value`` overrides (dotted
    keys; ``+key=value`` adds a new key), ``--name``/``--storage`` (shorthands for ``run.name`` and
    ``run.storage``) and ``--explain`` (print where each value comes from, then exit).

    Args:
        argv: the arguments; ``None`` reads ``sys.argv[1:]`` and turns a bad input into one line
            on stderr and exit status 2.
        defaults: the lowest layer, a dict or a dataclass (whose field types are then checked).
        strict: refuse unknown ``--flags`` and stray tokens; ``False`` leaves them alone.
        name: the run name when neither ``--name`` nor ``run.name`` gives one.
        storage: the storage folder when neither ``--storage`` nor ``run.storage`` gives one.

    Returns:
        The resolved config as :class:`Args`; it also feeds ``param_scope`` and ``auto_param``.

    Raises:
        ConfigError: a file, override or value is wrong (the message names file, key and line).
        UnknownKeyError: an override names a key that nothing declares.
        ConfigFileNotFoundError: a ``--config`` file is missing.
        RunNameError: the run name is not a safe folder name.
        RunInUseError: another process is writing the run.

    Example:
        >>> import tempfile
        >>> defaults = {"lr": 0.1, "model": {"layers": 2}}
        >>> args = parse(["lr=0.01", "model.layers=4"], defaults=defaults,
        ...              name="doc", storage=tempfile.mkdtemp())
        >>> args.lr, args.model.layers
        (0.01, 4)
    """
    return _parse(argv, defaults=defaults, strict=strict, name=name, storage=storage)[0]


def _prog() -> str:
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"


def _parse(
    argv: list[str] | None,
    *,
    defaults: Any,
    strict: bool,
    name: str | None,
    storage: str | None,
) -> tuple[Args, list[str]]:
    from_command_line = argv is None
    tokens = sys.argv[1:] if argv is None else list(argv)
    prog = _prog()

    def recalled(settings: Mapping[str, Any]) -> Mapping[str, Any] | None:
        # The run that --name recalls declares its saved keys: 'python train.py --name=exp
        # lr=0.1' overrides exp's lr even when no default or --config file declares it.
        return saved_config(
            settings.get("name", name),
            settings.get("storage", storage),
            settings.get("resume", "recall"),
        )

    try:
        declared = scope.declared_keys()
        res = resolve(
            tokens, defaults=defaults, strict=strict, prog=prog, recall=recalled, declared=declared
        )
        if res.help:
            _print(help_text(prog, res, declared))
            raise SystemExit(0)
        if res.explain:
            _print(explain_text(res))
            raise SystemExit(0)
        for token, key, value in res.overrides:
            if key in declared:  # an @auto_param key: its value must suit the default's type
                scope.check_declared(key, value, where=f" in override {token!r}")
        return _start(res, name=name, storage=storage), res.rest
    except HypertunerError as err:
        if from_command_line:
            print(f"{prog}: error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        raise


def _print(text: str) -> None:
    """Print ``text`` to stdout; a reader that closed the pipe (``| head``) ends it quietly
    with status 141, as the ``hypertuner`` commands do."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        _files.silence_stdout()  # Python's own flush at exit must not fail again
        raise SystemExit(141) from None


def _start(res: Resolution, *, name: str | None, storage: str | None) -> Args:
    run_name: Any = res.run.get("name", name)
    if isinstance(run_name, (int, float)) and not isinstance(run_name, bool):
        run_name = str(run_name)  # '--name=2024' or 'run.name=2024' reads as a number
    run = start_run(
        res.config,
        name=run_name,
        storage=res.run.get("storage", storage),
        resume=res.run.get("resume", "recall"),
        explicit=res.explicit(),
        backup=res.run.get("backup"),
    )
    if run.recalled and run.rank == 0:
        print(recall_note(run), file=sys.stderr)
    return run.view(Args)
