"""Which layer set each key of a run's config, for the run's page (what ``--explain`` prints).

A run records its resolved config (``config.json``) and its command line (``meta.json``: ``argv``
and ``cwd``), not the layers. :func:`provenance` re-resolves the recorded command line with
:func:`hypertuner.config.resolve`, the run's own config as the lowest layer, and asks the
resolution where each key came from (:meth:`~hypertuner.config.Resolution.origin`):
``command line 'lr=0.1'``, ``configs/big.json:3`` or ``defaults``. A trial of a sweep run as a
function (``meta.json`` names its ``sweep``) has no command line of its own: its searched keys
are set by the sweep (``sweep.json``'s ``space``), the rest by the sweep's base config or defaults.

``meta.json`` is untrusted input, and its ``argv`` names files. So a config file named there is
read only when it is a regular file of at most :data:`~hypertuner.ui.readers.MAX_SMALL_BYTES`
bytes with a config extension whose real path, links resolved, lies inside the run's recorded
working folder, the recorded script's folder (either one only when it is not a filesystem root)
or the storage folder; it is copied (bytes read
once, from an open descriptor) into a private temporary folder and resolved from there, so a file
swapped meanwhile cannot make the reader block or read elsewhere. Nothing read from those files
reaches the page but the layer's name and a line number: values always come from ``config.json``,
and a key whose value the file now gives differently is only flagged (``changed``). Anything
refused is said in ``notes``, and its keys read ``a config file that was not read, or defaults``.

Resolving again evaluates the config files (a ``.cfg`` file's values are expressions, bounded but
not free), so the answer is kept for the same command line, file contents and config: viewing a
run again does not redo the work.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import stat
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import _files
from .._formats import FORMATS
from .._layout import SWEEP_FILE
from .._trees import flatten
from ..config import resolve
from ..errors import HypertunerError
from .readers import MAX_SMALL_BYTES, read_json

__all__ = ["provenance"]

_UNREAD = "a config file that was not read, or defaults"
# Answers of _from_argv, by command line, config files' contents and config (oldest first).
_KEPT: dict[tuple[Any, ...], dict[str, Any]] = {}
_KEPT_MAX = 64
_KEPT_LOCK = threading.Lock()


def provenance(root: Path, meta: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """Where each key of a run's ``config`` came from.

    Args:
        root: the storage folder.
        meta: the run's ``meta.json`` (untrusted).
        config: the run's ``config.json`` (nested).

    Returns:
        ``{"keys": {dotted key: {"origin", "kind", "changed"}}, "notes": [sentences]}``;
        ``kind`` is ``"command line"``, ``"file"``, ``"sweep"``, ``"defaults"`` or
        ``"unknown"``, ``changed`` whether the named file now gives the key another value.

    Example:
        >>> import tempfile
        >>> meta = {"argv": ["train.py", "lr=0.2"], "cwd": tempfile.mkdtemp()}
        >>> keys = provenance(Path(tempfile.mkdtemp()), meta, {"lr": 0.2, "epochs": 3})["keys"]
        >>> keys["lr"]["origin"], keys["epochs"]["origin"]
        ("command line 'lr=0.2'", 'defaults')
    """
    flat = {
        k: v for k, v in flatten(dict(config)).items() if k != "run" and not k.startswith("run.")
    }
    sweep = meta.get("sweep")
    if isinstance(sweep, str) and sweep:
        return _from_sweep(root, sweep, meta.get("trial"), flat)
    argv = meta.get("argv")
    if not isinstance(argv, list) or not all(isinstance(t, str) for t in argv) or not argv:
        notes = ["The run's meta.json records no command line, so where each value came from "
                 "is not known."]  # fmt: skip
        return {"keys": {k: _entry("not recorded", "unknown") for k in flat}, "notes": notes}
    return _from_argv(root, meta, argv, config, flat)


def _entry(origin: str, kind: str, changed: bool = False) -> dict[str, Any]:
    return {"origin": origin, "kind": kind, "changed": changed}


def _from_sweep(root: Path, sweep: str, trial: Any, flat: Mapping[str, Any]) -> dict[str, Any]:
    notes: list[str] = []
    info: Any = None
    if "/" not in sweep and sweep not in (".", ".."):
        info, problem = read_json(root, root / sweep / SWEEP_FILE, f"Sweep file '{sweep}'")
        if problem:
            notes.append(problem)
    info = info if isinstance(info, dict) else {}
    space = info.get("space") if isinstance(info.get("space"), dict) else {}
    base = flatten(info["config"]) if isinstance(info.get("config"), dict) else {}
    which = f" trial {trial}" if isinstance(trial, int) and not isinstance(trial, bool) else ""
    keys = {}
    for key in flat:
        if any(key == s or key.startswith(f"{s}.") for s in space):
            keys[key] = _entry(f"sweep {sweep!r}{which} (searched)", "sweep")
        elif any(key == b or key.startswith(f"{b}.") for b in base):
            keys[key] = _entry(f"sweep {sweep!r} base config", "sweep")
        else:
            keys[key] = _entry("defaults", "defaults")
    if not info:
        notes.append(f"The sweep's record '{sweep}/sweep.json' is missing or unreadable.")
    return {"keys": keys, "notes": notes}


def _roots(root: Path, meta: Mapping[str, Any]) -> list[str]:
    """The folders config files may be read from: the recorded working and script folders (when
    they are absolute, exist and are not a filesystem root) and the storage folder."""
    folders = [str(root)]
    cwd, script = meta.get("cwd"), meta.get("script")
    if isinstance(cwd, str) and os.path.isabs(cwd) and os.path.isdir(cwd):
        folders.append(cwd)
    if isinstance(script, str) and os.path.isabs(script):
        folders.append(os.path.dirname(script))
    real = [os.path.realpath(f) for f in folders if "\x00" not in f]
    # A filesystem root holds everything: as a "working folder" it would let any file be read.
    return [f for f in real if os.path.dirname(f) != f]


def _inside_any(path: str, folders: list[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip(os.sep) + os.sep) for f in folders)


def _copy_config(
    path: str, meta: Mapping[str, Any], folders: list[str], into: str
) -> tuple[str, str]:
    """Copy the recorded config file ``path`` into ``into``; return the copy's path and the
    digest of its bytes, or raise ``ValueError`` saying why it is not read."""
    if "\x00" in path or not path:
        msg = "it is not a file name"
        raise ValueError(msg)
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        msg = f"its extension {suffix or '(none)'!r} is not a config format"
        raise ValueError(msg)
    cwd, script = meta.get("cwd"), meta.get("script")
    bases = [b for b in (cwd, os.path.dirname(script) if isinstance(script, str) else None)
             if isinstance(b, str) and os.path.isabs(b)]  # fmt: skip
    candidates = [path] if os.path.isabs(path) else [os.path.join(b, path) for b in bases]
    for candidate in candidates:
        real = os.path.realpath(candidate)
        if not os.path.exists(real):
            continue
        if not _inside_any(real, folders):
            msg = "it lies outside the run's working folder, script folder and storage folder"
            raise ValueError(msg)
        try:
            # Not through a link (it was resolved above), and O_NONBLOCK: a FIFO must not block.
            fd = _files.open_nofollow(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError as exc:
            msg = f"it cannot be read ({exc.strerror})"
            raise ValueError(msg) from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                msg = "it is not a regular file"
                raise ValueError(msg)
            data = handle.read(MAX_SMALL_BYTES + 1)
        if len(data) > MAX_SMALL_BYTES:
            msg = f"it holds more than {MAX_SMALL_BYTES:,} bytes"
            raise ValueError(msg)
        copy = os.path.join(into, f"{len(os.listdir(into))}{suffix}")
        with open(copy, "wb") as handle:
            handle.write(data)
        return copy, hashlib.sha256(data).hexdigest()
    msg = "it no longer exists"
    raise ValueError(msg)


def _config_tokens(argv: list[str]) -> list[tuple[int, str, str]]:
    """``(index, form, path)`` of each ``--config`` in ``argv``: form ``"="`` for
    ``--config=PATH``, ``" "`` for ``--config PATH`` (the path is the next token)."""
    found = []
    skip = False
    for i, token in enumerate(argv):
        if skip:
            skip = False
            continue
        if token == "--config" and i + 1 < len(argv):
            found.append((i, " ", argv[i + 1]))
            skip = True
        elif token.startswith("--config="):
            found.append((i, "=", token[len("--config=") :]))
    return found


def _from_argv(
    root: Path,
    meta: Mapping[str, Any],
    argv: list[str],
    config: Mapping[str, Any],
    flat: Mapping[str, Any],
) -> dict[str, Any]:
    notes: list[str] = []
    tokens = list(argv[1:])
    folders = _roots(root, meta)
    base = {k: v for k, v in config.items() if k != "run"}
    unread = False
    with tempfile.TemporaryDirectory(prefix="hypertuner-provenance-") as into:
        shown: dict[str, str] = {}
        rewritten: list[str] = []
        key: list[Any] = []  # the command line, each file read named by its path and digest
        configs = {i: (form, path) for i, form, path in _config_tokens(tokens)}
        skip = False
        for i, token in enumerate(tokens):
            if skip:
                skip = False
                continue
            if i not in configs:
                rewritten.append(token)
                key.append(token)
                continue
            form, path = configs[i]
            skip = form == " "
            try:
                copied, digest = _copy_config(path, meta, folders, into)
            except ValueError as exc:
                notes.append(f"Config file {path[:300]!r} was not read: {exc}.")
                unread = True
                continue
            shown[copied] = path
            rewritten.append(f"--config={copied}")
            key.append((path, digest))
        kept = (tuple(key), tuple(notes), json.dumps(config, sort_keys=True, default=repr))
        with _KEPT_LOCK:
            answer = _KEPT.get(kept)
        if answer is not None:
            return copy.deepcopy(answer)
        answer = _resolve_again(rewritten, base, flat, shown, notes, unread)
        with _KEPT_LOCK:
            _KEPT[kept] = copy.deepcopy(answer)
            while len(_KEPT) > _KEPT_MAX:
                del _KEPT[next(iter(_KEPT))]
        return answer


def _resolve_again(
    rewritten: list[str],
    base: Mapping[str, Any],
    flat: Mapping[str, Any],
    shown: Mapping[str, str],
    notes: list[str],
    unread: bool,
) -> dict[str, Any]:
    """Resolve the rewritten command line (its files copied) and name each key's layer."""
    try:
        res = resolve(rewritten, defaults=base, strict=False)
    except HypertunerError as exc:
        problem = str(exc)
        for copied, path in shown.items():
            problem = problem.replace(copied, path)
        notes.append(f"The recorded command line does not resolve again: {problem}")
        overrides = [t for t in rewritten if not t.startswith("-")]
        try:
            res = resolve(overrides, defaults=base, strict=False)
        except HypertunerError:
            return {"keys": {k: _entry("not known", "unknown") for k in flat}, "notes": notes}
        unread = True
    now = flatten(res.config)
    keys = {}
    for key, value in flat.items():
        origin = res.origin(key)
        for copied, path in shown.items():
            if origin.startswith(copied):
                origin = path + origin[len(copied) :]
                break
        if origin.startswith("command line"):
            kind = "command line"
        elif origin.startswith("defaults"):
            kind = "defaults"
            origin = _UNREAD if unread else "defaults"
        else:
            kind = "file"
        changed = key not in now or now[key] != value or type(now[key]) is not type(value)
        keys[key] = _entry(origin, "unknown" if origin == _UNREAD else kind, changed)
    return {"keys": keys, "notes": notes}
