"""The read-only view of a resolved config that :class:`hypertuner.Args` and ``HParams`` are.

Example:
    >>> ConfigView.from_dict({"a": {"b": 1}}).a.b
    1
"""

from __future__ import annotations

import typing
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn, TypeVar

from ._trees import copy_tree, flatten, sections
from .errors import UnknownKeyError

__all__ = ["ConfigView"]

_V = TypeVar("_V", bound="ConfigView")


class ConfigView:
    """A read-only view of a nested config: attributes (``v.model.layers``), dotted items
    (``v["model.layers"]``), ``in``, iteration, ``get`` and ``to_dict``.

    Sections are views too; lists stay lists. The first read of each leaf is recorded in the
    ``reads`` set given to :meth:`from_dict` (the run's unread-keys report) and cached, so later
    reads cost what a plain attribute costs. :class:`hypertuner.Args` is this view with a
    constructor that parses the command line.

    Example:
        >>> view = ConfigView.from_dict({"lr": 0.1, "model": {"layers": 4}})
        >>> view.model.layers, view["model.layers"], "lr" in view, list(view)
        (4, 4, True, ['lr', 'model'])
        >>> view.to_dict()
        {'lr': 0.1, 'model': {'layers': 4}}
    """

    __slots__ = ("__dict__", "_data", "_prefix", "_reads")
    _data: dict[str, Any]
    _prefix: str
    _reads: set[str] | None

    #: The class of sections (a subclass may hold more than a section should).
    _section_class: type[ConfigView] | None = None

    @classmethod
    def from_dict(
        cls: type[_V], data: Mapping[str, Any], *, _prefix: str = "", _reads: set[str] | None = None
    ) -> _V:
        """Wrap a nested mapping without parsing anything or starting a run.

        Example:
            >>> ConfigView.from_dict({"a": {"b": 1}}).a.b
            1
        """
        self = object.__new__(cls)
        object.__setattr__(self, "_data", data if isinstance(data, dict) else dict(data))
        object.__setattr__(self, "_prefix", _prefix)
        object.__setattr__(self, "_reads", _reads)
        shadowed = _VIEW_NAMES.intersection(self._data)
        for name in shadowed:  # a key named like a method wins over the method on this object
            self.__dict__[name] = self._child(name, self._data[name])
        return self

    def _child(self, name: str, value: Any) -> Any:
        if isinstance(value, dict):
            section = self._section_class or type(self)
            return section.from_dict(value, _prefix=f"{self._prefix}{name}.", _reads=self._reads)
        if self._reads is not None:
            self._reads.add(self._prefix + name)
        return value

    def __getattr__(self, name: str) -> Any:
        # Reached only on a first read: the value is then cached in __dict__, so later reads
        # cost what a plain object's attribute costs.
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            value = self._data[name]
        except KeyError:
            raise self._unknown(name) from None
        value = self._child(name, value)
        self.__dict__[name] = value
        return value

    def _unknown(self, name: str) -> UnknownKeyError:
        full = self._prefix + name
        valid = [self._prefix + k for k in sections(self._data)]
        hint = ""
        if not self._data and not self._prefix:
            hint = (
                "The config is empty: was a --config file left out of the command line, or "
                "defaults= out of parse()?"
            )
        return UnknownKeyError.for_key(full, valid, hint=hint)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        msg = (
            f"{type(self).__name__} are read-only: set {self._prefix + name!r} in a config file "
            f"or on the command line ({self._prefix + name}=...), so the run's config.json stays "
            "true."
        )
        raise TypeError(msg)

    def __delattr__(self, name: str) -> NoReturn:
        self.__setattr__(name, None)

    def __getitem__(self, key: str) -> Any:
        node: ConfigView = self
        parts = key.split(".") if isinstance(key, str) else [key]
        for part in parts[:-1]:
            child = node._data.get(part)
            if not isinstance(child, dict):
                raise node._unknown(part) if child is None else UnknownKeyError.for_key(key, [])
            node = node._child(part, child)
        last = parts[-1]
        if last not in node._data:
            raise node._unknown(last)
        return node._child(last, node._data[last])

    def get(self, key: str, default: Any = None) -> Any:
        """Return ``self[key]`` (a dotted key), or ``default`` when it is absent.

        Example:
            >>> ConfigView.from_dict({"a": {"b": 1}}).get("a.c", 7)
            7
        """
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        node: Any = self._data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def keys(self) -> typing.KeysView[str]:
        """The top-level keys (so ``param_scope(**args)`` and ``dict(args)`` work).

        Example:
            >>> list(ConfigView.from_dict({"a": 1}).keys())
            ['a']
        """
        return self._data.keys()

    def to_dict(self) -> dict[str, Any]:
        """Return a deep copy as plain dicts and lists (counts as reading every key).

        Example:
            >>> ConfigView.from_dict({"a": [1, 2]}).to_dict()
            {'a': [1, 2]}
        """
        if self._reads is not None:
            self._reads.update(self._prefix + k for k in flatten(self._data))
        return typing.cast(dict[str, Any], copy_tree(self._data))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ConfigView):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {k for k in self._data if isinstance(k, str)})

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self).from_dict, (copy_tree(self._data),))


_VIEW_NAMES = frozenset(n for n in dir(ConfigView) if not n.startswith("__"))
Mapping.register(ConfigView)
