"""The shipper: sends queued batches to BigPanda, oldest first, until each one is settled.

Failure handling follows ``bigpanda-alerts-api.md`` section 2. A batch leaves
the queue only after a 2xx (:meth:`StateStore.ack`) or, when rejected, once its
bad alerts are isolated and stored as dead letters (:meth:`StateStore.reject`).
Transient failures back off with full jitter and honour ``Retry-After``; the
backoff gates every request, not one batch. 401/403/404/405/501 pause delivery
and keep everything queued until a probe succeeds or :meth:`Shipper.resume`.
This is the one retry layer: the HTTP client never retries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from agent.backoff import Backoff
from agent.bigpanda import OK, PAUSE, REJECT, RETRY, AlertsClient, DeliveryResult, classify
from agent.config import BigPandaConfig, RetryConfig
from agent.errors import RetryableDeliveryError
from agent.ratelimit import RateLimiter
from agent.rejection import resolve_rejection, response_text
from agent.state import QueuedBatch, StateStore
from agent.writeguard import WriteGuard

log = structlog.get_logger(__name__)

HEALTHY, DEGRADED, PAUSED = "healthy", "degraded", "paused"
PAUSE_REMINDER_S = 60.0
"""At most one ``delivery_paused`` reminder per minute while paused."""


@dataclass(slots=True)
class ShipperCounters:
    """Monotonic counters for ``status`` and metrics (retries are not drops).

    Attributes:
        requests: HTTP attempts, failed ones included.
        batches_sent: 2xx answers (a delivered half of a bisected batch counts once).
        alerts_sent: alerts in 2xx answers.
        bytes_sent: request bytes of 2xx answers.
        retries: attempts that failed transiently and were scheduled again.
        batches_rejected: queued batches answered 400/413/422 (then bisected).
        dead_letters: alerts isolated by bisection and stored as dead letters.
    """

    requests: int = 0
    batches_sent: int = 0
    alerts_sent: int = 0
    bytes_sent: int = 0
    retries: int = 0
    batches_rejected: int = 0
    dead_letters: int = 0


class Shipper:
    """Delivers queued batches from its own thread with its own :class:`StateStore`.

    Args:
        db_path: the state database.
        client: the transport; :meth:`resume` may call its ``set_token`` from another thread.
            The caller owns it and closes it after :meth:`join`.
        bigpanda: ``app_key`` and ``batch_format`` for bodies rebuilt while bisecting,
            ``max_requests_per_s`` for the rate limit.
        retry: backoff bounds (section 2 defaults: 1 s initial, 300 s cap).
        durability: passed to :class:`StateStore`.
        backoff: replaces the backoff built from ``retry`` (tests).
        rate_limiter: replaces the limiter built from ``bigpanda`` (tests).
        pause_probe_s: seconds between probes while paused (section 2: about 5 minutes).
        poll_s: seconds between queue polls when idle and not woken.
        on_fatal: called with the exception when the thread crashes (the daemon exits
            non-zero so systemd restarts it).
    """

    def __init__(self, *, db_path: Path, client: AlertsClient, bigpanda: BigPandaConfig,
                 retry: RetryConfig | None = None, durability: str = "normal",
                 backoff: Backoff | None = None, rate_limiter: RateLimiter | None = None,
                 pause_probe_s: float = 300.0, poll_s: float = 0.5,
                 on_fatal: Callable[[BaseException], None] | None = None) -> None:
        retry = retry or RetryConfig()
        self._db_path = db_path
        self._durability = durability
        self._client = client
        self._app_key = bigpanda.app_key
        self._batch_format = bigpanda.batch_format
        self._backoff = backoff or Backoff(retry.initial_backoff_s, retry.max_backoff_s)
        self._limiter = rate_limiter or RateLimiter(bigpanda.max_requests_per_s)
        self._pause_probe_s = pause_probe_s
        self._poll_s = poll_s
        self._on_fatal = on_fatal
        self.counters = ShipperCounters()
        self.state = HEALTHY
        self._cond = threading.Condition()
        self._halt = threading.Event()
        self._stopping = self._woken = False
        self._resume_gen = 0
        self._failures = 0
        self._not_before = 0.0
        self._state_since = time.monotonic()
        self._pause_logged_at = 0.0
        self._pause_status = 0
        self._timer: threading.Timer | None = None
        self._guard = WriteGuard(stage="shipper", wait=self._sleep)
        self._thread = threading.Thread(target=self._run, name="shipper", daemon=True)

    # -- control, from other threads ---------------------------------------------------

    def start(self) -> None:
        """Start the delivery thread."""
        self._thread.start()

    def wake(self) -> None:
        """Tell the shipper a batch was just queued (saves up to one poll interval)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def reconfigure(self, bigpanda: BigPandaConfig) -> None:
        """Take a reloaded ``[bigpanda]``: app key and body format (for bodies rebuilt
        while bisecting) and the client-side rate limit. Queued bodies keep their bytes."""
        self._app_key = bigpanda.app_key
        self._batch_format = bigpanda.batch_format
        self._limiter = RateLimiter(bigpanda.max_requests_per_s)

    def resume(self, token: str | None = None) -> None:
        """Probe at once if paused (config reload, token file change), optionally with a new token.

        Raises:
            ValueError: ``token`` is unusable (from the client's ``set_token``; not echoed).
        """
        if token is not None:
            self._client.set_token(token)
        with self._cond:
            self._resume_gen += 1
            self._cond.notify_all()

    def stop(self, drain_timeout_s: float) -> None:
        """Keep sending until the queue is empty or ``drain_timeout_s`` passed, then exit.

        A backoff or pause wait is cut short only at the drain deadline; a request in
        flight then still finishes (bounded by the client's timeouts). Does not block.
        """
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if drain_timeout_s <= 0:
            self._halt_now()
        elif self._timer is None:
            self._timer = threading.Timer(drain_timeout_s, self._halt_now)
            self._timer.daemon = True
            self._timer.start()

    def join(self, timeout_s: float | None = None) -> None:
        """Wait for the thread to end (after :meth:`stop`) and release the drain timer."""
        if self._thread.ident is not None:
            self._thread.join(timeout_s)
        if self._timer is not None and not self._thread.is_alive():
            self._timer.cancel()
            self._timer.join()

    def is_alive(self) -> bool:
        """Whether the delivery thread runs."""
        return self._thread.is_alive()

    def _halt_now(self) -> None:
        with self._cond:
            self._halt.set()
            self._cond.notify_all()

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            store = StateStore(self._db_path, durability=self._durability)
            try:
                self._loop(store)
            finally:
                store.close()
        except Exception as exc:  # the thread's top: crash loudly, let systemd restart us
            log.error("shipper_crashed", exc_info=True)
            if self._on_fatal is not None:
                self._on_fatal(exc)

    def _loop(self, store: StateStore) -> None:
        while not self._halt.is_set():
            batch = store.next_batch()
            if batch is None:
                if not self._idle():
                    return
                continue
            self._deliver(store, batch)

    def _idle(self) -> bool:
        """Wait for :meth:`wake` or one poll interval; ``False`` once stopping (drained)."""
        with self._cond:
            if self._stopping:
                return False
            if not self._woken:
                self._cond.wait(self._poll_s)
            self._woken = False
            return True

    def _sleep(self, seconds: float, *, resume_gen: int | None = None) -> bool:
        """Wait ``seconds``, less on halt or (with ``resume_gen``) on a newer :meth:`resume`.

        Returns:
            ``False`` when halted: the caller must give up and return.
        """
        def done() -> bool:
            return self._halt.is_set() or (resume_gen is not None
                                           and self._resume_gen != resume_gen)

        with self._cond:
            self._cond.wait_for(done, timeout=seconds)
        return not self._halt.is_set()

    def _deliver(self, store: StateStore, batch: QueuedBatch) -> None:
        result = self._settle(store, batch.body, batch.id, batch.alerts)
        if result is None:
            return
        if classify(result) == OK:
            self._guard.run(lambda: store.ack(batch.id))
            return
        self.counters.batches_rejected += 1
        log.warning("batch_rejected", batch_id=batch.id, alerts=batch.alerts,
                    status=result.status, response=response_text(result))
        dead = resolve_rejection(
            batch.body, batch.alerts, result,
            lambda body, alerts: self._settle(store, body, batch.id, alerts),
            app_key=self._app_key, batch_format=self._batch_format)
        if dead is None:
            return
        written, _ = self._guard.run(lambda: store.reject(batch.id, dead))
        if not written:
            return
        for letter in dead:
            self.counters.dead_letters += 1
            log.error("alert_dead_lettered", batch_id=batch.id, status=letter.status,
                      reason=letter.reason, response=letter.response, bytes=len(letter.body))

    def _settle(self, store: StateStore, body: bytes, batch_id: int,
                alerts: int) -> DeliveryResult | None:
        """Send ``body`` until it is delivered (2xx) or rejected.

        Returns:
            The answer; ``None`` when halted, or when the batch left the queue while it
            was being retried (``when_full = "drop_oldest"``: it was counted as dropped).
        """
        retrying = False
        while True:
            if not self._wait_turn():
                return None
            if retrying and not store.has_batch(batch_id):
                log.info("batch_abandoned", batch_id=batch_id, reason="dropped from the queue")
                return None
            retrying = True
            resume_gen = self._resume_gen
            result, error = self._attempt(body)
            last = {"last_delivery_status": str(result.status) if result else "error",
                    "last_delivery_error": error or "", "last_delivery_at": f"{time.time():.3f}"}
            self._guard.best_effort(store.set_meta, last)
            kind = RETRY if result is None else classify(result)
            if result is not None and kind in (OK, REJECT):
                self._on_answer(store, result, body, batch_id, alerts)
                return result
            if kind == RETRY:
                self._on_retry(store, batch_id, result, error)
            elif result is not None and kind == PAUSE:
                self._on_pause(store, result)
                if not self._sleep(self._pause_probe_s, resume_gen=resume_gen):
                    return None

    def _wait_turn(self) -> bool:
        """Sit out the backoff, then take a rate-limit slot; ``False`` when halted."""
        remaining = self._not_before - time.monotonic()
        if remaining > 0 and not self._sleep(remaining):
            return False
        return not self._halt.is_set() and self._limiter.acquire(self._halt)

    def _attempt(self, body: bytes) -> tuple[DeliveryResult | None, str | None]:
        self.counters.requests += 1
        try:
            return self._client.send(body), None
        except RetryableDeliveryError as exc:
            return None, str(exc)

    def _on_answer(self, store: StateStore, result: DeliveryResult, body: bytes,
                   batch_id: int, alerts: int) -> None:
        """A meaningful answer (2xx or reject): the API is reachable again."""
        self._failures = 0
        self._not_before = 0.0
        self._set_state(store, HEALTHY, status=result.status)
        if classify(result) != OK:
            return
        self.counters.batches_sent += 1
        self.counters.alerts_sent += alerts
        self.counters.bytes_sent += len(body)
        log.info("batch_sent", batch_id=batch_id, alerts=alerts, bytes=len(body),
                 status=result.status, duration_s=round(result.duration_s, 4))

    def _on_retry(self, store: StateStore, batch_id: int, result: DeliveryResult | None,
                  error: str | None) -> None:
        self._guard.best_effort(store.count_attempt, batch_id)
        self.counters.retries += 1
        retry_after_s = result.retry_after_s if result is not None else None
        delay_s = self._backoff.next_delay(self._failures, retry_after_s)
        self._failures += 1
        self._not_before = time.monotonic() + delay_s
        cause: dict[str, Any] = {"status": result.status} if result else {"error": error}
        self._set_state(store, DEGRADED, batch_id=batch_id, **cause)
        log.debug("delivery_retry_scheduled", batch_id=batch_id, delay_s=round(delay_s, 3),
                  attempt=self._failures, retry_after_s=retry_after_s, **cause)

    def _on_pause(self, store: StateStore, result: DeliveryResult) -> None:
        """Log the pause once per state change, then at most one reminder a minute."""
        self._failures = 0
        self._not_before = 0.0
        now = time.monotonic()
        fields = {"status": result.status, "response": response_text(result),
                  "probe_in_s": self._pause_probe_s}
        if self.state != PAUSED or result.status != self._pause_status:
            self._pause_status = result.status
            self._pause_logged_at = now
            self._set_state(store, PAUSED, force=True, **fields)
        elif now - self._pause_logged_at >= PAUSE_REMINDER_S:
            self._pause_logged_at = now
            log.error("delivery_paused", reminder=True,
                      paused_for_s=round(now - self._state_since, 1), **fields)

    def _set_state(self, store: StateStore, state: str, *, force: bool = False,
                   **fields: Any) -> None:
        """Move to ``state``, logging and recording the change (only a change)."""
        if state == self.state and not force:
            return
        previous, self.state = self.state, state
        now = time.monotonic()
        since_s = round(now - self._state_since, 3)
        self._state_since = now
        self._guard.best_effort(store.set_meta, {"delivery_state": state})
        if state == HEALTHY:
            log.info("delivery_recovered", previous=previous, down_for_s=since_s, **fields)
        elif state == DEGRADED:
            log.warning("delivery_degraded", previous=previous, **fields)
        else:
            log.error("delivery_paused", previous=previous, **fields)
