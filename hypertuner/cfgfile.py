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
``:=``, dunder names) is refused before anything runs, and so is every result larger than the
limits below, checked *before* it is computed (``9 ** 9 ** 9``, ``[0] * 10**12``).

The values are stored as JSON data, as ``config.json`` keeps them: tuples and sets become lists
(a set sorted), dict keys must be strings, and ``inf``/``nan`` are refused. Every value of the
``run`` section (``name``, ``storage``, ``resume``, ``backup``) is the text itself, never evaluated.
"""

from __future__ import annotations

import ast
import math
import operator
import os
import re
import sys
import threading
import typing
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from . import _files
from .config import RUN_KEYS, Args, flatten
from .errors import ConfigError, ConfigFileNotFoundError, UnknownKeyError, suggest

__all__ = ["MAX_DEPTH", "MAX_INT_BITS", "MAX_SIZE", "HParams", "read_cfg"]

#: The largest integer a value may hold or compute, in bits (about 1230 decimal digits).
MAX_INT_BITS = 4096
#: The most elements plus string characters one value may hold.
MAX_SIZE = 1_000_000
#: The deepest nesting of a value's expression.
MAX_DEPTH = 100
#: The longest value text, in characters.
MAX_TEXT = 200_000

_CALLS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "bool": bool,
    "float": float,
    "int": int,
    "len": len,
    "max": max,
    "min": min,
    "pow": pow,
    "round": round,
    "str": str,
    "sum": sum,
}
_CALL_LIST = ", ".join(f"{name}()" for name in _CALLS)
_ALLOWED = (
    "a value may use literals, arithmetic and comparison operators and the calls "
    f"{_CALL_LIST}; quote text to make it a string"
)
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*")
_INT = re.compile(r"[-+]?[0-9]{1,300}")
_FLOAT = re.compile(
    r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?|[-+]?[0-9]+[eE][-+]?[0-9]{1,3}"
)
_SEQUENCES = (str, list, tuple)

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
    ast.Not: operator.not_,
    ast.Invert: operator.invert,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_REFUSED_NODES: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripting",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.NamedExpr: "the walrus operator ':='",
    ast.Starred: "unpacking with '*'",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "slicing",
}


class _Refused(Exception):
    """A value that is not allowed; ``reason`` says why, ``hint`` how to fix it."""

    def __init__(self, reason: str, hint: str = _ALLOWED) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


# ---------------------------------------------------------------------------------------------
# Safe evaluation


def _size(value: Any, budget: int = MAX_SIZE) -> int:
    """Elements plus string characters of ``value``; stops counting once past ``budget``."""
    if isinstance(value, str):
        return len(value) or 1
    if isinstance(value, (list, tuple, set, frozenset)):
        total = 1
        for item in value:
            total += _size(item, budget - total)
            if total > budget:
                return total
        return total
    if isinstance(value, dict):
        total = 1
        for key, item in value.items():
            total += _size(key, budget - total) + _size(item, budget - total)
            if total > budget:
                return total
        return total
    return 1


def _check_size(size: int, what: str) -> None:
    if size > MAX_SIZE:
        msg = (
            f"{what} would hold about {size:,} elements and characters, more than the limit "
            f"of {MAX_SIZE:,}"
        )
        raise _Refused(msg, "make the value smaller")


def _check_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        msg = (
            f"{what} would be an integer of about {bits:,} bits, more than the limit "
            f"of {MAX_INT_BITS:,}"
        )
        raise _Refused(msg, "make the value smaller")


def _checked(value: Any, what: str) -> Any:
    if type(value) is int:
        _check_bits(value.bit_length(), what)
    elif isinstance(value, (str, list, tuple, set, frozenset, dict)):
        _check_size(_size(value), what)
    return value


def _binary(op: type[ast.operator], left: Any, right: Any, symbol: str) -> Any:
    what = f"'{symbol}'"
    if op is ast.Mult:
        count, seq = (right, left) if isinstance(left, _SEQUENCES) else (left, right)
        if isinstance(seq, _SEQUENCES) and isinstance(count, int):
            _check_size(_size(seq) * max(count, 0), f"the repetition {what}")
        elif isinstance(left, int) and isinstance(right, int):
            _check_bits(left.bit_length() + right.bit_length(), f"the product {what}")
    elif op is ast.Add and isinstance(left, _SEQUENCES) and type(left) is type(right):
        _check_size(_size(left) + _size(right), f"the concatenation {what}")
    elif op is ast.Pow and isinstance(left, int) and isinstance(right, int):
        if right > 0 and abs(left) > 1:
            _check_bits(right * (abs(left).bit_length() - 1) + 1, f"the power {what}")
    elif op is ast.LShift and isinstance(left, int) and isinstance(right, int):
        if left and right > 0:
            _check_bits(left.bit_length() + right, f"the shift {what}")
    elif op is ast.Mod and isinstance(left, str):
        msg = "string formatting with '%' is not allowed"
        raise _Refused(msg)
    try:
        result = _BINARY[op](left, right)
    except (ArithmeticError, TypeError, ValueError) as exc:
        msg = f"{_describe(left)} {symbol} {_describe(right)} fails ({exc})"
        raise _Refused(msg, "check the operands, or quote text to make it a string") from None
    return _checked(result, f"the result of {what}")


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{type(value).__name__} of length {len(value)}"


def _call(name: str, args: list[Any]) -> Any:
    if name == "pow" and len(args) == 2:
        return _binary(ast.Pow, args[0], args[1], "**")
    if name == "sum":
        items = args[0] if args else ()
        numbers = (
            [*items, *args[1:]] if isinstance(items, (list, tuple, set, frozenset, dict)) else []
        )
        if not args or not all(isinstance(v, (int, float)) for v in numbers):
            msg = "sum() adds numbers only"
            raise _Refused(msg, "give sum() a list of numbers")
    try:
        result = _CALLS[name](*args)
    except (ArithmeticError, TypeError, ValueError) as exc:
        msg = f"{name}() fails ({exc})"
        raise _Refused(msg, "check its arguments") from None
    return _checked(result, f"the result of {name}()")


def _eval(node: ast.AST, depth: int) -> Any:
    if depth > MAX_DEPTH:
        msg = f"it nests deeper than {MAX_DEPTH} levels"
        raise _Refused(msg, "write a flatter value")
    kind = type(node)
    depth += 1
    if kind is ast.Constant:
        value = node.value  # type: ignore[attr-defined]
        if value is None or type(value) in (int, float, str, bool):
            return _checked(value, "the literal")
        msg = f"{type(value).__name__} literals are not allowed"
        raise _Refused(msg)
    if kind is ast.List:
        return _checked([_eval(e, depth) for e in node.elts], "the list")  # type: ignore[attr-defined]
    if kind is ast.Tuple:
        return _checked(tuple(_eval(e, depth) for e in node.elts), "the tuple")  # type: ignore[attr-defined]
    if kind is ast.Set:
        items = [_eval(e, depth) for e in node.elts]  # type: ignore[attr-defined]
        try:
            return set(items)
        except TypeError as exc:
            msg = f"the set cannot hold its items ({exc})"
            raise _Refused(msg, "use a list instead") from None
    if kind is ast.Dict:
        out: dict[Any, Any] = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):  # type: ignore[attr-defined]
            if key_node is None:
                msg = "unpacking with '**' is not allowed"
                raise _Refused(msg)
            key = _eval(key_node, depth)
            if not isinstance(key, str):
                msg = f"the dict key {key!r} is not a string (dict keys become config keys)"
                raise _Refused(msg, "quote the key")
            out[key] = _eval(value_node, depth)
        return _checked(out, "the dict")
    if kind is ast.BinOp:
        op = type(node.op)  # type: ignore[attr-defined]
        if op not in _BINARY:
            msg = "the operator '@' is not allowed"
            raise _Refused(msg)
        left = _eval(node.left, depth)  # type: ignore[attr-defined]
        right = _eval(node.right, depth)  # type: ignore[attr-defined]
        return _binary(op, left, right, _SYMBOLS[op])
    if kind is ast.UnaryOp:
        operand = _eval(node.operand, depth)  # type: ignore[attr-defined]
        try:
            return _UNARY[type(node.op)](operand)  # type: ignore[attr-defined]
        except TypeError as exc:
            msg = f"the operator fails on {_describe(operand)} ({exc})"
            raise _Refused(msg, "check the operand") from None
    if kind is ast.BoolOp:
        is_and = isinstance(node.op, ast.And)  # type: ignore[attr-defined]
        result: Any = None
        for operand_node in node.values:  # type: ignore[attr-defined]
            result = _eval(operand_node, depth)
            if bool(result) is not is_and:
                return result
        return result
    if kind is ast.Compare:
        left = _eval(node.left, depth)  # type: ignore[attr-defined]
        verdict = True
        for op_node, right_node in zip(node.ops, node.comparators, strict=True):  # type: ignore[attr-defined]
            compare = _COMPARE.get(type(op_node))
            if compare is None:
                msg = "'is' and 'is not' are not allowed"
                raise _Refused(msg, "use '==' or '!='")
            right = _eval(right_node, depth)
            try:
                verdict = bool(compare(left, right))
            except TypeError as exc:
                msg = f"the comparison fails ({exc})"
                raise _Refused(msg, "compare values of the same kind") from None
            if not verdict:
                return False
            left = right
        return verdict
    if kind is ast.IfExp:
        test = _eval(node.test, depth)  # type: ignore[attr-defined]
        return _eval(node.body if test else node.orelse, depth)  # type: ignore[attr-defined]
    if kind is ast.Call:
        func = node.func  # type: ignore[attr-defined]
        if not isinstance(func, ast.Name):
            what = (
                "attribute access" if isinstance(func, ast.Attribute) else "calling an expression"
            )
            msg = f"{what} ({_snippet(func)}) is not allowed"
            raise _Refused(msg)
        if func.id not in _CALLS:
            raise _Refused(_name_reason(func.id, called=True))
        if node.keywords:  # type: ignore[attr-defined]
            msg = f"keyword arguments are not allowed (in the call of {func.id}())"
            raise _Refused(msg, "pass the arguments by position")
        args = [_eval(a, depth) for a in node.args]  # type: ignore[attr-defined]
        return _call(func.id, args)
    if kind is ast.Name:
        raise _Refused(_name_reason(node.id, called=False))  # type: ignore[attr-defined]
    what = _REFUSED_NODES.get(kind, f"the expression {kind.__name__}")
    msg = f"{what} ({_snippet(node)}) is not allowed"
    raise _Refused(msg)


def _snippet(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 40 else text[:37] + "..."


def _name_reason(name: str, *, called: bool) -> str:
    if name.startswith("__") or name.endswith("__"):
        return f"the dunder name {name!r} is not allowed"
    if called:
        return f"calling {name}() is not allowed"
    return (
        f"the name {name!r} is not allowed inside an expression "
        "(only a whole value may be a bare word)"
    )


_SYMBOLS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
}


def _plain(value: Any) -> Any:
    """The JSON form of an evaluated value: tuples and sets as lists; inf and nan refused."""
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):
            msg = f"the result {value!r} cannot be stored in config.json"
            raise _Refused(msg, "write a finite number, or a string such as 'inf'")
        return value
    if kind is list or kind is tuple:
        return [_plain(v) for v in value]
    if kind is set:
        items = [_plain(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    if kind is dict:
        return {k: _plain(v) for k, v in value.items()}
    return value


def _parse_expression(text: str) -> ast.expr:
    source = text if "\n" not in text else f"(\n{text}\n)"
    if "\\" in text:  # an invalid escape such as "\d" warns while parsing: it stays as written
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source, mode="eval")
    else:
        tree = ast.parse(source, mode="eval")
    return tree.body


def evaluate(text: str) -> Any:
    """Evaluate one ``.cfg`` value safely and return its JSON form.

    Raises:
        ConfigError: the value is not an allowed expression, or its result is too large.

    Example:
        >>> evaluate("max(128, 3 * 64)"), evaluate("relu"), evaluate("(1, 2)")
        (192, 'relu', [1, 2])
    """
    try:
        return _evaluate(text)
    except _Refused as exc:
        shown = repr(text) if len(text) <= 60 else repr(text[:57] + "...")
        msg = f"Value {shown} is refused: {exc.reason}; {exc.hint}."
        raise ConfigError(msg, value=text) from None


def _evaluate(text: str) -> Any:
    # The common plain values skip the parser.
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        value = float(text)
        if math.isfinite(value):
            return value
    if text.isidentifier():
        if text in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[text]
        if not (text.startswith("__") or text.endswith("__")) and text.isascii():
            return text
    first = text[:1]
    if first in ("'", '"') and len(text) >= 2 and text[-1] == first:
        inner = text[1:-1]
        if first not in inner and "\\" not in inner and "\n" not in inner:
            return inner
    if len(text) > MAX_TEXT:
        msg = f"the text is {len(text):,} characters long, more than the limit of {MAX_TEXT:,}"
        raise _Refused(msg, "make the value shorter")
    try:
        node = _parse_expression(text)
    except SyntaxError as exc:
        detail = (exc.msg or "invalid syntax").rstrip(".")
        quoted = repr(text) if "\n" not in text and len(text) <= 60 else "the text in quotes"
        msg = f"it is not a valid Python expression ({detail})"
        raise _Refused(msg, f"write {quoted} to make it a string") from None
    except (RecursionError, MemoryError):
        msg = "it nests too deeply to parse"
        raise _Refused(msg, "write a flatter value") from None
    if type(node) is ast.Name:
        name = node.id
        if name.startswith("__") or name.endswith("__"):
            raise _Refused(_name_reason(name, called=False))
        return name
    return _plain(_eval(node, 0))


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
