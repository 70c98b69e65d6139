"""End to end: SIGTERM drains, SIGHUP reloads (or refuses a broken rule set), sd_notify."""

from __future__ import annotations

import contextlib
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.mock_api import Fault, MockAlertsApi
from tests.e2e.harness import Agent, append
from tests.e2e.test_daemon import RULES, line, numbers


@pytest.fixture
def agent(tmp_path: Path, api: MockAlertsApi) -> Iterator[Agent]:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").write_text("")
    installation = Agent(tmp_path, api.endpoint, {"app.toml": RULES})
    yield installation
    installation.kill()


def test_sigterm_keeps_sending_until_the_queue_is_empty(agent: Agent, api: MockAlertsApi) -> None:
    """SIGTERM during a 2.5 s outage does not stop delivery: the daemon sends every queued
    alert once the API answers again, then exits 0 before shutdown_timeout_s (10 s)."""
    agent.start()
    api.add_fault(Fault(status=503, start_s=0.0, end_s=2.5))
    append(agent.root / "logs" / "app.log", [line(n) for n in range(1, 101)])
    time.sleep(1.0)
    assert api.alerts == []
    started = time.monotonic()
    assert agent.stop(signal.SIGTERM) == 0
    assert 1.0 < time.monotonic() - started < 9.0
    assert sorted(numbers(api)) == list(range(1, 101))


def test_sighup_refuses_a_broken_rule_set_and_keeps_the_old_rules(
        agent: Agent, api: MockAlertsApi) -> None:
    """A SIGHUP with a broken rule file logs reload_rejected naming the file and keeps the old
    rules running; after the file is fixed, the next SIGHUP loads it."""
    agent.start()
    assert agent.proc is not None
    broken = agent.root / "rules.d" / "zz-broken.toml"
    broken.write_text('[source]\npaths = ["x.log"]\n[[rule]]\nname = "bad"\npattern = "(("\n'
                      'status = "critical"\n')
    agent.proc.send_signal(signal.SIGHUP)
    rejected = agent.wait_event("reload_rejected", timeout_s=10)
    assert "zz-broken.toml" in str(rejected["file"])
    append(agent.root / "logs" / "app.log", [line(n) for n in range(1, 4)])
    assert api.wait_for_alerts(3, timeout_s=10), agent.log_text()
    broken.write_text(RULES.replace('cluster = "payments"', 'cluster = "reloaded"')
                      .replace("../logs/*.log", "../logs/other.log"))
    agent.proc.send_signal(signal.SIGHUP)
    agent.wait_event("reload_accepted", timeout_s=10)
    # The reading thread applies the new rules (and scans for the new source) after the
    # main thread accepted them: write only once it has, so other.log is a new file for both.
    agent.wait_event("rules_reloaded", timeout_s=10)
    append(agent.root / "logs" / "other.log", [line(4)])
    # other.log matches both rule files now: one alert from each source.
    assert api.wait_for_alerts(5, timeout_s=10), agent.log_text()
    assert sorted(str(a["cluster"]) for a in api.alerts[3:]) == ["payments", "reloaded"]
    assert agent.stop() == 0


def test_sd_notify_ready_status_watchdog_reloading_stopping(
        agent: Agent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over $NOTIFY_SOCKET the daemon sends READY=1, STATUS= with the queue depth, WATCHDOG=1
    at half of WATCHDOG_USEC, RELOADING=1 then READY=1 on SIGHUP, and STOPPING=1."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    monkeypatch.setenv("WATCHDOG_USEC", "600000")
    received: list[str] = []

    def collect_until(needle: str, *, after: int = 0, timeout_s: float = 10) -> int:
        """Receive until a message past index ``after`` holds ``needle``; returns its index."""
        deadline = time.monotonic() + timeout_s
        while True:
            for index in range(after, len(received)):
                if needle in received[index]:
                    return index
            assert time.monotonic() < deadline, (needle, received)
            with contextlib.suppress(TimeoutError):
                received.append(sock.recv(4096).decode())

    try:
        agent.start()
        collect_until("READY=1")
        collect_until("queue_batches=")
        watchdogs = sum("WATCHDOG=1" in m for m in received)
        collect_until("WATCHDOG=1")
        time.sleep(1.0)
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGHUP)
        reload_at = collect_until("RELOADING=1")
        assert "MONOTONIC_USEC=" in received[reload_at]
        collect_until("READY=1", after=reload_at + 1)
        agent.proc.send_signal(signal.SIGTERM)
        collect_until("STOPPING=1")
        assert agent.stop() == 0
    finally:
        sock.close()
    assert sum("WATCHDOG=1" in m for m in received) >= watchdogs + 2
    status = next(m for m in received if "queue_batches=" in m)
    assert "delivery=healthy" in status and "queue_alerts=0" in status
