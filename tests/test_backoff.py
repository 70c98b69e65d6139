"""Tests of agent.backoff: full-jitter exponential delays and Retry-After."""

from __future__ import annotations

import pytest

from agent.backoff import Backoff


def test_ceiling_grows_by_factor_and_stops_at_max() -> None:
    """The ceiling is initial * factor^n, capped at max_s."""
    backoff = Backoff(1.0, 10.0)
    assert [backoff.ceiling(n) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_delay_is_rng_times_ceiling() -> None:
    """delay(n) = rng() * ceiling(n): full jitter over [0, ceiling)."""
    assert Backoff(0.5, 300.0, factor=3.0, rng=lambda: 0.5).delay(2) == pytest.approx(2.25)
    assert Backoff(1.0, 300.0, rng=lambda: 0.0).delay(5) == 0.0


def test_random_delays_stay_within_the_ceiling() -> None:
    """With the real rng, every delay lies in [0, ceiling(n))."""
    backoff = Backoff(1.0, 8.0)
    for n in range(10):
        assert all(0.0 <= backoff.delay(n) < backoff.ceiling(n) for _ in range(50))


def test_huge_attempt_numbers_do_not_overflow() -> None:
    """Attempt 10_000 gives max_s instead of an OverflowError."""
    assert Backoff(1.0, 300.0).ceiling(10_000) == 300.0


def test_retry_after_overrides_and_is_capped() -> None:
    """Retry-After replaces the computed delay, clamped to [0, max_s]."""
    backoff = Backoff(1.0, 30.0, rng=lambda: 0.0)
    assert backoff.next_delay(0, 12.0) == 12.0
    assert backoff.next_delay(0, 3600.0) == 30.0
    assert backoff.next_delay(0, -5.0) == 0.0
    assert backoff.next_delay(3, None) == 0.0


@pytest.mark.parametrize(("initial", "maximum", "factor"), [(0, 1, 2), (2, 1, 2), (1, 2, 0.5)])
def test_nonsense_parameters_are_refused(initial: float, maximum: float, factor: float) -> None:
    """Zero initial, max below initial or a shrinking factor is a ValueError."""
    with pytest.raises(ValueError):
        Backoff(initial, maximum, factor)
