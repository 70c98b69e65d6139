"""Blocking retries of state.db writes, for a full disk or a read-only state dir.

A failed SQLite write transaction is rolled back whole (``agent.state``), so
retrying the same write later is always safe and never corrupts state.db. The
thread that needs the write blocks in :meth:`WriteGuard.run` until it goes
through: the reading thread stops reading (offsets do not advance), the
shipper stops acknowledging. One ``queue_write_failed`` event starts an
outage, one ``queue_write_recovered`` ends it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import structlog

from agent.errors import StateError

log = structlog.get_logger("agent.state")

T = TypeVar("T")

Wait = Callable[[float], bool]
"""Sleeps up to the given seconds; returns ``False`` when the caller must give up."""


class WriteGuard:
    """Runs state writes, retrying a failing one with capped doubling delays.

    Delays between attempts: ``initial_s``, doubled per failure, capped at
    ``max_s`` (seconds). The delay bounds only the wait between attempts,
    not how long one SQLite write takes (``busy_timeout`` does).

    Args:
        stage: who writes (``"pipeline"``, ``"shipper"``), a log field.
        wait: how the caller sleeps between attempts; see :data:`Wait`.
        initial_s: first delay, seconds.
        max_s: largest delay, seconds.
    """

    def __init__(self, *, stage: str, wait: Wait, initial_s: float = 0.1,
                 max_s: float = 5.0) -> None:
        self._stage = stage
        self._wait = wait
        self._initial_s = initial_s
        self._max_s = max_s
        self._failed_at: float | None = None
        self._failures = 0
        self._best_effort_failed = False

    @property
    def blocked(self) -> bool:
        """Whether the last write failed and has not gone through since."""
        return self._failed_at is not None

    def run(self, write: Callable[[], T]) -> tuple[bool, T | None]:
        """Call ``write`` until it succeeds or ``wait`` says give up.

        Returns:
            ``(True, result)`` once written; ``(False, None)`` when given up
            (nothing of that write is in state.db).
        """
        delay_s = self._initial_s
        while True:
            try:
                result = write()
            except StateError as exc:
                self._on_failure(exc, delay_s)
                if not self._wait(delay_s):
                    return False, None
                delay_s = min(self._max_s, delay_s * 2)
                continue
            self._on_success()
            return True, result

    def best_effort(self, write: Callable[..., object], *args: object) -> bool:
        """Call ``write(*args)`` once; a failure is logged (once per outage) and swallowed.

        For facts whose loss costs nothing but freshness (last delivery result).
        """
        try:
            write(*args)
        except StateError as exc:
            if not self._best_effort_failed:
                self._best_effort_failed = True
                log.warning("state_write_skipped", stage=self._stage, reason=str(exc))
            return False
        self._best_effort_failed = False
        return True

    def _on_failure(self, exc: StateError, delay_s: float) -> None:
        self._failures += 1
        if self._failed_at is None:
            self._failed_at = time.monotonic()
            log.error("queue_write_failed", stage=self._stage, reason=str(exc), path=exc.path,
                      action="blocked, retrying", retry_in_s=round(delay_s, 3))

    def _on_success(self) -> None:
        if self._failed_at is None:
            return
        blocked_s = time.monotonic() - self._failed_at
        log.warning("queue_write_recovered", stage=self._stage, blocked_s=round(blocked_s, 3),
                    attempts=self._failures)
        self._failed_at = None
        self._failures = 0
