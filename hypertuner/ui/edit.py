"""Editing a run's config and starting a new run from it, for the ``hypertuner ui`` page.

- :func:`check_config` compares an edited config with the run's saved one: the same keys, and
  each value of the type the saved one has (an int stays an int, a float accepts an int, a list
  of numbers stays a list of numbers). A wrong type is a :class:`~hypertuner.errors.ConfigError`
  naming the dotted key.
- :func:`launch_command` rebuilds the command line of a recorded run (``meta.json``): its
  interpreter, its script and its argv without ``--config``/``--name``/``--storage`` and the
  ``key=value`` overrides, plus the edited config file, the new name and the storage folder.
- :class:`Launcher` saves edited configs inside ``storage/.hypertuner/configs/`` and starts runs as
  subprocesses whose output goes to ``storage/.hypertuner/logs/<run>.log``.

Nothing here runs anything but the recorded script with the recorded interpreter.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _files
from .._layout import check_run_name, resolve_run, storage_root
from ..errors import ConfigError, LaunchError, RunInUseError, RunNameError

if TYPE_CHECKING:
    import subprocess

__all__ = ["Launch", "Launcher", "check_config", "launch_command"]

_STRIPPED_FLAGS = ("--config", "--name", "--storage")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a section"
    return f"a {type(value).__name__}"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _wrong(key: str, expected: str, old: Any, new: Any) -> ConfigError:
    msg = (
        f"Key {key!r} must be {expected}, as in the run's config ({old!r}), not {_kind(new)} "
        f"({new!r}). Enter {expected} for {key!r}."
    )
    return ConfigError(msg, key=key, value=new)


def _check_value(key: str, old: Any, new: Any) -> Any:
    if isinstance(old, Mapping):
        if not isinstance(new, Mapping):
            raise _wrong(key, "a section", "{...}", new)
        return check_config(old, new, prefix=f"{key}.") if old else dict(new)
    if isinstance(old, bool):
        if not isinstance(new, bool):
            raise _wrong(key, "a boolean (true or false)", old, new)
        return new
    if isinstance(old, int):
        if isinstance(new, float) and math.isfinite(new) and new.is_integer():
            return int(new)  # JSON may carry 3 as 3.0
        if not isinstance(new, int) or isinstance(new, bool):
            raise _wrong(key, "an integer", old, new)
        return new
    if isinstance(old, float):
        if not _number(new):
            raise _wrong(key, "a number", old, new)
        return float(new)
    if isinstance(old, str):
        if not isinstance(new, str):
            raise _wrong(key, "a string", old, new)
        return new
    if isinstance(old, list):
        if not isinstance(new, list):
            raise _wrong(key, "a list", old, new)
        kinds = {_element_kind(item) for item in old}
        if len(kinds) != 1 or None in kinds:
            return new  # empty, mixed or nested lists: any list
        (sample,) = {_element_kind(item): item for item in old}.values()
        if isinstance(sample, int) and any(isinstance(item, float) for item in old):
            sample = 0.0
        return [_check_value(f"{key}[{i}]", sample, item) for i, item in enumerate(new)]
    return new  # null in the saved config: any JSON value


def _element_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if _number(value):
        return "number"
    if isinstance(value, str):
        return "str"
    return None


def check_config(saved: Mapping[str, Any], edited: Any, *, prefix: str = "") -> dict[str, Any]:
    """Check ``edited`` against a run's ``saved`` config and return it with the saved types.

    Every key of ``saved`` must be present, no key may be added, and each value must have the
    type of the saved one: booleans stay booleans, integers integers (``3.0`` becomes ``3``),
    floats accept integers (``1`` becomes ``1.0``), strings stay strings, a list of numbers,
    strings or booleans stays one; a saved ``null``, an empty or mixed list or an empty section
    accepts any JSON value of its kind.

    Args:
        saved: the run's config (``config.json``).
        edited: the edited config, as decoded from JSON.
        prefix: the dotted key of ``saved`` inside a bigger config (for messages).

    Returns:
        The edited config with the saved types restored.

    Raises:
        ConfigError: a missing, added or wrong-typed key; ``key`` names it (dotted).

    Example:
        >>> check_config({"lr": 0.1, "model": {"layers": 2}}, {"lr": 1, "model": {"layers": 4}})
        {'lr': 1.0, 'model': {'layers': 4}}
        >>> check_config({"lr": 0.1}, {"lr": "fast"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        hypertuner.errors.ConfigError: Key 'lr' must be a number, as in the run's config (0.1), ...
    """
    if not isinstance(edited, Mapping):
        where = f"Section {prefix[:-1]!r}" if prefix else "The edited config"
        msg = f"{where} must be a JSON object of keys and values, not {_kind(edited)}."
        raise ConfigError(msg, key=prefix[:-1] or None, value=edited)
    out: dict[str, Any] = {}
    for key, old in saved.items():
        dotted = f"{prefix}{key}"
        if key not in edited:
            msg = (
                f"Key {dotted!r} is missing from the edited config: every key of the run's "
                "config must be given."
            )
            raise ConfigError(msg, key=dotted)
        out[key] = _check_value(dotted, old, edited[key])
    for key in edited:
        if key not in saved:
            dotted = f"{prefix}{key}"
            msg = (
                f"Key {dotted!r} is not in the run's config: the page edits the keys the run has. "
                "Add new keys in a config file, or with '+key=value' on the command line."
            )
            raise ConfigError(msg, key=dotted, value=edited[key])
    return out


def _strip_argv(argv: Sequence[str]) -> list[str]:
    """The arguments of a recorded argv (after the script) that are not config, name or storage."""
    kept: list[str] = []
    skip_next = False
    for token in argv:
        if skip_next:
            skip_next = False
            continue
        if token in _STRIPPED_FLAGS:
            skip_next = True
            continue
        if token.startswith(tuple(f"{flag}=" for flag in _STRIPPED_FLAGS)) or token == "--explain":
            continue
        if not token.startswith("-") and ("=" in token or token.startswith("+")):
            continue  # a key=value override: the edited config holds the final values
        kept.append(token)
    return kept


def launch_command(
    meta: Mapping[str, Any],
    *,
    config_path: str | os.PathLike[str],
    name: str,
    storage: str | os.PathLike[str],
) -> list[str]:
    """Return the command that starts run ``name`` like the run ``meta`` describes.

    The recorded interpreter (``meta["executable"]``) runs the recorded script
    (``meta["script"]``) with the recorded arguments, less ``--config``, ``--name``,
    ``--storage`` and ``key=value`` overrides, plus ``--config=<config_path>``,
    ``--name=<name>`` and ``--storage=<storage>``. A run started with ``python -m module``
    (``meta["module"]``) is started with ``-m module`` again.

    Raises:
        LaunchError: the record has no script or interpreter, or either no longer exists.
        RunNameError: ``name`` is not a safe run name.

    Example:
        >>> import sys
        >>> meta = {"executable": sys.executable, "script": __file__,
        ...         "argv": [__file__, "--config", "a.json", "lr=0.1", "--epochs", "3"]}
        >>> launch_command(meta, config_path="/s/c.json", name="b", storage="/s")[2:]
        ['--epochs', '3', '--config=/s/c.json', '--name=b', '--storage=/s']
    """
    check_run_name(name)
    source = meta.get("name", "the source run")
    executable, script, argv = meta.get("executable"), meta.get("script"), meta.get("argv")
    if not isinstance(script, str) or not script:
        msg = (
            f"Run {source!r} was not started from a script file (its meta.json records no script), "
            "so it cannot be launched again from the page. Save the config and run it yourself."
        )
        raise LaunchError(msg, name=source)
    if not os.path.isfile(script):
        msg = (
            f"The script of run {source!r}, {script!r}, no longer exists, so it cannot be launched "
            "again. Restore the file, or save the config and run it yourself."
        )
        raise LaunchError(msg, name=source, path=script)
    if not isinstance(executable, str) or not os.path.isfile(executable):
        msg = (
            f"The Python interpreter of run {source!r}, {executable!r}, no longer exists, so it "
            "cannot be launched again. Save the config and run it yourself."
        )
        raise LaunchError(msg, name=source, path=executable)
    recorded = [str(t) for t in argv[1:]] if isinstance(argv, list) else []
    module = meta.get("module")
    # A run started as 'python -m package.module' is started the same way again (from the
    # recorded cwd), so the package's relative imports keep working.
    entry = ["-m", module] if isinstance(module, str) and module else [script]
    return [
        executable,
        *entry,
        *_strip_argv(recorded),
        f"--config={os.fspath(config_path)}",
        f"--name={name}",
        f"--storage={os.fspath(storage)}",
    ]


@dataclass
class Launch:
    """A run started by a :class:`Launcher`: its name, command, process and log file."""

    name: str
    command: list[str]
    process: subprocess.Popen[bytes]
    log: Path
    config_path: Path
    started: float = field(default_factory=time.time)

    def returncode(self) -> int | None:
        """The exit status, or ``None`` while the process runs (polling also reaps it)."""
        return self.process.poll()

    def log_tail(self, limit: int = 4000) -> str:
        """The last ``limit`` characters of the run's output."""
        try:
            with open(self.log, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(size - limit, 0))
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""


class Launcher:
    """Save edited configs and start runs, all inside one storage folder.

    Args:
        storage: the storage folder.
        enabled: whether :meth:`launch` may start processes (``hypertuner ui --no-launch``
            turns it off; saving configs still works).

    Example:
        >>> import tempfile, hypertuner
        >>> root = tempfile.mkdtemp()
        >>> hypertuner.start_run({"lr": 0.1}, name="a", storage=root).finish()
        >>> path = Launcher(root).save_config("a", {"lr": 0.2}, "a-fast")
        >>> path.relative_to(root).as_posix(), path.read_text().split()
        ('.hypertuner/configs/a-fast.json', ['{', '"lr":', '0.2', '}'])
    """

    def __init__(
        self, storage: str | os.PathLike[str] | None = None, *, enabled: bool = True
    ) -> None:
        self.storage = storage_root(storage)
        self.enabled = enabled
        self.launches: dict[str, Launch] = {}
        self._lock = threading.Lock()

    @property
    def configs_folder(self) -> Path:
        """Where edited configs are saved: ``storage/.hypertuner/configs``."""
        return self.storage / ".hypertuner" / "configs"

    @property
    def logs_folder(self) -> Path:
        """Where launched runs' output goes: ``storage/.hypertuner/logs``."""
        return self.storage / ".hypertuner" / "logs"

    def _saved_config(self, source: str) -> tuple[Path, dict[str, Any]]:
        import json

        directory = resolve_run(source, self.storage)
        path = directory / "config.json"
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"Run file {str(path)!r} cannot be read ({exc})."
            raise ConfigError(msg, path=str(path)) from exc
        if not isinstance(saved, dict):
            msg = f"Run file {str(path)!r} does not hold a JSON object."
            raise ConfigError(msg, path=str(path))
        return directory, saved

    def save_config(self, source: str, config: Any, filename: str) -> Path:
        """Check ``config`` against run ``source``'s and write it to ``configs/<filename>.json``.

        Raises:
            RunNameError: ``source`` or ``filename`` is not a safe name.
            RunNotFoundError: there is no run ``source``.
            ConfigError: ``config`` has a missing, added or wrong-typed key.
        """
        stem = filename[:-5] if filename.endswith(".json") else filename
        try:
            check_run_name(stem)
        except RunNameError as err:
            msg = (
                f"Config file name {filename!r} is not allowed: use letters, digits, '.', '_' and "
                "'-' only (it is saved in the storage folder's .hypertuner/configs/)."
            )
            raise RunNameError(msg, name=filename) from err
        _, saved = self._saved_config(source)
        checked = check_config(saved, config)
        path = self.configs_folder / f"{stem}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        _files.write_json(path, checked)
        return path

    def free_name(self, source: str) -> str:
        """The first name ``<source>-2``, ``<source>-3``... that no run or launch uses.

        Example:
            >>> import tempfile
            >>> Launcher(tempfile.mkdtemp()).free_name("a")
            'a-2'
        """
        base, n = source, 2
        head, _, tail = source.rpartition("-")
        if head and tail.isdigit():
            base, n = head, int(tail) + 1
        while True:
            candidate = f"{base}-{n}"[:200]
            if not (self.storage / candidate).exists() and candidate not in self.launches:
                return candidate
            n += 1

    def launch(self, source: str, config: Any, name: str) -> Launch:
        """Start run ``name``: run ``source``'s script again with ``config`` (checked first).

        The config is written to ``configs/<name>.json``; the process runs in the recorded
        working folder, in a session of its own (it keeps running when the page stops), with its
        output in ``logs/<name>.log``.

        Raises:
            LaunchError: launching is turned off, or the source run's script or interpreter is gone.
            RunNameError: ``name`` is not a safe run name.
            RunInUseError: a run or a launch named ``name`` exists already.
            RunNotFoundError: there is no run ``source``.
            ConfigError: ``config`` has a missing, added or wrong-typed key.
        """
        import json
        import subprocess

        if not self.enabled:
            msg = (
                "Launching runs is turned off ('hypertuner ui --no-launch'); save the config and "
                "run it yourself, or restart the page without --no-launch."
            )
            raise LaunchError(msg, name=name)
        check_run_name(name)
        directory, saved = self._saved_config(source)
        checked = check_config(saved, config)
        meta_path = directory / "meta.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = (
                f"Run {source!r} has no readable meta.json ({exc}), so it cannot be launched again."
            )
            raise LaunchError(msg, name=source, path=str(meta_path)) from exc
        meta = {**meta, "name": source} if isinstance(meta, dict) else {"name": source}
        config_path = self.configs_folder / f"{name}.json"
        command = launch_command(meta, config_path=config_path, name=name, storage=self.storage)
        cwd = meta.get("cwd")
        if not isinstance(cwd, str) or not os.path.isdir(cwd):
            cwd = os.path.dirname(command[1])
        with self._lock:
            running = self.launches.get(name)
            if (self.storage / name).exists() or (running and running.returncode() is None):
                msg = f"Run {name!r} exists already in {str(self.storage)!r}. Choose another name."
                raise RunInUseError(msg, name=name)
            config_path.parent.mkdir(parents=True, exist_ok=True)
            _files.write_json(config_path, checked)
            self.logs_folder.mkdir(parents=True, exist_ok=True)
            log = self.logs_folder / f"{name}.log"
            env = {
                k: v
                for k, v in os.environ.items()
                if k not in ("HYPERTUNER_RUN_NAME", "HYPERTUNER_RUN_PID")
            }
            env["HYPERTUNER_STORAGE"] = str(self.storage)
            env["PYTHONUNBUFFERED"] = "1"
            with open(log, "wb") as output:
                process = subprocess.Popen(
                    command,
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=sys.platform != "win32",
                )
            started = Launch(name, command, process, log, config_path)
            self.launches[name] = started
        return started
