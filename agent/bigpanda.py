"""The BigPanda Alerts API: alert contract, body shapes, client protocol, response classes.

This is the only module that knows BigPanda's JSON shapes and status codes
(``bigpanda-alerts-api.md`` sections 1, 2 and 4). Alerts are validated and
serialized once (:func:`validate_alert`, :func:`encode_alert`); request bodies
are assembled from those bytes by concatenation (:func:`build_body`), never
re-encoded, so every retry sends identical bytes and BigPanda's 204 dedup acts
as idempotency (section 4 rule 3). The HTTP transport that implements
:class:`AlertsClient` is :class:`agent.transport.Urllib3Client`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import orjson

from agent.errors import AlertInvalid

ENVELOPE = "envelope"
ARRAY = "array"
BATCH_FORMATS = (ENVELOPE, ARRAY)

STATUSES = frozenset(("ok", "warning", "critical", "unknown", "acknowledged"))
PRIMARY_FIELDS = ("host", "service", "application", "device")
MAX_DESCRIPTION_CHARS = 2048
"""Section 1: ``description`` holds at most 2048 characters."""
TRUNCATION_MARKER = "…[truncated]"
MAX_TIMESTAMP = 10**11
"""Section 1/3 row 12: larger values are milliseconds, not Unix seconds."""
MAX_LIST_ITEMS = 15
"""Section 1: lists are capped at 15 items (BigPanda documents 30 today, 15 earlier)."""
RESPONSE_HEAD_BYTES = 1024
"""Section 2: keep and log at most the first KiB of a response body."""

OK, RETRY, REJECT, PAUSE = "ok", "retry", "reject", "pause"
_REJECT_CODES = frozenset((400, 413, 422))
_PAUSE_CODES = frozenset((401, 403, 404, 405, 501))
_PLAIN = frozenset((str, int))

# -- alerts ---------------------------------------------------------------------------


def validate_alert(alert: dict[str, Any]) -> dict[str, Any]:
    """Check one alert against the contract, normalising it in place.

    Section 1 rules: ``status`` is one of the five lowercase statuses; a primary
    property resolves (``primary_property``'s field, else the first present of
    host > service > application > device) to a non-empty value;
    ``timestamp`` is integer Unix seconds in [0, 10^11] (mandatory for this
    agent, section 4 rule 2); values are strings, integers or lists of those
    (no nested objects). Cheap fixes are applied instead of rejecting:
    ``description`` over 2048 characters keeps its start and ends with
    :data:`TRUNCATION_MARKER`; lists are cut to 15 items; booleans and floats
    become strings and ``None`` values are dropped (section 1, normalisation).

    The common case costs a few dict lookups and one pass of type checks.

    Returns:
        The same dict.

    Raises:
        AlertInvalid: naming the rule that failed (never the alert's values).
    """
    status = alert.get("status")
    if type(status) is not str or status not in STATUSES:
        raise AlertInvalid("status must be one of ok, warning, critical, unknown, acknowledged")
    timestamp = alert.get("timestamp")
    if type(timestamp) is not int or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise AlertInvalid("timestamp must be integer Unix seconds (UTC) in [0, 10^11]")
    if "app_key" in alert:
        raise AlertInvalid("app_key is added by the agent and must not be set on an alert")
    _check_identity(alert)
    for value in alert.values():
        if type(value) not in _PLAIN:
            _normalise_values(alert)
            break
    description = alert.get("description")
    if description is not None:
        if type(description) is not str:
            raise AlertInvalid("description must be a string")
        if len(description) > MAX_DESCRIPTION_CHARS:
            keep = MAX_DESCRIPTION_CHARS - len(TRUNCATION_MARKER)
            alert["description"] = description[:keep] + TRUNCATION_MARKER
    return alert


def validate_rule_alert(alert: dict[str, Any]) -> dict[str, Any]:
    """:func:`validate_alert` for alerts built by compiled rules (``agent.rules``).

    Rules guarantee by construction what the record's content cannot change:
    attribute names, value types (strings, integers, lists of them; see
    ``agent.rules.values``), an integer ``timestamp`` in range, and a status from
    the validated map. What a record can still break is checked here: the status,
    a non-empty ``host`` as primary property, and ``description`` length
    (section 1). Anything unusual (an explicit ``primary_property``, no ``host``)
    takes the full :func:`validate_alert`.

    Raises:
        AlertInvalid: as :func:`validate_alert`.
    """
    if alert.get("status") not in STATUSES or "primary_property" in alert or not alert.get("host"):
        return validate_alert(alert)
    description = alert.get("description")
    if type(description) is str and len(description) > MAX_DESCRIPTION_CHARS:
        keep = MAX_DESCRIPTION_CHARS - len(TRUNCATION_MARKER)
        alert["description"] = description[:keep] + TRUNCATION_MARKER
    return alert


def _check_identity(alert: dict[str, Any]) -> None:
    """Section 1: the primary property resolves to a non-empty value; a named secondary exists."""
    name = alert.get("primary_property")
    if name is not None:
        if type(name) is not str or name not in alert:
            raise AlertInvalid("primary_property must name a field the alert has")
        value = alert[name]
    else:
        for name in PRIMARY_FIELDS:
            if name in alert:
                value = alert[name]
                break
        else:
            raise AlertInvalid("missing primary property (host, service, application or device)")
    if value is None or value == "" or value == []:
        raise AlertInvalid(f"primary property {name!r} is empty")
    secondary = alert.get("secondary_property")
    if secondary is not None and (type(secondary) is not str or secondary not in alert):
        raise AlertInvalid("secondary_property must name a field the alert has")


def _normalise_values(alert: dict[str, Any]) -> None:
    """The slow path of :func:`validate_alert`: fix or reject non-string, non-integer values."""
    for key in [k for k, v in alert.items() if v is None]:
        del alert[key]
    for key, value in alert.items():
        if type(value) not in _PLAIN:
            alert[key] = _normalise_value(key, value)


def _normalise_value(key: str, value: object) -> object:
    if isinstance(value, list | tuple):
        items = [_scalar(key, item) for item in value if item is not None]
        return items[:MAX_LIST_ITEMS]
    return _scalar(key, value)


def _scalar(key: str, value: object) -> str | int:
    kind = type(value)
    if isinstance(value, str | int) and kind is not bool:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is float:
        return repr(value)
    if kind is dict or isinstance(value, list | tuple):
        raise AlertInvalid(f"field {key!r}: nested objects and lists are not supported")
    raise AlertInvalid(f"field {key!r}: unsupported value type {kind.__name__}")


def encode_alert(alert: dict[str, Any]) -> bytes:
    """Serialize a validated alert once; these bytes are queued and resent verbatim.

    orjson returns its result inside a buffer of at least 4 KiB; an alert is
    typically 200-600 bytes and thousands wait in a batch, so the result is
    copied into a right-sized object (slice + closing brace: one small copy,
    ~0.08 µs) instead of pinning 4 KiB per queued alert.

    Raises:
        AlertInvalid: the alert cannot be JSON-encoded (non-string key, huge integer).
    """
    try:
        return orjson.dumps(alert)[:-1] + b"}"
    except orjson.JSONEncodeError as exc:
        raise AlertInvalid(f"cannot encode as JSON: {exc}") from exc


# -- request bodies -------------------------------------------------------------------


@lru_cache(maxsize=8)
def _key_prefix(app_key: str) -> bytes:
    """``{"app_key":"<key>",``: opens an envelope, or splices the key into an array alert."""
    return b'{"app_key":' + orjson.dumps(app_key) + b","


def build_body(alerts: Sequence[bytes], *, app_key: str, batch_format: str) -> bytes:
    """Assemble a request body from encoded alerts (section 1, "Body shapes").

    Args:
        alerts: at least one alert as :func:`encode_alert` made it (a non-empty object).
        app_key: the integration app key.
        batch_format: ``"envelope"`` → ``{"app_key":K,"alerts":[a1,…]}``;
            ``"array"`` → ``[{"app_key":K,…a1},…]`` (the key spliced into each alert).

    Raises:
        ValueError: no alerts, or an unknown ``batch_format``.
    """
    if not alerts:
        raise ValueError("a request body needs at least one alert")
    prefix = _key_prefix(app_key)
    if batch_format == ENVELOPE:
        return prefix + b'"alerts":[' + b",".join(alerts) + b"]}"
    if batch_format == ARRAY:
        return b"[" + b",".join([prefix + alert[1:] for alert in alerts]) + b"]"
    raise ValueError(f"unknown batch_format {batch_format!r}")


def body_overhead(app_key: str, batch_format: str) -> int:
    """Bytes a body adds around its alerts, independent of their number.

    Exact size: ``body_overhead + Σ (len(a) + alert_overhead) + (n - 1)`` commas.
    """
    if batch_format == ENVELOPE:
        return len(_key_prefix(app_key)) + len(b'"alerts":[]}')
    if batch_format == ARRAY:
        return len(b"[]")
    raise ValueError(f"unknown batch_format {batch_format!r}")


def alert_overhead(app_key: str, batch_format: str) -> int:
    """Bytes a body adds per alert (the spliced ``"app_key":K,`` of the array shape)."""
    if batch_format == ARRAY:
        return len(_key_prefix(app_key)) - 1
    if batch_format == ENVELOPE:
        return 0
    raise ValueError(f"unknown batch_format {batch_format!r}")


def split_body(body: bytes, *, batch_format: str | None = None) -> list[bytes]:
    """The alerts of a body, each in :func:`encode_alert` form without ``app_key``.

    The inverse of :func:`build_body`, used to bisect a rejected batch. The
    shape is read from the body itself (an envelope, an array, or a single
    alert object), so batches queued before a reload changed ``batch_format``
    still split; ``batch_format`` is accepted for symmetry and not needed.

    Raises:
        ValueError: the body is not JSON or not one of the three shapes.
    """
    doc = orjson.loads(body)
    items = doc.get("alerts", [doc]) if isinstance(doc, dict) else doc
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError("body is not a BigPanda alerts body")
    for item in items:
        item.pop("app_key", None)
    return [orjson.dumps(item) for item in items]


# -- responses and the client protocol ------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryResult:
    """An HTTP answer from the Alerts API.

    Attributes:
        status: HTTP status code.
        body: the first KiB of the response body (section 2: never parsed for control flow).
        retry_after_s: ``Retry-After`` in seconds (delta-seconds or HTTP-date), if sent.
        duration_s: request time, seconds.
    """

    status: int
    body: bytes = b""
    retry_after_s: float | None = None
    duration_s: float = 0.0


class AlertsClient(Protocol):
    """What the shipper needs from a transport (a dry-run or recording client fits too)."""

    def send(self, body: bytes) -> DeliveryResult:
        """POST one body; raise RetryableDeliveryError on transport failure only."""
        ...

    def set_token(self, token: str) -> None:
        """Use a new org token from the next request on."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def classify(result: DeliveryResult) -> str:
    """Section 2: ``"ok"`` (2xx), ``"reject"`` (400, 413, 422), ``"pause"`` (401, 403, 404,
    405, 501), else ``"retry"`` (408, 429, 5xx, and anything unexpected such as 3xx)."""
    status = result.status
    if 200 <= status < 300:
        return OK
    if status in _REJECT_CODES:
        return REJECT
    if status in _PAUSE_CODES:
        return PAUSE
    return RETRY
