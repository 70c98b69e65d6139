"""The local BigPanda Alerts API double (``bigpanda-agent mock-api``).

Serves ``POST /data/v2/alerts`` as ``bigpanda-alerts-api.md`` section 3
specifies, on 127.0.0.1 only, HTTP/1.1 keep-alive, one thread per connection.
The answer to a request is decided in :mod:`agent.mock_api_checks` (rows 1-15)
and :mod:`agent.mock_store` (rows 16-17); this module adds the HTTP plumbing,
recording of every request, the ``/_mock/*`` control endpoints and the hook for
the scripted faults of :mod:`agent.mock_faults` (:class:`Fault` is re-exported
here). The ``mock-api`` command line glue is :mod:`agent.mock_api_cli`.
``docs/mock-api.md`` is the user guide.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import orjson

from agent import mock_api_checks as checks
from agent.mock_api_checks import CheckFailed, Identity, Request
from agent.mock_faults import DROP_AFTER_BODY, DROP_BEFORE_RESPONSE, Fault, FaultPlan, need
from agent.mock_store import AlertStore

LOOPBACK = "127.0.0.1"
CONTROL_PREFIX = "/_mock/"
DEFAULT_TOKEN = "test-token"
DEFAULT_APP_KEY = "test-app-key"
_JSON = (("Content-Type", "application/json"),)
_CREATED = orjson.dumps({"response": {"status": "success"}})
_OK = b'{"ok":true}'

AlertListener = Callable[[list[bytes]], None]
"""Receives the canonical JSON of the alerts one request stored."""


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request to the double (control endpoints are not recorded).

    Attributes:
        method: HTTP method.
        path: request target, query string included.
        headers: header names lowercased; repeated headers joined with ``", "``.
        body: raw body bytes as received (before decompression); ``b""`` when
            ``record_bodies`` is off or the body was over the size limit.
        status: HTTP status answered; 0 when a fault dropped the connection.
        received_at: wall-clock receipt time, Unix seconds.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    received_at: float


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = _JSON


class MockAlertsApi:
    """A BigPanda Alerts API double on 127.0.0.1 (``bigpanda-alerts-api.md`` section 3).

    The socket is bound by the constructor, so :attr:`url` is known at once;
    :meth:`start` begins serving. Use it as a context manager or call
    :meth:`stop`, so no thread or socket outlives a test.

    Args:
        host: must be ``"127.0.0.1"`` (section 3: never reachable off-host).
        port: TCP port; 0 picks a free one.
        tokens: accepted bearer tokens (row 3).
        forbidden_tokens: tokens answered with 403 (row 4); they count as known
            for row 3 without being listed in ``tokens``.
        app_keys: accepted integration app keys (row 9).
        max_body_bytes: body limit in bytes, counted after decompression when
            gzip is on, on the raw body otherwise (row 5).
        gzip: accept ``Content-Encoding: gzip`` (row 6).
        strict_array: reject a bare top-level JSON array (row 7).
        strict_description: 400 for a description over 2048 characters; when
            ``False`` it is truncated and the alert accepted (row 14).
        partial_accept: rows 9-14 drop only the bad alerts, which become
            :attr:`diagnostics`; the request gets 201.
        rate_limit_per_s: requests per second (burst: one second's worth) before
            row 15 answers 429 with ``Retry-After: 1``; ``None`` or 0 = no limit.
        record_bodies: keep raw bodies in :attr:`requests`; off saves memory.
        on_accept: called from the handler thread, before the answer is sent,
            with the canonical JSON of the alerts a request stored.
        verbose: log every request to stderr.

    Raises:
        ValueError: ``host`` is not 127.0.0.1, or ``rate_limit_per_s`` is negative.
        OSError: the port cannot be bound.
    """

    def __init__(
        self, *, host: str = LOOPBACK, port: int = 0,
        tokens: Iterable[str] = (DEFAULT_TOKEN,), forbidden_tokens: Iterable[str] = (),
        app_keys: Iterable[str] = (DEFAULT_APP_KEY,), max_body_bytes: int = 6_000_000,
        gzip: bool = False, strict_array: bool = False, strict_description: bool = True,
        partial_accept: bool = False, rate_limit_per_s: float | None = None,
        record_bodies: bool = True, on_accept: AlertListener | None = None,
        verbose: bool = False,
    ) -> None:
        if host != LOOPBACK:
            raise ValueError(f"the mock API binds {LOOPBACK} only, not {host!r}")
        self.policy = checks.Policy(
            app_keys=frozenset(app_keys), max_body_bytes=max_body_bytes, gzip=gzip,
            strict_array=strict_array, strict_description=strict_description,
            partial_accept=partial_accept,
        )
        self.set_tokens(tokens, forbidden_tokens=forbidden_tokens)
        self.verbose = verbose
        self._limiter = checks.TokenBucket(rate_limit_per_s) if rate_limit_per_s else None
        self._record_bodies = record_bodies
        self._on_accept = on_accept
        self._store = AlertStore()
        self._requests: list[RecordedRequest] = []
        self._responses: Counter[int] = Counter()
        self._faults = FaultPlan()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._server = _Server((host, port), self)

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT``."""
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    @property
    def endpoint(self) -> str:
        """The alerts URL, ``url + "/data/v2/alerts"``."""
        return self.url + checks.ALERTS_PATH

    def start(self) -> MockAlertsApi:
        """Serve in a daemon thread; returns ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                name="mock-api", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and join their threads (at most 5 s each)."""
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        self._server.close_connections()

    def __enter__(self) -> MockAlertsApi:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def set_tokens(self, tokens: Iterable[str], *, forbidden_tokens: Iterable[str] = ()) -> None:
        """Replace the accepted (row 3) and forbidden (row 4) tokens; takes effect at once."""
        forbidden = frozenset(forbidden_tokens)
        self._auth = checks.Auth(frozenset(tokens) | forbidden, forbidden)

    def add_fault(self, fault: Fault) -> None:
        """Arm ``fault``; its ``start_s``/``end_s`` window counts from now."""
        self._faults.add(fault)

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self._faults.clear()

    def reset(self) -> None:
        """Forget requests, alerts, duplicates, identities, diagnostics and faults.

        Tokens and the other constructor settings stay.
        """
        self._store.reset()
        with self._store.cond:
            self._requests = []
            self._responses = Counter()
        self._faults.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every non-control request in arrival order (a copy)."""
        with self._store.cond:
            return list(self._requests)

    @property
    def alerts(self) -> list[dict[str, Any]]:
        """Accepted alerts in arrival order, app key merged (decoded on each access)."""
        with self._store.cond:
            stored = list(self._store.alerts)
        return [orjson.loads(raw) for raw in stored]

    @property
    def diagnostics(self) -> list[tuple[int, str]]:
        """``(request index, "alert N: reason")`` for alerts dropped by partial
        accept and descriptions truncated in lenient mode."""
        with self._store.cond:
            return list(self._store.notes)

    def latest_status(self, identity: Identity) -> str | None:
        """Status of the highest-timestamp event of ``identity`` (ties: later arrival).

        Args:
            identity: the ``incident_identifier`` value, or the tuple
                ``(app_key, primary value, secondary value)`` with ``None`` for a
                missing secondary.
        """
        with self._store.cond:
            known = self._store.latest.get(identity)
        return None if known is None else known[1]

    def stats(self) -> dict[str, Any]:
        """Counters: ``requests``; ``alerts`` stored; ``by_status`` (alert status →
        count); ``responses`` (HTTP code → count, 0 = dropped); ``duplicates``;
        ``diagnostics``; ``identities``."""
        store = self._store
        with store.cond:
            return {
                "requests": len(self._requests), "alerts": len(store.alerts),
                "by_status": dict(store.by_status), "responses": dict(self._responses),
                "duplicates": store.duplicates, "diagnostics": len(store.notes),
                "identities": len(store.latest),
            }

    def wait_for_alerts(self, n: int, timeout_s: float) -> bool:
        """Block until at least ``n`` alerts are stored; ``False`` after ``timeout_s``."""
        with self._store.cond:
            return self._store.cond.wait_for(lambda: len(self._store.alerts) >= n, timeout_s)

    def _respond(self, req: Request) -> _Reply | None:
        """The answer to one request, or ``None`` to close the connection unanswered."""
        if req.path.startswith(CONTROL_PREFIX):
            return _Control(self).answer(req)
        on_alerts_path = req.path.partition("?")[0] == checks.ALERTS_PATH
        fault = self._faults.take() if on_alerts_path else None
        reply = self._answer(req) if fault is None else self._answer_faulted(req, fault)
        self._record(req, 0 if reply is None else reply.status)
        return reply

    def _answer_faulted(self, req: Request, fault: Fault) -> _Reply | None:
        if fault.latency_s:
            self._stopping.wait(fault.latency_s)
        if fault.drop == DROP_BEFORE_RESPONSE:
            return None
        if fault.status is not None:
            return _error_reply(fault.status, "injected", fault.retry_after)
        reply = self._answer(req)
        return None if fault.drop == DROP_AFTER_BODY else reply

    def _answer(self, req: Request) -> _Reply:
        try:
            verdict = checks.evaluate(req, self._auth, self.policy, self._limiter)
        except CheckFailed as failed:
            return _error_reply(failed.status, failed.message, failed.retry_after)
        with self._store.cond:
            number = len(self._requests)
        status, new = self._store.accept(verdict, number)
        if new and self._on_accept is not None:
            self._on_accept(new)
        return _Reply(201, _CREATED) if status == 201 else _Reply(status, b"", ())

    def _record(self, req: Request, status: int) -> None:
        body = req.body if self._record_bodies else b""
        entry = RecordedRequest(req.method, req.path, req.headers, body, status, req.received_at)
        with self._store.cond:
            self._requests.append(entry)
            self._responses[status] += 1


def _error_reply(status: int, message: str, retry_after: str | None) -> _Reply:
    headers = _JSON if retry_after is None else (*_JSON, ("Retry-After", retry_after))
    return _Reply(status, orjson.dumps({"error": message}), headers)


class _Control:
    """The ``/_mock/*`` endpoints, for tests in another process (docs/mock-api.md)."""

    def __init__(self, api: MockAlertsApi) -> None:
        self.api = api
        self.routes: dict[tuple[str, str], Callable[[bytes], bytes]] = {
            ("GET", "/_mock/stats"): self.stats,
            ("GET", "/_mock/alerts"): self.alerts,
            ("POST", "/_mock/faults"): self.add_fault,
            ("DELETE", "/_mock/faults"): lambda _: self.done(api.clear_faults),
            ("POST", "/_mock/reset"): lambda _: self.done(api.reset),
            ("POST", "/_mock/tokens"): self.tokens,
        }

    def answer(self, req: Request) -> _Reply:
        """200 with the route's JSON; 404 unknown path, 405 wrong method, 400 bad input."""
        path = req.path.partition("?")[0]
        allowed = [method for method, route in self.routes if route == path]
        if not allowed:
            return _error_reply(404, "not found", None)
        if req.method not in allowed:
            return _Reply(405, b'{"error":"method not allowed"}',
                          (*_JSON, ("Allow", ", ".join(allowed))))
        try:
            return _Reply(200, self.routes[(req.method, path)](req.body))
        except (ValueError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
            return _error_reply(400, str(exc), None)

    def stats(self, _: bytes) -> bytes:
        return orjson.dumps(self.api.stats(), option=orjson.OPT_NON_STR_KEYS)

    def alerts(self, _: bytes) -> bytes:
        with self.api._store.cond:
            return b"[" + b",".join(self.api._store.alerts) + b"]"

    def add_fault(self, body: bytes) -> bytes:
        self.api.add_fault(Fault.from_mapping(orjson.loads(body)))
        return _OK

    def tokens(self, body: bytes) -> bytes:
        doc = orjson.loads(body)
        need(isinstance(doc, dict) and isinstance(doc.get("tokens"), list),
              'expected {"tokens": [...], "forbidden_tokens": [...]}')
        tokens, forbidden = doc["tokens"], doc.get("forbidden_tokens", [])
        need(all(isinstance(t, str) for t in [*tokens, *forbidden]), "tokens must be strings")
        return self.done(lambda: self.api.set_tokens(tokens, forbidden_tokens=forbidden))

    @staticmethod
    def done(action: Callable[[], None]) -> bytes:
        action()
        return _OK


class _Server(ThreadingHTTPServer):
    """Tracks each connection and its thread so :meth:`close_connections` can end them."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: MockAlertsApi) -> None:
        self.api = api
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse-DNS lookup of the address."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = LOOPBACK, self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self.process_request_thread, name="mock-api-conn",
                                  args=(request, client_address), daemon=True)
        with self._conns_lock:
            self._conns[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client gone mid-answer is normal here: quiet unless verbose."""
        if self.api.verbose:
            super().handle_error(request, client_address)

    def close_connections(self, timeout_s: float = 5.0) -> None:
        """Shut down every open connection and join its thread."""
        with self._conns_lock:
            conns = list(self._conns.items())
        for sock, _ in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _, thread in conns:
            thread.join(timeout_s)


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, asks the API for the reply, writes it in one piece."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def __getattr__(self, name: str) -> Callable[[], None]:
        """Send every method (``do_GET``, ``do_FOO``...) to one dispatcher (rows 1-2)."""
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self) -> None:
        received_at = time.time()
        framed = self._read_body(self.server.api.policy.max_body_bytes)
        if framed is None:
            self.close_connection = True
            self._write(_Reply(411, b'{"error":"length required"}'))
            return
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        req = Request(self.command, self.path, headers, *framed, received_at)
        reply = self.server.api._respond(req)
        if reply is None:
            self.close_connection = True
        else:
            self._write(reply)

    def _read_body(self, limit: int) -> tuple[bytes, bool] | None:
        """``(body, False)`` per Content-Length, ``(b"", True)`` when over ``limit``
        bytes (drained unread), ``None`` when the body cannot be delimited
        (chunked transfer coding or a bad Content-Length)."""
        if "transfer-encoding" in self.headers:
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if length < 0:
            return None
        if length <= limit:
            return self.rfile.read(length), False
        while length > 0 and (got := len(self.rfile.read(min(length, 1 << 16)))):
            length -= got
        return b"", True

    def _write(self, reply: _Reply) -> None:
        """Status line, headers, ``Content-Length`` (except on 204) and body in one write."""
        status = reply.status
        lines = [f"HTTP/1.1 {status} {_phrase(status)}"]
        lines += [f"{name}: {value}" for name, value in reply.headers]
        if status != 204:
            lines.append(f"Content-Length: {len(reply.body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + reply.body)
        self.log_request(status, len(reply.body))

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.api.verbose:
            super().log_message(format, *args)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"

