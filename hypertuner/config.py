"""Config: merging defaults, config files and ``key=value`` overrides into ``Args``; ``parse``.

The layers, lowest first: inline ``defaults``, the ``--config`` files left to right, then the
command-line overrides. Dicts merge key by key; any other value, lists included, is replaced
whole by the later layer (OmegaConf's rule). Merging works on plain dicts, and OmegaConf is only
asked to resolve ``${...}`` interpolations when a value holds one.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import typing
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

from ._formats import _Source, load_file, parse_value
from .errors import ConfigError, HypertunerError, UnknownKeyError, suggest

__all__ = ["Args", "flatten", "parse", "parse_known", "parse_value", "unflatten"]

RUN_KEYS = ("backup", "name", "resume", "storage")

# ---------------------------------------------------------------------------------------------
# Plain-dict helpers


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


def _sections(tree: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in tree.items():
        full = f"{prefix}{key}"
        yield full
        if isinstance(value, Mapping):
            yield from _sections(value, full + ".")


def _merge(base: dict[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``other`` into a copy of ``base``: dicts key by key, everything else replaced."""
    out = dict(base)
    for key, value in other.items():
        old = out.get(key)
        if isinstance(value, Mapping) and isinstance(old, dict):
            out[key] = _merge(old, value)
        elif isinstance(value, Mapping):
            out[key] = _merge({}, value)
        else:
            out[key] = value
    return out


def _copy(tree: Any) -> Any:
    if isinstance(tree, Mapping):
        return {k: _copy(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_copy(v) for v in tree]
    return tree


# ---------------------------------------------------------------------------------------------
# Overrides on the command line

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)*")


def _split_override(token: str) -> tuple[str, Any, bool]:
    add = token.startswith("+")
    body = token[1:] if add else token
    key, sep, raw = body.partition("=")
    if not sep:
        msg = f"Override {token!r} has no '=': write key=value, for example 'lr=0.1'."
        raise ConfigError(msg, value=token)
    key = key.strip()
    if not key:
        msg = f"Override {token!r} has an empty key: write key=value, for example 'lr=0.1'."
        raise ConfigError(msg, value=token)
    if not _KEY.fullmatch(key):
        msg = (
            f"Override {token!r} has the key {key!r}, which is not a dotted name "
            "(letters, digits, '_' and '-', parts joined by '.')."
        )
        raise ConfigError(msg, key=key, value=token)
    try:
        value = parse_value(raw)
    except ConfigError as exc:
        msg = f"Override {token!r}: {exc.message}"
        raise ConfigError(msg, key=key, value=token) from exc
    return key, value, add


def _set_dotted(tree: dict[str, Any], key: str, value: Any, token: str) -> None:
    parts = key.split(".")
    node = tree
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            prefix = ".".join(parts[: i + 1])
            msg = (
                f"Override {token!r} sets {key!r}, but {prefix!r} is a value "
                f"({child!r}), not a section."
            )
            raise ConfigError(msg, key=key, value=token)
        node = child
    node[parts[-1]] = value


# ---------------------------------------------------------------------------------------------
# Args


class Args:
    """The resolved config: attributes (``args.model.layers``), items, ``in``, iteration.

    ``hypertuner.Args()`` is the same as :func:`hypertuner.parse`: it reads ``sys.argv`` and
    starts the run. Sections are ``Args`` too; lists stay lists. Args are read-only: change a
    value in a config file or on the command line. ``to_dict()`` exports plain data.

    Example:
        >>> args = Args.from_dict({"lr": 0.1, "model": {"layers": 4}})
        >>> args.model.layers, args["model.layers"], "lr" in args, list(args)
        (4, 4, True, ['lr', 'model'])
        >>> args.to_dict()
        {'lr': 0.1, 'model': {'layers': 4}}
    """

    __slots__ = ("__dict__", "_data", "_prefix", "_reads")
    _data: dict[str, Any]
    _prefix: str
    _reads: set[str] | None

    def __new__(cls, argv: list[str] | None = None, **options: Any) -> Args:
        return parse(argv, **options)

    def __init__(self, argv: list[str] | None = None, **options: Any) -> None:
        """Parse the command line (see :func:`hypertuner.parse`)."""

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, _prefix: str = "", _reads: set[str] | None = None
    ) -> Args:
        """Wrap a nested mapping without parsing anything or starting a run.

        Example:
            >>> Args.from_dict({"a": {"b": 1}}).a.b
            1
        """
        self = object.__new__(cls)
        object.__setattr__(self, "_data", data if isinstance(data, dict) else dict(data))
        object.__setattr__(self, "_prefix", _prefix)
        object.__setattr__(self, "_reads", _reads)
        shadowed = _ARGS_NAMES.intersection(self._data)
        for name in shadowed:  # a key named like a method wins over the method on this object
            self.__dict__[name] = self._child(name, self._data[name])
        return self

    def _child(self, name: str, value: Any) -> Any:
        if isinstance(value, dict):
            return Args.from_dict(value, _prefix=f"{self._prefix}{name}.", _reads=self._reads)
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
        valid = [self._prefix + k for k in _sections(self._data)]
        return UnknownKeyError.for_key(full, valid)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        msg = (
            f"Args are read-only: set {self._prefix + name!r} in a config file or on the "
            f"command line ({self._prefix + name}=...), so the run's config.json stays true."
        )
        raise TypeError(msg)

    def __delattr__(self, name: str) -> NoReturn:
        self.__setattr__(name, None)

    def __getitem__(self, key: str) -> Any:
        node: Args = self
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
            >>> Args.from_dict({"a": {"b": 1}}).get("a.c", 7)
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
            >>> list(Args.from_dict({"a": 1}).keys())
            ['a']
        """
        return self._data.keys()

    def to_dict(self) -> dict[str, Any]:
        """Return a deep copy as plain dicts and lists (counts as reading every key).

        Example:
            >>> Args.from_dict({"a": [1, 2]}).to_dict()
            {'a': [1, 2]}
        """
        if self._reads is not None:
            self._reads.update(self._prefix + k for k in flatten(self._data))
        return typing.cast(dict[str, Any], _copy(self._data))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Args):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Args({self._data!r})"

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {k for k in self._data if isinstance(k, str)})

    def __reduce__(self) -> tuple[Any, ...]:
        return (Args.from_dict, (_copy(self._data),))


_ARGS_NAMES = frozenset(n for n in dir(Args) if not n.startswith("__"))
Mapping.register(Args)


# ---------------------------------------------------------------------------------------------
# Resolving the layers


@functools.cache
def _parser_class() -> Any:
    import argparse  # imported on first use: it is a tenth of the import time

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            text = message[:1].upper() + message[1:]
            raise ConfigError(text.rstrip(".") + ".")

    return _Parser


def _make_parser(prog: str) -> Any:
    parser = _parser_class()(prog=prog, add_help=False, allow_abbrev=False)
    parser.add_argument("--config", action="append", default=[], metavar="PATH")
    parser.add_argument("--name")
    parser.add_argument("--storage")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("-h", "--help", action="store_true")
    return parser


class Resolution:
    """A resolved config and how each key got its value (internal; see ``explain``)."""

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self.run: dict[str, Any] = {}
        self.rest: list[str] = []
        self.explain = False
        self.help = False
        self.defaults: dict[str, Any] = {}
        self.sources: list[_Source] = []
        self.overrides: list[tuple[str, str, Any]] = []  # (token, key, value)

    def origin(self, key: str) -> str:
        """Which layer set ``key`` last: the command line, a file (with its line), or defaults."""
        for token, okey, _ in reversed(self.overrides):
            if key == okey or key.startswith(okey + "."):
                return f"command line {token!r}"
        for source in reversed(self.sources):
            if key in source.data or _has_dotted(source.data, key):
                line = source.line(key)
                return f"{source.path}:{line}" if line else source.path
        return "defaults" if _has_dotted(self.defaults, key) else "defaults (interpolated)"

    def explicit(self) -> dict[str, Any]:
        """The flat keys that a config file or the command line set, with their final values."""
        flat = flatten(self.config)
        out: dict[str, Any] = {}
        for source in self.sources:
            for key in flatten(source.data):
                if not key.startswith("run.") and key != "run":
                    for final in _under(flat, key):
                        out[final] = flat[final]
        for _, key, _ in self.overrides:
            if not key.startswith("run."):
                for final in _under(flat, key):
                    out[final] = flat[final]
        return out


def _under(flat: Mapping[str, Any], key: str) -> list[str]:
    if key in flat:
        return [key]
    prefix = key + "."
    return [k for k in flat if k.startswith(prefix)]


def _has_dotted(tree: Mapping[str, Any], key: str) -> bool:
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def resolve(
    argv: list[str],
    *,
    defaults: Any = None,
    strict: bool = True,
    prog: str = "hypertuner",
) -> Resolution:
    """Resolve defaults, config files and overrides from ``argv`` (no run is started)."""
    res = Resolution()
    namespace, rest = _make_parser(prog).parse_known_args(argv)
    res.explain, res.help = namespace.explain, namespace.help

    schema: dict[str, Any] | None = None
    if defaults is None:
        base: dict[str, Any] = {}
    elif hasattr(defaults, "__dataclass_fields__"):
        from ._schema import _dataclass_tree

        base, schema = _dataclass_tree(defaults)
    elif isinstance(defaults, Mapping):
        base = _copy(defaults)
    else:
        msg = f"defaults must be a dict or a dataclass, not {type(defaults).__name__}."
        raise TypeError(msg)
    res.defaults = base

    merged = base
    for path in namespace.config:
        source = load_file(path)
        if schema is not None:
            _check_schema_keys(source.data, schema, source)
        res.sources.append(source)
        merged = _merge(merged, source.data)

    overrides: list[str] = []
    for token in rest:
        if token.startswith("-"):
            if strict:
                raise _unknown_flag(token, merged)
            res.rest.append(token)
        elif "=" in token or token.startswith("+"):
            overrides.append(token)
        elif strict:
            _split_override(token)  # raises the "no '='" error
        else:
            res.rest.append(token)

    if overrides:
        known = set(_sections(merged))
        merged = _copy(merged)
        for token in overrides:
            key, value, add = _split_override(token)
            top = key.split(".", 1)[0]
            if top == "run":
                _check_run_key(key, token)
            elif not add and key not in known:
                valid = sorted(known) if schema is None else sorted(schema)
                raise UnknownKeyError.for_key(
                    key,
                    valid,
                    where=f" in override {token!r}",
                    hint=f"Use '+{token}' to add it." if schema is None else "",
                    value=token,
                )
            elif add and schema is not None and key not in schema:
                raise UnknownKeyError.for_key(
                    key, sorted(schema), where=f" in override {token!r} (not a dataclass field)"
                )
            _set_dotted(merged, key, value, token)
            known.update(_prefixes(key))
            res.overrides.append((token, key, value))

    run_section = merged.pop("run", None) if isinstance(merged.get("run"), Mapping) else None
    if "run" in merged:
        msg = (
            f"The top-level key 'run' is reserved for run settings ({', '.join(RUN_KEYS)}); "
            "it must be a section."
        )
        raise ConfigError(msg, key="run")
    res.run = dict(run_section or {})
    for key in res.run:
        _check_run_key(f"run.{key}", f"run.{key}")
    if namespace.name is not None:
        res.run["name"] = namespace.name
    if namespace.storage is not None:
        res.run["storage"] = namespace.storage

    if _has_interpolation(merged):
        merged = _interpolate(merged, res)
    if schema is not None:
        merged = _validate_tree(merged, schema, res)
    res.config = merged
    return res


def _prefixes(key: str) -> list[str]:
    parts = key.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _unknown_flag(token: str, merged: Mapping[str, Any]) -> ConfigError:
    flag = token.split("=", 1)[0]
    bare = flag.lstrip("-")
    value = token.split("=", 1)[1] if "=" in token else "VALUE"
    options = ["--config", "--name", "--storage", "--explain", "--help"]
    close_flags = suggest(flag, options)
    keys = list(_sections(merged))
    close_keys = [bare] if bare in keys else suggest(bare.replace("-", "_"), keys, n=1)
    if close_keys:
        hint = f" Config keys are set without dashes: '{close_keys[0]}={value}'."
    elif close_flags:
        hint = f" Did you mean {close_flags[0]!r}?"
    else:
        hint = f" Options: {', '.join(options)}; config keys are set as key=value."
    msg = f"Unknown option {flag!r}.{hint}"
    return ConfigError(msg, value=token)


def _check_run_key(key: str, token: str) -> None:
    parts = key.split(".")
    if len(parts) != 2 or parts[1] not in RUN_KEYS:
        valid = [f"run.{k}" for k in RUN_KEYS]
        raise UnknownKeyError.for_key(
            key,
            valid,
            where=f" in override {token!r}" if token != key else "",
            hint=f"The run section holds only {', '.join(valid)}.",
        )


def _check_schema_keys(tree: Mapping[str, Any], schema: Mapping[str, Any], source: _Source) -> None:
    from ._schema import _Section

    valid = sorted(schema)
    for key in _sections(tree):
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


def _validate_tree(tree: dict[str, Any], schema: dict[str, Any], res: Resolution) -> dict[str, Any]:
    from ._schema import _REQUIRED, _check_type, _Section, _type_name

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
                msg = f"{exc.message[:-1]}, set by {res.origin(full)}."
                raise ConfigError(msg, key=full, value=value, expected=_type_name(tp)) from None
        return out

    return walk(tree, "")


def _has_interpolation(tree: Any) -> bool:
    if isinstance(tree, str):
        return "${" in tree
    if isinstance(tree, Mapping):
        return any(_has_interpolation(v) for v in tree.values())
    if isinstance(tree, list):
        return any(_has_interpolation(v) for v in tree)
    return False


def _interpolate(tree: dict[str, Any], res: Resolution) -> dict[str, Any]:
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        resolved = OmegaConf.to_container(OmegaConf.create(tree), resolve=True)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or ""
        detail = str(exc).splitlines()[0].rstrip(".")
        where = f" in key {key!r} (set by {res.origin(key)})" if key else ""
        msg = f"Interpolation failed{where}: {detail}."
        raise ConfigError(msg, key=key or None) from exc
    return typing.cast(dict[str, Any], resolved)


# ---------------------------------------------------------------------------------------------
# The front door


def _prog() -> str:
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"


def explain_text(res: Resolution) -> str:
    """Render each key's final value and the layer that set it, one key a line."""
    flat = flatten(res.config)
    rows = [(key, json.dumps(value, default=str), res.origin(key)) for key, value in flat.items()]
    for key, value in sorted(res.run.items()):
        rows.append((f"run.{key}", json.dumps(value, default=str), "run settings"))
    width_key = max([len("key"), *(len(r[0]) for r in rows)])
    width_value = min(max([len("value"), *(len(r[1]) for r in rows)]), 40)
    lines = [f"{'key':<{width_key}}  {'value':<{width_value}}  set by"]
    for key, value, origin in rows:
        lines.append(f"{key:<{width_key}}  {value:<{width_value}}  {origin}")
    return "\n".join(lines)


def _help_text(prog: str, res: Resolution) -> str:
    keys = ", ".join(flatten(res.config)) or "(none yet)"
    return (
        f"usage: {prog} [--config PATH]... [--name NAME] [--storage DIR] [--explain] "
        "[key=value]...\n\n"
        "Config files (JSON, YAML, .cfg) merge left to right, then key=value overrides;\n"
        "'+key=value' adds a key that no file declares. "
        "--explain prints where each value comes from.\n\n"
        f"keys: {keys}"
    )


def parse_known(
    argv: list[str] | None = None,
    *,
    defaults: Any = None,
    name: str | None = None,
    storage: str | None = None,
) -> tuple[Args, list[str]]:
    """Like :func:`parse` with ``strict=False``, also returning the tokens it left alone.

    Example:
        >>> import tempfile
        >>> args, rest = parse_known(["--epochs", "3", "lr=0.1"], defaults={"lr": 0.0},
        ...                          storage=tempfile.mkdtemp())
        >>> args.lr, rest
        (0.1, ['--epochs', '3'])
    """
    return _parse(argv, defaults=defaults, strict=False, name=name, storage=storage)


def parse(
    argv: list[str] | None = None,
    *,
    defaults: Any = None,
    strict: bool = True,
    name: str | None = None,
    storage: str | None = None,
) -> Args:
    """Resolve the config from the command line and start the current run.

    Reads ``--config PATH`` (repeatable; JSON, YAML or ``.cfg``), ``key=value`` overrides (dotted
    keys; ``+key=value`` adds a new key), ``--name``/``--storage`` (shorthands for ``run.name`` and
    ``run.storage``) and ``--explain`` (print where each value comes from, then exit).

    Args:
        argv: the arguments; ``None`` reads ``sys.argv[1:]`` and turns a bad input into one line
            on stderr and exit status 2.
        defaults: the lowest layer, a dict or a dataclass (whose field types are then checked).
        strict: refuse unknown ``--flags`` and stray tokens; ``False`` leaves them alone.
        name: the run name when neither ``--name`` nor ``run.name`` gives one.
        storage: the storage folder when neither ``--storage`` nor ``run.storage`` gives one.

    Returns:
        The resolved config as :class:`Args`; it also feeds ``param_scope`` and ``auto_param``.

    Raises:
        ConfigError: a file, override or value is wrong (the message names file, key and line).
        UnknownKeyError: an override names a key that nothing declares.
        ConfigFileNotFoundError: a ``--config`` file is missing.
        RunNameError: the run name is not a safe folder name.
        RunInUseError: another process is writing the run.

    Example:
        >>> import tempfile
        >>> defaults = {"lr": 0.1, "model": {"layers": 2}}
        >>> args = parse(["lr=0.01", "model.layers=4"], defaults=defaults,
        ...              name="doc", storage=tempfile.mkdtemp())
        >>> args.lr, args.model.layers
        (0.01, 4)
    """
    return _parse(argv, defaults=defaults, strict=strict, name=name, storage=storage)[0]


def _parse(
    argv: list[str] | None,
    *,
    defaults: Any,
    strict: bool,
    name: str | None,
    storage: str | None,
) -> tuple[Args, list[str]]:
    from_command_line = argv is None
    tokens = sys.argv[1:] if argv is None else list(argv)
    prog = _prog()
    try:
        res = resolve(tokens, defaults=defaults, strict=strict, prog=prog)
        if res.help:
            print(_help_text(prog, res))
            raise SystemExit(0)
        if res.explain:
            print(explain_text(res))
            raise SystemExit(0)
        return _start(res, name=name, storage=storage), res.rest
    except HypertunerError as err:
        if from_command_line:
            print(f"{prog}: error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        raise


def _start(res: Resolution, *, name: str | None, storage: str | None) -> Args:
    from . import scope
    from .run import start_run

    run_name: Any = res.run.get("name", name)
    if isinstance(run_name, (int, float)) and not isinstance(run_name, bool):
        run_name = str(run_name)  # '--name=2024' or 'run.name=2024' reads as a number
    backup = res.run.get("backup")
    if backup:
        from .storage import check_url, mirror_run

        check_url(backup)  # before the run exists: a bad URL leaves no run behind
    run = start_run(
        res.config,
        name=run_name,
        storage=res.run.get("storage", storage),
        resume=res.run.get("resume", "recall"),
        explicit=res.explicit(),
    )
    run.meta.setdefault("_run_settings", res.run)
    if backup:
        mirror_run(run, backup)
    return scope.install(run)
