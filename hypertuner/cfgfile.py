"""The ``.cfg`` format: INI sections of safely evaluated Python expressions, and ``HParams``.

A ``.cfg`` file is a list of ``key = value`` lines (``:`` works too) under ``[section]`` headers;
``[model] layers = 4`` is the key ``model.layers``, a dotted header ``[model.encoder]`` nests one
level deeper, and keys before the first header are top-level. Lines starting with ``#`` or ``;``
are comments, and an indented line continues the value above it.

Each value is a Python expression, evaluated here by walking its syntax tree, never by ``eval``:
literals (numbers, strings, booleans, ``None``, lists, tuples, dicts, sets), arithmetic, bitwise,
boolean and comparison operators, ``a if c else b``, and calls of ``abs``, ``bool``, ``float``,
``int``, ``len``, ``max``, ``min``, ``pow``, ``round``, ``str`` and ``sum``. A value that is one
bare word (``activation = relu``) is that word as a string. Everything else (names inside
expressions, attribute access, subscripts, other calls, lambdas, comprehensions, f-strings,
``:=``, dunder names) is refused before anything runs, and so is every result over the limits
(integers of 4096 bits, 1,000,000 elements and characters, 100 levels of nesting), checked
*before* it is computed (``9 ** 9 ** 9``, ``[0] * 10**12``).

The values are stored as JSON data, as ``config.json`` keeps them: tuples and sets become lists
(a set sorted), dict keys must be strings, and ``inf``/``nan`` are refused. Every value of the
``run`` section (``name``, ``storage``, ``resume``, ``backup``) is the text itself, never evaluated.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import _files
from ._safe_eval import _evaluate, _Refused
from .config import RUN_KEYS, Args, flatten
from .errors import ConfigError, ConfigFileNotFoundError, UnknownKeyError, suggest

__all__ = ["HParams", "read_cfg"]

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*")


def _raw_string(text: str) -> str:
    """A ``run`` setting: the text itself, without surrounding quotes or a trailing comment."""
    text = re.split(r"\s[#;]", text, maxsplit=1)[0].strip()
    if len(text) >= 2 and text[0] in ("'", '"') and text[-1] == text[0]:
        return text[1:-1]
    return text


# ---------------------------------------------------------------------------------------------
# The INI reader


def read_cfg(
    path: str, text: str, *, display: str | None = None
) -> tuple[dict[str, Any], dict[str, int]]:
    """Read the ``.cfg`` text of ``path`` into nested data and the line of each dotted key.

    Args:
        path: the file's path (used in messages when ``display`` is not given).
        text: the file's text.
        display: how messages name the file (the path as the user wrote it).

    Returns:
        ``(data, lines)``: the nested config and ``{dotted key or section: line number}``.

    Raises:
        ConfigError: a line is neither a section, a key nor a comment; a section or key is
            repeated (the message names both lines); a value is refused (file, line and key).

    Example:
        >>> data, lines = read_cfg("h.cfg", "[run]\\nname = base\\n[model]\\nlayers = 2 * 2\\n")
        >>> data, lines["model.layers"]
        ({'run': {'name': 'base'}, 'model': {'layers': 4}}, 4)
    """
    shown = display if display is not None else path
    data: dict[str, Any] = {}
    lines: dict[str, int] = {}
    headers: dict[str, int] = {}
    prefix = ""
    pending: tuple[str, int, int, list[str]] | None = None  # key, line, indent, value parts

    def finish() -> None:
        key, number, _, parts = pending  # type: ignore[misc]
        raw = "\n".join(parts).strip()
        if not raw:
            msg = (
                f"Key {key!r} in config file {shown!r} (line {number}) has no value: write one, "
                "'' for an empty string, or None."
            )
            raise ConfigError(msg, path=shown, key=key, line=number)
        if key.startswith("run."):
            value: Any = _raw_string(raw)
        else:
            try:
                value = _evaluate(raw)
            except _Refused as exc:
                msg = (
                    f"Value of {key!r} in config file {shown!r} (line {number}) is refused: "
                    f"{exc.reason}; {exc.hint}."
                )
                raise ConfigError(msg, path=shown, key=key, line=number, value=raw) from None
        _store(data, lines, key, value, number, shown)

    if text.startswith("\ufeff"):  # a byte-order mark that some editors write
        text = text[1:]
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        indent = len(line) - len(line.lstrip())
        if pending is not None and indent > pending[2]:
            pending[3].append(stripped)
            continue
        if pending is not None:
            finish()
            pending = None
        if stripped[0] == "[":
            prefix = _section(stripped, number, data, lines, headers, shown)
            continue
        at = _delimiter(stripped)
        if at < 0:
            msg = (
                f"Line {number} of config file {shown!r} is not a '[section]', a 'key = value' "
                f"line or a comment: {stripped[:60]!r}."
            )
            raise ConfigError(msg, path=shown, line=number, value=stripped)
        name = stripped[:at].strip()
        if not _KEY.fullmatch(name):
            msg = (
                f"Key {name!r} in config file {shown!r} (line {number}) is not a name: use "
                "letters, digits, '_' and '-', starting with a letter or '_'."
            )
            raise ConfigError(msg, path=shown, key=prefix + name, line=number)
        pending = (prefix + name, number, indent, [stripped[at + 1 :]])
    if pending is not None:
        finish()
    return data, lines


def _delimiter(line: str) -> int:
    equals, colon = line.find("="), line.find(":")
    if equals < 0:
        return colon
    if colon < 0:
        return equals
    return min(equals, colon)


def _section(
    stripped: str,
    number: int,
    data: dict[str, Any],
    lines: dict[str, int],
    headers: dict[str, int],
    shown: str,
) -> str:
    if not stripped.endswith("]"):
        msg = (
            f"Section header {stripped!r} in config file {shown!r} (line {number}) has no "
            "closing ']'."
        )
        raise ConfigError(msg, path=shown, line=number, value=stripped)
    name = stripped[1:-1].strip()
    if not _KEY.fullmatch(name):
        msg = (
            f"Section [{name}] in config file {shown!r} (line {number}) is not a name: use "
            "letters, digits, '_' and '-' (dotted names such as [model.encoder] nest)."
        )
        raise ConfigError(msg, path=shown, key=name, line=number)
    if name in headers:
        first = headers[name]
        msg = (
            f"Config file {shown!r} repeats the section [{name}] (lines {first} and {number}): "
            "merge them into one."
        )
        raise ConfigError(msg, path=shown, key=name, line=number, lines=(first, number))
    headers[name] = number
    _store(data, lines, name, None, number, shown, section=True)
    return name + "."


_MISSING: Any = object()


def _store(
    data: dict[str, Any],
    lines: dict[str, int],
    key: str,
    value: Any,
    number: int,
    shown: str,
    *,
    section: bool = False,
) -> None:
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part, _MISSING)
        if child is _MISSING:
            child = node[part] = {}
            lines.setdefault(".".join(parts[: i + 1]), number)
        elif not isinstance(child, dict):
            parent = ".".join(parts[: i + 1])
            first = lines.get(parent, number)
            msg = (
                f"Config file {shown!r} sets {key!r} (line {number}), but {parent!r} is a value "
                f"(line {first}), not a section: rename one of them."
            )
            raise ConfigError(msg, path=shown, key=key, line=number, lines=(first, number))
        node = child
    last = parts[-1]
    existing = node.get(last, _MISSING)
    if existing is _MISSING:
        node[last] = {} if section else value
        lines[key] = number
        return
    first = lines.get(key, number)
    if section and isinstance(existing, dict):
        lines[key] = number  # a section that a dotted header or key opened before its own header
        return
    if section:
        msg = (
            f"Config file {shown!r} uses {key!r} as a value (line {first}) and as a section "
            f"(line {number}): rename one of them."
        )
    else:
        msg = (
            f"Config file {shown!r} repeats the key {key!r} (lines {first} and {number}): keep "
            "one of them."
        )
    raise ConfigError(msg, path=shown, key=key, line=number, lines=(first, number))


# ---------------------------------------------------------------------------------------------
# HParams

_instances: dict[str, HParams] = {}
_instances_lock = threading.Lock()
_EXTENSIONS = (".cfg", ".ini")


def _cfg_path(project_path: str | os.PathLike[str], hparams_filename: str) -> Path:
    folder = Path(project_path).expanduser()
    filename = os.fspath(hparams_filename)
    if not filename.lower().endswith(_EXTENSIONS):
        filename += ".cfg"
    path = folder / filename
    if path.is_file():
        return path
    searched = os.path.abspath(folder)
    if folder.is_dir():
        present = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in _EXTENSIONS)
        close = suggest(filename, present)
        if close:
            hint = " Did you mean " + " or ".join(repr(c) for c in close) + "?"
        elif present:
            hint = " The .cfg files there: " + ", ".join(repr(p) for p in present[:10]) + "."
        else:
            hint = " That folder holds no .cfg file."
    else:
        hint = " That folder does not exist."
    msg = (
        f"Config file {filename!r} not found in {searched!r} (HParams reads "
        f"<project_path>/<hparams_filename>.cfg).{hint}"
    )
    raise ConfigFileNotFoundError(msg, path=str(path), searched=[searched])


def _read_text(path: Path, shown: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        msg = f"Config file {shown!r} is not UTF-8 text (byte {exc.start})."
        raise ConfigError(msg, path=shown) from None
    except OSError as exc:
        msg = f"Config file {shown!r} cannot be read: {exc.strerror}."
        raise ConfigError(msg, path=shown) from None


def _run_settings(data: dict[str, Any], lines: Mapping[str, int], shown: str) -> dict[str, Any]:
    settings = data.get("run")
    if not isinstance(settings, dict) or not settings.get("name"):
        line = lines.get("run")
        at = f" (the [run] section starts on line {line})" if line else ""
        msg = (
            f"Config file {shown!r} has no run.name{at}: add a [run] section with a line such as "
            "'name = baseline'; HParams keeps the run in storage/<run.name>/."
        )
        raise ConfigError(msg, path=shown, key="run.name", line=line)
    for key in settings:
        if key not in RUN_KEYS:
            full = f"run.{key}"
            line = lines.get(full)
            raise UnknownKeyError.for_key(
                full,
                [f"run.{k}" for k in RUN_KEYS],
                where=f" in config file {shown!r} (line {line})",
                hint="The [run] section holds only "
                + ", ".join(f"run.{k}" for k in RUN_KEYS)
                + ": put your own values in another section.",
                path=shown,
                line=line,
            )
    return settings


class HParams(Args):
    """The values of a ``.cfg`` file, as attributes and items, kept by name for the whole process.

    ``HParams(project_path, hparams_filename, name)`` reads
    ``<project_path>/<hparams_filename>.cfg`` (see the module docstring for the format), starts
    the run named by its required ``run.name`` (:func:`hypertuner.start_run`), saves the file's
    text as ``storage/<run.name>/hparams.cfg`` and the values in ``config.json``, and makes the
    values the base of ``param_scope`` and ``auto_param``, as :func:`hypertuner.parse` does. The
    run becomes the current run, ending the one before (an instance whose file names the current
    run shares it).

    When ``storage/<run.name>/hparams.cfg`` exists already, that saved copy is read instead of
    the (possibly edited) file, and one line on stderr says so: the run is recalled as it was.
    Delete the run folder, or change ``run.name``, to start afresh. The ``[run]`` section takes
    only the run settings ``name``, ``storage``, ``resume`` (``recall``, ``refuse`` or ``new``)
    and ``backup`` (an fsspec URL the run folder is mirrored to), each read as plain text;
    ``backup=`` given here wins over ``run.backup``.

    Sections are :class:`hypertuner.Args` (``hparams.model.layers``, ``hparams["model.layers"]``);
    values are read-only. ``HParams.get_hparams_by_name(name)`` returns the instance from any
    module; creating a second instance under a name already loaded is an error.

    Args:
        project_path: the folder that holds the ``.cfg`` file.
        hparams_filename: the file name, without the ``.cfg`` extension.
        name: the name this instance is kept under in the process (not the run's name).
        backup: a URL (``s3://bucket/runs``, ``gs://...``, ``file://...``) that the run folder is
            mirrored to, as ``<backup>/<run.name>/``.

    Raises:
        ConfigFileNotFoundError: the ``.cfg`` file does not exist (the message names the folder).
        ConfigError: the file is malformed, a value is refused, ``run.name`` is missing, or
            ``name`` is already loaded in this process.
        UnknownKeyError: the ``[run]`` section holds a key that is no run setting.
        RunNameError: ``run.name`` is not a safe folder name.
        MissingDependencyError: ``backup`` needs a package that is not installed.

    Example:
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> with open(os.path.join(folder, "hparams.cfg"), "w") as handle:
        ...     _ = handle.write("[run]\\nname = doc\\nstorage = " + folder + "/storage\\n"
        ...                      "[model]\\nlayers = 2 * 2\\nactivation = relu\\n")
        >>> hparams = HParams(folder, name="doc-example")
        >>> hparams.model.layers, hparams["model.activation"], hparams.run.name
        (4, 'relu', 'doc')
        >>> HParams.get_hparams_by_name("doc-example") is hparams
        True
        >>> sorted(os.listdir(os.path.join(folder, "storage", "doc")))
        ['.lock', 'config.json', 'hparams.cfg', 'meta.json']
        >>> import hypertuner; hypertuner.current_run().finish()
    """

    __slots__ = ("_file", "_name", "_run")

    def __new__(
        cls,
        project_path: str | os.PathLike[str] = ".",
        hparams_filename: str = "hparams",
        name: str = "hparams",
        backup: str | None = None,
    ) -> HParams:
        from . import scope
        from .run import check_run_name, current_run, start_run, storage_root

        with _instances_lock:
            loaded = _instances.get(name)
        if loaded is not None:
            raise _already_loaded(name, loaded)
        path = _cfg_path(project_path, hparams_filename)
        shown = os.fspath(path)
        text = _read_text(path, shown)
        data, lines = read_cfg(str(path), text, display=shown)
        settings = _run_settings(data, lines, shown)
        run_name = check_run_name(settings["name"])
        resume = settings.get("resume", "recall")
        root = storage_root(settings.get("storage"))
        saved = root / run_name / "hparams.cfg"
        if resume != "new" and saved.is_file():
            saved_text = _read_text(saved, str(saved))
            data, lines = read_cfg(str(saved), saved_text, display=str(saved))
            settings = _run_settings(data, lines, str(saved))
            edited = "" if saved_text == text else f"; the edits in {shown} are not used"
            print(
                f"hypertuner: run {run_name!r} exists, so its saved {saved} is used{edited} "
                f"(delete {saved.parent} or change run.name to start a new run).",
                file=sys.stderr,
            )
        url = backup or settings.get("backup")
        if url:
            from .storage import check_url

            check_url(url)
        config = {key: value for key, value in data.items() if key != "run"}
        run = current_run()
        shared = (
            run is not None
            and run.name == run_name
            and run.storage == root
            and run.status == "running"
        )
        if run is None or not shared:
            run = start_run(
                config, name=run_name, storage=root, resume=resume, explicit=flatten(config)
            )
            run.meta.setdefault("_run_settings", dict(settings))
            if run.is_writer and not (run.directory / "hparams.cfg").is_file():
                _files.write_bytes(run.directory / "hparams.cfg", text.encode("utf-8"))
                run.wrote(run.directory / "hparams.cfg")
        reads: set[str] | None
        if shared and scope._Base.frame.tree is run.config:
            reads = scope._usage.reads  # another HParams of this run installed its values already
        else:
            reads = scope.install(run)._reads
        if url:
            from .storage import mirror_run

            mirror_run(run, url)
        values = {"run": {**settings, "name": run.name}, **run.config}
        self = typing.cast(HParams, cls.from_dict(values, _reads=reads))
        object.__setattr__(self, "_file", path)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_run", run)
        with _instances_lock:
            if name in _instances:  # another thread loaded the same name meanwhile
                raise _already_loaded(name, _instances[name])
            _instances[name] = self
        return self

    def __init__(
        self,
        project_path: str | os.PathLike[str] = ".",
        hparams_filename: str = "hparams",
        name: str = "hparams",
        backup: str | None = None,
    ) -> None:
        """Everything happens in ``__new__``; see the class docstring."""

    @staticmethod
    def get_hparams_by_name(name: str) -> HParams:
        """Return the :class:`HParams` loaded under ``name`` in this process.

        Raises:
            UnknownKeyError: no instance has that name (the nearest names are suggested).

        Example:
            >>> try:
            ...     HParams.get_hparams_by_name("never-loaded")
            ... except KeyError as err:
            ...     print(str(err).split(".")[0])
            No HParams named 'never-loaded' is loaded in this process
        """
        with _instances_lock:
            found = _instances.get(name)
            names = sorted(_instances)
        if found is not None:
            return found
        close = suggest(name, names)
        if close:
            hint = " Did you mean " + " or ".join(repr(c) for c in close) + "?"
        elif names:
            hint = " Loaded: " + ", ".join(repr(n) for n in names) + "."
        else:
            hint = f" Create it first: HParams('.', name={name!r})."
        msg = f"No HParams named {name!r} is loaded in this process.{hint}"
        raise UnknownKeyError(msg, key=name, suggestions=close)

    def __repr__(self) -> str:
        return (
            f"HParams(name={self._name!r}, file={os.fspath(self._file)!r}, values={self._data!r})"
        )


def _already_loaded(name: str, loaded: HParams) -> ConfigError:
    msg = (
        f"An HParams named {name!r} is already loaded in this process (from "
        f"{os.fspath(loaded._file)!r}): get it with HParams.get_hparams_by_name({name!r}), or give "
        "the new one another name."
    )
    return ConfigError(msg, key="name", value=name)
