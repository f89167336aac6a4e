"""Reading config files strictly: JSON (the native format), YAML, and ``.cfg`` (``_cfgformat``).

Also types command-line values as YAML scalars. Line numbers of keys are found only when an error
or ``--explain`` needs them, never on the fast path. PyYAML is imported only when a YAML file or a
``[...]``/``{...}`` value is read.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from .errors import ConfigError, ConfigFileNotFoundError

FORMATS = (".json", ".yaml", ".yml", ".cfg", ".ini")

# ---------------------------------------------------------------------------------------------
# Values on the command line


_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?")


@functools.cache
def _yaml_loader() -> Any:
    """The YAML 1.1 safe loader that also reads ``1e-3`` as a float and refuses duplicate keys.

    Built on first use: PyYAML is a third of the import time of a script that never reads YAML.
    """
    import yaml

    class _YamlLoader(yaml.SafeLoader):
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if key in seen:
                    msg = f"repeats the key {key!r} (lines {seen[key]} and {line})"
                    raise yaml.constructor.ConstructorError(None, None, msg, key_node.start_mark)
                seen[key] = line
            return super().construct_mapping(node, deep=deep)

    _YamlLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)$"),
        list("-+0123456789"),
    )
    return _YamlLoader


def parse_value(text: str) -> Any:
    """Type a command-line value as a YAML scalar: ``4`` int, ``1e-3`` float, ``true`` bool.

    ``null``/``none`` is ``None``, ``[1,2]`` and ``{a: 1}`` are a list and a dict, a quoted
    value is the string inside the quotes, anything else the string itself.

    Raises:
        ConfigError: a list or dict that does not parse (an unclosed ``[``).

    Example:
        >>> [parse_value(v) for v in ["4", "1e-3", "true", "[1,2]", "relu", "'4'"]]
        [4, 0.001, True, [1, 2], 'relu', '4']
    """
    if not text:
        return ""
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none", "~"):
        return None
    first = text[0]
    if first in "[{":
        import yaml

        try:
            return yaml.load(text, Loader=_yaml_loader())
        except yaml.YAMLError as exc:
            closer = "]" if first == "[" else "}"
            problem = getattr(exc, "problem", None) or "it does not parse"
            msg = (
                f"Value {text!r} is not a valid {'list' if first == '[' else 'mapping'} "
                f"({problem}): check the brackets, e.g. '{first}1, 2{closer}'."
            )
            raise ConfigError(msg, value=text) from exc
    if len(text) >= 2 and first in "'\"" and text[-1] == first:
        return text[1:-1]
    return text


# ---------------------------------------------------------------------------------------------
# Config files


def _json_constant(name: str) -> NoReturn:
    raise _BadConstant(name)


class _BadConstant(Exception):
    pass


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _json_key_lines(text: str) -> dict[str, list[int]]:
    """Map each dotted key of a JSON text to the lines where it stands (keys inside lists skipped).

    Only used to explain and to report errors, never on the fast path.
    """
    out: dict[str, list[int]] = {}
    ws = re.compile(r"[ \t\n\r]*")
    literal = re.compile(r"-?(?:[0-9.eE+-]+|Infinity)|true|false|null|NaN")
    scan = json.decoder.scanstring  # type: ignore[attr-defined]

    def value(i: int, path: str | None) -> int:
        i = ws.match(text, i).end()  # type: ignore[union-attr]
        char = text[i]
        if char == '"':
            return int(scan(text, i + 1)[1])
        if char == "{":
            i = ws.match(text, i + 1).end()  # type: ignore[union-attr]
            if text[i] == "}":
                return i + 1
            while True:
                i = ws.match(text, i).end()  # type: ignore[union-attr]
                key, end = scan(text, i + 1)
                full = None if path is None else (f"{path}.{key}" if path else key)
                if full is not None:
                    out.setdefault(full, []).append(_line_of(text, i))
                i = ws.match(text, end).end()  # type: ignore[union-attr]
                i = value(i + 1, full)  # skip ':'
                i = ws.match(text, i).end()  # type: ignore[union-attr]
                if text[i] == "}":
                    return i + 1
                i += 1  # ','
        if char == "[":
            i = ws.match(text, i + 1).end()  # type: ignore[union-attr]
            if text[i] == "]":
                return i + 1
            while True:
                i = ws.match(text, value(i, None)).end()  # type: ignore[union-attr]
                if text[i] == "]":
                    return i + 1
                i += 1
        match = literal.match(text, i)
        if match is None:
            raise ValueError(i)
        return match.end()

    with contextlib.suppress(ValueError, IndexError):  # what was found is still useful
        value(0, "")
    return out


def _load_json(path: str, text: str) -> dict[str, Any]:
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_json_constant)
    except json.JSONDecodeError as exc:
        msg = (
            f"Config file {path!r} is not valid JSON (line {exc.lineno}, column {exc.colno}): "
            f"{exc.msg[:1].lower() + exc.msg[1:]}."
        )
        raise ConfigError(msg, path=path, line=exc.lineno, column=exc.colno) from None
    except _DuplicateKey as exc:
        key = exc.args[0]
        lines = {k: v for k, v in _json_key_lines(text).items() if len(v) > 1}
        full = next((k for k in lines if k.rsplit(".", 1)[-1] == key), key)
        where = lines.get(full, [])
        at = f" (lines {', '.join(map(str, where))})" if where else ""
        msg = (
            f"Config file {path!r} repeats the key {full!r}{at}: "
            "a JSON object must not repeat a key."
        )
        raise ConfigError(msg, path=path, key=full, line=where[-1] if where else None) from None
    except _BadConstant as exc:
        match = re.search(r"(?<![\w\"])-?(NaN|Infinity)(?![\w\"])", text)
        line = _line_of(text, match.start()) if match else None
        msg = (
            f"Config file {path!r} uses {exc.args[0]} (line {line}), which JSON does not allow: "
            'write a number, or a string such as "inf".'
        )
        raise ConfigError(msg, path=path, line=line, value=exc.args[0]) from None
    return _top_level(path, data)


def _top_level(path: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        msg = (
            f"Config file {path!r} holds {kind} at the top level: "
            "a config must be an object of keys."
        )
        raise ConfigError(msg, path=path, line=1)
    return data


def _load_yaml(path: str, text: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.load(text, Loader=_yaml_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        msg = (
            f"Config file {path!r} is not valid YAML (line {line}, column {column}): "
            f"{exc.problem or exc.context}."
        )
        raise ConfigError(msg, path=path, line=line, column=column) from None
    except yaml.YAMLError as exc:
        msg = f"Config file {path!r} is not valid YAML: {exc}."
        raise ConfigError(msg, path=path) from None
    data = _top_level(path, data)
    _check_yaml_values(path, data, "")
    return data


def _check_yaml_values(path: str, tree: Mapping[Any, Any], prefix: str) -> None:
    for key, value in tree.items():
        if not isinstance(key, str):
            where = repr(prefix[:-1]) if prefix else "the top level"
            msg = f"Config file {path!r} has the key {key!r} under {where}: keys must be strings."
            raise ConfigError(msg, path=path, key=f"{prefix}{key}")
        if isinstance(value, Mapping):
            _check_yaml_values(path, value, f"{prefix}{key}.")
        elif isinstance(value, float) and (
            value != value or value in (float("inf"), float("-inf"))
        ):
            msg = (
                f"Config file {path!r} sets {prefix + key!r} to {value!r}, which the JSON "
                "snapshot cannot store: write a number, or a string such as 'inf'."
            )
            raise ConfigError(msg, path=path, key=prefix + key, value=value)


def _yaml_key_lines(text: str) -> dict[str, list[int]]:
    import yaml

    out: dict[str, list[int]] = {}

    def walk(node: yaml.Node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                full = f"{prefix}{key_node.value}"
                out.setdefault(full, []).append(key_node.start_mark.line + 1)
                walk(value_node, full + ".")

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return out
    if root is not None:
        walk(root, "")
    return out


class _Source:
    """One config file: its data and, on demand, the line of each key."""

    def __init__(self, path: str, text: str, data: dict[str, Any], lines: dict[str, int] | None):
        self.path = path
        self.text = text
        self.data = data
        self._lines = lines

    def line(self, key: str) -> int | None:
        if self._lines is None:
            suffix = Path(self.path).suffix.lower()
            found = (
                _yaml_key_lines(self.text)
                if suffix in (".yaml", ".yml")
                else _json_key_lines(self.text)
            )
            self._lines = {k: v[-1] for k, v in found.items()}
        while key:
            if key in self._lines:
                return self._lines[key]
            key = key.rpartition(".")[0]
        return None


def _find_config(path: str) -> Path:
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        if candidate.is_file():
            return candidate
        searched = [str(candidate.parent)]
    else:
        folders = [Path.cwd()]
        main = sys.modules.get("__main__")
        script = getattr(main, "__file__", None)
        module = getattr(getattr(main, "__spec__", None), "name", None) or ""
        # The user's script folder; not hypertuner's own command (python -m hypertuner, or the
        # console script), whose folder says nothing about where configs are.
        if script and not module.startswith("hypertuner") and Path(script).name != "hypertuner":
            folders.append(Path(os.path.abspath(script)).parent)
        for folder in folders:
            if (folder / candidate).is_file():
                return folder / candidate
        searched = list(dict.fromkeys(str(f) for f in folders))
    msg = f"Config file {path!r} not found (looked in {', '.join(repr(s) for s in searched)})."
    raise ConfigFileNotFoundError(msg, path=path, searched=searched)


def load_file(path: str) -> _Source:
    """Read one config file (JSON, YAML or ``.cfg``) strictly."""
    found = _find_config(path)
    suffix = found.suffix.lower()
    if suffix not in FORMATS:
        msg = (
            f"Config file {path!r} has the extension {suffix or '(none)'!r}; hypertuner reads "
            + ", ".join(FORMATS)
            + "."
        )
        raise ConfigError(msg, path=path)
    try:
        text = found.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        msg = f"Config file {path!r} is not UTF-8 text (byte {exc.start})."
        raise ConfigError(msg, path=path) from None
    except OSError as exc:
        msg = f"Config file {path!r} cannot be read: {exc.strerror}."
        raise ConfigError(msg, path=path) from None
    if suffix in (".cfg", ".ini"):
        from ._cfgformat import read_cfg  # its ast-based evaluator loads for .cfg files only

        data, lines = read_cfg(str(found), text, display=path)
        return _Source(path, text, data, lines)
    if not text.strip():
        msg = f"Config file {path!r} is empty: a config must be an object of keys, at least {{}}."
        raise ConfigError(msg, path=path, line=1)
    if suffix == ".json":
        return _Source(path, text, _load_json(path, text), None)
    return _Source(path, text, _load_yaml(path, text), None)
