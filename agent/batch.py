"""Cutting validated, encoded alerts into request bodies, with their file offsets.

The batcher receives, per record block, the alerts it produced (already
encoded once) and the block's checkpoint. A cut takes alerts in read order up
to ``max_alerts`` and ``max_bytes``, sorts them by timestamp (stable, so equal
timestamps keep read order), builds the body once, and reports the offsets
that body covers: a fully taken block's checkpoint, or, when a cut falls
inside a block, the end of the last record whose alert it took. Those offsets
are committed in the same transaction as the body, so a crash repeats at most
what was in flight and loses nothing.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from operator import itemgetter

from agent.bigpanda import build_body
from agent.config import BatchConfig

Entry = tuple[int, int, bytes]
"""``(timestamp, record end offset, encoded alert)``."""

_BY_TIMESTAMP = itemgetter(0)


@dataclass(slots=True)
class _Segment:
    key: str
    entries: list[Entry]
    checkpoint: int
    taken: int = 0


@dataclass(frozen=True, slots=True)
class Cut:
    """One request body (or none) and the file offsets it covers.

    Attributes:
        body: the request body, or ``None`` when only offsets advanced.
        alerts: alerts in ``body``.
        offsets: ``{checkpoint key: offset}`` safe to commit with ``body``.
    """

    body: bytes | None
    alerts: int
    offsets: dict[str, int] = field(default_factory=dict)


class Batcher:
    """Accumulates alerts and cuts request bodies by count, bytes and age.

    Args:
        config: ``[batch]`` limits. ``max_bytes`` bounds the whole body; a single
            alert larger than that still goes out alone rather than being lost.
        app_key: the integration's app key (goes into every body).
        batch_format: ``"envelope"`` or ``"array"``.
    """

    def __init__(self, config: BatchConfig, *, app_key: str, batch_format: str) -> None:
        self.config = config
        self.app_key = app_key
        self.batch_format = batch_format
        one = len(build_body([b"{}"], app_key=app_key, batch_format=batch_format))
        two = len(build_body([b"{}", b"{}"], app_key=app_key, batch_format=batch_format))
        self._per_alert = two - one - 2
        self._overhead = one - 2 - self._per_alert + 1
        self._segments: deque[_Segment] = deque()
        self.pending_alerts = 0
        self._pending_bytes = 0
        self._oldest: float | None = None

    def add(self, key: str, entries: list[Entry], checkpoint: int) -> None:
        """Add a block's alerts (read order) and the checkpoint past the block."""
        if entries:
            self.pending_alerts += len(entries)
            self._pending_bytes += sum(len(e[2]) for e in entries) + self._per_alert * len(entries)
            if self._oldest is None:
                self._oldest = time.monotonic()
        self._segments.append(_Segment(key, entries, checkpoint))

    @property
    def has_segments(self) -> bool:
        """Whether any block (with or without alerts) waits to be committed."""
        return bool(self._segments)

    def full(self) -> bool:
        """Whether enough is pending for a full batch."""
        return (self.pending_alerts >= self.config.max_alerts
                or self._overhead + self._pending_bytes >= self.config.max_bytes)

    def due(self, now: float | None = None) -> bool:
        """Whether the oldest pending alert waited ``flush_interval_s``."""
        if self._oldest is None:
            return False
        now = time.monotonic() if now is None else now
        return now - self._oldest >= self.config.flush_interval_s

    def cut(self) -> Cut:
        """Take one batch (up to the limits) off the front; offsets covered included."""
        taken: list[Entry] = []
        offsets: dict[str, int] = {}
        budget = self.config.max_bytes - self._overhead
        size = 0
        limit = self.config.max_alerts
        while self._segments:
            seg = self._segments[0]
            entries = seg.entries
            while seg.taken < len(entries) and len(taken) < limit:
                cost = len(entries[seg.taken][2]) + self._per_alert
                if taken and size + cost > budget:
                    break
                taken.append(entries[seg.taken])
                size += cost
                seg.taken += 1
            if seg.taken < len(entries):
                if seg.taken:
                    offsets[seg.key] = entries[seg.taken - 1][1]
                break
            offsets[seg.key] = seg.checkpoint
            self._segments.popleft()
        self.pending_alerts -= len(taken)
        self._pending_bytes -= size
        self._oldest = None if self.pending_alerts == 0 else time.monotonic()
        if not taken:
            return Cut(None, 0, offsets)
        taken.sort(key=_BY_TIMESTAMP)
        body = build_body([e[2] for e in taken], app_key=self.app_key,
                          batch_format=self.batch_format)
        return Cut(body, len(taken), offsets)

    def cut_all(self) -> list[Cut]:
        """Cut everything pending (flush interval reached, or shutdown)."""
        cuts = []
        while self._segments:
            cuts.append(self.cut())
        return cuts
