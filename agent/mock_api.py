"""The local BigPanda Alerts API double (``bigpanda-agent mock-api``).

Serves ``POST /data/v2/alerts`` as ``bigpanda-alerts-api.md`` section 3
specifies, on 127.0.0.1 only, HTTP/1.1 keep-alive, one thread per connection.
The answer to a request is decided in :mod:`agent.mock_api_checks` (rows 1-17);
this module adds the HTTP plumbing, recording of every request, scriptable
faults, the ``/_mock/*`` control endpoints and the ``mock-api`` command line
glue. ``docs/mock-api.md`` is the user guide.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import socketserver
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any

import orjson

from agent import mock_api_checks as checks
from agent.mock_api_checks import CheckFailed, Identity, Request

LOOPBACK = "127.0.0.1"
CONTROL_PREFIX = "/_mock/"
DROP_BEFORE_RESPONSE = "before_response"
DROP_AFTER_BODY = "after_body"
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
class Fault:
    """A scripted misbehaviour of the alerts path (section 3, "fault injection hooks").

    Faults apply to requests on ``/data/v2/alerts`` only, after the body was read
    and before row 1. With neither ``count`` nor a window a fault applies until
    cleared. When several are armed, the earliest added active one wins.

    Attributes:
        status: answer this HTTP status with ``{"error":"injected"}``.
        count: apply to the next N requests only.
        start_s: window start in seconds after the fault was added (monotonic).
        end_s: window end (exclusive) in seconds after the fault was added.
        retry_after: sent verbatim as ``Retry-After`` (delta-seconds or
            HTTP-date); needs ``status``.
        latency_s: seconds to sleep before answering or dropping; cut short by
            :meth:`MockAlertsApi.stop`.
        drop: ``"before_response"`` closes the connection without processing the
            request; ``"after_body"`` processes it (alerts are stored) and closes
            without answering. Excludes ``status``.
    """

    status: int | None = None
    count: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    retry_after: str | None = None
    latency_s: float = 0.0
    drop: str | None = None

    def __post_init__(self) -> None:
        status, count = self.status, self.count
        _need(status is None or (_is_int(status) and 100 <= status <= 599), "status: 100-599")
        _need(count is None or (_is_int(count) and count >= 1), "count: a positive integer")
        for name in ("start_s", "end_s", "latency_s"):
            value = getattr(self, name)
            _need(value is None or (_is_number(value) and value >= 0), f"{name}: a number >= 0")
        _need(self.end_s is None or self.end_s > (self.start_s or 0.0), "end_s: > start_s")
        _need(self.retry_after is None or isinstance(self.retry_after, str), "retry_after: text")
        _need(self.retry_after is None or status is not None, "retry_after needs status")
        _need(self.drop in (None, DROP_BEFORE_RESPONSE, DROP_AFTER_BODY),
              "drop: 'before_response' or 'after_body'")
        _need(self.drop is None or status is None, "drop and status exclude each other")

    @classmethod
    def from_mapping(cls, data: object) -> Fault:
        """Build a fault from a JSON object of its fields (``POST /_mock/faults``).

        Raises:
            ValueError: not an object, an unknown field, or an invalid value.
        """
        if not isinstance(data, dict):
            raise ValueError("a fault is a JSON object")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        _need(not unknown, f"unknown fault fields: {', '.join(unknown)}")
        return cls(**data)


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return _is_int(value) or isinstance(value, float)


class _FaultPlan:
    """The armed faults with their start time and remaining count. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[tuple[Fault, float, list[int | None]]] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._armed.append((fault, time.monotonic(), [fault.count]))

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def take(self) -> Fault | None:
        """The fault for the current request (used up by one of its ``count``), or ``None``."""
        with self._lock:
            now = time.monotonic()
            self._armed = [a for a in self._armed if a[2][0] != 0 and not _ended(a, now)]
            for fault, added, remaining in self._armed:
                if now - added >= (fault.start_s or 0.0):
                    if remaining[0] is not None:
                        remaining[0] -= 1
                    return fault
        return None


def _ended(armed: tuple[Fault, float, list[int | None]], now: float) -> bool:
    end_s = armed[0].end_s
    return end_s is not None and now - armed[1] >= end_s


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
        self._store = checks.AlertStore()
        self._requests: list[RecordedRequest] = []
        self._responses: Counter[int] = Counter()
        self._faults = _FaultPlan()
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
        _need(isinstance(doc, dict) and isinstance(doc.get("tokens"), list),
              'expected {"tokens": [...], "forbidden_tokens": [...]}')
        tokens, forbidden = doc["tokens"], doc.get("forbidden_tokens", [])
        _need(all(isinstance(t, str) for t in [*tokens, *forbidden]), "tokens must be strings")
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


# -- command line glue (agent.cli calls these) ----------------------------------


class _Repeatable(argparse.Action):
    """``append``, except that the first use replaces the default list."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        current = getattr(namespace, self.dest)
        setattr(namespace, self.dest, [*([] if current is self.default else current), values])


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``mock-api`` options to ``parser`` (docs/mock-api.md lists them)."""
    add = parser.add_argument
    add("--port", type=int, default=8080, help="TCP port on 127.0.0.1, 0 = any (default 8080)")
    add("--token", action=_Repeatable, default=[DEFAULT_TOKEN], metavar="TOKEN",
        help=f"accepted bearer token; repeatable (default {DEFAULT_TOKEN})")
    add("--app-key", action=_Repeatable, default=[DEFAULT_APP_KEY], metavar="KEY",
        help=f"accepted app key; repeatable (default {DEFAULT_APP_KEY})")
    add("--forbidden-token", action=_Repeatable, default=[], metavar="TOKEN",
        help="token answered with 403; repeatable")
    add("--lenient", action="store_true", help="truncate long descriptions instead of 400")
    add("--strict-array", action="store_true", help="reject a bare top-level array with 400")
    add("--gzip", action="store_true", help="accept Content-Encoding: gzip")
    add("--partial-accept", action="store_true", help="drop only bad alerts; answer 201")
    add("--max-body-bytes", type=int, default=6_000_000, metavar="N",
        help="body limit in bytes, after decompression (default 6000000)")
    add("--rate-limit", type=float, metavar="FLOAT", help="requests/s before 429 (default none)")
    add("--quiet", action="store_true", help="do not print accepted alerts")
    add("--verbose", action="store_true", help="log every request to stderr")


def run_from_args(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; returns 0, or 1 when the double cannot start.

    Prints ``mock-api listening on <endpoint>`` first, then each accepted alert
    as one line of compact JSON unless ``--quiet``.
    """
    try:
        api = MockAlertsApi(
            port=args.port, tokens=args.token, forbidden_tokens=args.forbidden_token,
            app_keys=args.app_key, max_body_bytes=args.max_body_bytes, gzip=args.gzip,
            strict_array=args.strict_array, strict_description=not args.lenient,
            partial_accept=args.partial_accept, rate_limit_per_s=args.rate_limit,
            record_bodies=False, on_accept=None if args.quiet else _print_alerts,
            verbose=args.verbose)
    except (OSError, ValueError) as exc:
        print(f"mock-api: cannot start on {LOOPBACK}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = _install_stop_handlers(stop)
    try:
        with api:
            print(f"mock-api listening on {api.endpoint}", flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


_print_lock = threading.Lock()


def _print_alerts(alerts: list[bytes]) -> None:
    text = b"\n".join(alerts).decode() + "\n"
    with _print_lock, contextlib.suppress(BrokenPipeError, ValueError):
        sys.stdout.write(text)
        sys.stdout.flush()


def _install_stop_handlers(stop: threading.Event) -> dict[int, Any]:
    """Make SIGINT and SIGTERM set ``stop`` (main thread only); returns the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
