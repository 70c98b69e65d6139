"""``[queue] max_bytes`` and ``when_full``: what the reading thread does when the queue is full.

``"block"`` stops reading: offsets do not advance, nothing is lost, the lag of
each file grows (``bigpanda-agent status`` shows it, and ``reading=blocked``).
``"drop_oldest"`` deletes the oldest queued batches down to 90 % of the limit,
counting and logging what it dropped. Each change of state is logged once.
"""

from __future__ import annotations

import time

import structlog

from agent.config import QueueConfig
from agent.state import StateStore
from agent.writeguard import WriteGuard

log = structlog.get_logger("agent.pipeline")

CHECK_INTERVAL_S = 1.0
"""Seconds between reads of the real queue size while below the limit."""
DROP_TO = 0.9
"""``drop_oldest`` frees the queue down to this fraction of ``max_bytes``."""


class QueueLimit:
    """Tracks the queue's size in bytes and applies the ``when_full`` policy.

    Args:
        config: the ``[queue]`` table.
        store: the reading thread's state store.
        guard: retries the ``drop_oldest`` delete on a failing disk.
    """

    def __init__(self, config: QueueConfig, store: StateStore, guard: WriteGuard) -> None:
        self._config = config
        self._store = store
        self._guard = guard
        self._bytes = 0
        self._checked = 0.0
        self.blocked = False
        self.blocked_s = 0.0
        self._blocked_at = 0.0
        self.dropped_batches = 0
        self.dropped_alerts = int(store.meta().get("dropped_alerts", "0"))
        guard.best_effort(store.set_meta, {"reading_state": "reading"})

    def added(self, queued_bytes: int) -> None:
        """Count bytes just queued (between two reads of the real size)."""
        self._bytes += queued_bytes

    def room(self) -> bool:
        """Whether the reading thread may read more (``False``: wait and ask again)."""
        now = time.monotonic()
        limit = self._config.max_bytes
        if self._bytes < limit and now - self._checked < CHECK_INTERVAL_S:
            return True
        self._checked = now
        self._bytes = self._store.stats().bytes
        if self._bytes < limit:
            self._set_blocked(False, now)
            return True
        if self._config.when_full == "drop_oldest":
            return self._drop_oldest(limit)
        self._set_blocked(True, now)
        return False

    def _drop_oldest(self, limit: int) -> bool:
        store = self._store
        written, dropped = self._guard.run(lambda: store.drop_oldest(int(limit * DROP_TO)))
        if not written or dropped is None:
            return False
        batches, alerts = dropped
        self.dropped_batches += batches
        self.dropped_alerts += alerts
        self._bytes = store.stats().bytes
        log.warning("queue_full_dropped_oldest", batches=batches, alerts=alerts,
                    dropped_alerts_total=self.dropped_alerts, max_bytes=limit)
        self._guard.best_effort(store.set_meta, {"dropped_alerts": str(self.dropped_alerts)})
        return True

    def _set_blocked(self, blocked: bool, now: float) -> None:
        if blocked == self.blocked:
            return
        self.blocked = blocked
        if blocked:
            self._blocked_at = now
            log.warning("queue_full_blocked", queue_bytes=self._bytes,
                        max_bytes=self._config.max_bytes, action="reading paused")
        else:
            self.blocked_s += now - self._blocked_at
            log.info("queue_unblocked", queue_bytes=self._bytes,
                     blocked_s=round(now - self._blocked_at, 3))
        state = f"blocked: queue full since {time.time():.3f}" if blocked else "reading"
        self._guard.best_effort(self._store.set_meta, {"reading_state": state})
