"""Batches: cut by count, bytes and age; sorted by timestamp; offsets they cover."""

from __future__ import annotations

from typing import Any

import orjson

from agent.batch import Batcher
from agent.config import BatchConfig


def alert(ts: int, n: int, pad: int = 0) -> bytes:
    """An encoded alert carrying its sequence number."""
    return orjson.dumps({"status": "ok", "host": "h", "timestamp": ts, "n": n, "p": "x" * pad})


def batcher(**limits: Any) -> Batcher:
    """An envelope batcher with the given [batch] limits."""
    return Batcher(BatchConfig(**limits), app_key="k", batch_format="envelope")


def body_numbers(body: bytes) -> list[int]:
    """The sequence numbers in a request body, in body order."""
    return [a["n"] for a in orjson.loads(body)["alerts"]]


def test_cut_by_max_alerts_keeps_read_order_across_cuts() -> None:
    """Five alerts with max_alerts = 2 make bodies of 2, 2 and 1, in read order."""
    b = batcher(max_alerts=2)
    b.add("f", [(1, 10 * n, alert(1, n)) for n in range(1, 6)], checkpoint=55)
    assert b.full()
    cuts = b.cut_all()
    assert [body_numbers(c.body) for c in cuts if c.body] == [[1, 2], [3, 4], [5]]


def test_cut_mid_block_commits_the_end_of_the_last_taken_record() -> None:
    """A cut inside a block covers the file only up to its last alert's record."""
    b = batcher(max_alerts=2)
    b.add("f", [(1, 10, alert(1, 1)), (1, 20, alert(1, 2)), (1, 30, alert(1, 3))], checkpoint=40)
    first = b.cut()
    assert first.offsets == {"f": 20}
    rest = b.cut()
    assert rest.offsets == {"f": 40}


def test_block_without_alerts_still_advances_the_checkpoint() -> None:
    """Records that made no alert move the offset once everything before them is queued."""
    b = batcher()
    b.add("f", [], checkpoint=500)
    [cut] = b.cut_all()
    assert cut.body is None and cut.offsets == {"f": 500}


def test_body_stays_within_max_bytes() -> None:
    """No body exceeds max_bytes when the alerts are smaller than it."""
    b = batcher(max_bytes=4096, max_alerts=10_000)
    b.add("f", [(1, n, alert(1, n, pad=300)) for n in range(40)], checkpoint=40)
    cuts = b.cut_all()
    assert all(len(c.body) <= 4096 for c in cuts if c.body)
    assert sum(c.alerts for c in cuts) == 40


def test_alerts_in_a_body_are_sorted_by_timestamp_stably() -> None:
    """Within a body alerts go out by timestamp; equal timestamps keep read order."""
    b = batcher()
    b.add("f", [(5, 1, alert(5, 1)), (3, 2, alert(3, 2)), (5, 3, alert(5, 3)),
                (3, 4, alert(3, 4))], checkpoint=4)
    [cut] = b.cut_all()
    assert body_numbers(cut.body or b"") == [2, 4, 1, 3]


def test_due_after_flush_interval() -> None:
    """A pending alert makes the batcher due once flush_interval_s has passed."""
    b = batcher(flush_interval_s=0.5)
    assert not b.due()
    b.add("f", [(1, 1, alert(1, 1))], checkpoint=1)
    import time

    now = time.monotonic()
    assert not b.due(now)
    assert b.due(now + 0.6)


def test_array_format_puts_app_key_in_every_alert() -> None:
    """batch_format = "array" makes a bare array whose alerts each carry the app key."""
    b = Batcher(BatchConfig(), app_key="k", batch_format="array")
    b.add("f", [(1, 1, alert(1, 1)), (1, 2, alert(1, 2))], checkpoint=2)
    [cut] = b.cut_all()
    assert [a["app_key"] for a in orjson.loads(cut.body or b"")] == ["k", "k"]
