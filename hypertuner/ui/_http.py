"""The HTTP plumbing of the ``hypertuner ui`` server: strict request bodies, JSON answers, the
security headers, and a threading server that serves a bounded number of connections.

Example:
    >>> _decode_body(b'{"a": [1, 2.5]}')
    {'a': [1, 2.5]}
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import http.server
    import socket

#: The deepest nesting of lists and objects a request body may have.
MAX_DEPTH = 64
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    # Scripts come from this server only, never inline. plotly.js compiles the WebGL shaders of
    # its parallel-coordinates view with Function() (regl) and sets inline styles, hence
    # 'unsafe-eval' and inline styles; no other origin can be reached (default-src 'none').
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
}


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json_bytes(payload: Any) -> bytes:
    try:
        text = json.dumps(payload, allow_nan=False, separators=(",", ":"), default=str)
    except ValueError:  # NaN or infinity somewhere: JSON has no such numbers, the page gets text
        text = json.dumps(_finite(payload), separators=(",", ":"), default=str)
    return text.encode("utf-8")


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.key = status, message, key


def _refuse_constant(name: str) -> Any:
    msg = f"The request body holds {name}, which is not a JSON number: use a finite number."
    raise _HTTPError(400, msg)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        msg = (
            f"The request body holds the number {text[:40]!r}, too large for a float: use a "
            "finite number."
        )
        raise _HTTPError(400, msg)
    return value


def _decode_body(raw: bytes) -> Any:
    """Strict JSON: no NaN or infinity, no lone surrogates, at most :data:`MAX_DEPTH` deep."""
    try:
        data = json.loads(raw or b"{}", parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        msg = f"The request body nests lists or objects deeper than {MAX_DEPTH} levels."
        raise _HTTPError(400, msg) from None
    except ValueError as exc:
        raise _HTTPError(400, f"The request body is not valid JSON ({exc}).") from exc
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            msg = f"The request body nests lists or objects deeper than {MAX_DEPTH} levels."
            raise _HTTPError(400, msg)
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, where or "the request body", is_key=True)
                stack.append((item, f"{where}.{key}" if where else key, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            _check_text(value, where or "the request body", is_key=False)
    return data


def _check_text(text: str, where: str, *, is_key: bool) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        what = f"A key in {where!r}" if is_key else f"The text at {where!r}"
        msg = (
            f"{what} holds a lone surrogate ({text[exc.start : exc.end]!r} at character "
            f"{exc.start}), which is not text UTF-8 can store: fix the text."
        )
        key = where.removeprefix("config.") if where.startswith("config.") else None
        raise _HTTPError(400, msg, key=None if is_key else key) from None


_BUSY = json.dumps(
    {"error": "The page's server is busy with other connections; try again in a moment."}
).encode()


def _server_class(family: int, max_connections: int) -> type[http.server.ThreadingHTTPServer]:
    """A threading server that serves at most ``max_connections`` connections at once and
    answers the ones beyond with 503 straight away (without a thread)."""
    import http.server

    slots = threading.BoundedSemaphore(max_connections)

    class _Server(http.server.ThreadingHTTPServer):
        address_family = family
        daemon_threads = True

        def process_request(self, request: Any, client_address: Any) -> None:
            if not slots.acquire(blocking=False):
                _answer_busy(request)
                self.shutdown_request(request)
                return
            try:
                super().process_request(request, client_address)
            except BaseException:
                slots.release()
                raise

        def process_request_thread(self, request: Any, client_address: Any) -> None:
            try:
                super().process_request_thread(request, client_address)
            finally:
                slots.release()

    return _Server


def _answer_busy(request: socket.socket) -> None:
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(_BUSY)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        request.settimeout(0.5)
        request.sendall(head.encode() + _BUSY)


def _check_shown(body: Mapping[str, Any], command: list[str], cwd: str) -> None:
    """Refuse a launch whose request does not carry exactly the command it will run."""
    shown, shown_cwd = body.get("command"), body.get("cwd")
    if not (isinstance(shown, list) and all(isinstance(t, str) for t in shown)) or not isinstance(
        shown_cwd, str
    ):
        msg = (
            "The launch request must carry the exact command the page showed: 'command' (a list "
            "of strings) and 'cwd', as POST /api/runs/<run>/command gives them. Nothing was "
            "started."
        )
        raise _HTTPError(400, msg, key="command")
    if shown != command or shown_cwd != cwd:
        msg = (
            f"The command to run now, {command!r} in {cwd!r}, is not the one shown, {shown!r} in "
            f"{shown_cwd!r} (the run's record changed meanwhile?). Nothing was started: review "
            "the command and launch again."
        )
        raise _HTTPError(409, msg, key="command")
