"""Nested config trees: flatten, unflatten, merge and copy. Pure helpers; they import nothing of
the package, so every layer can use them.

Example:
    >>> from hypertuner._trees import flatten, merge, unflatten
    >>> merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}})
    {'a': {'b': 1, 'c': 3}}
    >>> unflatten(flatten({"a": {"b": 1}})) == {"a": {"b": 1}}
    True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["copy_tree", "flatten", "has_dotted", "merge", "sections", "unflatten"]


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Return ``{dotted key: leaf value}`` for a nested mapping (an empty mapping is a leaf).

    Example:
        >>> flatten({"model": {"layers": 4, "act": "relu"}, "lr": 0.1})
        {'model.layers': 4, 'model.act': 'relu', 'lr': 0.1}
    """
    out: dict[str, Any] = {}
    for key, value in tree.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, full + "."))
        else:
            out[full] = value
    return out


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Return the nested form of ``{dotted key: value}`` (a later key under a value replaces it).

    Example:
        >>> unflatten({"model.layers": 4, "lr": 0.1})
        {'model': {'layers': 4}, 'lr': 0.1}
    """
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return out


def sections(tree: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Yield every dotted key of ``tree``: the sections and the leaves, parents first.

    Example:
        >>> list(sections({"model": {"layers": 4}, "lr": 0.1}))
        ['model', 'model.layers', 'lr']
    """
    for key, value in tree.items():
        full = f"{prefix}{key}"
        yield full
        if isinstance(value, Mapping):
            yield from sections(value, full + ".")


def merge(base: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``other`` into a copy of ``base``: mappings key by key, any other value (lists
    included) replaced whole, as OmegaConf merges.

    Example:
        >>> merge({"a": {"b": 1}, "l": [1, 2]}, {"a": {"c": 2}, "l": [3]})
        {'a': {'b': 1, 'c': 2}, 'l': [3]}
    """
    out = dict(base)
    for key, value in other.items():
        old = out.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            out[key] = merge(old, value)
        elif isinstance(value, Mapping):
            out[key] = merge({}, value)
        else:
            out[key] = value
    return out


def copy_tree(tree: Any) -> Any:
    """A copy of nested dicts and lists (the leaves themselves are shared).

    Example:
        >>> source = {"a": [1, {"b": 2}]}
        >>> copied = copy_tree(source)
        >>> copied == source and copied["a"] is not source["a"]
        True
    """
    if isinstance(tree, Mapping):
        return {k: copy_tree(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [copy_tree(v) for v in tree]
    return tree


def has_dotted(tree: Mapping[str, Any], key: str) -> bool:
    """Whether the dotted ``key`` names a value or section of ``tree``.

    Example:
        >>> has_dotted({"a": {"b": 1}}, "a.b"), has_dotted({"a": {"b": 1}}, "a.c")
        (True, False)
    """
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True
