"""Isolating the bad alerts of a rejected batch by bisection (``bigpanda-alerts-api.md`` §2).

A 400/422 (or 413) rejects a whole request. The batch is split in halves and
each half resent, recursively, until every alert is either delivered or alone
in a rejected request; those alone become dead letters. Delivered halves are
remembered in memory only: if the process dies mid-bisect the whole batch is
sent again later, which BigPanda's 204 dedup makes harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agent.bigpanda import REJECT, DeliveryResult, build_body, classify, split_body
from agent.state import DeadLetter

SendPart = Callable[[bytes, int], DeliveryResult | None]
"""Sends ``(body, alert_count)`` until it is delivered or rejected; returns that
answer, or ``None`` when the shipper must stop (the bisect is then abandoned)."""


def resolve_rejection(body: bytes, alerts: int, result: DeliveryResult, send: SendPart, *,
                      app_key: str, batch_format: str) -> list[DeadLetter] | None:
    """Resend the parts of a rejected body until its bad alerts are isolated.

    Args:
        body: the rejected request body.
        alerts: how many alerts it holds (recorded if it cannot be split at all).
        result: the rejecting answer (400, 413 or 422).
        send: delivers one part; see :data:`SendPart`.
        app_key: app key for the rebuilt part bodies.
        batch_format: body shape for the rebuilt part bodies.

    Returns:
        The dead letters (one per isolated alert, its bytes without ``app_key``),
        possibly empty when every part went through on resend; ``None`` when
        ``send`` gave up (nothing is final then: the batch stays queued).
    """
    try:
        parts = split_body(body)
    except ValueError:
        return [_dead_letter(body, result, alerts=alerts, note="; body is not an alerts body")]
    return _bisect(parts, result, send, app_key=app_key, batch_format=batch_format)


def _bisect(alerts: Sequence[bytes], result: DeliveryResult, send: SendPart, *,
            app_key: str, batch_format: str) -> list[DeadLetter] | None:
    """Dead letters among ``alerts``, which were just rejected together with ``result``."""
    if len(alerts) == 1:
        return [_dead_letter(alerts[0], result, alerts=1)]
    middle = len(alerts) // 2
    dead: list[DeadLetter] = []
    for part in (alerts[:middle], alerts[middle:]):
        answer = send(build_body(part, app_key=app_key, batch_format=batch_format), len(part))
        if answer is None:
            return None
        if classify(answer) == REJECT:
            found = _bisect(part, answer, send, app_key=app_key, batch_format=batch_format)
            if found is None:
                return None
            dead.extend(found)
    return dead


def _dead_letter(body: bytes, result: DeliveryResult, *, alerts: int,
                 note: str = "") -> DeadLetter:
    return DeadLetter(body=body, alerts=alerts, reason=f"http {result.status}{note}",
                      status=result.status, response=response_text(result))


def response_text(result: DeliveryResult) -> str:
    """The first KiB of a response body as text (invalid UTF-8 replaced)."""
    return result.body.decode("utf-8", "replace")
