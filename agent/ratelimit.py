"""Client-side request rate limit (``bigpanda-alerts-api.md`` section 2, "Client-side rate")."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """A token bucket: at most ``burst`` requests at once, refilled at ``rate_per_s``.

    Section 2: BigPanda documents 5 requests/s for several of its APIs, hence
    the default of ``max_requests_per_s = 5``. The limiter bounds how often a
    request starts, not how long it takes or how many are in flight. Safe to
    share between threads.

    Args:
        rate_per_s: requests per second; 0 (or less) means unlimited.
        burst: bucket size: requests that may start back to back after idling (≥ 1).
        clock: monotonic seconds (tests pass a fake).
    """

    def __init__(self, rate_per_s: float, burst: int = 1, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if burst < 1:
            raise ValueError("burst must be >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = clock()

    def acquire(self, stop_event: threading.Event) -> bool:
        """Take one request slot, sleeping until one is free.

        Args:
            stop_event: interrupts the sleep when set.

        Returns:
            ``True`` when a slot was taken; ``False`` when ``stop_event`` was set
            while a wait was needed (the slot is given back).
        """
        if self.rate_per_s <= 0:
            return True
        wait_s = self._reserve()
        if wait_s > 0 and stop_event.wait(wait_s):
            self._refund()
            return False
        return True

    def _reserve(self) -> float:
        """Take a token, possibly going into debt; returns the seconds until it is paid."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_s)
            self._updated = now
            self._tokens -= 1.0
            return -self._tokens / self.rate_per_s if self._tokens < 0 else 0.0

    def _refund(self) -> None:
        with self._lock:
            self._tokens = min(float(self.burst), self._tokens + 1.0)
