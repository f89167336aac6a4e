"""The ``hypertuner ui`` web server: one page and a small JSON API over the storage folder.

Built on the standard library's :class:`http.server.ThreadingHTTPServer` (no dependency to install,
and nothing a local page for one user needs is missing from it). The page is a few static files
shipped in the package; everything it shows comes from :mod:`hypertuner.compare`, the reader the
``hypertuner`` command uses, and :mod:`hypertuner.ui.readers`. Its charts are plotly.js, served
from the installed ``plotly`` package (the ``ui`` extra) at :data:`PLOTLY_PATH`: nothing is
fetched from another site, and without plotly the page works with its chart areas saying what to
install.

Safety: the server binds to 127.0.0.1 unless told otherwise; it answers only requests whose
``Host`` header names the server itself and whose ``Origin`` (when sent) is its own (so a page on
another site cannot reach it through DNS rebinding); every ``/api/`` request must carry the
per-start token printed in the address (``X-Hypertuner-Token`` header or ``?token=``); run names
are checked with :func:`hypertuner._layout.check_run_name`, and it writes only inside
``storage/.hypertuner/``; a run folder or file that is a link leading outside the storage folder
is neither listed nor served. New runs start only as a checked Python command rebuilt from the
recorded run (see :mod:`hypertuner.ui.edit`), which the page shows and the launch request must
carry back unchanged. Request bodies are strict JSON (no NaN or infinity, no lone surrogates, at
most :data:`MAX_DEPTH` levels deep); every connection has a read timeout, and at most
``max_connections`` are served at once (more get 503).

API (JSON; errors are ``{"error": message, "key": dotted key or null}`` with a 4xx status):

- ``GET /api/runs``: ``{"storage", "launch", "charts", "runs": [runs_table rows + "launch",
  and "sweep", "trial", "trial_value" for a sweep's trials], "sweeps": [readers.sweeps]}``;
- ``GET /api/runs/<name>``: the run's config, meta, metrics, files, whether it can be launched,
  and its page (:func:`hypertuner.ui.runpage.run_page`: where each value came from, the command
  line, checkpoints, log tail, sweep);
- ``GET /api/runs/<name>/curves[?tag=loss]``: every metric's curve (or only ``tag``);
- ``GET /api/compare?run=a&run=b&metric=loss``: differing keys and each run's curve of ``metric``;
- ``POST /api/runs/<name>/save`` ``{"config", "filename"}``: write
  ``.hypertuner/configs/<filename>.json``;
- ``POST /api/runs/<name>/command`` ``{"config", "name"}``: the exact ``command`` (argv) and
  ``cwd`` that launching run ``name`` from run ``<name>`` would run; starts nothing;
- ``POST /api/runs/<name>/launch`` ``{"config", "name", "command", "cwd"}``: start run ``name``
  from run ``<name>``, if ``command`` and ``cwd`` are what ``/command`` gives now (else 409);
- ``GET /api/configs/<file>.json``: download a saved config.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import socket
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _files, compare
from .._clitools import add_storage_option
from .._layout import check_run_name, list_runs, resolve_run, storage_root
from ..errors import (
    ConfigError,
    HypertunerError,
    LaunchError,
    OutsideStorageError,
    RunInUseError,
    RunNameError,
    RunNotFoundError,
)
from . import readers
from ._http import (
    _SECURITY_HEADERS,
    MAX_DEPTH,
    _check_shown,
    _decode_body,
    _HTTPError,
    _json_bytes,
    _server_class,
)
from .edit import MAX_CONFIG_DEPTH, Launch, Launcher, too_deep
from .runpage import run_page

if TYPE_CHECKING:
    import http.server

__all__ = ["MAX_DEPTH", "UIServer", "add_commands"]

DEFAULT_PORT = 8765
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/table.js": ("table.js", "text/javascript; charset=utf-8"),
    "/views.js": ("views.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
#: Where the page loads plotly.js from: the installed ``plotly`` package's own bundle.
PLOTLY_PATH = "/vendor/plotly.min.js"
#: What to install for the page's charts.
CHARTS_EXTRA = "pip install 'hypertuner[ui]'"
_MAX_BODY = 4 * 1024 * 1024


def _static_files() -> dict[str, bytes]:
    from importlib import resources

    folder = resources.files("hypertuner.ui") / "static"
    return {name: (folder / name).read_bytes() for name, _ in set(_STATIC.values())}


def _plotly_file() -> Path | None:
    """plotly.js as the installed ``plotly`` package ships it, or ``None`` (not installed).

    Found without importing the package (importing plotly takes a second).
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec("plotly")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path
    return None


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _status_of(err: HypertunerError) -> int:
    if isinstance(err, OutsideStorageError):
        return 403
    if isinstance(err, RunNotFoundError):
        return 404
    if isinstance(err, (RunInUseError, LaunchError)):
        return 409
    return 400


class UIServer:
    """The ``hypertuner ui`` server over one storage folder.

    Args:
        storage: the storage folder (default: ``$HYPERTUNER_STORAGE`` or ``./storage``).
        host: the address to bind; anything but a loopback address needs ``allow_remote``.
        port: the port; 0 picks a free one.
        launch: whether the page may start runs.
        allow_remote: allow a non-loopback ``host`` (anyone who can reach it and has the token
            can then start the recorded scripts).
        token: the access token (default: a fresh random one).
        allowed_hosts: more names the ``Host`` header may carry (e.g. a machine's DNS name).
        timeout: seconds a connection may wait for the client (each read; the whole body must
            arrive within it too); idle or stalled connections are closed (408 mid-body).
        max_connections: connections served at once; more are answered 503 at once.

    Attributes:
        url: the page's address, token included.
        token: the token every API request must carry.
        launcher: the :class:`~hypertuner.ui.edit.Launcher` that saves configs and starts runs.

    Raises:
        LaunchError: ``host`` is not a loopback address and ``allow_remote`` is false.

    Example:
        >>> import json, tempfile, urllib.request
        >>> with UIServer(tempfile.mkdtemp(), port=0) as server:
        ...     server.start()
        ...     request = urllib.request.Request(f"{server.base}/api/runs",
        ...                                      headers={"X-Hypertuner-Token": server.token})
        ...     json.load(urllib.request.urlopen(request))["runs"]
        []
    """

    def __init__(
        self,
        storage: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        launch: bool = True,
        allow_remote: bool = False,
        token: str | None = None,
        allowed_hosts: tuple[str, ...] = (),
        timeout: float = 10.0,
        max_connections: int = 64,
    ) -> None:
        if not _is_loopback(host) and not allow_remote:
            msg = (
                f"Binding the page to {host!r} makes it reachable from other machines. Pass "
                "--allow-remote to do so on purpose, or leave --host at 127.0.0.1."
            )
            raise LaunchError(msg, value=host)
        # Imported here: the `hypertuner` command imports this module for every subcommand.
        import secrets
        import socket

        self.storage = storage_root(storage)
        self.launcher = Launcher(self.storage, enabled=launch)
        self.token = token or secrets.token_urlsafe(24)
        self.static = _static_files()
        self.timeout = timeout
        self.max_connections = max_connections
        self._skipped: set[str] = set()
        self._plotly = _plotly_file()
        self._plotly_bytes: bytes | None = None
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        self.httpd = _server_class(family, max_connections)(
            (host.strip("[]"), port), _make_handler(self), bind_and_activate=True
        )
        self.httpd.daemon_threads = True
        self.host = host
        self.port: int = self.httpd.server_address[1]
        names = {"127.0.0.1", "localhost", "[::1]"}
        if not _is_loopback(host):
            names |= {host, socket.gethostname(), socket.getfqdn()}
            if host.strip("[]") in ("0.0.0.0", "::"):  # every interface: the machine's addresses
                with contextlib.suppress(OSError):
                    names |= set(socket.gethostbyname_ex(socket.gethostname())[2])
        names |= set(allowed_hosts)
        names = {f"[{n}]" if ":" in n and not n.startswith("[") else n for n in names}
        self.allowed_hosts = {f"{n.lower()}:{self.port}" for n in names}
        self.allowed_origins = {f"http://{h}" for h in self.allowed_hosts}
        shown = host if ":" not in host or host.startswith("[") else f"[{host}]"
        shown = "127.0.0.1" if shown in ("0.0.0.0", "[::]") else shown
        self.base = f"http://{shown}:{self.port}"
        self.url = f"{self.base}/?token={self.token}"
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve in a background thread (for tests and notebooks); :meth:`close` stops it."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # close() waits at most this long
            name="hypertuner-ui",
            daemon=True,
        )
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve on this thread until interrupted."""
        self.httpd.serve_forever()

    def close(self) -> None:
        """Stop serving and release the port (launched runs keep running)."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> UIServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def plotly_bytes(self) -> bytes | None:
        """plotly.js from the installed ``plotly`` package (read once), or ``None``."""
        if self._plotly_bytes is None and self._plotly is not None:
            with contextlib.suppress(OSError):
                self._plotly_bytes = self._plotly.read_bytes()
        return self._plotly_bytes

    # --- the API, as plain functions of parsed requests ---------------------------------------

    def runs(self) -> dict[str, Any]:
        """The runs table: :func:`hypertuner.compare.runs_table` rows plus launch information.

        Run folders that are links leading outside the storage folder are left out (and named
        once on the terminal).
        """
        outside: list[str] = []
        chosen = list_runs(self.storage, skipped=outside)
        for name in sorted(set(outside) - self._skipped):
            self._skipped.add(name)
            print(
                f"hypertuner ui: warning: run folder {str(self.storage / name)!r} is a link "
                "leading outside the storage folder; the page does not show it.",
                file=sys.stderr,
            )
        rows = compare._rows(self.storage, chosen)
        known = {row["name"]: row for row in rows}
        for name, started in list(self.launcher.launches.items()):
            code = started.returncode()
            info = {
                "log": str(started.log),
                "returncode": code,
                "config_path": str(started.config_path),
            }
            row = known.get(name)
            if row is not None:
                row["launch"] = info
                if row["status"] == "unknown" and code is None:
                    row["status"] = "starting"  # the run folder exists, its meta.json not yet
                continue
            status, error = "starting", None
            if code is not None:
                status = "failed"
                error = (
                    f"The process exited with status {code} before creating the run. "
                    f"Its output is in {str(started.log)!r}."
                )
                info["log_tail"] = started.log_tail()
            rows.append(
                {
                    "name": name,
                    "status": status,
                    "start_time": time.strftime(
                        "%Y-%m-%dT%H:%M:%S%z", time.localtime(started.started)
                    ),
                    "end_time": None,
                    "duration_s": None,
                    "error": error,
                    "config": {},
                    "metrics": {},
                    "launch": info,
                }
            )
        groups = readers.sweeps(self.storage, known)
        for sweep in groups:
            for name, trial in sweep["trials"].items():
                row = known.get(name)
                if row is not None:
                    row["sweep"] = sweep["name"]
                    row["trial"] = trial["index"]
                    row["trial_value"] = trial["value"]
        return {
            "storage": str(self.storage),
            "launch": self.launcher.enabled,
            "charts": self.charts(),
            "runs": rows,
            "sweeps": groups,
        }

    def charts(self) -> dict[str, Any]:
        """Whether the page can draw charts: ``{"available", "script", "version", "install"}``.

        The page's charts are plotly.js, served from the installed ``plotly`` package
        (``pip install 'hypertuner[ui]'``); without it every chart area says so.
        """
        path = self._plotly
        version = None
        if path is not None:
            with contextlib.suppress(OSError), open(path, "rb") as handle:
                head = handle.read(200).decode("ascii", "replace")
                found = head.split("plotly.js v", 1)
                version = found[1].split()[0] if len(found) == 2 else None
        return {
            "available": path is not None,
            "script": PLOTLY_PATH,
            "version": version,
            "install": CHARTS_EXTRA,
        }

    def run(self, name: str) -> dict[str, Any]:
        """One run: config, meta, metrics, files, whether it can be launched, and a free name."""
        data = compare.read_run(name, self.storage)
        suggested = self.launcher.free_name(name)
        reason = None
        if not self.launcher.enabled:
            reason = "Launching is turned off (hypertuner ui --no-launch)."
        else:
            try:
                self.launcher.plan(name, data["config"], suggested)
            except HypertunerError as err:
                reason = str(err)
        # A config nested deeper than the page edits (see Launcher) is shown, not walked: the
        # form's types and the provenance recurse through it.
        deep = too_deep(data["config"], MAX_CONFIG_DEPTH)
        data["types"] = {} if deep else _types(data["config"])
        data["launchable"] = reason is None
        data["launch_reason"] = reason
        data["suggested_name"] = suggested
        data["configs_folder"] = str(self.launcher.configs_folder)
        started = self.launcher.launches.get(name)
        if started is not None:
            data["log_tail"] = started.log_tail()
        data.update(run_page(self.storage, {**data, "config": {}} if deep else data))
        return data

    def curves(self, name: str, tags: list[str] | None = None) -> dict[str, Any]:
        """Every metric's curve of run ``name`` (or only ``tags``), at most
        :data:`~hypertuner.ui.readers.MAX_POINTS` points each."""
        directory = resolve_run(name, self.storage)
        return {"name": directory.name, **readers.curves(self.storage, directory, tags or None)}

    def compare(self, names: list[str], metric: str | None) -> dict[str, Any]:
        """Differing config keys and each run's curve of ``metric`` (default: a common one)."""
        if len(names) < 2:
            msg = "Choose at least two runs to compare."
            raise _HTTPError(400, msg)
        directories = [resolve_run(n, self.storage) for n in names]
        rows = compare.runs_table(self.storage, names=names)
        tags: dict[str, int] = {}
        for row in rows:
            for tag in row["metrics"]:
                tags[tag] = tags.get(tag, 0) + 1
        metrics = sorted(tags, key=lambda t: (-tags[t], t))
        if metric is None and metrics:
            metric = next(
                (t for t in metrics if "loss" in t.lower() and tags[t] == len(rows)), metrics[0]
            )
        series: dict[str, Any] = {}
        problems: list[str] = []
        if metric is not None:
            for directory in directories:
                refused = readers.check_event_files(self.storage, directory)
                problems.extend(refused)
                found = None
                if not refused:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        found = compare.read_scalars(directory, tags=[metric]).get(metric)
                    problems.extend(str(w.message) for w in caught)
                series[directory.name] = (
                    {"steps": [], "values": []}
                    if found is None
                    else readers.points(found.steps, found.values)
                )
        quoted = " ".join(names)
        return {
            "runs": [d.name for d in directories],
            "diff": compare.diff_configs(names, self.storage),
            "metrics": metrics,
            "metric": metric,
            "series": series,
            "warnings": problems,
            "board": {
                "command": f"hypertuner board --storage {self.storage}",
                "runs": quoted,
                "regex": "^(" + "|".join(d.name.replace(".", r"\.") for d in directories) + ")$",
            },
        }


def _types(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """The form's input type of each key: section, dict, bool, int, float, str, null, list[...]."""
    out: dict[str, str] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out[dotted] = "section" if value else "dict"
            out.update(_types(value, f"{dotted}."))
        elif isinstance(value, list):
            kinds = {_kind(item) for item in value}
            if kinds == {"int", "float"}:
                kinds = {"float"}
            element = kinds.pop() if len(kinds) == 1 else None
            out[dotted] = (
                f"list[{element}]" if element in ("bool", "int", "float", "str") else "list"
            )
        else:
            out[dotted] = _kind(value)
    return out


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (bool, int, float, str)):
        return type(value).__name__
    return "list" if isinstance(value, list) else "dict"


def _make_handler(ui: UIServer) -> type[http.server.BaseHTTPRequestHandler]:
    import http.server
    import secrets
    import traceback
    from urllib.parse import parse_qs, unquote, urlsplit

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "hypertuner-ui"
        sys_version = ""
        protocol_version = "HTTP/1.1"
        # Headers and body go out as separate writes: with Nagle's algorithm, the body would wait
        # for the client's delayed ACK of the headers (tens of ms per response on loopback).
        disable_nagle_algorithm = True
        timeout = ui.timeout  # every read from the client; a stalled connection is closed

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the page's errors come back as JSON; no access log on the terminal

        def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in {**_SECURITY_HEADERS, **headers}.items():
                self.send_header(name.replace("_", "-"), value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _send_json(self, status: int, payload: Any) -> None:
            self._send(status, _json_bytes(payload), "application/json")

        def _check_origin(self) -> None:
            host = (self.headers.get("Host") or "").lower()
            if host not in ui.allowed_hosts:
                msg = (
                    f"Host {host!r} is not this server's address; open {ui.base}/ instead "
                    "(requests for other host names are refused against DNS rebinding)."
                )
                raise _HTTPError(403, msg)
            origin = self.headers.get("Origin")
            if origin is not None and origin.lower() not in ui.allowed_origins:
                msg = (
                    f"Requests from origin {origin!r} are refused: only the page itself may "
                    "call the API."
                )
                raise _HTTPError(403, msg)

        def _check_token(self, query: dict[str, list[str]]) -> None:
            given = self.headers.get("X-Hypertuner-Token") or (query.get("token") or [""])[0]
            if not secrets.compare_digest(given.encode(), ui.token.encode()):
                msg = (
                    "This request needs the page's token: open the address 'hypertuner ui' "
                    "printed (it ends in ?token=...)."
                )
                raise _HTTPError(403, msg)

        def _body(self) -> dict[str, Any]:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > _MAX_BODY:
                raise _HTTPError(413, f"The request body must be at most {_MAX_BODY} bytes.")
            data = _decode_body(self._read(length))
            if not isinstance(data, dict):
                raise _HTTPError(400, "The request body must be a JSON object.")
            return data

        def _read(self, length: int) -> bytes:
            """``length`` bytes of body, all within the timeout (else 408, and the connection
            closes): a client that sends less than its Content-Length holds nothing for long."""
            deadline = time.monotonic() + ui.timeout
            chunks: list[bytes] = []
            missing = length
            try:
                while missing > 0:
                    if time.monotonic() > deadline:
                        raise TimeoutError
                    chunk = self.rfile.read1(min(missing, 65536))
                    if not chunk:
                        break
                    chunks.append(chunk)
                    missing -= len(chunk)
            except TimeoutError:
                self.close_connection = True
                msg = (
                    f"The request body did not arrive within {ui.timeout:g} s "
                    f"({length - missing} of {length} bytes)."
                )
                raise _HTTPError(408, msg) from None
            if missing > 0:
                self.close_connection = True
                msg = f"The request body ended after {length - missing} of {length} bytes."
                raise _HTTPError(400, msg)
            return b"".join(chunks)

        def _handle(self, method: str) -> None:
            try:
                self._check_origin()
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                path = parts.path
                if method in ("GET", "HEAD") and path in _STATIC:
                    filename, kind = _STATIC[path]
                    self._send(200, ui.static[filename], kind)
                    return
                if method in ("GET", "HEAD") and path == PLOTLY_PATH:
                    self._send_plotly()
                    return
                if method == "GET" and path == "/favicon.ico":
                    self._send(204, b"", "image/x-icon")
                    return
                if not path.startswith("/api/"):
                    raise _HTTPError(404, f"Nothing at {path!r}: the page is at {ui.base}/.")
                self._check_token(query)
                self._api(method, [unquote(p) for p in path[5:].split("/")], query)
            except _HTTPError as err:
                self._send_error(err.status, {"error": err.message, "key": err.key})
            except HypertunerError as err:
                key = getattr(err, "key", None)
                self._send_error(_status_of(err), {"error": str(err), "key": key})
            except ConnectionError:  # the client went away (a broken pipe, a reset)
                self.close_connection = True
            except Exception as exc:  # a bug: keep the traceback on the terminal, tell the page
                traceback.print_exc()
                self._send_error(500, {"error": f"Internal error: {type(exc).__name__}: {exc}"})

        def _send_error(self, status: int, payload: Any) -> None:
            """Answer with an error; a client that went away meanwhile (a body cut short, then
            the connection closed) gets nothing, and the terminal no traceback."""
            try:
                self._send_json(status, payload)
            except ConnectionError:
                self.close_connection = True

        def _api(self, method: str, parts: list[str], query: dict[str, list[str]]) -> None:
            if method in ("GET", "HEAD"):
                if parts == ["runs"]:
                    self._send_json(200, ui.runs())
                elif len(parts) == 2 and parts[0] == "runs":
                    self._send_json(200, ui.run(parts[1]))
                elif len(parts) == 3 and parts[0] == "runs" and parts[2] == "curves":
                    tags = [t for value in query.get("tag", []) for t in value.split(",") if t]
                    self._send_json(200, ui.curves(parts[1], tags))
                elif parts == ["compare"]:
                    names = [n for value in query.get("run", []) for n in value.split(",") if n]
                    metric = query["metric"][0] if query.get("metric") else None
                    self._send_json(200, ui.compare(names, metric))
                elif len(parts) == 2 and parts[0] == "configs":
                    self._download(parts[1])
                else:
                    raise _HTTPError(404, f"No API endpoint {'/'.join(parts)!r}.")
                return
            if method == "POST" and len(parts) == 3 and parts[0] == "runs":
                source, action = parts[1], parts[2]
                body = self._body()
                if action == "save":
                    filename = body.get("filename")
                    if not isinstance(filename, str):
                        raise _HTTPError(400, "Give the config file a name ('filename').")
                    replace = body.get("overwrite", False)
                    if not isinstance(replace, bool):
                        raise _HTTPError(400, "'overwrite' must be true or false.")
                    path = ui.launcher.save_config(
                        source, body.get("config"), filename, overwrite=replace
                    )
                    self._send_json(
                        200,
                        {
                            "path": str(path),
                            "download": f"/api/configs/{path.name}",
                            "config": json.loads(path.read_text(encoding="utf-8")),
                        },
                    )
                    return
                if action in ("command", "launch"):
                    name = body.get("name")
                    if not isinstance(name, str) or not name:
                        raise _HTTPError(400, "Give the new run a name ('name').", key="name")
                    plan = ui.launcher.plan(source, body.get("config"), name)
                    if action == "command":
                        self._send_json(
                            200,
                            {
                                "name": plan.name,
                                "command": plan.command,
                                "cwd": plan.cwd,
                                "config_path": str(plan.config_path),
                            },
                        )
                        return
                    _check_shown(body, plan.command, plan.cwd)
                    started: Launch = ui.launcher.start(plan)
                    self._send_json(
                        200,
                        {
                            "name": started.name,
                            "pid": started.process.pid,
                            "command": started.command,
                            "cwd": started.cwd,
                            "log": str(started.log),
                            "config_path": str(started.config_path),
                        },
                    )
                    return
            raise _HTTPError(
                405 if method not in ("GET", "HEAD", "POST") else 404,
                f"No API endpoint {method} /api/{'/'.join(parts)}.",
            )

        def _send_plotly(self) -> None:
            body = ui.plotly_bytes()
            if body is None:
                msg = f"The page's charts need plotly, which is not installed: {CHARTS_EXTRA}."
                raise _HTTPError(404, msg)
            # The bundle changes only with the installed package: let the browser keep it.
            self._send(200, body, "text/javascript; charset=utf-8", Cache_Control="max-age=3600")

        def _download(self, filename: str) -> None:
            stem = filename[:-5] if filename.endswith(".json") else filename
            try:
                check_run_name(stem)
            except RunNameError as err:
                raise _HTTPError(400, f"Config file name {filename!r} is not allowed.") from err
            path = ui.launcher.configs_folder / f"{stem}.json"
            try:
                body = _files.read_inside(ui.storage, path, f"Saved config {path.name!r}")
            except FileNotFoundError as err:
                raise _HTTPError(
                    404, f"No saved config {path.name!r} in {str(path.parent)!r}."
                ) from err
            except OutsideStorageError:
                raise
            except OSError as err:  # a FIFO, a folder...: never waited on, never served
                msg = f"Saved config {path.name!r} cannot be read ({err.strerror})."
                raise _HTTPError(403, msg) from err
            self._send(
                200,
                body,
                "application/json",
                Content_Disposition=f'attachment; filename="{path.name}"',
            )

        def do_GET(self) -> None:
            self._handle("GET")

        def do_HEAD(self) -> None:
            self._handle("HEAD")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


# --- the command ---------------------------------------------------------------------------------


def add_commands(sub: Any) -> None:
    """Register ``hypertuner ui`` on the ``hypertuner`` command's subparsers.

    Example:
        >>> from hypertuner import cli
        >>> cli.main(["ui", "--port", "-1"])
        2
    """
    ui = sub.add_parser(
        "ui",
        help="serve a page to browse, compare, edit and launch runs",
        description="Serve the hypertuner page on this machine and print its address (with the "
        "access token, as Jupyter does). Open it in a browser to sort and filter runs, compare "
        "their configs and curves, edit a run's config and launch the next run.",
    )
    add_storage_option(ui)
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    ui.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port (default: {DEFAULT_PORT}, or a free one when it is taken; 0: a free one)",
    )
    ui.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host other than loopback (anyone reaching it with the token can "
        "launch runs)",
    )
    ui.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another host name the page may be opened under (repeatable)",
    )
    ui.add_argument(
        "--no-launch", action="store_true", help="turn off launching runs from the page"
    )
    ui.add_argument("--open", action="store_true", help="open the page in the default browser")
    ui.set_defaults(handler=_serve)


def _serve(options: argparse.Namespace) -> int:
    port = options.port
    if port is not None and not 0 <= port <= 65535:
        msg = f"Port {port} is not a port number: use 1-65535, or 0 for a free port."
        raise ConfigError(msg, key="--port", value=port)
    kwargs: dict[str, Any] = {
        "host": options.host,
        "launch": not options.no_launch,
        "allow_remote": options.allow_remote,
        "allowed_hosts": tuple(options.allow_host),
    }
    try:
        server = UIServer(options.storage, port=DEFAULT_PORT if port is None else port, **kwargs)
    except OSError as exc:
        if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
            why = exc.strerror or str(exc)
            msg = (
                f"Cannot serve on host {options.host!r} ({why}): give an address of this "
                "machine with --host (127.0.0.1 by default)."
            )
            raise LaunchError(msg, value=options.host) from None
        if port is not None:
            msg = (
                f"Cannot serve on {options.host}:{port} ({exc.strerror}). Pass another --port, "
                "or --port 0 for a free one."
            )
            raise LaunchError(msg, value=port) from exc
        try:
            server = UIServer(options.storage, port=0, **kwargs)
        except OSError as again:
            msg = f"Cannot serve on {options.host} ({again.strerror or again})."
            raise LaunchError(msg, value=options.host) from None
    if not _is_loopback(options.host) and options.allow_remote:
        print(
            f"hypertuner ui: warning: serving on {options.host!r}, reachable from other machines; "
            "anyone with the address and token can read runs and launch their scripts.",
            file=sys.stderr,
        )
    root = server.storage
    if not root.is_dir():
        print(
            f"hypertuner ui: the storage folder {str(root)!r} does not exist yet; runs appear on "
            "the page as soon as a script creates them.",
            file=sys.stderr,
        )
    launch = "" if server.launcher.enabled else " (launching turned off)"
    print(f"hypertuner ui: serving the runs in {str(root)!r}{launch}.")
    print(f"Open this address in a browser (it holds the access token):\n    {server.url}")
    print("Press Ctrl+C to stop.", flush=True)
    if options.open:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("hypertuner ui: stopped.")
    finally:
        server.close()
    return 0
