"""The memory of the local Alerts API double: rows 16-17 of the contract.

:class:`AlertStore` keeps the accepted alerts, the duplicate set (row 16), the
per-identity latest state and the diagnostics left by partial accept. It takes
the :class:`~agent.mock_api_checks.Verdict` of rows 9-14 and knows nothing of
HTTP; row numbers refer to ``bigpanda-alerts-api.md`` section 3.
"""

from __future__ import annotations

import threading

from agent.mock_api_checks import Identity, Verdict


class AlertStore:
    """Rows 16-17: the duplicate store, accepted alerts and per-identity state.

    Alerts are kept as their canonical JSON only (one ``bytes`` shared by the
    duplicate set and the arrival-ordered list). Thread-safe; :attr:`cond` is
    notified whenever alerts are stored.
    """

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.reset()

    def reset(self) -> None:
        """Forget every alert, duplicate and identity."""
        with self.cond:
            self.alerts: list[bytes] = []
            self.seen: set[bytes] = set()
            self.latest: dict[Identity, tuple[int, str]] = {}
            self.by_status: dict[str, int] = {}
            self.notes: list[tuple[int, str]] = []
            self.duplicates = 0

    def accept(self, verdict: Verdict, request: int) -> tuple[int, list[bytes]]:
        """Store the new alerts of one request.

        Args:
            verdict: the request's rows 9-14 outcome.
            request: the request's number, for the diagnostics it leaves.

        Returns:
            ``(http_status, new_alerts)``: 204 when every alert of the request was
            already stored (row 16), else 201 (row 17); the canonical JSON of the
            alerts stored now.
        """
        notes = [r.message for r in verdict.rejections]
        notes += [f"alert {n}: description truncated" for n in verdict.truncated]
        with self.cond:
            self.notes.extend((request, note) for note in notes)
            new = self._add(verdict)
            self.cond.notify_all()
        all_duplicates = bool(verdict.keys) and not new and not verdict.rejections
        return (204 if all_duplicates else 201), new

    def _add(self, verdict: Verdict) -> list[bytes]:
        """Store what is new; the caller holds the lock. Ties in time: later arrival wins."""
        new: list[bytes] = []
        seen, latest, by_status = self.seen, self.latest, self.by_status
        columns = verdict.keys, verdict.identities, verdict.timestamps, verdict.statuses
        for key, identity, timestamp, status in zip(*columns, strict=True):
            if key in seen:
                self.duplicates += 1
                continue
            seen.add(key)
            new.append(key)
            by_status[status] = by_status.get(status, 0) + 1
            known = latest.get(identity)
            if known is None or timestamp >= known[0]:
                latest[identity] = (timestamp, status)
        self.alerts.extend(new)
        return new
