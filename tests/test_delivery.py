"""Tests of agent.delivery: the shipper against the real Alerts API double on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from agent.backoff import Backoff
from agent.bigpanda import build_body, encode_alert, validate_alert
from agent.config import BigPandaConfig, RetryConfig
from agent.delivery import DEGRADED, HEALTHY, PAUSED, Shipper
from agent.errors import StateError
from agent.mock_api import Fault, MockAlertsApi
from agent.state import StateStore
from agent.transport import Urllib3Client

TOKEN = "tok-delivery-secret"
APP_KEY = "app-key-delivery"
FAST = Backoff(0.01, 0.05)

MakeShipper = Callable[..., Shipper]


def alert(host: str, **fields: Any) -> dict[str, Any]:
    return {"status": "critical", "host": host, "check": "disk", "timestamp": 1_718_000_000,
            **fields}


def body(alerts: list[dict[str, Any]], *, valid: bool = True) -> bytes:
    encoded = [encode_alert(validate_alert(a) if valid else a) for a in alerts]
    return build_body(encoded, app_key=APP_KEY, batch_format="envelope")


def enqueue(db: Path, *batches: list[dict[str, Any]], valid: bool = True) -> None:
    store = StateStore(db)
    try:
        store.enqueue([(body(b, valid=valid), len(b)) for b in batches], [])
    finally:
        store.close()


def queued(db: Path) -> int:
    store = StateStore(db)
    try:
        return store.stats().batches
    finally:
        store.close()


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


@pytest.fixture
def api() -> Iterator[MockAlertsApi]:
    with MockAlertsApi(tokens=[TOKEN], app_keys=[APP_KEY]) as server:
        yield server


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def make_shipper(api: MockAlertsApi, db: Path) -> Iterator[MakeShipper]:
    made: list[tuple[Shipper, Urllib3Client]] = []

    def make(endpoint: str | None = None, **kwargs: Any) -> Shipper:
        client = Urllib3Client(endpoint or api.endpoint, TOKEN, timeout_s=2.0,
                               connect_timeout_s=1.0, environ={})
        if "retry" not in kwargs:
            kwargs.setdefault("backoff", FAST)
        bigpanda = BigPandaConfig(endpoint=client.endpoint, app_key=APP_KEY,
                                  max_requests_per_s=kwargs.pop("max_requests_per_s", 0))
        shipper = Shipper(db_path=kwargs.pop("db_path", db), client=client, bigpanda=bigpanda,
                          **kwargs)
        made.append((shipper, client))
        return shipper

    yield make
    for shipper, client in made:
        shipper.stop(0)
        shipper.join(5.0)
        client.close()
        assert not shipper.is_alive()


def run_until_drained(shipper: Shipper, db: Path, timeout_s: float = 10.0) -> None:
    shipper.start()
    wait_until(lambda: queued(db) == 0, timeout_s)
    shipper.stop(1.0)
    shipper.join(5.0)


def test_2xx_acks_batches_and_records_the_result(api: MockAlertsApi, db: Path,
                                                  make_shipper: MakeShipper) -> None:
    """Two batches answered 201 are deleted, counted, logged as batch_sent and recorded in meta."""
    enqueue(db, [alert("a"), alert("b")], [alert("c")])
    shipper = make_shipper()
    with capture_logs() as logs:
        run_until_drained(shipper, db)
    assert [a["host"] for a in api.alerts] == ["a", "b", "c"]
    assert (shipper.counters.batches_sent, shipper.counters.alerts_sent) == (2, 3)
    sent = events(logs, "batch_sent")
    assert [(e["alerts"], e["status"]) for e in sent] == [(2, 201), (1, 201)]
    assert all(e["bytes"] > 0 and e["duration_s"] >= 0 for e in sent)
    store = StateStore(db)
    try:
        assert store.meta()["last_delivery_status"] == "201"
        assert float(store.meta()["last_delivery_at"]) > 0
    finally:
        store.close()


def test_503_three_times_then_success_delivers_exactly_once(
        api: MockAlertsApi, db: Path, make_shipper: MakeShipper) -> None:
    """Three 503s are retried with the same bytes; all alerts land once; one degraded/recovered."""
    api.add_fault(Fault(status=503, count=3))
    enqueue(db, [alert(f"h{i}") for i in range(4)])
    shipper = make_shipper(retry=RetryConfig(initial_backoff_s=0.01, max_backoff_s=0.05))
    with capture_logs() as logs:
        run_until_drained(shipper, db)
    assert [r.status for r in api.requests] == [503, 503, 503, 201]
    assert len({r.body for r in api.requests}) == 1
    assert sorted(a["host"] for a in api.alerts) == ["h0", "h1", "h2", "h3"]
    assert shipper.counters.retries == 3 and shipper.state == HEALTHY
    assert len(events(logs, "delivery_degraded")) == 1
    assert len(events(logs, "delivery_recovered")) == 1


def test_429_with_retry_after_delays_the_next_request(
        api: MockAlertsApi, db: Path, make_shipper: MakeShipper) -> None:
    """A 429 with Retry-After: 1 delays the next request by at least 1 s."""
    api.add_fault(Fault(status=429, count=1, retry_after="1"))
    enqueue(db, [alert("a")])
    run_until_drained(make_shipper(backoff=Backoff(0.01, 2.0)), db)
    first, second = api.requests
    assert (first.status, second.status) == (429, 201)
    assert second.received_at - first.received_at >= 0.99


def test_400_bisects_to_the_bad_alert_and_dead_letters_it(
        api: MockAlertsApi, db: Path, make_shipper: MakeShipper) -> None:
    """In a batch of 8 with one bad status, 7 alerts land and 1 becomes a dead letter."""
    alerts = [alert(f"h{i}") for i in range(8)]
    alerts[5]["status"] = "fatal"
    enqueue(db, alerts, valid=False)
    shipper = make_shipper()
    with capture_logs() as logs:
        run_until_drained(shipper, db)
    assert sorted(a["host"] for a in api.alerts) == [f"h{i}" for i in range(8) if i != 5]
    store = StateStore(db)
    try:
        (dead,) = store.dead_letters()
    finally:
        store.close()
    assert (dead.status, dead.reason, dead.alerts) == (400, "http 400", 1)
    assert "status" in dead.response
    assert orjson.loads(dead.body) == alerts[5]
    assert shipper.counters.dead_letters == 1
    assert len(events(logs, "batch_rejected")) == 1
    assert [e["status"] for e in events(logs, "alert_dead_lettered")] == [400]


def test_transient_error_during_bisect_retries_that_half(
        api: MockAlertsApi, db: Path, make_shipper: MakeShipper) -> None:
    """A 503 on a half during bisect is retried; with no bad alert nothing is dead-lettered."""
    api.add_fault(Fault(status=400, count=1))
    api.add_fault(Fault(status=503, count=1))
    enqueue(db, [alert(f"h{i}") for i in range(4)])
    shipper = make_shipper()
    run_until_drained(shipper, db)
    assert [r.status for r in api.requests] == [400, 503, 201, 201]
    assert len(api.alerts) == 4 and shipper.counters.dead_letters == 0


def test_401_pauses_then_resume_with_new_token_delivers(
        api: MockAlertsApi, db: Path, make_shipper: MakeShipper) -> None:
    """A 401 pauses without dropping or busy-looping; resume() with a new token delivers all."""
    api.set_tokens(["rotated"])
    enqueue(db, [alert("a")], [alert("b")])
    shipper = make_shipper(pause_probe_s=60.0)
    with capture_logs() as logs:
        shipper.start()
        wait_until(lambda: shipper.state == PAUSED)
        time.sleep(0.3)
        assert [r.status for r in api.requests] == [401]
        assert queued(db) == 2
        shipper.resume("rotated")
        api.wait_for_alerts(2, 5.0)
        wait_until(lambda: queued(db) == 0)
    assert [a["host"] for a in api.alerts] == ["a", "b"]
    assert api.requests[-1].headers["authorization"] == "Bearer rotated"
    (paused,) = events(logs, "delivery_paused")
    assert paused["status"] == 401 and paused["log_level"] == "error"
    assert len(events(logs, "delivery_recovered")) == 1


def test_pause_logs_once_while_probing(api: MockAlertsApi, db: Path,
                                       make_shipper: MakeShipper) -> None:
    """Repeated 403 probes log one delivery_paused line, not one per probe."""
    api.set_tokens([], forbidden_tokens=[TOKEN])
    enqueue(db, [alert("a")])
    shipper = make_shipper(pause_probe_s=0.02)
    with capture_logs() as logs:
        shipper.start()
        wait_until(lambda: len(api.requests) >= 5)
    assert {r.status for r in api.requests} == {403}
    assert len(events(logs, "delivery_paused")) == 1 and queued(db) == 1


def test_pause_reminds_at_most_once_per_interval(
        api: MockAlertsApi, db: Path, make_shipper: MakeShipper,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """While paused, reminders repeat no more often than PAUSE_REMINDER_S, whatever the probes."""
    monkeypatch.setattr("agent.delivery.PAUSE_REMINDER_S", 0.2)
    api.set_tokens(["other"])
    enqueue(db, [alert("a")])
    shipper = make_shipper(pause_probe_s=0.01)
    with capture_logs() as logs:
        shipper.start()
        time.sleep(0.5)
        shipper.stop(0)
        shipper.join(5.0)
    reminders = [e for e in events(logs, "delivery_paused") if e.get("reminder")]
    assert len(api.requests) > 10 and 1 <= len(reminders) <= 2
    assert all(e["paused_for_s"] > 0 for e in reminders)


def test_answer_lost_after_body_is_retried_and_acked_once(
        api: MockAlertsApi, db: Path, make_shipper: MakeShipper) -> None:
    """A connection closed after the body landed is retried; the 204 acks the batch once."""
    api.add_fault(Fault(drop="after_body", count=1))
    enqueue(db, [alert("a"), alert("b")])
    shipper = make_shipper()
    run_until_drained(shipper, db)
    assert [r.status for r in api.requests] == [0, 204]
    assert len(api.alerts) == 2 and shipper.counters.batches_sent == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_backs_off_and_keeps_everything(
        db: Path, make_shipper: MakeShipper) -> None:
    """With no server the batch stays queued, retries are spaced by backoff, then it lands."""
    port = free_port()
    enqueue(db, [alert("a")])
    shipper = make_shipper(f"http://127.0.0.1:{port}/data/v2/alerts",
                           backoff=Backoff(0.05, 0.05, rng=lambda: 1.0))
    with capture_logs() as logs:
        shipper.start()
        time.sleep(0.5)
        retries = shipper.counters.retries
        assert 3 <= retries <= 11 and shipper.state == DEGRADED and queued(db) == 1
        with MockAlertsApi(port=port, tokens=[TOKEN], app_keys=[APP_KEY]) as late:
            assert late.wait_for_alerts(1, 5.0)
            wait_until(lambda: queued(db) == 0)
    (degraded,) = events(logs, "delivery_degraded")
    assert "error" in degraded and TOKEN not in repr(logs)


def test_batches_are_delivered_oldest_first(api: MockAlertsApi, db: Path,
                                            make_shipper: MakeShipper) -> None:
    """Batches queued before and while running go out in queue order, one request each."""
    enqueue(db, *[[alert(f"h{i}")] for i in range(5)])
    shipper = make_shipper(poll_s=10.0)
    shipper.start()
    wait_until(lambda: queued(db) == 0)
    enqueue(db, [alert("late")])
    shipper.wake()
    assert api.wait_for_alerts(6, 2.0)
    wait_until(lambda: queued(db) == 0)
    assert [a["host"] for a in api.alerts] == [f"h{i}" for i in range(5)] + ["late"]


def test_rate_limiter_spaces_requests(api: MockAlertsApi, db: Path,
                                      make_shipper: MakeShipper) -> None:
    """At max_requests_per_s = 20, four batches span at least 0.15 s of requests."""
    enqueue(db, *[[alert(f"h{i}")] for i in range(4)])
    run_until_drained(make_shipper(max_requests_per_s=20.0), db)
    times = [r.received_at for r in api.requests]
    assert times[-1] - times[0] >= 0.14


def test_stop_drains_the_queue_before_exiting(api: MockAlertsApi, db: Path,
                                              make_shipper: MakeShipper) -> None:
    """stop() right after start() still sends every queued batch before the thread ends."""
    enqueue(db, *[[alert(f"h{i}")] for i in range(3)])
    shipper = make_shipper()
    shipper.start()
    shipper.stop(5.0)
    shipper.join(5.0)
    assert not shipper.is_alive() and queued(db) == 0 and len(api.alerts) == 3


def test_stop_cuts_backoff_at_the_drain_deadline(api: MockAlertsApi, db: Path,
                                                 make_shipper: MakeShipper) -> None:
    """With the API failing, stop(0.3) ends the thread soon after 0.3 s and keeps the batch."""
    api.add_fault(Fault(status=503))
    enqueue(db, [alert("a")])
    shipper = make_shipper(backoff=Backoff(10.0, 10.0, rng=lambda: 1.0))
    shipper.start()
    wait_until(lambda: shipper.counters.retries >= 1)
    started = time.monotonic()
    shipper.stop(0.3)
    shipper.join(5.0)
    assert not shipper.is_alive()
    assert 0.25 <= time.monotonic() - started < 2.0 and queued(db) == 1


def test_state_error_is_fatal(tmp_path: Path, make_shipper: MakeShipper) -> None:
    """An unusable state database logs shipper_crashed and calls on_fatal with the StateError."""
    (tmp_path / "file").write_text("not a directory")
    fatal: list[BaseException] = []
    done = threading.Event()

    def on_fatal(exc: BaseException) -> None:
        fatal.append(exc)
        done.set()

    shipper = make_shipper(db_path=tmp_path / "file" / "state.db", on_fatal=on_fatal)
    with capture_logs() as logs:
        shipper.start()
        assert done.wait(5.0)
        shipper.join(5.0)
    assert isinstance(fatal[0], StateError)
    assert events(logs, "shipper_crashed")[0]["exc_info"] is True
