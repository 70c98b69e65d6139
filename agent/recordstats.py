"""Periodic record counts: what was read, matched, and dropped, per source.

Dropped records are counted, never silently lost from view: every
``interval_s`` the reading thread logs one ``records_counted`` event with the
totals since start (only when they changed), so an operator sees a status map
that misses a level (``unmapped_status``) or a log whose format drifted
(``no_match``, ``field_errors``, ``time_errors``) without running test-rules.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import structlog

from agent.rules import SourceRules

log = structlog.get_logger("agent.pipeline")

REPORT_INTERVAL_S = 60.0


def snapshot(rules: Mapping[str, SourceRules]) -> dict[str, dict[str, Any]]:
    """``{source: {records, matched, no_match, unmapped_status, time_errors, field_errors}}``."""
    out: dict[str, dict[str, Any]] = {}
    for name, source in rules.items():
        c = source.counters
        out[name] = {"records": c.records, "matched": c.matched, "no_match": c.no_match,
                     "unmapped_status": c.unmapped_status, "time_errors": c.time_errors,
                     "field_errors": c.field_errors}
    return out


class RecordReporter:
    """Logs :func:`snapshot` every ``interval_s`` seconds when it changed.

    Args:
        interval_s: seconds between reports.
    """

    def __init__(self, interval_s: float = REPORT_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._next = time.monotonic() + interval_s
        self._last: dict[str, dict[str, Any]] = {}

    def maybe_report(self, rules: Mapping[str, SourceRules], *, force: bool = False) -> None:
        """Log the counts if the interval passed (or ``force``) and they changed."""
        now = time.monotonic()
        if not force and now < self._next:
            return
        self._next = now + self.interval_s
        counts = snapshot(rules)
        if counts == self._last:
            return
        self._last = counts
        for source, values in counts.items():
            log.info("records_counted", source=source, **values)
