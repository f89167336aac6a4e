"""Dataclass defaults: a dataclass's values and field types, and values checked against them."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from ._trees import sections
from .errors import ConfigError, UnknownKeyError

if typing.TYPE_CHECKING:
    from ._formats import _Source

# ---------------------------------------------------------------------------------------------
# Dataclass defaults


def dataclass_tree(schema: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (defaults, {dotted key: type}) of a dataclass type or instance."""
    cls = schema if isinstance(schema, type) else type(schema)
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    types_: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        tp = hints.get(field.name, Any)
        if not isinstance(schema, type):
            value = getattr(schema, field.name)
        elif field.default is not dataclasses.MISSING:
            value = field.default
        elif field.default_factory is not dataclasses.MISSING:
            value = field.default_factory()
        elif dataclasses.is_dataclass(tp):
            value = tp
        else:
            value = _REQUIRED
        if dataclasses.is_dataclass(value):
            sub_values, sub_types = dataclass_tree(value)
            values[field.name] = sub_values
            types_[field.name] = _Section
            types_.update({f"{field.name}.{k}": t for k, t in sub_types.items()})
        else:
            if isinstance(value, enum.Enum):
                value = value.name
            values[field.name] = value
            types_[field.name] = tp
    return values, types_


class _Required:
    def __repr__(self) -> str:
        return "<required>"


class _Section:
    pass


_REQUIRED: Any = _Required()


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "None"
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _check_type(value: Any, tp: Any, key: str) -> Any:
    """Return ``value`` checked (and widened: int to float) against ``tp``, or raise."""
    if tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _check_type(value, option, key)
            except ConfigError:
                continue
        _type_mismatch(key, tp, value)
    if origin is typing.Literal:
        if value in args:
            return value
        _type_mismatch(key, tp, value)
    if tp is type(None):
        if value is None:
            return value
        _type_mismatch(key, tp, value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        _type_mismatch(key, tp, value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        _type_mismatch(key, tp, value)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        _type_mismatch(key, tp, value)
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # a name like 'run-2024' typed on the command line reads as 2024
        _type_mismatch(key, tp, value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        names = [m.name for m in tp]
        if value in names:
            return value
        _type_mismatch(key, tp, value, extra=f" (one of {', '.join(map(repr, names))})")
    if origin in (list, tuple, typing.Sequence) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            _type_mismatch(key, tp, value)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                _type_mismatch(key, tp, value)
            return [
                _check_type(v, a, f"{key}[{i}]")
                for i, (v, a) in enumerate(zip(args, value, strict=True))
            ]
        inner = args[0] if args else Any
        return [_check_type(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, typing.Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            _type_mismatch(key, tp, value)
        inner = args[1] if len(args) == 2 else Any
        return {k: _check_type(v, inner, f"{key}.{k}") for k, v in value.items()}
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        _type_mismatch(key, tp, value)
    return value


def _type_mismatch(key: str, tp: Any, value: Any, extra: str = "") -> NoReturn:
    msg = f"Key {key!r} expects {_type_name(tp)}{extra}, got {value!r} ({type(value).__name__})."
    raise ConfigError(msg, key=key, value=value, expected=_type_name(tp))


def check_keys(tree: Mapping[str, Any], schema: Mapping[str, Any], source: _Source) -> None:
    """Refuse a key of a config file that the dataclass does not declare (file and line named)."""
    valid = sorted(schema)
    for key in sections(tree):
        if key == "run" or key.startswith("run."):
            continue
        if key not in schema and not any(
            key.startswith(k + ".") for k, t in schema.items() if t is not _Section
        ):
            line = source.line(key)
            at = f" (line {line})" if line else ""
            raise UnknownKeyError.for_key(
                key,
                valid,
                where=f" in config file {source.path!r}{at}",
                path=source.path,
                line=line,
            )


def validate(
    tree: dict[str, Any], schema: dict[str, Any], origin: Callable[[str], str]
) -> dict[str, Any]:
    """Check every value against its field's type; ``origin(key)`` says which layer set it."""
    flat_types = {k: t for k, t in schema.items()}

    def walk(node: dict[str, Any], prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            full = prefix + key
            tp = flat_types.get(full)
            if tp is _Section and isinstance(value, dict):
                out[key] = walk(value, full + ".")
                continue
            if value is _REQUIRED:
                msg = (
                    f"Key {full!r} has no value: its dataclass field has no default, so set it in "
                    f"a config file or on the command line ({full}=...)."
                )
                raise ConfigError(msg, key=full)
            if tp is None:
                out[key] = value
                continue
            try:
                out[key] = _check_type(value, tp, full) if tp is not _Section else value
            except ConfigError as exc:
                msg = f"{exc.message[:-1]}, set by {origin(full)}."
                raise ConfigError(msg, key=full, value=value, expected=_type_name(tp)) from None
        return out

    return walk(tree, "")
