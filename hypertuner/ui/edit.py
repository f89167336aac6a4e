"""Editing a run's config and starting a new run from it, for the ``hypertuner ui`` page.

- :func:`check_config` compares an edited config with the run's saved one: the same keys, and
  each value of the type the saved one has (an int stays an int, a float accepts an int, a list
  of numbers stays a list of numbers). A wrong type is a :class:`~hypertuner.errors.ConfigError`
  naming the dotted key.
- :func:`launch_command` rebuilds the command line of a recorded run (``meta.json``): its
  interpreter, its script and its argv without ``--config``/``--name``/``--storage`` and the
  ``key=value`` overrides, plus the edited config file, the new name and the storage folder.
- :class:`Launcher` saves edited configs inside ``storage/.hypertuner/configs/`` and starts runs as
  subprocesses whose output goes to ``storage/.hypertuner/logs/<run>.log``.

A ``meta.json`` is untrusted input (a shared storage folder or a pulled bucket can hold anything),
so the record is checked, never obeyed: the command is a Python interpreter (the page's own, or a
``python3*`` binary owned by the user or root, outside the storage folder, that answers as Python),
running a ``.py`` script of the user's own (outside the storage folder, and outside the
interpreter's standard library, site-packages and scripts: ``pdb``, ``cProfile`` or ``pip`` would
run whatever their arguments name), or ``-m`` and the dotted module name of that script, with
recorded arguments that are plain values, ``--flag`` or ``--flag=value`` only, none naming a path
inside the storage folder. Anything else is refused with a :class:`~hypertuner.errors.LaunchError`
naming it.
"""

from __future__ import annotations

import functools
import importlib.machinery
import itertools
import json
import math
import os
import re
import stat
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.machinery import PathFinder
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _files
from .._layout import SWEEP_FILE, check_run_name, resolve_run, storage_root
from ..errors import ConfigError, LaunchError, RunInUseError, RunNameError

if TYPE_CHECKING:
    import subprocess

__all__ = ["Launch", "Launcher", "Plan", "check_config", "launch_command"]

_STRIPPED_FLAGS = ("--config", "--name", "--storage")
# How deep a run's config may nest for the page to edit and launch it: the checks recurse, and a
# config.json nested hundreds of levels (JSON allows it) must be a reason, never a crash.
MAX_CONFIG_DEPTH = 64  # as deep as a request body may nest (_http.MAX_DEPTH)
# The interpreters the page may start besides its own: CPython's binary names (python3, python3.12,
# python3.13t), after links are resolved.
_PYTHON_BINARY = re.compile(r"python3(?:\.[0-9]+t?)?")
_LONG_FLAG = re.compile(r"--[A-Za-z][A-Za-z0-9_.-]*")
_IMPLEMENTATIONS = ("cpython", "pypy", "graalpy")
_PROBE_TIMEOUT = 10.0
# Where an interpreter keeps code of its own (sysconfig's names): the standard library, the
# installed packages and their scripts. Runners kept there (pdb, cProfile, trace, pip, pytest...)
# run whatever their arguments name, so the page never starts them.
_CODE_PATHS = ("stdlib", "platstdlib", "purelib", "platlib", "scripts")
# The folders of an installation prefix that hold such code; the prefix itself may be shared with
# other things (/usr holds /usr/src).
_PREFIX_FOLDERS = ("bin", "lib", "lib64", "Lib", "Scripts", "DLLs")
_PACKAGE_FOLDERS = frozenset({"site-packages", "dist-packages"})
# Another Python's standard library: lib/python3.10, lib/pypy3.10, lib64/python3.
_VERSIONED_LIB = re.compile(r"(?:python|pypy)[0-9]+(?:\.[0-9]+)?t?")
_PROBE = (
    "import json, sys, sysconfig; p = sysconfig.get_paths(); "
    "print(sys.implementation.name); "
    "print(json.dumps([[sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix], "
    f"[p.get(k, '') for k in {_CODE_PATHS!r}]]))"
)


def too_deep(tree: Any, limit: int) -> bool:
    """Whether ``tree`` nests dicts or lists more than ``limit`` levels (checked without
    recursion, so a hostile file cannot exhaust the stack here)."""
    stack: list[tuple[Any, int]] = [(tree, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, Mapping) else value
        if not isinstance(value, (Mapping, list)):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a section"
    return f"a {type(value).__name__}"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _wrong(key: str, expected: str, old: Any, new: Any) -> ConfigError:
    msg = (
        f"Key {key!r} must be {expected}, as in the run's config ({old!r}), not {_kind(new)} "
        f"({new!r}). Enter {expected} for {key!r}."
    )
    return ConfigError(msg, key=key, value=new)


def _check_value(key: str, old: Any, new: Any) -> Any:
    if isinstance(old, Mapping):
        if not isinstance(new, Mapping):
            raise _wrong(key, "a section", "{...}", new)
        return check_config(old, new, prefix=f"{key}.") if old else dict(new)
    if isinstance(old, bool):
        if not isinstance(new, bool):
            raise _wrong(key, "a boolean (true or false)", old, new)
        return new
    if isinstance(old, int):
        if isinstance(new, float) and math.isfinite(new) and new.is_integer():
            return int(new)  # JSON may carry 3 as 3.0
        if not isinstance(new, int) or isinstance(new, bool):
            raise _wrong(key, "an integer", old, new)
        return new
    if isinstance(old, float):
        if not _number(new):
            raise _wrong(key, "a number", old, new)
        try:
            return float(new)
        except OverflowError:  # an integer past the largest float
            msg = (
                f"Key {key!r} must be a number a float can hold, as in the run's config "
                f"({old!r}), not an integer of {len(str(new))} digits."
            )
            raise ConfigError(msg, key=key) from None
    if isinstance(old, str):
        if not isinstance(new, str):
            raise _wrong(key, "a string", old, new)
        return new
    if isinstance(old, list):
        if not isinstance(new, list):
            raise _wrong(key, "a list", old, new)
        kinds = {_element_kind(item) for item in old}
        if len(kinds) != 1 or None in kinds:
            return new  # empty, mixed or nested lists: any list
        (sample,) = {_element_kind(item): item for item in old}.values()
        if isinstance(sample, int) and any(isinstance(item, float) for item in old):
            sample = 0.0
        return [_check_value(f"{key}[{i}]", sample, item) for i, item in enumerate(new)]
    return new  # null in the saved config: any JSON value


def _element_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if _number(value):
        return "number"
    if isinstance(value, str):
        return "str"
    return None


def check_config(saved: Mapping[str, Any], edited: Any, *, prefix: str = "") -> dict[str, Any]:
    """Check ``edited`` against a run's ``saved`` config and return it with the saved types.

    Every key of ``saved`` must be present, no key may be added, and each value must have the
    type of the saved one: booleans stay booleans, integers integers (``3.0`` becomes ``3``),
    floats accept integers (``1`` becomes ``1.0``), strings stay strings, a list of numbers,
    strings or booleans stays one; a saved ``null``, an empty or mixed list or an empty section
    accepts any JSON value of its kind.

    Args:
        saved: the run's config (``config.json``).
        edited: the edited config, as decoded from JSON.
        prefix: the dotted key of ``saved`` inside a bigger config (for messages).

    Returns:
        The edited config with the saved types restored.

    Raises:
        ConfigError: a missing, added or wrong-typed key; ``key`` names it (dotted).

    Example:
        >>> check_config({"lr": 0.1, "model": {"layers": 2}}, {"lr": 1, "model": {"layers": 4}})
        {'lr': 1.0, 'model': {'layers': 4}}
        >>> check_config({"lr": 0.1}, {"lr": "fast"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        hypertuner.errors.ConfigError: Key 'lr' must be a number, as in the run's config (0.1), ...
    """
    if not isinstance(edited, Mapping):
        where = f"Section {prefix[:-1]!r}" if prefix else "The edited config"
        msg = f"{where} must be a JSON object of keys and values, not {_kind(edited)}."
        raise ConfigError(msg, key=prefix[:-1] or None, value=edited)
    out: dict[str, Any] = {}
    for key, old in saved.items():
        dotted = f"{prefix}{key}"
        if key not in edited:
            msg = (
                f"Key {dotted!r} is missing from the edited config: every key of the run's "
                "config must be given."
            )
            raise ConfigError(msg, key=dotted)
        out[key] = _check_value(dotted, old, edited[key])
    for key in edited:
        if key not in saved:
            dotted = f"{prefix}{key}"
            msg = (
                f"Key {dotted!r} is not in the run's config: the page edits the keys the run has. "
                "Add new keys in a config file, or with '+key=value' on the command line."
            )
            raise ConfigError(msg, key=dotted, value=edited[key])
    return out


def _strip_argv(argv: Sequence[str]) -> list[str]:
    """The arguments of a recorded argv (after the script) that are not config, name or storage."""
    kept: list[str] = []
    skip_next = False
    for token in argv:
        if skip_next:
            skip_next = False
            continue
        if token in _STRIPPED_FLAGS:
            skip_next = True
            continue
        if token.startswith(tuple(f"{flag}=" for flag in _STRIPPED_FLAGS)) or token == "--explain":
            continue
        if not token.startswith("-") and ("=" in token or token.startswith("+")):
            continue  # a key=value override: the edited config holds the final values
        kept.append(token)
    return kept


def _refuse(source: str, problem: str, **facts: Any) -> LaunchError:
    msg = (
        f"Run {source!r} cannot be launched from the page: {problem} The page starts only a "
        "Python interpreter running a Python script (or module) with plain arguments; run it "
        "yourself if you trust it (save the config first)."
    )
    return LaunchError(msg, name=source, **facts)


@dataclass(frozen=True)
class _Install:
    """Where an interpreter keeps code of its own: ``folders`` (nothing under them is the user's
    script) and ``search`` (where ``-m`` finds its installed modules)."""

    folders: tuple[str, ...]
    search: tuple[str, ...]


def _install(prefixes: Sequence[str], paths: Sequence[str]) -> _Install:
    folders = [p for p in paths if p]
    for prefix in dict.fromkeys(p for p in prefixes if p):
        folders.extend(os.path.join(prefix, sub) for sub in _PREFIX_FOLDERS)
    search = [p for p in paths[:-1] if p]  # not "scripts"
    return _Install(tuple(dict.fromkeys(folders)), tuple(dict.fromkeys(search)))


@functools.lru_cache(maxsize=1)
def _own_install() -> _Install:
    """The page's own interpreter's code folders, and the entries of its ``sys.path`` there."""
    import sysconfig  # on first use: every hypertuner command imports this module

    paths = sysconfig.get_paths()
    prefixes = (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
    found = _install(prefixes, [paths.get(key, "") for key in _CODE_PATHS])
    entries = [p for p in sys.path if p and _in_folders(p, found.folders)]
    return _Install(found.folders, tuple(dict.fromkeys([*found.search, *entries])))


def _in_folders(path: str, folders: Sequence[str]) -> bool:
    return any(_files.inside(folder, path) for folder in folders)


def _interpreter_code(path: str, install: _Install) -> bool:
    """Whether ``path`` (as given or with links resolved) lies where a Python keeps its own code:
    ``install``'s folders, any site-packages or dist-packages, or another Python's
    ``lib/pythonX.Y``."""
    for candidate in dict.fromkeys((os.path.abspath(path), os.path.realpath(path))):
        parts = [part.lower() for part in Path(candidate).parts]
        if _PACKAGE_FOLDERS.intersection(parts):
            return True
        pairs = itertools.pairwise(parts)
        if any(a in ("lib", "lib64") and _VERSIONED_LIB.fullmatch(b) for a, b in pairs):
            return True
    return _in_folders(path, install.folders)


def _check_interpreter(executable: object, source: str, storage: str) -> tuple[str, _Install]:
    """The recorded interpreter, if it is a real Python, with where it keeps its own code; else
    :class:`LaunchError`."""
    if not isinstance(executable, str) or not os.path.isabs(executable):
        raise _refuse(source, f"its meta.json records no interpreter path ({executable!r}).")
    if not os.path.isfile(executable):
        msg = (
            f"The Python interpreter of run {source!r}, {executable!r}, no longer exists, so it "
            "cannot be launched again. Save the config and run it yourself."
        )
        raise LaunchError(msg, name=source, path=executable)
    # A virtual environment's interpreter links to its base: the environment's own folders count.
    venv = os.path.dirname(os.path.dirname(os.path.abspath(executable)))
    venvs = [venv] if os.path.isfile(os.path.join(venv, "pyvenv.cfg")) else []
    real = os.path.realpath(executable)
    if real == os.path.realpath(sys.executable):
        return executable, _merge(_own_install(), _install(venvs, []))
    if not _PYTHON_BINARY.fullmatch(os.path.basename(real)):
        problem = (
            f"its recorded interpreter {executable!r} (really {real!r}) is not a Python "
            "interpreter: the page starts only its own Python or a python3* binary."
        )
        raise _refuse(source, problem, path=executable)
    if _files.inside(storage, real):
        problem = f"its recorded interpreter {executable!r} lies inside the storage folder."
        raise _refuse(source, problem, path=executable)
    status = os.stat(real)
    owners = {0, getattr(os, "getuid", lambda: 0)()}
    if status.st_uid not in owners or status.st_mode & 0o022:
        problem = (
            f"its recorded interpreter {real!r} belongs to another user or may be changed by "
            "others."
        )
        raise _refuse(source, problem, path=executable)
    stamp = (status.st_ino, status.st_size, status.st_mtime_ns)
    found = _probe(real, stamp)
    if found is None:
        problem = f"its recorded interpreter {real!r} does not answer as Python."
        raise _refuse(source, problem, path=executable)
    prefixes, paths = found
    return executable, _merge(_own_install(), _install([*prefixes, *venvs], paths))


def _merge(first: _Install, second: _Install) -> _Install:
    folders = tuple(dict.fromkeys([*first.folders, *second.folders]))
    return _Install(folders, tuple(dict.fromkeys([*first.search, *second.search])))


@functools.lru_cache(maxsize=16)
def _probe(path: str, stamp: tuple[int, int, int]) -> tuple[list[str], list[str]] | None:
    """If ``path -I -S`` names a Python implementation, its installation prefixes and the
    sysconfig paths of :data:`_CODE_PATHS`; else ``None`` (cached per file version, ``stamp``)."""
    import subprocess

    try:
        done = subprocess.run(
            [path, "-I", "-S", "-c", _PROBE],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_PROBE_TIMEOUT,
            env={"PATH": os.defpath},
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    if done.returncode != 0 or len(lines) != 2 or lines[0].strip() not in _IMPLEMENTATIONS:
        return None
    try:
        prefixes, paths = json.loads(lines[1])
    except (ValueError, TypeError):
        return None
    if not all(isinstance(p, str) for p in [*prefixes, *paths]) or len(paths) != len(_CODE_PATHS):
        return None
    return list(prefixes), list(paths)


def _check_script(script: object, source: str, storage: str) -> str:
    if not isinstance(script, str) or not script:
        msg = (
            f"Run {source!r} was not started from a script file (its meta.json records no script), "
            "so it cannot be launched again from the page. Save the config and run it yourself."
        )
        raise LaunchError(msg, name=source)
    if not os.path.isabs(script) or not script.endswith(".py"):
        raise _refuse(
            source, f"its recorded script {script!r} is not a .py file path.", path=script
        )
    if not os.path.isfile(script):
        msg = (
            f"The script of run {source!r}, {script!r}, no longer exists, so it cannot be launched "
            "again. Restore the file, or save the config and run it yourself."
        )
        raise LaunchError(msg, name=source, path=script)
    if not os.path.realpath(script).endswith(".py"):
        problem = f"its recorded script {script!r} is a link to a file that is not a .py file."
        raise _refuse(source, problem, path=script)
    if _files.inside(storage, script):
        problem = (
            f"its recorded script {script!r} lies inside the storage folder, which holds data, "
            "not code the page may run."
        )
        raise _refuse(source, problem, path=script)
    return script


def _check_own_code(script: str, install: _Install, source: str) -> None:
    """Refuse a script that Python itself, or a package installed in it, provides."""
    if _interpreter_code(script, install):
        problem = (
            f"its recorded script {script!r} belongs to Python's standard library or installed "
            "packages, not to your project (such tools run whatever their arguments name)."
        )
        raise _refuse(source, problem, path=script)


def _check_module(
    module: object, script: str, cwd: str, source: str, install: _Install
) -> list[str]:
    """``["-m", module]`` for a run started with ``python -m``, else ``[]`` (a script file)."""
    if module is None or module == "":
        return []
    parts = module.split(".") if isinstance(module, str) else []
    if not parts or not all(p.isidentifier() for p in parts):
        raise _refuse(source, f"its recorded module {module!r} is not a dotted module name.")
    stem = Path(script).with_suffix("")
    names = list(stem.parts)
    if names[-len(parts) :] != parts and names[-len(parts) - 1 :] != [*parts, "__main__"]:
        problem = f"its recorded module {module!r} is not the module of its script {script!r}."
        raise _refuse(source, problem, path=script)
    top = parts[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        problem = (
            f"its recorded module {module!r} is a module of Python's standard library, not of "
            "your project (such tools run whatever their arguments name)."
        )
        raise _refuse(source, problem, path=script)
    # '-m' looks in the working folder first; a regular package there wins. Otherwise a module
    # installed in the interpreter would run instead of the script (or a namespace package's
    # other part would), so an installed one must not exist.
    local = _find_spec(top, [cwd])
    installed = _find_spec(top, install.search)
    local_wins = local is not None and local.origin is not None
    merged = local is not None and installed is not None and installed.origin is None
    if installed is not None and not local_wins and not merged:
        where = installed.origin or next(iter(installed.submodule_search_locations or []), "")
        problem = (
            f"its recorded module {module!r} would be imported from the interpreter's "
            f"installed packages ({where!r}), not from your project."
        )
        raise _refuse(source, problem, path=script)
    _check_resolves_to_script(parts, script, cwd, source)
    return ["-m", str(module)]


def _check_resolves_to_script(parts: Sequence[str], script: str, cwd: str, source: str) -> None:
    """Refuse unless ``-m`` in ``cwd`` finds the script file itself: a real ``.py`` file (not a
    link, nor a ``.pyc`` or an extension module that the import system would prefer)."""
    folder, spec = cwd, None
    for index, part in enumerate(parts):
        spec = _find_spec(part, [folder])
        if spec is None or (index < len(parts) - 1 and not spec.submodule_search_locations):
            break
        folder = os.path.join(folder, part)
    else:
        if spec is not None and spec.submodule_search_locations is not None:
            spec = _find_spec("__main__", [folder])  # '-m package' runs package/__main__.py
    origin = getattr(spec, "origin", None)
    if (
        not isinstance(origin, str)
        or not origin.endswith(".py")
        or os.path.islink(origin)
        or os.path.islink(script)
        or os.path.realpath(origin) != os.path.realpath(script)
    ):
        module = ".".join(parts)
        problem = (
            f"'-m {module}' in its recorded folder {cwd!r} would run {origin!r}, not its script "
            f"{script!r} (it must find that very .py file, not a link, .pyc or extension module)."
        )
        raise _refuse(source, problem, path=str(origin or script))


_INSTALLED: list[Any] = [0.0, frozenset()]  # (when read, the names), read again after a minute


def _installed_names() -> frozenset[str]:
    """The top-level names of the installed packages (reading them takes ~0.2 s: kept for a
    minute, so a page shows its runs at once and still sees a package installed meanwhile)."""
    now = time.monotonic()
    if now - _INSTALLED[0] > 60.0 or not _INSTALLED[1]:
        from importlib.metadata import packages_distributions  # on first use: ~10 ms

        _INSTALLED[:] = [now, frozenset(packages_distributions())]
    names: frozenset[str] = _INSTALLED[1]
    return names


def _guarded_names() -> frozenset[str]:
    """Top-level names a file in a script's first import folder must not take: the standard
    library's, hypertuner's and every installed package's (a file there would replace them)."""
    names = {*sys.stdlib_module_names, *sys.builtin_module_names, "hypertuner"}
    names.update(("sitecustomize", "usercustomize"))
    return frozenset(names) | _installed_names()


def _check_shadowing(folder: str, own: str, source: str) -> None:
    """Refuse a ``folder`` (first on the started script's ``sys.path``) that holds a module or
    package named like the standard library, hypertuner or an installed package: the script's
    imports would run it. ``own`` is the script's own module name, which may stand there."""
    installed = _installed_names()
    guarded = _guarded_names() - {own}
    suffixes = importlib.machinery.all_suffixes()
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        problem = f"its script's folder {folder!r} cannot be listed ({exc.strerror})."
        raise _refuse(source, problem, path=folder) from exc
    for entry in entries:
        stem = entry.name.split(".", 1)[0]
        if stem not in guarded:
            continue
        if entry.name == stem:
            if not entry.is_dir():
                continue
            package = stem in installed or any(
                os.path.exists(os.path.join(entry.path, f"__init__{suffix}")) for suffix in suffixes
            )
            if not package:
                continue
        elif not any(entry.name == stem + suffix for suffix in suffixes):
            continue
        problem = (
            f"its folder {folder!r}, which the started script imports from first, holds "
            f"{entry.name!r}, which would replace the module {stem!r} of Python or an installed "
            "package."
        )
        raise _refuse(source, problem, path=entry.path)


def _check_owned(path: str, source: str, what: str, *, folder: bool = False) -> None:
    """Refuse ``path`` unless it and its folder (``path`` itself when ``folder``) belong to the
    user or root and cannot be changed by group or others; the folders above them must belong to
    the user or root and be writable by others only when sticky (like /tmp)."""
    if not hasattr(os, "getuid"):
        return  # no POSIX owners to check (Windows)
    owners = {0, os.getuid()}
    strict: dict[str, bool] = {}
    for start in dict.fromkeys((os.path.abspath(path), os.path.realpath(path))):
        strict[start] = True
        current = start if folder else os.path.dirname(start)
        strict[current] = True
        while os.path.dirname(current) != current:
            current = os.path.dirname(current)
            strict.setdefault(current, False)
    for item, exact in strict.items():
        try:
            mode = os.stat(item)
        except OSError as exc:
            problem = f"its recorded {what} {path!r} cannot be checked ({exc.strerror})."
            raise _refuse(source, problem, path=path) from exc
        writable = mode.st_mode & 0o022 and (exact or not mode.st_mode & stat.S_ISVTX)
        if mode.st_uid not in owners or writable:
            problem = (
                f"its recorded {what} {path!r} belongs to another user or may be changed by "
                f"others ({item!r})."
            )
            raise _refuse(source, problem, path=path)


def _find_spec(name: str, path: Sequence[str]) -> Any:
    """The spec that a path search for the top-level module ``name`` finds in ``path``; nothing
    is imported."""
    try:
        return PathFinder.find_spec(name, list(path))
    except (ImportError, OSError, ValueError):
        return None


def _check_argument(token: object, source: str) -> str:
    """A recorded argument passes if it is a plain value, ``--flag`` or ``--flag=value``."""
    if not isinstance(token, str) or "\x00" in token:
        raise _refuse(source, f"its recorded argument {token!r} is not text.")
    if token.startswith("-"):
        flag = token.split("=", 1)[0]
        if not _LONG_FLAG.fullmatch(flag):
            problem = (
                f"its recorded argument {token!r} is not accepted: arguments starting with '-' "
                "must be long options (--flag or --flag=value; write a negative value as "
                "--flag=-1)."
            )
            raise _refuse(source, problem, value=token)
    return token


def _check_path_argument(token: str, cwd: str, source: str, storage: str) -> str:
    """Refuse an argument that names a path inside the storage folder: a script that the page
    starts must not be handed code or pickles kept there (the page passes its own config)."""
    _, equals, value = token.partition("=")
    if not token.startswith("-"):
        value = token
    elif not equals:
        return token  # a bare --flag
    if value and _files.inside(storage, os.path.join(cwd, value)):
        problem = (
            f"its recorded argument {token!r} names a path inside the storage folder, which "
            "holds data, not files the page may hand to a program it starts."
        )
        raise _refuse(source, problem, value=token)
    return token


def _check_cwd(cwd: object, script: str, module: object, source: str, storage: str) -> str:
    if not isinstance(cwd, str) or not os.path.isabs(cwd) or not os.path.isdir(cwd):
        # No folder recorded: the script's, or for '-m' the one its dotted name starts from.
        cwd = os.path.dirname(script)
        if isinstance(module, str) and module:
            levels = module.count(".") + (Path(script).stem == "__main__")
            for _ in range(levels):
                cwd = os.path.dirname(cwd)
    if _files.inside(storage, cwd):
        problem = f"its recorded working folder {cwd!r} lies inside the storage folder."
        raise _refuse(source, problem, path=cwd)
    return cwd


def _checked_command(
    meta: Mapping[str, Any],
    *,
    config_path: str | os.PathLike[str],
    name: str,
    storage: str | os.PathLike[str],
) -> tuple[list[str], str]:
    check_run_name(name)
    source = meta.get("name", "the source run")
    root = os.fspath(storage)
    script = _check_script(meta.get("script"), source, root)
    executable, install = _check_interpreter(meta.get("executable"), source, root)
    _check_own_code(script, install, source)
    _check_owned(script, source, "script")
    cwd = _check_cwd(meta.get("cwd"), script, meta.get("module"), source, root)
    module = _check_module(meta.get("module"), script, cwd, source, install)
    if module:
        # '-m' imports from the working folder first, a script from its own folder.
        _check_owned(cwd, source, "working folder", folder=True)
        _check_shadowing(cwd, module[1].split(".")[0], source)
    else:
        own = Path(script).stem
        for folder in dict.fromkeys(
            (os.path.dirname(script), os.path.dirname(os.path.realpath(script)))
        ):
            _check_shadowing(folder, own, source)
    entry = module or [script]
    argv = meta.get("argv")
    if argv is not None and not isinstance(argv, list):
        raise _refuse(source, f"its recorded argv is not a list ({type(argv).__name__}).")
    recorded = [_check_argument(token, source) for token in (argv or [])[1:]]
    kept = [_check_path_argument(token, cwd, source, root) for token in _strip_argv(recorded)]
    command = [
        executable,
        *entry,
        *kept,
        f"--config={os.fspath(config_path)}",
        f"--name={name}",
        f"--storage={os.fspath(storage)}",
    ]
    return command, cwd


def launch_command(
    meta: Mapping[str, Any],
    *,
    config_path: str | os.PathLike[str],
    name: str,
    storage: str | os.PathLike[str],
) -> list[str]:
    """Return the command that starts run ``name`` like the run ``meta`` describes.

    The recorded interpreter (``meta["executable"]``) runs the recorded script
    (``meta["script"]``) with the recorded arguments, less ``--config``, ``--name``,
    ``--storage`` and ``key=value`` overrides, plus ``--config=<config_path>``,
    ``--name=<name>`` and ``--storage=<storage>``. A run started with ``python -m module``
    (``meta["module"]``) is started with ``-m module`` again.

    The record is checked, not trusted: the interpreter must be this Python or a ``python3*``
    binary that answers as Python (owned by the user or root), the script an existing ``.py``
    file outside the storage folder and outside the interpreter's standard library, packages and
    scripts, the module the dotted name of that script (not a standard-library module, nor one
    the interpreter would import from its packages instead), and every recorded argument a plain
    value, ``--flag`` or ``--flag=value``, none naming a path inside the storage folder.

    Raises:
        LaunchError: the record has no script or interpreter, either no longer exists, or the
            record fails a check above (the message names what).
        RunNameError: ``name`` is not a safe run name.

    Example:
        >>> import sys
        >>> meta = {"executable": sys.executable, "script": __file__,
        ...         "argv": [__file__, "--config", "a.json", "lr=0.1", "--epochs", "3"]}
        >>> launch_command(meta, config_path="/s/c.json", name="b", storage="/s")[2:]
        ['--epochs', '3', '--config=/s/c.json', '--name=b', '--storage=/s']
        >>> launch_command({**meta, "module": "-c"}, config_path="c.json", name="b", storage="/s")
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        hypertuner.errors.LaunchError: Run 'the source run' cannot be launched from the page: ...
    """
    command, _ = _checked_command(meta, config_path=config_path, name=name, storage=storage)
    return command


@dataclass(frozen=True)
class Plan:
    """A checked launch, not started yet: what :meth:`Launcher.start` will run, where.

    The page shows ``command`` and ``cwd`` and asks before starting; the launch request carries
    them back, and the server starts nothing when they differ from a fresh plan.
    """

    source: str
    name: str
    command: list[str]
    cwd: str
    config: dict[str, Any]
    config_path: Path


@dataclass
class Launch:
    """A run started by a :class:`Launcher`: its name, command, process and log file."""

    name: str
    command: list[str]
    process: subprocess.Popen[bytes]
    log: Path
    config_path: Path
    cwd: str = ""
    started: float = field(default_factory=time.time)

    def returncode(self) -> int | None:
        """The exit status, or ``None`` while the process runs (polling also reaps it)."""
        return self.process.poll()

    def log_tail(self, limit: int = 4000) -> str:
        """The last ``limit`` characters of the run's output."""
        try:
            fd = _files.open_regular(self.log)
        except OSError:
            return ""
        with os.fdopen(fd, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(size - limit, 0))
            return handle.read().decode("utf-8", "replace")


class Launcher:
    """Save edited configs and start runs, all inside one storage folder.

    Args:
        storage: the storage folder.
        enabled: whether :meth:`launch` may start processes (``hypertuner ui --no-launch``
            turns it off for the launcher's life; saving configs still works).

    Example:
        >>> import tempfile, hypertuner
        >>> root = tempfile.mkdtemp()
        >>> hypertuner.start_run({"lr": 0.1}, name="a", storage=root).finish()
        >>> path = Launcher(root).save_config("a", {"lr": 0.2}, "a-fast")
        >>> path.relative_to(root).as_posix(), path.read_text().split()
        ('.hypertuner/configs/a-fast.json', ['{', '"lr":', '0.2', '}'])
    """

    def __init__(
        self, storage: str | os.PathLike[str] | None = None, *, enabled: bool = True
    ) -> None:
        self.storage = storage_root(storage)
        self._enabled = bool(enabled)
        self.launches: dict[str, Launch] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether launching is on (fixed when the launcher is made)."""
        return self._enabled

    @property
    def configs_folder(self) -> Path:
        """Where edited configs are saved: ``storage/.hypertuner/configs``."""
        return self.storage / ".hypertuner" / "configs"

    @property
    def logs_folder(self) -> Path:
        """Where launched runs' output goes: ``storage/.hypertuner/logs``."""
        return self.storage / ".hypertuner" / "logs"

    def _folder(self, folder: Path) -> Path:
        """``folder``, created, after checking it does not lead out of the storage folder."""
        what = f"Folder {str(folder.relative_to(self.storage))!r}"
        _files.check_inside(self.storage, folder, what)
        folder.mkdir(parents=True, exist_ok=True)
        _files.check_inside(self.storage, folder, what)
        return folder

    def _saved_config(self, source: str) -> tuple[Path, dict[str, Any]]:
        import json

        directory = resolve_run(source, self.storage)
        path = directory / "config.json"
        try:
            saved = json.loads(_files.read_inside(self.storage, path, f"Run file {str(path)!r}"))
        except (OSError, ValueError, RecursionError) as exc:
            msg = f"Run file {str(path)!r} cannot be read ({exc})."
            raise ConfigError(msg, path=str(path)) from exc
        if not isinstance(saved, dict):
            msg = f"Run file {str(path)!r} does not hold a JSON object."
            raise ConfigError(msg, path=str(path))
        if too_deep(saved, MAX_CONFIG_DEPTH):
            msg = (
                f"Run file {str(path)!r} nests sections or lists more than "
                f"{MAX_CONFIG_DEPTH} levels deep, which the page does not edit; edit it yourself."
            )
            raise ConfigError(msg, path=str(path))
        return directory, saved

    def save_config(
        self, source: str, config: Any, filename: str, *, overwrite: bool = False
    ) -> Path:
        """Check ``config`` against run ``source``'s and write it to ``configs/<filename>.json``.

        An existing config file of that name is replaced only when ``overwrite`` is true.

        Raises:
            RunInUseError: ``configs/<filename>.json`` exists and ``overwrite`` is false.
            RunNameError: ``source`` or ``filename`` is not a safe name.
            RunNotFoundError: there is no run ``source``.
            ConfigError: ``config`` has a missing, added or wrong-typed key.
            OutsideStorageError: the run or the configs folder leads outside the storage folder.
        """
        stem = filename[:-5] if filename.endswith(".json") else filename
        try:
            check_run_name(stem)
        except RunNameError as err:
            msg = (
                f"Config file name {filename!r} is not allowed: use letters, digits, '.', '_' and "
                "'-' only (it is saved in the storage folder's .hypertuner/configs/)."
            )
            raise RunNameError(msg, name=filename) from err
        _, saved = self._saved_config(source)
        checked = check_config(saved, config)
        with self._lock:
            path = self._folder(self.configs_folder) / f"{stem}.json"
            if not overwrite and os.path.lexists(path):
                raise self._config_exists(path, "config file name")
            _files.write_json(path, checked)
        return path

    def _config_exists(self, path: Path, what: str) -> RunInUseError:
        msg = (
            f"Config file {str(path)!r} exists already and is not replaced. Choose another {what}."
        )
        return RunInUseError(msg, name=path.stem)

    def free_name(self, source: str) -> str:
        """The first name ``<source>-2``, ``<source>-3``... that no run or launch uses.

        A sweep's trial ``<sweep>-<index>`` gets ``<sweep>-<index>-v2``, ``-v3``...: the names
        ``<sweep>-<n>`` belong to the sweep's own trials.

        Example:
            >>> import tempfile
            >>> Launcher(tempfile.mkdtemp()).free_name("a")
            'a-2'
        """
        base, n = source, 2
        head, _, tail = source.rpartition("-")
        if head and tail.isdigit() and os.path.isfile(self.storage / head / SWEEP_FILE):
            base = f"{source}-v"
        elif head and tail.isdigit():
            base, n = head, int(tail) + 1
        while True:
            candidate = (f"{base}{n}" if base.endswith("-v") else f"{base}-{n}")[:200]
            if not self._taken(candidate) and not os.path.lexists(
                self.configs_folder / f"{candidate}.json"
            ):
                return candidate
            n += 1

    def _taken(self, name: str) -> bool:
        running = self.launches.get(name)
        return os.path.lexists(self.storage / name) or (
            running is not None and running.returncode() is None
        )

    def plan(self, source: str, config: Any, name: str) -> Plan:
        """Check everything about starting run ``name`` from run ``source``; start nothing.

        Raises:
            LaunchError: launching is turned off, or the source run's record fails a check of
                :func:`launch_command`.
            RunNameError: ``name`` is not a safe run name.
            RunInUseError: a run or a launch named ``name``, or a config file
                ``configs/<name>.json``, exists already.
            RunNotFoundError: there is no run ``source``.
            ConfigError: ``config`` has a missing, added or wrong-typed key.
            OutsideStorageError: the run leads outside the storage folder.
        """
        import json

        if not self._enabled:
            msg = (
                "Launching runs is turned off ('hypertuner ui --no-launch'); save the config and "
                "run it yourself, or restart the page without --no-launch."
            )
            raise LaunchError(msg, name=name)
        check_run_name(name)
        if self._taken(name):
            msg = f"Run {name!r} exists already in {str(self.storage)!r}. Choose another name."
            raise RunInUseError(msg, name=name)
        directory, saved = self._saved_config(source)
        checked = check_config(saved, config)
        meta_path = directory / "meta.json"
        try:
            meta = json.loads(_files.read_inside(self.storage, meta_path, f"Run file {source!r}"))
        except (OSError, ValueError, RecursionError) as exc:
            msg = (
                f"Run {source!r} has no readable meta.json ({exc}), so it cannot be launched again."
            )
            raise LaunchError(msg, name=source, path=str(meta_path)) from exc
        meta = {**meta, "name": source} if isinstance(meta, dict) else {"name": source}
        sweep = meta.get("sweep")
        if isinstance(sweep, str) and sweep:
            # A trial of a sweep run as a function: its recorded command is the sweep's script,
            # which would run the whole sweep again, not this trial.
            msg = (
                f"Run {source!r} is a trial of sweep {sweep!r}, which ran it as a function inside "
                "the sweep's script: launching it again would run that whole script, not this "
                "trial. Save the config and run it yourself, or change the sweep's space."
            )
            raise LaunchError(msg, name=source)
        config_path = self.configs_folder / f"{name}.json"
        if os.path.lexists(config_path):  # a saved config: launching must not replace it
            raise self._config_exists(config_path, "run name")
        command, cwd = _checked_command(
            meta, config_path=config_path, name=name, storage=self.storage
        )
        return Plan(source, name, command, cwd, checked, config_path)

    def start(self, plan: Plan) -> Launch:
        """Start a :meth:`plan`: write its config, then run its command with output to the log.

        The process runs in the plan's working folder, in a session of its own (it keeps running
        when the page stops), with its output in ``logs/<name>.log`` (a link there is replaced,
        never followed).

        Raises:
            LaunchError: launching is turned off.
            RunInUseError: a run or a launch named ``plan.name``, or its config file, appeared
                meanwhile.
            OutsideStorageError: the configs or logs folder leads outside the storage folder.
        """
        import subprocess

        if not self._enabled:
            msg = "Launching runs is turned off ('hypertuner ui --no-launch')."
            raise LaunchError(msg, name=plan.name)
        with self._lock:
            if self._taken(plan.name):
                msg = (
                    f"Run {plan.name!r} exists already in {str(self.storage)!r}. "
                    "Choose another name."
                )
                raise RunInUseError(msg, name=plan.name)
            self._folder(self.configs_folder)
            if os.path.lexists(plan.config_path):
                raise self._config_exists(plan.config_path, "run name")
            _files.write_json(plan.config_path, plan.config)
            log = self._folder(self.logs_folder) / f"{plan.name}.log"
            env = {
                k: v
                for k, v in os.environ.items()
                if k not in ("HYPERTUNER_RUN_NAME", "HYPERTUNER_RUN_PID")
            }
            env["HYPERTUNER_STORAGE"] = str(self.storage)
            env["PYTHONUNBUFFERED"] = "1"
            with _files.create_nofollow(log) as output:
                process = subprocess.Popen(
                    plan.command,
                    cwd=plan.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=sys.platform != "win32",
                )
            started = Launch(plan.name, plan.command, process, log, plan.config_path, plan.cwd)
            self.launches[plan.name] = started
        return started

    def launch(self, source: str, config: Any, name: str) -> Launch:
        """Start run ``name``: run ``source``'s script again with ``config`` (checked first).

        The same as ``start(plan(source, config, name))``; the page instead shows the plan's
        command, asks, and starts it only if a fresh plan has the same command.

        Raises:
            LaunchError: launching is turned off, or the source run's record fails a check.
            RunNameError: ``name`` is not a safe run name.
            RunInUseError: a run or a launch named ``name`` exists already.
            RunNotFoundError: there is no run ``source``.
            ConfigError: ``config`` has a missing, added or wrong-typed key.
            OutsideStorageError: a folder or file involved leads outside the storage folder.
        """
        return self.start(self.plan(source, config, name))
