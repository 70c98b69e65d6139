"""Tests of agent.ratelimit: the client-side token bucket."""

from __future__ import annotations

import threading
import time

import pytest

from agent.ratelimit import RateLimiter


def test_zero_rate_is_unlimited() -> None:
    """Rate 0 hands out 1000 slots without waiting."""
    limiter, stop = RateLimiter(0), threading.Event()
    start = time.monotonic()
    assert all(limiter.acquire(stop) for _ in range(1000))
    assert time.monotonic() - start < 0.5


def test_rate_spaces_requests() -> None:
    """At 20/s with burst 1, five slots take at least 0.2 s (the first is free)."""
    limiter, stop = RateLimiter(20.0), threading.Event()
    start = time.monotonic()
    for _ in range(5):
        assert limiter.acquire(stop)
    assert time.monotonic() - start >= 0.19


def test_burst_allows_back_to_back_requests_after_idling() -> None:
    """With burst 3, three slots are free at once and the fourth waits."""
    now = [100.0]
    limiter, stop = RateLimiter(1.0, burst=3, clock=lambda: now[0]), threading.Event()
    assert all(limiter.acquire(stop) for _ in range(3))
    stop.set()
    assert limiter.acquire(stop) is False


def test_bucket_refills_with_time() -> None:
    """After 2 s at 1/s an emptied bucket of 3 holds 2 slots again."""
    now = [0.0]
    limiter, stop = RateLimiter(1.0, burst=3, clock=lambda: now[0]), threading.Event()
    for _ in range(3):
        limiter.acquire(stop)
    now[0] = 2.0
    stop.set()
    assert [limiter.acquire(stop) for _ in range(3)] == [True, True, False]


def test_stop_event_interrupts_the_wait() -> None:
    """A set stop event ends a 10 s wait within a few milliseconds and returns False."""
    limiter, stop = RateLimiter(0.1), threading.Event()
    assert limiter.acquire(stop)
    timer = threading.Timer(0.05, stop.set)
    timer.start()
    start = time.monotonic()
    assert limiter.acquire(stop) is False
    assert time.monotonic() - start < 1.0
    timer.join()


def test_interrupted_wait_gives_the_slot_back() -> None:
    """A slot not taken because of stop is refunded: the next caller does not pay for it."""
    now = [0.0]
    limiter, stop = RateLimiter(1.0, clock=lambda: now[0]), threading.Event()
    limiter.acquire(stop)
    stop.set()
    assert limiter.acquire(stop) is False
    now[0] = 1.0
    assert limiter.acquire(stop) is True


def test_burst_must_be_positive() -> None:
    """A burst below 1 is a ValueError."""
    with pytest.raises(ValueError):
        RateLimiter(5.0, burst=0)
