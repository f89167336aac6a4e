"""The state behind ``param_scope`` and ``@auto_param``: frames, the current one, the base.

The values visible at any moment form a *frame*: flat dotted keys, the base config under the
``param_scope`` blocks around the code and the values written into them. The current frame lives
in a ``ContextVar``, so threads and asyncio tasks never see each other's scopes; a thread with no
scope of its own reads the base frame (``_Base.frame``). Frames are immutable: a write makes a
new one, so a frame's identity says whether anything changed (``@auto_param`` caches on it).
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any

from ._formats import parse_value


class _Raw(str):
    """A value given as text (``"dnn.layers=4"``): kept as text, typed by the default it feeds."""

    __slots__ = ()


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


class _Frame:
    """The values visible in one scope: ``flat`` maps dotted keys to values as given. Immutable
    once made (a write makes a new frame), so a frame's identity says whether anything changed.

    ``overlay`` is set on a thread's *root* frame only (the values written outside any ``with``
    in that thread): they are kept when a new base is installed. ``sections`` (made on first use)
    holds every dotted prefix of a key.
    """

    __slots__ = ("_sections", "flat", "overlay")

    def __init__(
        self,
        flat: dict[str, Any],
        sections: frozenset[str] | None = None,
        overlay: dict[str, Any] | None = None,
    ) -> None:
        self.flat = flat
        self._sections = sections
        self.overlay = overlay

    @property
    def sections(self) -> frozenset[str]:
        if self._sections is None:
            self._sections = frozenset(p for key in self.flat for p in _parents(key))
        return self._sections


def _parents(key: str) -> list[str]:
    """``"a.b.c"`` -> ``["a", "a.b"]``."""
    parts = key.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _merged(parent: _Frame, values: Mapping[str, Any]) -> _Frame:
    """``parent`` with ``values`` set: a value replaces a section, a section replaces a value.

    Costs a copy of the flat dict plus the sections the new values touch, never a walk over
    every key: scopes nest inside loops.
    """
    flat = dict(parent.flat)
    parent_sections = parent.sections
    for key, value in values.items():
        if key in parent_sections:  # a value replaces a whole section: drop its old leaves
            prefix = key + "."
            for stale in [k for k in flat if k.startswith(prefix)]:
                del flat[stale]
        for above in _parents(key):  # a section replaces a value that stood in its place
            flat.pop(above, None)
        flat[key] = value
    sections = parent_sections.union(p for key in values for p in _parents(key))
    return _Frame(flat, sections)


class Usage:
    """Which keys were read, given in scopes, and declared by ``@auto_param`` (for the report).

    Example:
        >>> sorted(Usage().reads)
        []
    """

    def __init__(self) -> None:
        self.reads: set[str] = set()
        self.scope_keys: set[str] = set()
        self.declared: dict[str, Any] = {}  # key -> the inline default that declares it


class _Base:
    """The process's base frame (what a thread with no scope of its own reads) and the record
    of what the code used of it."""

    frame = _Frame({})
    usage = Usage()
    reads = usage.reads  # usage.reads, one attribute nearer for the reads on hot paths

    @classmethod
    def use(cls, usage: Usage) -> None:
        """Record what the code uses in ``usage`` from now on."""
        cls.usage = usage
        cls.reads = usage.reads


_EMPTY = _Frame({})
# The current frame; None: this thread has no scope of its own and reads _Base.frame.
_current: contextvars.ContextVar[_Frame | None] = contextvars.ContextVar(
    "hypertuner_scope", default=None
)
# This thread's root frame, when it has one (values written outside any scope, or the base it
# kept when frozen() gave new threads another one); None: it follows _Base.frame.
_root: contextvars.ContextVar[_Frame | None] = contextvars.ContextVar(
    "hypertuner_scope_root", default=None
)


def _frame() -> _Frame:
    return _current.get() or _Base.frame


def _set_base(frame: _Frame) -> None:
    """Make ``frame`` the base of every thread; this thread keeps the values it wrote itself."""
    _Base.frame = frame
    root = _root.get()
    if root is not None:
        rebuilt = _merged(frame, root.overlay) if root.overlay else None
        if rebuilt is not None:
            rebuilt.overlay = root.overlay
        if _current.get() is root:
            _current.set(rebuilt)
        _root.set(rebuilt)


def _write_current(values: Mapping[str, Any]) -> None:
    """Set ``values`` in the current scope of this thread (its root outside any ``with``)."""
    current = _current.get()
    root = _root.get()
    new = _merged(current if current is not None else _Base.frame, values)
    if current is None or current is root:  # outside any scope: the thread's own root
        kept = root.overlay if root is not None and root.overlay else {}
        new.overlay = {**kept, **values}
        _root.set(new)
    _current.set(new)
    _Base.usage.scope_keys.update(values)


def _stored(value: Any) -> Any:
    """A value as the code sees it stored (text from ``"key=value"`` as a plain ``str``)."""
    return str(value) if type(value) is _Raw else value


def _typed(value: Any) -> Any:
    """A value as it compares: text from ``"key=value"`` typed as a YAML scalar (``"4"`` is 4)."""
    return parse_value(value) if type(value) is _Raw else value


_TRUE = frozenset({"true", "1", "yes", "on", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "off", "n", "f"})
