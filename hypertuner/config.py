"""Config: defaults, config files and ``key=value`` overrides in; one resolved config out.

The layers, lowest first: inline ``defaults``, the ``--config`` files left to right, then the
command-line overrides. Dicts merge key by key; any other value, lists included, is replaced
whole by the later layer (OmegaConf's rule). Merging works on plain dicts, and OmegaConf is only
asked to resolve ``${...}`` interpolations when a value holds one.

This module is pure: :func:`resolve` reads files and tokens and returns a :class:`Resolution`
(the config, the run settings, and where each value came from). It knows no run, no storage and
no scope; :func:`hypertuner.parse` hands the resolution to the one place that starts a run.

Example:
    >>> res = resolve(["lr=0.01"], defaults={"lr": 0.1, "model": {"layers": 2}})
    >>> res.config, res.origin("lr")
    ({'lr': 0.01, 'model': {'layers': 2}}, "command line 'lr=0.01'")
"""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

from ._formats import MAX_DEPTH, _Source, format_value, load_file, parse_value
from ._trees import copy_tree, flatten, has_dotted, merge, sections
from .errors import ConfigError, UnknownKeyError, suggest

__all__ = ["RUN_KEYS", "Resolution", "explain_text", "help_text", "resolve"]

RUN_KEYS = ("backup", "name", "resume", "storage")

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
    if key.count(".") >= MAX_DEPTH:
        msg = (
            f"Override key {key[:60]!r}... nests more than {MAX_DEPTH} levels deep, as no "
            "config file may: flatten it."
        )
        raise ConfigError(msg, key=key[:200], value=token[:200])
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
    old = node.get(parts[-1])
    if isinstance(old, dict) and old and not isinstance(value, Mapping):
        inside = ", ".join(f"{key}.{k}" for k in list(old)[:3]) + (", ..." if len(old) > 3 else "")
        first = f"{key}.{next(iter(old))}"
        msg = (
            f"Override {token!r} would replace the section {key!r} ({inside}) with a single "
            f"value: set one of its keys ('{first}=...'), or give the whole section as a "
            f"mapping ('{key}={{...}}')."
        )
        raise ConfigError(msg, key=key, value=token, expected="a mapping")
    node[parts[-1]] = value


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
            if key in source.data or has_dotted(source.data, key):
                line = source.line(key)
                return f"{source.path}:{line}" if line else source.path
        return "defaults" if has_dotted(self.defaults, key) else "defaults (interpolated)"

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


#: Given the run settings (``name``, ``storage``, ``resume``...), the saved config of the run they
#: recall, or None: how a caller lets the recalled ``config.json`` declare its keys.
Recall = Callable[[Mapping[str, Any]], Mapping[str, Any] | None]


def resolve(
    argv: list[str],
    *,
    defaults: Any = None,
    strict: bool = True,
    prog: str = "hypertuner",
    recall: Recall | None = None,
    declared: Iterable[str] = (),
) -> Resolution:
    """Resolve defaults, config files and overrides from ``argv`` (no run is started).

    An override of a key that no default or file declares is refused, unless ``recall`` (given
    the run settings) returns the saved config of the run being recalled and that declares it:
    ``--name=exp lr=0.1`` then overrides a key of ``exp``'s ``config.json`` (whether the value
    may change is the recall's own check, when the run starts). The ``declared`` keys (those of
    ``@auto_param`` functions) may be overridden too.
    """
    res = Resolution()
    namespace, rest = _make_parser(prog).parse_known_args(argv)
    res.explain, res.help = namespace.explain, namespace.help

    schema: dict[str, Any] | None = None
    checks: Any = None
    if defaults is None:
        base: dict[str, Any] = {}
    elif hasattr(defaults, "__dataclass_fields__"):
        from . import _schema as checks  # dataclass defaults only: dataclasses stays unloaded

        base, schema = checks.dataclass_tree(defaults)
    elif isinstance(defaults, Mapping):
        base = copy_tree(defaults)
    else:
        msg = f"defaults must be a dict or a dataclass, not {type(defaults).__name__}."
        raise TypeError(msg)
    res.defaults = base

    merged = base
    for path in namespace.config:
        source = load_file(path)
        if schema is not None:
            checks.check_keys(source.data, schema, source)
        res.sources.append(source)
        merged = merge(merged, source.data)

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
        known = set(sections(merged))
        if schema is None:
            known.update(declared)
        settings = _run_settings(merged, overrides, namespace)
        merged = copy_tree(merged)
        for token in overrides:
            key, value, add = _split_override(token)
            top = key.split(".", 1)[0]
            if top != "run" and not add and key not in known and recall is not None:
                saved = recall(settings)  # asked once, and only for a key nothing declares
                recall = None
                if saved:
                    known.update(sections(saved))
            if top == "run":
                _check_run_key(key, token)
            elif not add and key not in known:
                # The keys one can set: leaves first (a section is a poor guess for a key).
                leaves = set(flatten(merged)) | (known - set(sections(merged)))
                valid = sorted(leaves or known) if schema is None else sorted(schema)
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
        merged = checks.validate(merged, schema, res.origin)
    res.config = merged
    return res


def _run_settings(
    merged: Mapping[str, Any], overrides: list[str], namespace: Any
) -> dict[str, Any]:
    """The run settings the files, the ``run.*`` overrides and ``--name``/``--storage`` give."""
    section = merged.get("run")
    settings = dict(section) if isinstance(section, Mapping) else {}
    for token in overrides:
        body = token.removeprefix("+")
        if body.startswith("run.") and "=" in body:
            key, value, _ = _split_override(token)
            settings[key.removeprefix("run.")] = value
    if namespace.name is not None:
        settings["name"] = namespace.name
    if namespace.storage is not None:
        settings["storage"] = namespace.storage
    return settings


def _prefixes(key: str) -> list[str]:
    parts = key.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _unknown_flag(token: str, merged: Mapping[str, Any]) -> ConfigError:
    """``--lr=3``: point to the config key it most likely means (``lr=3``, ``train.lr=3``),
    to an option it misspells (``--nmae``), or to ``+lr=3`` to add the key."""
    flag = token.split("=", 1)[0]
    bare = flag.lstrip("-")
    value = token.split("=", 1)[1] if "=" in token else "VALUE"
    options = ["--config", "--name", "--storage", "--explain", "--help"]
    keys = list(sections(merged))
    wanted = bare.replace("-", "_")
    ending = [k for k in keys if k.rsplit(".", 1)[-1] in (bare, wanted)]
    close_keys = [bare] if bare in keys else ending or suggest(wanted, keys, n=1)
    close_flags = suggest(flag, options, cutoff=0.75)
    if close_keys:
        hint = f" Config keys are set without dashes: '{close_keys[0]}={value}'."
    elif close_flags:
        hint = f" Did you mean {close_flags[0]!r}?"
    elif bare and "=" in token:
        hint = (
            f" Config keys are set without dashes; no config declares {bare!r}, so write "
            f"'+{bare}={value}' to add it."
        )
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


def explain_text(res: Resolution) -> str:
    """Render each key's final value and the layer that set it, one key a line."""
    flat = flatten(res.config)
    rows = [(key, format_value(value), res.origin(key)) for key, value in flat.items()]
    for key, value in sorted(res.run.items()):
        rows.append((f"run.{key}", format_value(value), "run settings"))
    width_key = max([len("key"), *(len(r[0]) for r in rows)])
    width_value = min(max([len("value"), *(len(r[1]) for r in rows)]), 40)
    lines = [f"{'key':<{width_key}}  {'value':<{width_value}}  set by"]
    for key, value, origin in rows:
        lines.append(f"{key:<{width_key}}  {value:<{width_value}}  {origin}")
    return "\n".join(lines)


def help_text(prog: str, res: Resolution, declared: Mapping[str, Any] | None = None) -> str:
    """A script's ``--help``: the usage, then the keys it takes with their values so far: the
    config's (defaults and the files given) and those ``@auto_param`` functions read
    (``declared``, with their inline defaults).

    Example:
        >>> res = resolve([], defaults={"lr": 0.1})
        >>> print(help_text("train.py", res, {"mlp.width": 32}).splitlines()[-1])
          mlp.width=32
    """
    flat = flatten(res.config)
    lines = [
        f"usage: {prog} [--config PATH]... [--name NAME] [--storage DIR] [--explain] "
        "[key=value]...",
        "",
        "Config files (JSON, YAML, .cfg) merge left to right, then key=value overrides;",
        "'+key=value' adds a key that no file declares. --explain prints where each value "
        "comes from.",
        "",
        "keys of the config, as resolved so far:",
    ]
    lines += [f"  {k}={format_value(v)}" for k, v in flat.items()] or ["  (none yet)"]
    extra = {k: v for k, v in (declared or {}).items() if k not in flat}
    if extra:
        lines += ["", "keys that @auto_param functions read (their inline defaults):"]
        lines += [f"  {k}={format_value(v)}" for k, v in sorted(extra.items())]
    return "\n".join(lines)
