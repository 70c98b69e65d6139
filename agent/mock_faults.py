"""Scripted faults of the local Alerts API double (``bigpanda-alerts-api.md`` section 3).

:class:`Fault` is one misbehaviour a test arms (an injected status, latency, a
dropped connection) and :class:`FaultPlan` the armed set, which picks the fault
for the next request on ``/data/v2/alerts``. :mod:`agent.mock_api` consults the
plan; the "Faults" section of ``docs/mock-api.md`` is the user guide.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, fields

DROP_BEFORE_RESPONSE = "before_response"
DROP_AFTER_BODY = "after_body"


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
            :meth:`agent.mock_api.MockAlertsApi.stop`.
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
        need(status is None or (_is_int(status) and 100 <= status <= 599), "status: 100-599")
        need(count is None or (_is_int(count) and count >= 1), "count: a positive integer")
        for name in ("start_s", "end_s", "latency_s"):
            value = getattr(self, name)
            need(value is None or (_is_number(value) and value >= 0), f"{name}: a number >= 0")
        need(self.end_s is None or self.end_s > (self.start_s or 0.0), "end_s: > start_s")
        need(self.retry_after is None or isinstance(self.retry_after, str), "retry_after: text")
        need(self.retry_after is None or status is not None, "retry_after needs status")
        need(self.drop in (None, DROP_BEFORE_RESPONSE, DROP_AFTER_BODY),
              "drop: 'before_response' or 'after_body'")
        need(self.drop is None or status is None, "drop and status exclude each other")

    @classmethod
    def from_mapping(cls, data: object) -> Fault:
        """Build a fault from a JSON object of its fields (``POST /_mock/faults``).

        Raises:
            ValueError: not an object, an unknown field, or an invalid value.
        """
        if not isinstance(data, dict):
            raise ValueError("a fault is a JSON object")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        need(not unknown, f"unknown fault fields: {', '.join(unknown)}")
        return cls(**data)


def need(condition: bool, message: str) -> None:
    """Raise ``ValueError(message)`` unless ``condition`` holds (bad control input → 400)."""
    if not condition:
        raise ValueError(message)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return _is_int(value) or isinstance(value, float)


class FaultPlan:
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
