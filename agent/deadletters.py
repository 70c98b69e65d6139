"""Dead letters: alerts BigPanda will not take, kept in ``state.db`` until a person acts.

A dead letter is an alert or a batch body that was rejected (HTTP 400/413/422
after bisection, or local validation) together with why. :class:`DeadLetters`
is the part of :class:`agent.state.StateStore` that stores, lists, requeues
and purges them; it shares the store's connection and transactions, so a
rejection and the removal of its batch stay one transaction. The
``dead_letters`` table is created with the rest of the schema in
:mod:`agent.state`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """An alert or batch BigPanda will not take (or the agent refused to send).

    Attributes:
        body: the rejected JSON bytes (one alert, or a batch body).
        alerts: number of alerts in ``body``.
        reason: why (local validation message, or ``"http 400"``).
        status: the HTTP status, or ``None`` for local rejections.
        response: first KiB of the response body, decoded leniently.
        id: row id once stored, else 0.
        created_at: Unix seconds, once stored.
    """

    body: bytes
    alerts: int
    reason: str
    status: int | None = None
    response: str = ""
    id: int = 0
    created_at: float = 0.0


class DeadLetters:
    """The dead-letter methods of :class:`agent.state.StateStore` (a mixin).

    Uses the store's connection ``_db`` and its ``_transaction()`` (``BEGIN
    IMMEDIATE`` … ``COMMIT``; a failed write raises ``StateError``).
    """

    _db: sqlite3.Connection
    _transaction: Callable[[], AbstractContextManager[None]]

    def reject(self, batch_id: int, dead_letters: Iterable[DeadLetter]) -> None:
        """Remove a batch from the queue and store its rejected parts, in one transaction."""
        with self._transaction():
            self._db.execute("DELETE FROM batches WHERE id=?", (batch_id,))
            self._insert_dead(dead_letters, time.time())

    def add_dead_letters(self, dead_letters: Iterable[DeadLetter]) -> None:
        """Store dead letters on their own."""
        with self._transaction():
            self._insert_dead(dead_letters, time.time())

    def _insert_dead(self, dead_letters: Iterable[DeadLetter], now: float) -> None:
        self._db.executemany(
            "INSERT INTO dead_letters (created_at, reason, status, response, alerts, body) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(now, d.reason, d.status, d.response, d.alerts, d.body) for d in dead_letters])

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters."""
        rows = self._db.execute(
            "SELECT id, created_at, reason, status, response, alerts, body FROM dead_letters "
            "ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [DeadLetter(id=r[0], created_at=r[1], reason=r[2], status=r[3], response=r[4],
                           alerts=r[5], body=r[6]) for r in rows]

    def requeue_dead_letters(
        self, ids: Iterable[int] | None = None, *, wrap: Callable[[bytes], bytes] = bytes
    ) -> int:
        """Move dead letters back into the queue as batches; returns how many moved.

        Args:
            ids: which dead letters (all when ``None``).
            wrap: turns a stored body into a request body (e.g. one alert → envelope).
        """
        with self._transaction():
            rows = self._select_dead(ids)
            now = time.time()
            bodies = [wrap(r[2]) for r in rows]
            self._db.executemany(
                "INSERT INTO batches (created_at, alerts, bytes, body) VALUES (?, ?, ?, ?)",
                [(now, r[1], len(b), b) for r, b in zip(rows, bodies, strict=True)])
            self._db.executemany("DELETE FROM dead_letters WHERE id=?", [(r[0],) for r in rows])
        return len(rows)

    def purge_dead_letters(self, ids: Iterable[int] | None = None) -> int:
        """Delete dead letters (all when ``ids`` is ``None``); returns how many."""
        with self._transaction():
            rows = self._select_dead(ids)
            self._db.executemany("DELETE FROM dead_letters WHERE id=?", [(r[0],) for r in rows])
        return len(rows)

    def _select_dead(self, ids: Iterable[int] | None) -> list[tuple[int, int, bytes]]:
        if ids is None:
            return self._db.execute("SELECT id, alerts, body FROM dead_letters").fetchall()
        out = []
        for dead_id in ids:
            row = self._db.execute("SELECT id, alerts, body FROM dead_letters WHERE id=?",
                                   (dead_id,)).fetchone()
            if row is not None:
                out.append(row)
        return out
