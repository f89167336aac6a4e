"""The ``.cfg`` format: INI sections of safely evaluated Python expressions (the reader).

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
*before* it is computed (``9 ** 9 ** 9``, ``[0] * 10**12``); the values of one file share a
budget of 4,000,000 steps of work (:data:`~hypertuner._safe_eval.MAX_WORK`).

The values are stored as JSON data, as ``config.json`` keeps them: tuples and sets become lists
(a set sorted), dict keys must be strings, and ``inf``/``nan`` are refused. The run settings
(``name``, ``storage``, ``resume`` and ``backup`` of the ``run`` section) and every key called
``name`` are the text itself, never evaluated (as hparams reads them); the ``run`` section's other
keys are values like any other.

Names are read as hparams reads them (through ``configparser``): section and key names are
case-insensitive, stored in lower case, with every character other than a letter, a digit or
``_`` read as ``_`` (``[My-Section] Batch-Size`` is ``my_section.batch_size``). The keys of
``configparser``'s ``[DEFAULT]`` section are top-level keys.
"""

from __future__ import annotations

import re
from typing import Any

from ._safe_eval import _evaluate, _Refused, _Work
from .errors import ConfigError

__all__ = ["normal_name", "read_cfg"]

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*")
_NOT_NAME = re.compile(r"[^0-9a-z_]")
# The [run] keys that are run settings, read as text (config.RUN_KEYS: config imports this
# module's caller, so the names are repeated here).
_RUN_SETTINGS = frozenset({"backup", "name", "resume", "storage"})
# configparser's default section: its keys are every section's defaults.
_DEFAULT_SECTION = "DEFAULT"


def normal_name(name: str) -> str:
    """A dotted section or key name as hparams reads it: lower case, ``_`` for anything else
    than a letter, a digit or ``_``, each dotted part on its own.

    Example:
        >>> normal_name("My-Section.Batch-Size")
        'my_section.batch_size'
    """
    return ".".join(_NOT_NAME.sub("_", part.lower()) for part in name.split("."))


def _is_text(key: str) -> bool:
    """Whether ``key``'s value is read as text: a run setting, or any key called ``name``."""
    section, _, last = key.rpartition(".")
    return last == "name" or (section == "run" and last in _RUN_SETTINGS)


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
    work = _Work()  # one budget for all the file's values

    def finish() -> None:
        key, number, _, parts = pending  # type: ignore[misc]
        raw = "\n".join(parts).strip()
        if not raw:
            msg = (
                f"Key {key!r} in config file {shown!r} (line {number}) has no value: write one, "
                "'' for an empty string, or None."
            )
            raise ConfigError(msg, path=shown, key=key, line=number)
        if _is_text(key):
            value: Any = _raw_string(raw)
        else:
            try:
                value = _evaluate(raw, work)
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
        pending = (prefix + normal_name(name), number, indent, [stripped[at + 1 :]])
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
    if name == _DEFAULT_SECTION:  # configparser's defaults: top-level keys
        if name in headers:
            first = headers[name]
            msg = (
                f"Config file {shown!r} repeats the section [{name}] (lines {first} and "
                f"{number}): merge them into one."
            )
            raise ConfigError(msg, path=shown, key=name, line=number, lines=(first, number))
        headers[name] = number
        return ""
    if not _KEY.fullmatch(name):
        msg = (
            f"Section [{name}] in config file {shown!r} (line {number}) is not a name: use "
            "letters, digits, '_' and '-' (dotted names such as [model.encoder] nest)."
        )
        raise ConfigError(msg, path=shown, key=name, line=number)
    name = normal_name(name)
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
