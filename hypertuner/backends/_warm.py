"""The preload of :class:`~hypertuner.backends.ProcessPool`'s forkserver: importing it warms the
server. Nothing else imports this module.

``multiprocessing``'s forkserver is a fresh interpreter (no thread or lock of the sweep's
process) that forks each worker; what it has imported, its workers have without paying for it.
The pool starts it with :data:`ENV` set to ``{"modules": [...], "main": path, "path": sys.path}``
and this module as its only preload, so the server imports the heavy modules the sweep's process
has (torch, Lightning, ...), the module of the trial function, and the user's script under the
name ``__mp_main__`` (its ``if __name__ == "__main__":`` block does not run), as each worker
would have.

A script that cannot be imported that way (one that starts its sweep without a main guard, or
parses the command line at its top level) is left out here: the server stays up, and each worker
imports the script itself and reports the error, as a spawned worker does.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys

ENV = "HYPERTUNER_WARM"


def _import_main(path: str) -> None:
    from multiprocessing import process, spawn

    saved = sys.modules.get("__main__")
    current = process.current_process()
    current._inheriting = True  # type: ignore[attr-defined]
    try:
        spawn.import_main_path(path)
    except BaseException:
        if saved is not None:
            sys.modules["__main__"] = saved
        sys.modules.pop("__mp_main__", None)
    finally:
        with contextlib.suppress(AttributeError):
            del current._inheriting  # type: ignore[attr-defined]


def _warm() -> None:
    text = os.environ.pop(ENV, "")
    try:
        spec = json.loads(text) if text else {}
    except ValueError:
        return
    path = spec.get("path")
    if isinstance(path, list):
        sys.path[:] = [str(p) for p in path]
    for name in spec.get("modules") or []:
        with contextlib.suppress(Exception, SystemExit):
            importlib.import_module(str(name))
    main = spec.get("main")
    if isinstance(main, str) and os.path.isfile(main):
        _import_main(main)


_warm()
