"""The decisions of the local Alerts API double: rows 1-15 of the contract.

:func:`evaluate` applies rows 1-15 to a request; rows 16-17 plus the
per-identity state are :class:`agent.mock_store.AlertStore`. Nothing here knows
about sockets; the HTTP side is :mod:`agent.mock_api`. Row numbers refer to the ordered table in
``bigpanda-alerts-api.md`` section 3; field rules come from section 1.

The per-alert path (:func:`validate_alerts`) runs for every alert of every
batch, so it does one orjson serialisation, a handful of direct key lookups and
nothing else: no regexes, and the scan over the values for nested objects only
runs when the serialised alert holds a second ``{``.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import orjson

ALERTS_PATH = "/data/v2/alerts"
"""The only data path of the Alerts API (section 1)."""

STATUSES = frozenset(("ok", "warning", "critical", "unknown", "acknowledged"))
PRIMARY_FIELDS = ("host", "service", "application", "device")
SECONDARY_FIELDS = ("check", "sensor")
MAX_TIMESTAMP = 10**11
"""Largest accepted ``timestamp``; anything above is taken for milliseconds (row 12)."""
MAX_DESCRIPTION_CHARS = 2048
"""BigPanda Alerts API: description at most 2048 characters (section 1, row 14)."""
ELLIPSIS = "…"

ROW_REASONS = {
    9: "invalid app_key",
    10: "status missing or not one of ok, critical, warning, unknown, acknowledged",
    11: "missing primary property",
    12: "timestamp must be integer Unix seconds (UTC)",
    13: "nested objects are not supported",
    14: "description too long",
}
"""Per-alert error reasons; the body is ``{"error": "alert N: <reason>"}``."""

Alert = dict[str, Any]
Identity = Hashable


class CheckFailed(Exception):
    """A request check matched: answer with ``status`` and ``{"error": message}``.

    Attributes:
        status: HTTP status code.
        message: the exact ``error`` string of the section 3 table.
        retry_after: value of the ``Retry-After`` header to send, or ``None``.
    """

    def __init__(self, status: int, message: str, *, retry_after: str | None = None) -> None:
        self.status = status
        self.message = message
        self.retry_after = retry_after
        super().__init__(f"{status} {message}")

    @property
    def body(self) -> bytes:
        """The JSON response body, ``{"error": message}``."""
        return orjson.dumps({"error": self.message})


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """The configurable part of the checks (one snapshot, swapped whole).

    Attributes:
        app_keys: accepted integration app keys (row 9).
        max_body_bytes: body size limit in bytes after decompression (row 5).
        gzip: accept ``Content-Encoding: gzip`` (row 6).
        strict_array: reject a bare top-level JSON array (row 7).
        strict_description: reject descriptions over 2048 characters instead of
            truncating them (row 14).
        partial_accept: rows 9-14 drop only the bad alerts instead of the request.
    """

    app_keys: frozenset[str]
    max_body_bytes: int = 6_000_000
    gzip: bool = False
    strict_array: bool = False
    strict_description: bool = True
    partial_accept: bool = False


@dataclass(frozen=True, slots=True)
class Rejection:
    """One alert that failed rows 9-14.

    Attributes:
        index: 1-based index of the alert in the request.
        row: the section 3 row that matched first for this alert.
        message: the full error string, ``"alert N: <reason>"``.
    """

    index: int
    row: int
    message: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of rows 9-14 over one request.

    The alerts that passed (app key merged, descriptions truncated in lenient
    mode) are held column-wise, one list per attribute, which spares a tuple
    per alert on the hot path.

    Attributes:
        keys: canonical JSON of each passed alert (see :func:`canonical_json`).
        identities: identity of each passed alert (see :func:`identity_of`).
        timestamps: ``timestamp`` of each passed alert, Unix seconds.
        statuses: ``status`` of each passed alert.
        rejections: the alerts that failed, in request order.
        truncated: 1-based indexes of alerts whose description was truncated.
    """

    keys: list[bytes] = field(default_factory=list)
    identities: list[Identity] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    truncated: list[int] = field(default_factory=list)

    def first_rejection(self) -> Rejection | None:
        """The rejection the all-or-nothing mode reports: lowest row, then lowest index."""
        if not self.rejections:
            return None
        return min(self.rejections, key=lambda r: (r.row, r.index))


@dataclass(frozen=True, slots=True)
class Request:
    """One request as read off the socket.

    Attributes:
        method: HTTP method.
        path: request target, query string included.
        headers: header names lowercased; repeated headers joined with ``", "``.
        body: raw body (before decompression); ``b""`` when it was over the limit.
        oversize: the body was over ``max_body_bytes`` and was drained unread.
        received_at: wall-clock receipt time, Unix seconds.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    oversize: bool
    received_at: float


@dataclass(frozen=True, slots=True)
class Auth:
    """Token sets of rows 3-4; forbidden tokens also count as known for row 3."""

    known: frozenset[str]
    forbidden: frozenset[str]


def evaluate(req: Request, auth: Auth, policy: Policy, limiter: TokenBucket | None) -> Verdict:
    """Apply rows 1-15 of section 3 in order.

    Returns:
        The verdict of rows 9-14 when no row failed the request.

    Raises:
        CheckFailed: the first row that matched (404, 501, 401, 403, 413, 400, 429).
    """
    if req.path.partition("?")[0] != ALERTS_PATH:
        raise CheckFailed(404, "not found")
    if req.method != "POST":
        raise CheckFailed(501, "unsupported method")
    token = bearer_token(req.headers.get("authorization"))
    if token is None or token not in auth.known:
        raise CheckFailed(401, "unauthorized")
    if token in auth.forbidden:
        raise CheckFailed(403, "forbidden")
    data = decode_body(req.body, req.headers.get("content-encoding"), req.oversize, policy)
    alerts, top_app_key = parse_body(data, strict_array=policy.strict_array)
    verdict = validate_alerts(alerts, top_app_key, policy, int(req.received_at))
    first = verdict.first_rejection()
    if first is not None and not policy.partial_accept:
        raise CheckFailed(400, first.message)
    if limiter is not None and not limiter.allow():
        raise CheckFailed(429, "too many requests", retry_after="1")
    return verdict


def bearer_token(header: str | None) -> str | None:
    """Extract the token of an ``Authorization: Bearer <token>`` header (row 3).

    Returns:
        The token, or ``None`` when the header is missing, uses another scheme
        (the scheme name is matched case-insensitively) or carries no token.
    """
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def decode_body(raw: bytes, encoding: str | None, oversize: bool, policy: Policy) -> bytes:
    """Apply rows 5 and 6 and return the decoded body.

    Args:
        raw: the body as received.
        encoding: the ``Content-Encoding`` header, or ``None``.
        oversize: the raw body was already over the limit and was drained.
        policy: the current check settings.

    Raises:
        CheckFailed: 413 when the body exceeds ``max_body_bytes`` (counted after
            decompression when gzip is on, on the raw bytes otherwise); 400
            ``unsupported encoding`` for gzip while gzip is off or any other
            encoding; 400 ``invalid json`` for a corrupt gzip stream.
    """
    coding = (encoding or "identity").strip().lower()
    if oversize or len(raw) > policy.max_body_bytes:
        raise CheckFailed(413, "payload too large")
    if coding == "identity":
        return raw
    if coding != "gzip" or not policy.gzip:
        raise CheckFailed(400, "unsupported encoding")
    return _gunzip(raw, policy.max_body_bytes)


def _gunzip(raw: bytes, limit: int) -> bytes:
    """Decompress one gzip member, stopping one byte past ``limit`` (a bomb stops there)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(raw, limit + 1)
    except zlib.error:
        raise CheckFailed(400, "invalid json") from None
    if len(data) > limit:
        raise CheckFailed(413, "payload too large")
    if not inflater.eof:
        raise CheckFailed(400, "invalid json")
    return data


def parse_body(data: bytes, *, strict_array: bool) -> tuple[list[Alert], object]:
    """Apply rows 7 and 8: parse the body into alerts plus the top-level app key.

    Accepted shapes (section 1): an envelope ``{"app_key": ..., "alerts": [...]}``,
    a single bare alert object, or (unless ``strict_array``) a bare array of
    alert objects.

    Returns:
        ``(alerts, top_level_app_key)``; the app key is ``None`` when absent.

    Raises:
        CheckFailed: 400 ``invalid json`` (row 7) or 400 ``alerts must be a
            non-empty array`` (row 8; also for an empty bare array and for an
            envelope whose ``alerts`` holds a non-object).
    """
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise CheckFailed(400, "invalid json") from None
    if type(doc) is dict:
        return _from_object(doc)
    if type(doc) is not list or strict_array or not _all_objects(doc):
        raise CheckFailed(400, "invalid json")
    if not doc:
        raise CheckFailed(400, "alerts must be a non-empty array")
    return doc, None


def _from_object(doc: dict[str, Any]) -> tuple[list[Alert], object]:
    """Split an envelope into its alerts and app key; a bare alert is a batch of one."""
    if "alerts" not in doc:
        return [doc], None
    alerts = doc["alerts"]
    if type(alerts) is not list or not alerts or not _all_objects(alerts):
        raise CheckFailed(400, "alerts must be a non-empty array")
    return alerts, doc.get("app_key")


def _all_objects(items: list[Any]) -> bool:
    """True when every item is a JSON object."""
    return all(type(item) is dict for item in items)


def validate_alerts(
    alerts: list[Alert], top_app_key: object, policy: Policy, now_s: int
) -> Verdict:
    """Apply rows 9-14 to every alert and prepare the ones that pass for the store.

    An alert without its own ``app_key`` gets the top-level one (mutating the
    parsed dict). In lenient mode (``strict_description=False``) an over-long
    description is cut to 2048 characters ending in an ellipsis and the alert
    passes.

    Args:
        alerts: the parsed alerts of one request.
        top_app_key: the envelope's ``app_key``, or ``None``.
        policy: the current check settings.
        now_s: Unix seconds standing in for a missing ``timestamp`` (BigPanda
            uses the receipt time then).
    """
    verdict = Verdict()
    keys, identities = verdict.keys, verdict.identities
    timestamps, statuses = verdict.timestamps, verdict.statuses
    app_keys = policy.app_keys
    for index, alert in enumerate(alerts, 1):
        if top_app_key is not None and "app_key" not in alert:
            alert["app_key"] = top_app_key
        key = canonical_json(alert)
        primary = primary_value(alert)
        row = alert_error_row(alert, key, primary, app_keys)
        if row == 14 and not policy.strict_description:
            alert["description"] = alert["description"][: MAX_DESCRIPTION_CHARS - 1] + ELLIPSIS
            key = canonical_json(alert)
            verdict.truncated.append(index)
        elif row:
            message = f"alert {index}: {ROW_REASONS[row]}"
            verdict.rejections.append(Rejection(index, row, message))
            continue
        keys.append(key)
        identities.append(_identity(alert, primary))
        timestamps.append(alert.get("timestamp", now_s))
        statuses.append(alert["status"])
    return verdict


def canonical_json(alert: Alert) -> bytes:
    """The alert as orjson JSON with sorted keys: its duplicate key and stored form.

    orjson hands back its result inside a buffer of about 4 KiB; the slice and
    concatenation copy it into a right-sized object (~0.1 µs), so a million
    stored alerts take ~0.3 GB instead of ~4 GB.
    """
    return orjson.dumps(alert, option=orjson.OPT_SORT_KEYS)[:-1] + b"}"


def alert_error_row(alert: Alert, key: bytes, primary: Any, app_keys: frozenset[str]) -> int:
    """Return the first of rows 9-14 that ``alert`` fails, or 0 when it passes.

    Args:
        alert: one parsed alert, app key already merged in.
        key: its canonical JSON; an alert whose JSON holds a single ``{`` cannot
            contain a nested object, which spares the per-value scan.
        primary: its :func:`primary_value`.
        app_keys: the accepted app keys.

    Row 14 is reported whatever the mode; the caller rejects or truncates.
    """
    app_key = alert.get("app_key")
    if type(app_key) is not str or app_key not in app_keys:
        return 9
    status = alert.get("status")
    if type(status) is not str or status not in STATUSES:
        return 10
    if primary is None or primary == "" or primary == []:
        return 11
    timestamp = alert.get("timestamp", 0)
    if type(timestamp) is not int or not 0 <= timestamp <= MAX_TIMESTAMP:
        return 12
    if key.count(b"{") > 1 and _has_object(alert.values()):
        return 13
    description = alert.get("description")
    if type(description) is str and len(description) > MAX_DESCRIPTION_CHARS:
        return 14
    return 0


def _has_object(values: Any) -> bool:
    """True when a value is a JSON object or a (nested) list holding one (row 13)."""
    for value in values:
        kind = type(value)
        if kind is dict or (kind is list and _has_object(value)):
            return True
    return False


def primary_value(alert: Alert) -> Any:
    """The alert's primary property value (section 1), or ``None``.

    The field named by ``primary_property`` when present, else the first
    present of host > service > application > device.
    """
    name = alert.get("primary_property")
    if type(name) is str and name in alert:
        return alert[name]
    for name in PRIMARY_FIELDS:
        if name in alert:
            return alert[name]
    return None


def secondary_value(alert: Alert) -> Any:
    """The alert's secondary property value (section 1), or ``None``.

    The field named by ``secondary_property`` when present, else the first
    present of check > sensor.
    """
    name = alert.get("secondary_property")
    if type(name) is str and name in alert:
        return alert[name]
    for name in SECONDARY_FIELDS:
        if name in alert:
            return alert[name]
    return None


def identity_of(alert: Alert) -> Identity:
    """The alert's identity (section 3 notes).

    Returns:
        ``incident_identifier`` when present, else the tuple
        ``(app_key, primary value, secondary value)``; list values become tuples
        so the identity is hashable.
    """
    return _identity(alert, primary_value(alert))


def _identity(alert: Alert, primary: Any) -> Identity:
    incident = alert.get("incident_identifier")
    if incident is not None:
        return _hashable(incident)
    secondary = secondary_value(alert)
    if type(primary) is list or type(secondary) is list:
        return (alert["app_key"], _hashable(primary), _hashable(secondary))
    return (alert["app_key"], primary, secondary)


def _hashable(value: Any) -> Hashable:
    """Lists (the only unhashable value left after row 13) become tuples."""
    if type(value) is list:
        return tuple(_hashable(item) for item in value)
    return value  # type: ignore[no-any-return]


class TokenBucket:
    """Row 15's rate limiter: ``rate_per_s`` requests per second, burst of one second.

    The bucket holds at most ``max(1, rate_per_s)`` tokens and refills
    continuously; each allowed request takes one. Thread-safe.
    """

    def __init__(self, rate_per_s: float) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self._rate = rate_per_s
        self._capacity = max(1.0, rate_per_s)
        self._tokens = self._capacity
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """Take one token; ``False`` when the bucket is empty (answer 429)."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
            self._last = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True
