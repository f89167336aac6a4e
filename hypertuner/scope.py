"""Scoped parameters: ``param_scope``, ``@auto_param`` and ``carry``; the base scope.

The values visible at any moment form a *frame*: the base config plus the ``param_scope`` blocks
around the code. The current frame lives in a ``ContextVar``, so threads and asyncio tasks never
see each other's scopes; a thread with no scope of its own sees the base config.

This module knows nothing of runs: whoever starts a run installs its config as the base with
:func:`install_base` (the run does, see :mod:`hypertuner.run`) and reads back what was used of it
with :func:`unused_keys`.
"""

from __future__ import annotations

import contextvars
import functools
import typing
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar, overload

from ._formats import parse_value
from ._trees import flatten, merge, unflatten
from ._view import ConfigView
from .errors import ConfigError

__all__ = ["Base", "Usage", "auto_param", "carry", "install_base", "param_scope", "unused_keys"]

F = TypeVar("F", bound=Callable[..., Any])


class _Raw(str):
    """A value given as text (``"dnn.layers=4"``): typed by the default it feeds."""

    __slots__ = ()


class _Frame:
    """The values visible in one scope. Immutable once made.

    ``flat`` maps dotted keys to values as given (text from ``"key=value"`` stays ``_Raw``, to be
    typed by the default it feeds); ``tree`` is the same nested, with text typed as YAML scalars
    (what ``ps.a.b`` reads); ``sections`` (made on first use) holds every dotted prefix that is a
    section.
    """

    __slots__ = ("_sections", "flat", "tree")

    def __init__(
        self, flat: dict[str, Any], tree: dict[str, Any], sections: frozenset[str] | None = None
    ) -> None:
        self.flat = flat
        self.tree = tree
        self._sections = sections

    @property
    def sections(self) -> frozenset[str]:
        if self._sections is None:
            self._sections = frozenset(p for key in self.flat for p in _parents(key))
        return self._sections


def _parents(key: str) -> list[str]:
    """``"a.b.c"`` -> ``["a", "a.b"]``."""
    parts = key.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


class Usage:
    """Which keys were read, given in scopes, and declared by ``@auto_param`` (for the report).

    Example:
        >>> sorted(Usage().reads)
        []
    """

    def __init__(self) -> None:
        self.reads: set[str] = set()
        self.scope_keys: set[str] = set()
        self.declared: set[str] = set()


class _Base:
    frame = _Frame({}, {})


_usage = Usage()
_current: contextvars.ContextVar[_Frame | None] = contextvars.ContextVar(
    "hypertuner_scope", default=None
)


def _frame() -> _Frame:
    return _current.get() or _Base.frame


def _plain(value: Any) -> Any:
    if isinstance(value, ConfigView):
        return value.to_dict()  # handing a section to a scope counts as reading it
    return value


class param_scope:
    """A block of parameter values that ``@auto_param`` functions and reads inside it see.

    Values come as ``"key=value"`` strings, keyword arguments, or nested dicts
    (``param_scope(**cfg)``); dotted keys address sections. Inner scopes override outer ones and
    restore them on exit, exceptions included. ``with param_scope(...) as ps`` gives the values as
    attributes (``ps.dnn.layers``); ``ps.get("dnn.layers", 3)`` reads with a default.

    Example:
        >>> with param_scope(a=1) as ps:
        ...     with param_scope("a=2", "dnn.layers=4") as ps2:
        ...         print(ps2.a, ps2.dnn.layers)
        ...     print(ps.a, ps.get("dnn.layers", 3))
        2 4
        1 3
    """

    def __init__(self, *assignments: str, **values: Any) -> None:
        flat: dict[str, Any] = {}
        for item in assignments:
            if not isinstance(item, str):
                msg = f"param_scope takes 'key=value' strings and keywords, not {item!r}."
                raise TypeError(msg)
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep or not key:
                msg = f"Scope value {item!r} is not 'key=value' (for example 'dnn.layers=4')."
                raise ConfigError(msg, value=item)
            flat[key] = _Raw(raw)
        for key, value in values.items():
            value = _plain(value)
            if isinstance(value, Mapping) and value:
                flat.update(flatten({key: {k: _plain(v) for k, v in value.items()}}))
            else:
                flat[key] = value
        self._values = flat
        self._tokens: list[contextvars.Token[_Frame | None]] = []

    def __enter__(self) -> ConfigView:
        # Entering costs a copy of the flat dict plus the sections the new values touch, never
        # a walk over every key: scopes nest inside loops.
        parent = _frame()
        flat = dict(parent.flat)
        parent_sections = parent.sections
        for key, value in self._values.items():
            if key in parent_sections:  # a value replaces a whole section: drop its old leaves
                prefix = key + "."
                for stale in [k for k in flat if k.startswith(prefix)]:
                    del flat[stale]
            for above in _parents(key):  # a section replaces a value that stood in its place
                flat.pop(above, None)
            flat[key] = value
        typed = {k: parse_value(v) if isinstance(v, _Raw) else v for k, v in self._values.items()}
        tree = merge(parent.tree, unflatten(typed))
        sections = parent_sections.union(p for key in self._values for p in _parents(key))
        _usage.scope_keys.update(self._values)
        self._tokens.append(_current.set(_Frame(flat, tree, sections)))
        return ConfigView.from_dict(tree, _reads=_usage.reads)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _current.reset(self._tokens.pop())


# ---------------------------------------------------------------------------------------------
# auto_param

_TRUE = frozenset({"true", "1", "yes", "on", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "off", "n", "f"})


def _convert(value: Any, default: Any, key: str, owner: str) -> Any:
    if not isinstance(value, str) or isinstance(default, str) or default is None:
        return (
            parse_value(value)
            if isinstance(value, _Raw) and default is None
            else (str(value) if isinstance(value, _Raw) else value)
        )
    text = value.strip()
    try:
        if isinstance(default, bool):
            lowered = text.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(text)
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        typed = parse_value(text)
        if isinstance(default, (list, tuple, dict)) and not isinstance(typed, type(default)):
            raise ValueError(text)
        return typed
    except (ValueError, ConfigError):
        kind = type(default).__name__
        msg = (
            f"Key {key!r} is {value!r}, which is not a valid {kind} "
            f"(the type of {owner}'s default {default!r})."
        )
        raise ConfigError(msg, key=key, value=value, expected=kind) from None


def _make_wrapper(func: Callable[..., Any], prefix: str, owner: str) -> Callable[..., Any]:
    import inspect  # at decoration time only: it is slow to import

    signature = inspect.signature(func)
    tunables: list[tuple[str, int, str, Any]] = []
    for index, param in enumerate(signature.parameters.values()):
        if param.default is inspect.Parameter.empty:
            continue
        if param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            tunables.append((param.name, index, f"{prefix}.{param.name}", param.default))
        elif param.kind is inspect.Parameter.KEYWORD_ONLY:
            tunables.append((param.name, 1 << 30, f"{prefix}.{param.name}", param.default))
    _usage.declared.update(t[2] for t in tunables)
    cache: tuple[_Frame | None, tuple[tuple[str, int, Any], ...]] = (None, ())

    def injected(frame: _Frame) -> tuple[tuple[str, int, Any], ...]:
        nonlocal cache
        flat = frame.flat
        found = []
        for name, index, key, default in tunables:
            if key in flat:
                found.append((name, index, _convert(flat[key], default, key, owner)))
                _note_read(key)
        values = tuple(found)
        cache = (frame, values)
        return values

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # Module globals are reached through functions (_frame, _note_read), never named here:
        # cloudpickle (Ray) copies a __main__ function's globals by value, and a ContextVar
        # cannot be pickled.
        frame = _frame()
        cached_frame, values = cache
        if cached_frame is not frame:
            values = injected(frame)
        if values:
            given = len(args)
            for name, index, value in values:
                if index >= given and name not in kwargs:
                    kwargs[name] = value
        return func(*args, **kwargs)

    return wrapper


def _note_read(key: str) -> None:
    _usage.reads.add(key)


def _decorate(target: Any, namespace: str | None) -> Any:
    name = target.__name__
    prefix = f"{namespace}.{name}" if namespace else name
    if isinstance(target, type):
        init = typing.cast(Any, target).__init__
        if init is object.__init__:
            return target
        target.__init__ = _make_wrapper(init, prefix, f"{name}()")  # type: ignore[misc]
        return target
    if not callable(target):
        msg = f"auto_param decorates functions and classes, not {target!r}."
        raise TypeError(msg)
    return _make_wrapper(target, prefix, f"{name}()")


@overload
def auto_param(target: F, /) -> F: ...
@overload
def auto_param(target: str | None = None, /) -> Callable[[F], F]: ...
def auto_param(target: Any = None, /) -> Any:
    """Let a function's (or class's) defaults be supplied from the current scope.

    ``def dnn(input, layers=3)`` reads ``dnn.layers``; with ``@auto_param("ns")`` it reads
    ``ns.dnn.layers``. An argument passed explicitly beats the scope, and the scope beats the
    inline default. A value given as text is converted to the default's type (``"false"`` is
    ``False`` for a bool default).

    Raises:
        ConfigError: a text value cannot be converted to the default's type (at call time).

    Example:
        >>> @auto_param
        ... def dnn(layers=3, activation="relu"):
        ...     return layers, activation
        >>> dnn()
        (3, 'relu')
        >>> with param_scope("dnn.layers=4", "dnn.activation=sigmoid"):
        ...     dnn(), dnn(layers=8)
        ((4, 'sigmoid'), (8, 'sigmoid'))
    """
    if target is None or isinstance(target, str):
        namespace = target

        def decorate(inner: F) -> F:
            return _decorate(inner, namespace)  # type: ignore[no-any-return]

        return decorate
    return _decorate(target, None)


# ---------------------------------------------------------------------------------------------
# Carrying the scope elsewhere


class _Carried:
    """A picklable callable that runs ``fn`` inside a captured scope."""

    def __init__(self, fn: Callable[..., Any] | None, flat: dict[str, Any], tree: dict[str, Any]):
        self.fn = fn
        self.flat = flat
        self.tree = tree

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        frame = _Frame(self.flat, self.tree)
        if self.fn is None:  # a worker initializer: the captured values become this process's base
            _Base.frame = frame
            return None
        token = _current.set(frame)
        try:
            return self.fn(*args, **kwargs)
        finally:
            _current.reset(token)

    def __reduce__(self) -> tuple[Any, ...]:
        plain = {
            k: (str(v), True) if isinstance(v, _Raw) else (v, False) for k, v in self.flat.items()
        }
        return (_rebuild, (self.fn, plain, self.tree))


def _rebuild(
    fn: Callable[..., Any] | None, plain: dict[str, tuple[Any, bool]], tree: dict[str, Any]
) -> _Carried:
    flat = {k: _Raw(v) if raw else v for k, (v, raw) in plain.items()}
    return _Carried(fn, flat, tree)


def carry(fn: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """Capture the current scope for another thread, process or DataLoader worker.

    ``carry(fn)`` returns a picklable callable that runs ``fn`` inside the captured scope
    (``Thread(target=carry(work))``, ``pool.submit(carry(work), x)``). ``carry()`` returns an
    initializer that makes the captured values the base of the process it runs in
    (``DataLoader(..., worker_init_fn=carry())``, ``ProcessPoolExecutor(initializer=carry())``).

    Example:
        >>> import threading
        >>> @auto_param
        ... def width(size=1):
        ...     print(size)
        >>> with param_scope(**{"width.size": 5}):
        ...     t = threading.Thread(target=carry(width)); t.start(); t.join()
        5
    """
    frame = _frame()
    return _Carried(fn, dict(frame.flat), frame.tree)


# ---------------------------------------------------------------------------------------------
# The base scope


class Base:
    """A config installed as the base scope of every thread, and what the code used of it.

    Made by :func:`install_base`; :meth:`restore` puts back the base that was there before.

    Example:
        >>> base = install_base({"lr": 0.1})
        >>> with param_scope() as ps:
        ...     ps.lr
        0.1
        >>> base.restore()
    """

    def __init__(self, tree: dict[str, Any], usage: Usage, previous: tuple[_Frame, Usage]):
        self.tree = tree
        self.usage = usage
        self._previous = previous

    def restore(self) -> None:
        """Put back the base scope (and its usage record) that this one replaced."""
        global _usage
        if _Base.frame.tree is self.tree:
            _Base.frame, _usage = self._previous


def install_base(tree: dict[str, Any]) -> Base:
    """Make ``tree`` (a resolved config) the base scope of every thread and start recording
    which of its keys the code reads.

    Example:
        >>> base = install_base({"dnn": {"layers": 4}})
        >>> @auto_param
        ... def dnn(layers=3):
        ...     return layers
        >>> dnn(), unused_keys(base)
        (4, ([], []))
        >>> base.restore()
    """
    global _usage
    previous = (_Base.frame, _usage)
    usage = Usage()
    usage.declared = _usage.declared  # decorators ran once, at import time
    _Base.frame = _Frame(flatten(tree), tree)
    _usage = usage
    return Base(tree, usage, previous)


def unused_keys(base: Base) -> tuple[list[str], list[str]]:
    """Return ``(unread, undeclared)``: the config keys nothing read, and the keys given in
    scopes that no ``@auto_param`` declares and no config holds (each a likely typo).

    Example:
        >>> base = install_base({"lr": 0.1, "epochs": 3})
        >>> with param_scope() as ps:
        ...     _ = ps.lr
        >>> unused_keys(base)
        (['epochs'], [])
        >>> base.restore()
    """
    usage = base.usage
    keys = flatten(base.tree)
    unread = sorted(k for k in keys if k not in usage.reads)
    known = set(keys)
    undeclared = sorted(
        k
        for k in usage.scope_keys
        if k not in usage.declared
        and k not in known
        and not any(c.startswith(k + ".") for c in known)
    )
    return unread, undeclared
