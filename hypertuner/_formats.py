"""Reading config files strictly: JSON (the native format), YAML, and ``.cfg`` (``_cfgformat``).

Also types command-line values as YAML scalars. Line numbers of keys are found only when an error
or ``--explain`` needs them, never on the fast path. PyYAML is imported only when a YAML file or a
``[...]``/``{...}`` value is read.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

from .errors import ConfigError, ConfigFileNotFoundError

FORMATS = (".json", ".yaml", ".yml", ".cfg", ".ini")

# ---------------------------------------------------------------------------------------------
# Values on the command line


_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?")


#: Nodes that YAML aliases (``*name``) may add to a document, counted as they are composed: an
#: "alias bomb" (nine levels of nine aliases in under 1 KB) would expand to hundreds of millions.
MAX_ALIAS_NODES = 100_000
#: Levels of nesting a config may have (lists and sections together).
MAX_DEPTH = 100
_MAX_INT_DIGITS = 4300  # Python's own limit for int("...") (sys.get_int_max_str_digits)


class _TooLarge(Exception):
    """A document over one of the limits above: ``args`` is (problem, line or None)."""


def _expanded_size(node: Any, sizes: dict[int, int]) -> int:
    """How many nodes ``node`` stands for once every alias in it is expanded (memoised)."""
    stack = [(node, False)]
    while stack:
        current, ready = stack.pop()
        key = id(current)
        if key in sizes:
            continue
        children = current.value if isinstance(current.value, list) else []
        flat = [c for pair in children for c in (pair if isinstance(pair, tuple) else (pair,))]
        if ready or not flat:
            sizes[key] = 1 + sum(sizes.get(id(c), 1) for c in flat)
        else:
            stack.append((current, True))
            stack.extend((c, False) for c in flat if id(c) not in sizes)
    return sizes[id(node)]


@functools.cache
def _yaml_loader() -> Any:
    """The YAML 1.1 safe loader, stricter: ``1e-3`` is a float, a repeated key or a key that is a
    list is refused, aliases expand to at most :data:`MAX_ALIAS_NODES` nodes, and a date stays
    the text it was written as (YAML 1.2's rule: JSON has no dates, and ``config.json`` must hold
    what ``args`` holds).

    Built on first use: PyYAML is a third of the import time of a script that never reads YAML.
    """
    import yaml

    class _YamlLoader(yaml.SafeLoader):
        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            self.alias_nodes = 0
            self.sizes: dict[int, int] = {}

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()  # type: ignore[no-untyped-call]
                target = self.anchors.get(event.anchor)
                if target is not None:
                    self.alias_nodes += _expanded_size(target, self.sizes)
                    if self.alias_nodes > MAX_ALIAS_NODES:
                        problem = (
                            f"its aliases (*{event.anchor} and others) expand to more than "
                            f"{MAX_ALIAS_NODES:,} values"
                        )
                        raise _TooLarge(problem, event.start_mark.line + 1)
            return super().compose_node(parent, index)

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if isinstance(key, (list, dict, set)):
                    kind = type(key).__name__
                    msg = f"has a key that is a {kind} (line {line}): keys must be strings"
                    raise yaml.constructor.ConstructorError(None, None, msg, key_node.start_mark)
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
    _YamlLoader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in _YamlLoader.yaml_implicit_resolvers.items()
    }
    return _YamlLoader


_TYPE_NAMES = {"date": "a date", "datetime": "a date and time", "set": "a set", "bytes": "binary"}


def check_plain(tree: Any, where: str, *, path: str | None = None) -> None:
    """Refuse what ``config.json`` cannot hold as it is: a value that is no JSON type (a YAML
    ``!!set``, ``!!binary``, ``!!timestamp``), ``inf``/``nan``, a key that is no string, text
    that is no valid Unicode (a lone surrogate), more than :data:`MAX_DEPTH` levels of nesting.

    ``where`` starts the message (``"Config file 'a.yaml'"``, ``"Value '[1, 2]'"``); ``path`` is
    the file, when there is one.

    Raises:
        ConfigError: naming the full dotted key and what is wrong with its value.

    Example:
        >>> check_plain({"a": [1, 2.5, "x", None, True]}, "Config file 'ok.json'")
        >>> try:
        ...     check_plain({"a": {"b": float("inf")}}, "Config file 'c.yaml'")
        ... except ConfigError as err:
        ...     print(err.key, "|", err)
        a.b | Config file 'c.yaml' sets 'a.b' to inf, which the JSON snapshot cannot store: ...
    """
    stack: list[tuple[str, Any, int]] = [("", tree, 0)]
    while stack:
        key, value, depth = stack.pop()
        shown = key or "the top level"
        if depth > MAX_DEPTH:
            msg = (
                f"{where} nests more than {MAX_DEPTH} levels deep (at {shown!r}): flatten it, "
                "or keep that data in a file of its own."
            )
            raise ConfigError(msg, key=key or None, path=path)
        if isinstance(value, dict):
            for child, item in value.items():
                if not isinstance(child, str):
                    msg = (
                        f"{where} has the key {child!r} under {shown}: keys must be strings "
                        "(quote it)."
                    )
                    raise ConfigError(msg, key=key or None, value=child, path=path)
                _check_text(
                    child, f"{key}.{child}" if key else child, where, is_key=True, path=path
                )
                stack.append((f"{key}.{child}" if key else child, item, depth + 1))
        elif isinstance(value, list):
            stack.extend((f"{key}[{i}]", item, depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            _check_text(value, key, where, path=path)
        elif isinstance(value, float):
            if value != value or value in (math.inf, -math.inf):
                msg = (
                    f"{where} sets {key!r} to {value!r}, which the JSON snapshot cannot store: "
                    "write a finite number, or a string such as 'inf'."
                )
                raise ConfigError(msg, key=key, value=value, path=path)
        elif value is not None and not isinstance(value, (bool, int)):
            kind = _TYPE_NAMES.get(type(value).__name__, f"a {type(value).__name__}")
            msg = (
                f"{where} sets {key!r} to {kind} ({value!r}), which the JSON snapshot cannot "
                "store as it is: write it as a string (quote it) or a list."
            )
            raise ConfigError(msg, key=key, value=repr(value), expected="a JSON value", path=path)


def _check_text(
    text: str, key: str, where: str, *, is_key: bool = False, path: str | None = None
) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        what = "a key" if is_key else "text"
        msg = (
            f"{where} has {what} at {key!r} that is not valid Unicode (a lone surrogate "
            f"{text[exc.start]!r} at character {exc.start + 1}): fix the escape (such as "
            "'\\ud800') or the file's encoding."
        )
        raise ConfigError(msg, key=key or None, value=ascii(text)[:80], path=path) from None


def _number(text: str) -> int | float:
    """An int or float from text that matched :data:`_INT`/:data:`_FLOAT`, within limits."""
    try:
        number: int | float = int(text) if _INT.fullmatch(text) else float(text)
    except ValueError:  # more digits than int() converts
        digits = sum(c.isdigit() for c in text)
        msg = (
            f"Value {text[:20]}... has {digits:,} digits, more than the {_MAX_INT_DIGITS:,} an "
            "integer may have: write it as a float or a string."
        )
        raise ConfigError(msg, value=text[:40], expected="an integer") from None
    if isinstance(number, float) and not math.isfinite(number):
        msg = (
            f"Value {text!r} is not a finite number (it overflows to {number}): write a smaller "
            "number, or a string such as 'inf'."
        )
        raise ConfigError(msg, value=text, expected="a finite number")
    return number


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
    if _INT.fullmatch(text) or _FLOAT.fullmatch(text):
        return _number(text)
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none", "~"):
        return None
    first = text[0]
    if first in "[{":
        import yaml

        shown = text if len(text) <= 60 else text[:57] + "..."
        try:
            value = yaml.load(text, Loader=_yaml_loader())
        except (yaml.YAMLError, _TooLarge, RecursionError, ValueError) as exc:
            closer = "]" if first == "[" else "}"
            if isinstance(exc, _TooLarge):
                problem = exc.args[0]
            elif isinstance(exc, RecursionError):
                problem = f"it nests more than {MAX_DEPTH} levels deep"
            elif isinstance(exc, ValueError) and not isinstance(exc, yaml.YAMLError):
                problem = f"an integer has more than {_MAX_INT_DIGITS:,} digits"
            else:
                problem = getattr(exc, "problem", None) or "it does not parse"
            msg = (
                f"Value {shown!r} is not a valid {'list' if first == '[' else 'mapping'} "
                f"({problem}): check the brackets, e.g. '{first}1, 2{closer}'."
            )
            raise ConfigError(msg, value=shown) from None
        check_plain(value, f"Value {shown!r}")
        return value
    _check_text(text, "", f"Value {text[:60]!r}")
    if len(text) >= 2 and first in "'\"" and text[-1] == first:
        return text[1:-1]
    return text


def format_value(value: Any) -> str:
    """A config value as it would be written on the command line (the inverse of
    :func:`parse_value`): how ``explain``, ``show``, ``runs`` and sweep summaries show values.

    Text stands bare unless it would read back as something else (``'4'``, ``'true'``, ``''``);
    floats are exact (Python's shortest form); lists and mappings are inline.

    Example:
        >>> [format_value(v) for v in ["relu", "4", 4, 0.0225, 1e-05, True, None, [1, "a"]]]
        ['relu', "'4'", '4', '0.0225', '1e-05', 'true', 'null', '[1, "a"]']
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if value and value == value.strip() and parse_value(value) == value:
            return value
        return f"'{value}'"
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


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
        data = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_json_constant,
            parse_float=_json_float,
        )
    except RecursionError:
        msg = (
            f"Config file {path!r} nests more than {MAX_DEPTH} levels deep: flatten it, or keep "
            "that data in a file of its own."
        )
        raise ConfigError(msg, path=path) from None
    except _TooLarge as exc:
        problem, literal = exc.args
        line = _line_of(text, text.find(literal)) if literal in text else None
        at = f" (line {line})" if line else ""
        msg = (
            f'Config file {path!r} {problem}{at}: write a finite number, or a string such as "inf".'
        )
        raise ConfigError(msg, path=path, line=line, value=literal) from None
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
    except ValueError:  # an integer of more digits than int() converts
        match = re.search(rf"-?[0-9]{{{_MAX_INT_DIGITS + 1},}}", text)
        line = _line_of(text, match.start()) if match else None
        size = f"{len(match.group().lstrip('-')):,} digits" if match else "too many digits"
        msg = (
            f"Config file {path!r} has an integer of {size} (line {line}), more than the "
            f"{_MAX_INT_DIGITS:,} an integer may have: write it as a float or a string."
        )
        raise ConfigError(msg, path=path, line=line) from None
    data = _top_level(path, data)
    check_plain(data, f"Config file {path!r}", path=path)
    return data


def _json_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        problem = f"has the number {text}, which overflows to {number}"
        raise _TooLarge(problem, text)
    return number


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
    except _TooLarge as exc:
        problem, line = exc.args
        msg = f"Config file {path!r} is refused (line {line}): {problem}; write the values out."
        raise ConfigError(msg, path=path, line=line) from None
    except RecursionError:
        msg = (
            f"Config file {path!r} nests more than {MAX_DEPTH} levels deep: flatten it, or keep "
            "that data in a file of its own."
        )
        raise ConfigError(msg, path=path) from None
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
    except ValueError:  # an integer of more digits than int() converts
        msg = (
            f"Config file {path!r} has an integer of more than {_MAX_INT_DIGITS:,} digits: write "
            "it as a float or a string."
        )
        raise ConfigError(msg, path=path) from None
    data = _top_level(path, data)
    check_plain(data, f"Config file {path!r}", path=path)
    return data


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
    found = next((Path(f) / candidate for f in searched if (Path(f) / candidate).is_dir()), None)
    if found is not None:
        inside = sorted(
            p.name for p in found.iterdir() if p.suffix in (".json", ".yaml", ".yml", ".cfg")
        )
        shown = f" (it holds {', '.join(inside[:5])})" if inside else ""
        msg = f"Config file {path!r} is a folder{shown}: give one file in it, --config=FILE."
        raise ConfigError(msg, value=path)
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
        check_plain(data, f"Config file {path!r}", path=path)
        return _Source(path, text, data, lines)
    if not text.strip():
        msg = f"Config file {path!r} is empty: a config must be an object of keys, at least {{}}."
        raise ConfigError(msg, path=path, line=1)
    if suffix == ".json":
        return _Source(path, text, _load_json(path, text), None)
    return _Source(path, text, _load_yaml(path, text), None)
