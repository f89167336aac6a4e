"""Scoped parameters: ``param_scope``, ``@auto_param`` and ``carry``; the base scope.

The values visible at any moment form a *frame* (:mod:`hypertuner._scopestate`): the base config
under the ``param_scope`` blocks around the code and the values written into them, kept in a
``ContextVar`` so that threads and asyncio tasks never see each other's scopes; a thread with no
scope of its own sees the base config. ``ps.a.b`` is an accessor (:mod:`hypertuner._accessor`).
The API is hyperparameter 0.5.12's (its reads with a
default, writes into the current scope, ``empty``/``current``/``frozen``), plus hypertuner's own
(an accessor compares and computes like its value; unknown keys are errors with a suggestion).

This module knows nothing of runs: whoever starts a run installs its config as the base with
:func:`install_base` (the run does, see :mod:`hypertuner.run`) and reads back what was used of it
with :func:`unused_keys`.
"""

from __future__ import annotations

import contextvars
import functools
import typing
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar, overload

from ._accessor import _Accessor, _flat_values
from ._formats import parse_value
from ._scopestate import (
    _EMPTY,
    _FALSE,
    _MISSING,
    _TRUE,
    Usage,
    _Base,
    _current,
    _Frame,
    _frame,
    _merged,
    _Raw,
    _root,
    _set_base,
    _stored,
    _typed,
    _write_current,
)
from ._trees import copy_tree, flatten, unflatten
from .errors import ConfigError

__all__ = [
    "Base",
    "Usage",
    "auto_param",
    "carry",
    "declared_keys",
    "install_base",
    "param_scope",
    "unused_keys",
]

F = TypeVar("F", bound=Callable[..., Any])


# ---------------------------------------------------------------------------------------------
# param_scope


class _ScopeClass(type):
    """``param_scope.x`` reads and ``param_scope.x = v`` writes the current scope."""

    def __getattr__(cls, name: str) -> _Accessor:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Accessor(None, name)

    def __setattr__(cls, name: str, value: Any) -> None:
        if name.startswith("_") or hasattr(type(cls), name) or name in cls.__dict__:
            super().__setattr__(name, value)
            return
        _write_current(_flat_values(name, value))


class _Storage:
    """What ``ps.storage()`` gives (hyperparameter's internal storage, for its docstrings)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def storage(self) -> dict[str, Any]:
        """The flat ``{dotted key: value}`` dict of the scope."""
        return dict(self._values)


class param_scope(metaclass=_ScopeClass):
    """A block of parameter values that ``@auto_param`` functions and reads inside it see.

    Values come as ``"key=value"`` strings (kept as text until a default types them), keyword
    arguments, or nested dicts (``param_scope(**cfg)``); dotted keys address sections. Inner
    scopes override outer ones and restore them on exit, exceptions included.

    Reads, as in hyperparameter: ``ps.x | default`` and ``ps.x(default)`` give the value
    converted to the default's type, or the default when ``x`` is missing; ``ps.x()`` gives the
    value as stored (``None`` when missing); ``param_scope.x | default`` reads the current scope
    through the class. ``ps.x`` itself is an accessor that compares and computes like its value
    (``ps.dnn.layers == 4``, ``ps.lr * 2``); used so when missing, it raises
    :class:`~hypertuner.errors.UnknownKeyError` with the nearest key.

    Writes: ``ps.foo.x = 2``, ``ps["foo.x"] = 2`` and ``param_scope.z = 3`` set the value in the
    current scope only (gone when it ends, never seen by another thread); a scope not entered
    keeps its writes to itself until it is. ``ps.put``, ``ps.update``, ``ps.clear``,
    ``ps.keys()``, ``dict(ps)``, iteration (``(key, value)`` pairs) and ``ps.get`` work as in
    hyperparameter; ``param_scope.empty(...)``, ``param_scope.current()`` and
    ``param_scope.frozen()`` too.

    Raises:
        ConfigError: a string is not ``'key=value'``.

    Example:
        >>> with param_scope(a=1) as ps:
        ...     with param_scope("a=2", "dnn.layers=4") as ps2:
        ...         print(ps2.a == 2, ps2.dnn.layers | 3, ps2.missing | "default")
        ...     print(ps.a(), ps.dnn.layers(3), param_scope.a | 0)
        True 4 default
        1 3 1
        >>> with param_scope() as ps:
        ...     ps.foo.x = 2
        ...     param_scope.foo.x | 0
        2
        >>> param_scope.foo.x | 0
        0
    """

    __slots__ = ("__dict__", "_active", "_empty", "_live", "_own", "_shared", "_tokens")
    _active: bool  # entered (reads and writes go to the current scope), or current()
    _empty: bool  # holds only its own values (empty(), clear())
    _live: bool  # a handle on whatever scope is current (current())
    _own: dict[str, Any]  # the values of a scope not entered (those it had when it ended)
    _shared: bool  # _own is a frame's dict: copy it before writing
    _tokens: list[contextvars.Token[_Frame | None]]

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
            flat.update(_flat_values(key, value))
        setattr_ = object.__setattr__
        setattr_(self, "_own", flat)
        setattr_(self, "_shared", False)
        setattr_(self, "_empty", False)
        setattr_(self, "_live", False)
        setattr_(self, "_active", False)
        setattr_(self, "_tokens", [])

    # -- entering and leaving --------------------------------------------------------------

    def __enter__(self) -> param_scope:
        parent = _EMPTY if self._empty else (_current.get() or _Base.frame)
        frame = _merged(parent, self._own) if self._own or self._empty else parent
        if frame is parent:
            frame = _Frame(parent.flat, parent._sections)  # a scope of its own to write into
        _Base.usage.scope_keys.update(self._own)
        self._tokens.append(_current.set(frame))
        object.__setattr__(self, "_active", True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        ended = _current.get()
        _current.reset(self._tokens.pop())
        if _current.get() is None:
            root = _root.get()  # frozen() inside the scope: this thread keeps its old base
            if root is not None:
                _current.set(root)
        if ended is not None:  # the scope keeps the values it ended with (hyperparameter's)
            object.__setattr__(self, "_own", ended.flat)
            object.__setattr__(self, "_shared", True)
        object.__setattr__(self, "_active", bool(self._tokens) or self._live)

    # -- reads and writes ------------------------------------------------------------------

    def __call__(self) -> param_scope:
        """``ps()`` is the scope itself, as in hyperparameter (``ps().a.b(default)``)."""
        return self

    def _lookup(self, key: str) -> Any:
        if self._active:
            return (_current.get() or _Base.frame).flat.get(key, _MISSING)
        value = self._own.get(key, _MISSING)
        if value is _MISSING and not self._empty:
            value = (_current.get() or _Base.frame).flat.get(key, _MISSING)
        return value

    def _view(self) -> dict[str, Any]:
        if self._active:
            return _frame().flat
        if self._empty:
            return self._own
        return _merged(_frame(), self._own).flat

    def _write(self, values: Mapping[str, Any]) -> None:
        if self._active:
            _write_current(values)
            return
        own = dict(self._own) if self._shared else self._own
        object.__setattr__(self, "_own", _merged(_Frame(own), values).flat)
        object.__setattr__(self, "_shared", False)

    def __getattr__(self, name: str) -> _Accessor:
        if name.startswith("_"):
            raise AttributeError(name)
        accessor = _Accessor(self, name)
        self.__dict__[name] = accessor  # later reads of ps.name are plain attribute reads
        return accessor

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            msg = f"Scope keys cannot start with '_' ({name!r}): use ps[{name!r}] = ..."
            raise AttributeError(msg)
        self._write(_flat_values(name, value))

    def __getitem__(self, key: str) -> Any:
        if self._active:  # _lookup's first case, inline: the hot one
            value = (_current.get() or _Base.frame).flat.get(key, _MISSING)
        else:
            value = self._lookup(key)
        if value is _MISSING:
            return _Accessor(self, key)
        _Base.reads.add(key)
        return str(value) if type(value) is _Raw else value

    def __setitem__(self, key: str, value: Any) -> None:
        self._write(_flat_values(key, value))

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if self._lookup(key) is not _MISSING:
            return True
        prefix = key + "."
        return any(k.startswith(prefix) for k in self._view())

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter([(k, _stored(v)) for k, v in self._view().items()])

    def keys(self) -> list[str]:
        """The dotted keys this scope sees, inherited ones included.

        Example:
            >>> sorted(param_scope.empty(a=1, b={"c": 2}).keys())
            ['a', 'b.c']
        """
        return list(self._view())

    @overload
    def get(self, key: str) -> Any: ...
    @overload
    def get(self, key: str, default: Any) -> Any: ...
    def get(self, key: str, default: Any = _MISSING) -> Any:
        """Return the value of the dotted ``key``.

        Without a default (hyperparameter's ``get``): the value as stored, or a falsy accessor
        when missing (``ps.get("x") | 3``). With one (hypertuner's): the value as ``ps.key``
        compares, or ``default`` when missing.

        Example:
            >>> ps = param_scope(**{"dnn.layers": 4})
            >>> ps.get("dnn.layers"), ps.get("dnn.width", 128), ps.get("dnn.width") | 64
            (4, 128, 64)
        """
        value = self._lookup(key)
        if value is _MISSING:
            if default is not _MISSING:
                return default
            section = _Accessor(self, key)
            return section if section._section() is None else section._value()
        _Base.reads.add(key)
        return _stored(value) if default is _MISSING else _typed(value)

    def put(self, key: str, value: Any) -> None:
        """Set the dotted ``key`` (a dict value becomes dotted keys under it).

        Example:
            >>> ps = param_scope()
            >>> ps.put("a.b", 1); ps.a.b()
            1
        """
        self._write(_flat_values(key, value))

    def update(self, values: Mapping[str, Any] | None = None, /, **more: Any) -> param_scope:
        """Set several keys (nested dicts become dotted keys); returns the scope.

        Example:
            >>> dict(param_scope.empty(a=1).update({"c": {"d": 3}}, a=5))
            {'a': 5, 'c.d': 3}
        """
        flat: dict[str, Any] = {}
        for key, value in {**(values or {}), **more}.items():
            flat.update(_flat_values(key, value))
        self._write(flat)
        return self

    def clear(self) -> param_scope:
        """Remove every value this scope sees, inherited ones included; returns the scope.

        Example:
            >>> dict(param_scope.empty(a=1).clear())
            {}
        """
        if self._active:
            current = _current.get()
            cleared = _Frame({}, overlay={})
            if current is None or current is _root.get():
                _root.set(cleared)
            _current.set(cleared)
        else:
            object.__setattr__(self, "_own", {})
            object.__setattr__(self, "_shared", False)
            object.__setattr__(self, "_empty", True)
        return self

    def storage(self) -> _Storage:
        """The scope's storage (hyperparameter's API): ``ps.storage().storage()`` is a flat dict.

        Example:
            >>> param_scope.empty(a=1).storage().storage()
            {'a': 1}
        """
        return _Storage({k: _stored(v) for k, v in self._view().items()})

    def to_dict(self) -> dict[str, Any]:
        """The values this scope sees as nested plain data (text typed as in comparisons).

        Example:
            >>> param_scope.empty("a.b=4", c=[1]).to_dict()
            {'a': {'b': 4}, 'c': [1]}
        """
        view = self._view()
        _Base.reads.update(view)
        return unflatten({k: copy_tree(_typed(v)) for k, v in view.items()})

    def __repr__(self) -> str:
        values = {k: _stored(v) for k, v in self._view().items()}
        return f"param_scope({values!r})"

    # -- hyperparameter's class methods ----------------------------------------------------

    @classmethod
    def empty(cls, *assignments: str, **values: Any) -> param_scope:
        """A scope that holds only the given values: nothing around it is seen inside it.

        Example:
            >>> with param_scope(a="not empty"):
            ...     with param_scope.empty(b=2) as ps:
            ...         ps.a | "empty", ps.b | 0
            ('empty', 2)
        """
        scope = cls(*assignments, **values)
        object.__setattr__(scope, "_empty", True)
        return scope

    @classmethod
    def current(cls) -> param_scope:
        """A handle on the current scope (whichever is current when it is used).

        Example:
            >>> with param_scope(a=1):
            ...     param_scope.current().a("empty")
            '1'
        """
        scope = cls()
        object.__setattr__(scope, "_live", True)
        object.__setattr__(scope, "_active", True)
        return scope

    @staticmethod
    def frozen() -> None:
        """Make the values this thread sees now the base every new thread starts from.

        This thread keeps its own values (it does not see the new base once it leaves its
        scopes); a later ``frozen()`` replaces the base again.

        Example:
            >>> import threading
            >>> with param_scope(x=1):
            ...     param_scope.frozen()
            >>> seen = []
            >>> t = threading.Thread(target=lambda: seen.append(param_scope.x | 0))
            >>> t.start(); t.join(); seen, param_scope.x | 0
            ([1], 0)
            >>> _ = install_base({})  # (undo the example: an empty base again)
        """
        snapshot = _frame()
        previous = _Base.frame
        if _root.get() is None:
            _root.set(previous)
        if _current.get() is None:
            _current.set(previous)
        _Base.frame = _Frame(snapshot.flat, snapshot._sections)

    @staticmethod
    def init(params: Mapping[str, Any] | None = None) -> None:
        """Set ``params`` in the current scope of this thread for good (a thread's setup).

        Example:
            >>> import threading
            >>> seen = []
            >>> def work():
            ...     param_scope.init({"q": 5})
            ...     seen.append(param_scope.q | 0)
            >>> t = threading.Thread(target=work); t.start(); t.join(); seen
            [5]
        """
        flat: dict[str, Any] = {}
        for key, value in (params or {}).items():
            flat.update(_flat_values(key, value))
        if flat:
            _write_current(flat)


# ---------------------------------------------------------------------------------------------
# auto_param


def _convert(value: Any, default: Any, key: str, owner: str) -> Any:
    """A scope value for a parameter: text takes the default's type, other values are kept.

    As in hyperparameter, text for an int default may be a float (``"2.5"`` gives 2.5); text
    that is no number, or no bool word for a bool default, is an error here (hyperparameter
    passes it on as it is).
    """
    if not isinstance(value, str):
        return value
    if default is None or isinstance(default, str):
        return str(value)
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
            try:
                return int(text)
            except ValueError:
                number = float(text)
                return int(number) if number.is_integer() else number
        if isinstance(default, float):
            return float(text)
        typed = parse_value(text)
        if isinstance(default, (list, tuple, dict)) and not isinstance(typed, type(default)):
            raise ValueError(text)
        return typed
    except (ValueError, ConfigError):
        kind = type(default).__name__
        msg = (
            f"Key {key!r} is {str(value)!r}, which is not a valid {kind} "
            f"(the type of {owner}'s default {default!r})."
        )
        raise ConfigError(msg, key=key, value=str(value), expected=kind) from None


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
    _Base.usage.declared.update((t[2], t[3]) for t in tunables)
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

    wrapper._auto_param_namespace = prefix  # type: ignore[attr-defined]
    wrapper._auto_param_wrapped = func  # type: ignore[attr-defined]
    return wrapper


def _note_read(key: str) -> None:
    _Base.reads.add(key)


def _decorate(target: Any, namespace: str | None) -> Any:
    name = target.__name__
    prefix = namespace or name
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

    ``def dnn(input, layers=3)`` reads ``dnn.layers`` (a class: ``ClassName.arg`` for its
    ``__init__``). A name gives the full key prefix, as in hyperparameter:
    ``@auto_param("myns.dnn.params")`` reads ``myns.dnn.params.layers``. An argument passed
    explicitly (by keyword or by position) beats the scope, and the scope beats the inline
    default. A value given as text is converted to the default's type (``"false"`` is ``False``
    for a bool default; text for a ``None`` default stays text).

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
        >>> @auto_param("myns.net")
        ... def net(width=8):
        ...     return width
        >>> with param_scope(**{"myns.net.width": 16}):
        ...     net()
        16
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

    def __init__(self, fn: Callable[..., Any] | None, flat: dict[str, Any]):
        self.fn = fn
        self.flat = flat

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        frame = _Frame(self.flat)
        if self.fn is None:  # a worker initializer: the captured values become this process's base
            _Base.frame = frame
            return None
        token = _current.set(frame)
        try:
            return self.fn(*args, **kwargs)
        finally:
            _current.reset(token)

    def __reduce__(self) -> tuple[Any, ...]:
        plain = {k: (str(v), True) if type(v) is _Raw else (v, False) for k, v in self.flat.items()}
        return (_rebuild, (self.fn, plain))


def _rebuild(fn: Callable[..., Any] | None, plain: dict[str, tuple[Any, bool]]) -> _Carried:
    flat = {k: _Raw(v) if raw else v for k, (v, raw) in plain.items()}
    return _Carried(fn, flat)


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
    return _Carried(fn, dict(_frame().flat))


# ---------------------------------------------------------------------------------------------
# The base scope


class Base:
    """A config installed as the base scope of every thread, and what the code used of it.

    Made by :func:`install_base`; :meth:`restore` puts back the base that was there before.

    Example:
        >>> base = install_base({"lr": 0.1})
        >>> with param_scope() as ps:
        ...     ps.lr()
        0.1
        >>> base.restore()
    """

    def __init__(
        self, tree: dict[str, Any], frame: _Frame, usage: Usage, previous: tuple[_Frame, Usage]
    ):
        self.tree = tree
        self.usage = usage
        self._frame = frame
        self._previous = previous

    def restore(self) -> None:
        """Put back the base scope (and its usage record) that this one replaced."""
        if _Base.frame is self._frame:
            frame, usage = self._previous
            _Base.use(usage)
            _set_base(frame)


def install_base(tree: dict[str, Any]) -> Base:
    """Make ``tree`` (a resolved config) the base scope of every thread and start recording
    which of its keys the code reads.

    Values this thread wrote outside any scope (``param_scope.x = 1``) stay over the new base.

    Example:
        >>> base = install_base({"dnn": {"layers": 4}})
        >>> @auto_param
        ... def dnn(layers=3):
        ...     return layers
        >>> dnn(), unused_keys(base)
        (4, ([], []))
        >>> base.restore()
    """
    previous = (_Base.frame, _Base.usage)
    usage = Usage()
    usage.declared = _Base.usage.declared  # decorators ran once, at import time
    frame = _Frame(flatten(tree))
    _set_base(frame)
    _Base.use(usage)
    return Base(tree, frame, usage, previous)


def declared_keys() -> dict[str, Any]:
    """The keys that ``@auto_param`` functions read, with their inline defaults (what a
    script's ``--help`` lists beside its config keys).

    Example:
        >>> @auto_param
        ... def optimizer_for_docs(lr=0.1):
        ...     return lr
        >>> declared_keys()["optimizer_for_docs.lr"]
        0.1
    """
    return dict(_Base.usage.declared)


def check_declared(key: str, value: Any, *, where: str = "") -> Any:
    """Return ``value`` for the ``@auto_param`` key ``key`` as its function will see it; raise
    :class:`~hypertuner.errors.ConfigError` when it does not suit the default's type (text that
    is no number for a number, no bool word for a bool), so a bad override fails at once.

    Example:
        >>> @auto_param
        ... def checked_for_docs(layers=2):
        ...     return layers
        >>> check_declared("checked_for_docs.layers", "4")
        4
        >>> check_declared("checked_for_docs.layers", "six")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        hypertuner.errors.ConfigError: Key 'checked_for_docs.layers' is 'six', which is not a ...
    """
    default = _Base.usage.declared.get(key)
    owner = f"@auto_param {key.rsplit('.', 1)[0]}"
    try:
        return _convert(value, default, key, owner)
    except ConfigError as err:
        if not where:
            raise
        msg = f"{str(err).rstrip('.')}{where}."
        raise ConfigError(msg, key=key, value=value, expected=err.expected) from None


def unused_keys(base: Base) -> tuple[list[str], list[str]]:
    """Return ``(unread, undeclared)``: the config keys nothing read, and the keys given in
    scopes that no ``@auto_param`` declares and no config holds (each a likely typo).

    Example:
        >>> base = install_base({"lr": 0.1, "epochs": 3})
        >>> with param_scope() as ps:
        ...     _ = ps.lr | 0.0
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
