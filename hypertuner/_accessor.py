"""The accessor ``ps.a.b``: a dotted key of a scope, read when used (hyperparameter's reads).

``acc | default`` and ``acc(default)`` read with a default and convert to its type as
hyperparameter 0.5.12 does (:func:`_or_else`); used as a value, an accessor is the value itself.
"""

from __future__ import annotations

import operator
import typing
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from ._scopestate import (
    _FALSE,
    _MISSING,
    _TRUE,
    _Base,
    _current,
    _Frame,
    _frame,
    _parents,
    _stored,
    _typed,
    _write_current,
)
from ._trees import copy_tree, flatten, unflatten
from ._view import ConfigView
from .errors import HypertunerWarning, UnknownKeyError


class _Handle(Protocol):
    """What an accessor needs of the scope it reads (a ``param_scope``)."""

    _active: bool

    def _lookup(self, key: str) -> Any: ...

    def _view(self) -> dict[str, Any]: ...

    def _write(self, values: Mapping[str, Any]) -> None: ...


def _plain(value: Any) -> Any:
    if isinstance(value, ConfigView):
        return value.to_dict()  # handing a section to a scope counts as reading it
    if isinstance(value, _Accessor):
        return value._plain_value()
    return value


def _flat_values(key: str, value: Any) -> dict[str, Any]:
    """``{key: value}`` with a dict value spread into dotted keys (``ps.g = {"h": 1}``)."""
    value = _plain(value)
    if isinstance(value, Mapping) and value:
        return flatten({key: {k: _plain(v) for k, v in value.items()}})
    return {key: value}


# ---------------------------------------------------------------------------------------------
# Reading with a default: hyperparameter 0.5.12's conversions


def _or_else(value: Any, default: Any, key: str) -> Any:
    """``value`` (present) converted to ``default``'s type as hyperparameter 0.5.12 converts it.

    Where 0.5.12 gives back the text unchanged (a number default, text that is no number) or the
    default (a bool default, a value that is no bool word), a warning says so: never silently.
    """
    if default is None:
        return _stored(value)
    if value is None:
        return default
    kind = type(default)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
        return _fallback(key, value, default, default)
    if kind is int:
        if isinstance(value, str):
            text = value.strip()
            try:
                return int(text)
            except ValueError:
                pass
            try:
                number = float(text)
            except ValueError:
                return _fallback(key, value, default, str(value))
            return int(number) if number.is_integer() else number
        try:
            converted = int(value)
        except (TypeError, ValueError, OverflowError):
            return _fallback(key, value, default, value)
        if converted != value and not isinstance(value, bool):
            _warn_read(key, value, default, converted)
        return converted
    if kind is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            return _fallback(key, value, default, _stored(value))
    if kind is str:
        return str(value)
    return _stored(value)


def _fallback(key: str, value: Any, default: Any, result: Any) -> Any:
    _warn_read(key, value, default, result)
    return result


def _warn_read(key: str, value: Any, default: Any, result: Any) -> None:
    kind = type(default).__name__
    msg = (
        f"Scope key {key!r} holds {_stored(value)!r}, which is not a valid {kind} (the type of "
        f"the default {default!r}): the read gives {_stored(result)!r}, as hyperparameter does."
    )
    warnings.warn(msg, HypertunerWarning, stacklevel=5)


# ---------------------------------------------------------------------------------------------
# The accessor


def _binary(op: Callable[[Any, Any], Any], *, reflected: bool = False) -> Callable[..., Any]:
    if reflected:

        def method(self: _Accessor, other: Any) -> Any:
            return op(_plain(other), self._value())

    else:

        def method(self: _Accessor, other: Any) -> Any:
            return op(self._value(), _plain(other))

    return method


def _unary(op: Callable[[Any], Any]) -> Callable[..., Any]:
    def method(self: _Accessor) -> Any:
        return op(self._value())

    return method


class _Accessor:
    """A dotted key of a scope, read when it is used: ``ps.model.layers``.

    ``acc | default`` and ``acc(default)`` read it with a default (hyperparameter's reads: the
    default when missing, else the value converted to the default's type), ``acc()`` reads it as
    stored (``None`` when missing), ``acc.name`` / ``acc["name"]`` extend the key, and
    ``acc.name = value`` writes. Used as a value (compared, computed with, printed, ``int()``),
    it is the value itself, text from ``"key=value"`` typed as YAML; a missing key then raises
    :class:`~hypertuner.errors.UnknownKeyError` naming the nearest key.
    """

    __slots__ = ("__dict__", "_key", "_scope")
    _key: str
    _scope: _Handle | None  # None: the current scope, whichever it is when read

    def __init__(self, scope: _Handle | None, key: str) -> None:
        object.__setattr__(self, "_scope", scope)
        object.__setattr__(self, "_key", key)

    # -- hyperparameter's reads ------------------------------------------------------------

    def __or__(
        self,
        default: Any,
        _current_frame: Callable[[], _Frame | None] = _current.get,  # bound once: a hot path
    ) -> Any:
        key = self._key
        scope = self._scope
        if scope is None or scope._active:
            value = (_current_frame() or _Base.frame).flat.get(key, _MISSING)
        else:
            value = scope._lookup(key)
        if value is _MISSING:
            return default
        _Base.reads.add(key)
        if type(value) is type(default):
            return value
        return _or_else(value, default, key)

    def __call__(
        self,
        default: Any = None,
        _current_frame: Callable[[], _Frame | None] = _current.get,  # bound once: a hot path
    ) -> Any:
        # The body of __or__ again: one call less on a hot path.
        key = self._key
        scope = self._scope
        if scope is None or scope._active:
            value = (_current_frame() or _Base.frame).flat.get(key, _MISSING)
        else:
            value = scope._lookup(key)
        if value is _MISSING:
            return default
        _Base.reads.add(key)
        if type(value) is type(default):
            return value
        return _or_else(value, default, key)

    def get_or_else(self, default: Any) -> Any:
        """The value converted to ``default``'s type, or ``default`` when the key is missing."""
        return self.__or__(default)

    def __bool__(self) -> bool:
        value = self._get()
        if value is _MISSING:
            return False
        _Base.reads.add(self._key)
        return bool(_typed(value))

    # -- key paths and writes --------------------------------------------------------------

    def __getattr__(self, name: str) -> _Accessor:
        if name.startswith("_"):
            raise AttributeError(name)
        child = _Accessor(self._scope, f"{self._key}.{name}")
        self.__dict__[name] = child  # later reads of the same path are plain attribute reads
        return child

    def __setattr__(self, name: str, value: Any) -> None:
        _write(self._scope, _flat_values(f"{self._key}.{name}", value))

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, str):
            return _Accessor(self._scope, f"{self._key}.{item}")
        return self._value()[item]

    def __setitem__(self, item: str, value: Any) -> None:
        _write(self._scope, _flat_values(f"{self._key}.{item}", value))

    # -- the value itself ------------------------------------------------------------------

    def _get(self) -> Any:
        scope = self._scope
        if scope is None:
            return (_current.get() or _Base.frame).flat.get(self._key, _MISSING)
        return scope._lookup(self._key)

    def _view(self) -> dict[str, Any]:
        return _frame().flat if self._scope is None else self._scope._view()

    def _value(self) -> Any:
        """The value (typed), or the section under the key as a dict; raises when missing."""
        value = self._get()
        if value is not _MISSING:
            _Base.reads.add(self._key)
            return _typed(value)
        section = self._section()
        if section is None:
            view = self._view()
            valid = set(view) | {p for key in view for p in _parents(key)}
            raise UnknownKeyError.for_key(self._key, sorted(valid))
        return section

    def _section(self) -> dict[str, Any] | None:
        prefix = self._key + "."
        found = {k[len(prefix) :]: v for k, v in self._view().items() if k.startswith(prefix)}
        if not found:
            return None
        _Base.reads.update(prefix + k for k in found)
        return unflatten({k: _typed(v) for k, v in found.items()})

    def _plain_value(self) -> Any:
        """What a scope stores when given this accessor: the value as stored, or the section."""
        value = self._get()
        if value is not _MISSING:
            return _stored(value)
        section = self._section()
        if section is None:
            return self._value()  # raises the unknown-key error
        return section

    def to_dict(self) -> dict[str, Any]:
        """The section under this key as nested plain data (counts as reading every key)."""
        value = self._value()
        if not isinstance(value, dict):
            msg = f"Scope key {self._key!r} is a value ({value!r}), not a section."
            raise TypeError(msg)
        return typing.cast(dict[str, Any], copy_tree(value))

    def __eq__(self, other: object) -> bool:
        return bool(self._value() == _plain(other))

    def __ne__(self, other: object) -> bool:
        return bool(self._value() != _plain(other))

    def __hash__(self) -> int:
        return hash(self._value())

    def __repr__(self) -> str:
        value = self._get()
        if value is not _MISSING:
            return repr(_typed(value))
        section = self._section()
        if section is not None:
            return repr(section)
        return f"<param_scope key {self._key!r}: missing>"

    def __str__(self) -> str:
        return str(self._value())

    def __format__(self, spec: str) -> str:
        return format(self._value(), spec)

    def __int__(self) -> int:
        return int(self._value())

    def __float__(self) -> float:
        return float(self._value())

    def __index__(self) -> int:
        return operator.index(self._value())

    def __round__(self, ndigits: int | None = None) -> Any:
        return round(self._value(), ndigits)

    def __len__(self) -> int:
        return len(self._value())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._value())

    def __contains__(self, item: object) -> bool:
        return item in self._value()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_identity, (self._plain_value(),))

    __lt__ = _binary(operator.lt)
    __le__ = _binary(operator.le)
    __gt__ = _binary(operator.gt)
    __ge__ = _binary(operator.ge)
    __add__ = _binary(operator.add)
    __radd__ = _binary(operator.add, reflected=True)
    __sub__ = _binary(operator.sub)
    __rsub__ = _binary(operator.sub, reflected=True)
    __mul__ = _binary(operator.mul)
    __rmul__ = _binary(operator.mul, reflected=True)
    __truediv__ = _binary(operator.truediv)
    __rtruediv__ = _binary(operator.truediv, reflected=True)
    __floordiv__ = _binary(operator.floordiv)
    __rfloordiv__ = _binary(operator.floordiv, reflected=True)
    __mod__ = _binary(operator.mod)
    __rmod__ = _binary(operator.mod, reflected=True)
    __pow__ = _binary(operator.pow)
    __rpow__ = _binary(operator.pow, reflected=True)
    __matmul__ = _binary(operator.matmul)
    __rmatmul__ = _binary(operator.matmul, reflected=True)
    __neg__ = _unary(operator.neg)
    __pos__ = _unary(operator.pos)
    __abs__ = _unary(operator.abs)


def _identity(value: Any) -> Any:
    return value


def _write(scope: _Handle | None, values: Mapping[str, Any]) -> None:
    if scope is None:
        _write_current(values)
    else:
        scope._write(values)
