"""Exponential backoff with full jitter (``bigpanda-alerts-api.md`` section 2, "Backoff")."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before retry number ``n`` (0-based) after a transient failure.

    Formula ("full jitter")::

        ceiling(n) = min(max_s, initial_s * factor ** n)
        delay(n)   = uniform(0, ceiling(n))          # rng() * ceiling(n)

    A server's ``Retry-After`` replaces the computed delay, capped at ``max_s``
    (:meth:`next_delay`). Section 2 defaults: 1 s initial, factor 2, 300 s cap.
    The delay bounds only the wait between attempts; it does not bound how long
    one attempt takes (see the client's timeouts) nor how many attempts happen
    (retries go on while the disk queue has room).

    Attributes:
        initial_s: ceiling of the first delay, seconds (> 0).
        max_s: largest delay, seconds (≥ ``initial_s``).
        factor: growth of the ceiling per attempt (≥ 1).
        rng: returns a float in [0, 1); tests pass a constant.
    """

    initial_s: float
    max_s: float
    factor: float = 2.0
    rng: Callable[[], float] = field(default=random.random, compare=False)

    def __post_init__(self) -> None:
        if not self.initial_s > 0:
            raise ValueError("initial_s must be > 0")
        if not self.max_s >= self.initial_s:
            raise ValueError("max_s must be >= initial_s")
        if not self.factor >= 1:
            raise ValueError("factor must be >= 1")

    def ceiling(self, attempt: int) -> float:
        """``min(max_s, initial_s * factor ** attempt)``, seconds; safe for any attempt."""
        try:
            return min(self.max_s, self.initial_s * self.factor ** max(attempt, 0))
        except OverflowError:
            return self.max_s

    def delay(self, attempt: int) -> float:
        """A random delay in ``[0, ceiling(attempt))``, seconds."""
        return self.rng() * self.ceiling(attempt)

    def next_delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        """The wait before the next attempt, seconds.

        Args:
            attempt: how many retries of this failure streak came before (0 first).
            retry_after_s: the server's ``Retry-After`` in seconds, if it sent one;
                it overrides the computed delay (clamped to ``[0, max_s]``).
        """
        if retry_after_s is not None:
            return min(self.max_s, max(0.0, retry_after_s))
        return self.delay(attempt)
