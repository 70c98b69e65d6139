"""End to end: ``[queue] max_bytes`` with ``when_full = "block"`` and ``"drop_oldest"``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.mock_api import Fault, MockAlertsApi
from tests.e2e.harness import APP_KEY, TOKEN, Agent, append
from tests.e2e.test_daemon import RULES, line, numbers

LINES = 4000


def padded(n: int) -> str:
    """A numbered line whose alert is about 500 bytes, so 4000 overflow a 1 MiB queue."""
    return line(n).replace("] event", "] " + "p" * 300 + " event")


def status(agent: Agent) -> dict[str, Any]:
    result = agent.run_cli("status", "--json")
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@pytest.fixture
def api() -> Iterator[MockAlertsApi]:
    with MockAlertsApi(tokens=[TOKEN], app_keys=[APP_KEY], record_bodies=False) as server:
        yield server


def limited(tmp_path: Path, api: MockAlertsApi, when_full: str) -> Agent:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").write_text("")
    agent = Agent(tmp_path, api.endpoint, {"app.toml": RULES})
    limits = f'state_dir = "state"\nmax_bytes = 1048576\nwhen_full = "{when_full}"'
    text = agent.config.read_text().replace('state_dir = "state"', limits)
    agent.config.write_text(text)
    return agent


def wait_for(agent: Agent, condition: Any, timeout_s: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        current = status(agent)
        if condition(current):
            return current
        assert time.monotonic() < deadline, (current, agent.log_text()[-3000:])
        time.sleep(0.2)


def test_block_pauses_reading_with_visible_lag_then_delivers_everything(
        tmp_path: Path, api: MockAlertsApi) -> None:
    """A full queue stops reading (lag shown by `status`, one event per change of state, not
    per check); when the API returns, reading resumes and every alert arrives."""
    agent = limited(tmp_path, api, "block")
    api.add_fault(Fault(status=503))
    try:
        agent.start()
        append(tmp_path / "logs" / "app.log", [padded(n) for n in range(1, LINES + 1)])
        agent.wait_event("queue_full_blocked", timeout_s=20)
        blocked = wait_for(agent, lambda s: s["reading"].startswith("blocked"))
        assert blocked["files"][0]["lag_bytes"] > 100_000
        assert 1 << 20 <= blocked["queue"]["bytes"] < 3 << 20
        time.sleep(1.0)
        assert status(agent)["files"][0]["offset"] == blocked["files"][0]["offset"]
        api.clear_faults()
        assert api.wait_for_alerts(LINES, timeout_s=30), agent.log_text()[-3000:]
        agent.wait_event("queue_unblocked", timeout_s=5)
        assert agent.stop() == 0
    finally:
        agent.kill()
    changes = [e["event"] for e in agent.events()
               if e.get("event") in ("queue_full_blocked", "queue_unblocked")]
    assert changes[:2] == ["queue_full_blocked", "queue_unblocked"]
    assert changes == (["queue_full_blocked", "queue_unblocked"] * len(changes))[:len(changes)]
    assert sorted(numbers(api)) == list(range(1, LINES + 1))


def test_drop_oldest_keeps_the_newest_alerts_and_counts_the_dropped(
        tmp_path: Path, api: MockAlertsApi) -> None:
    """With drop_oldest reading never stops; the oldest batches are dropped, counted in
    `status` and logged, and exactly the newest alerts arrive once the API returns."""
    agent = limited(tmp_path, api, "drop_oldest")
    api.add_fault(Fault(status=503))
    try:
        agent.start()
        append(tmp_path / "logs" / "app.log", [padded(n) for n in range(1, LINES + 1)])
        full = wait_for(agent, lambda s: s["files"][0]["lag_bytes"] == 0
                        and s["dropped_alerts"] > 0)
        assert full["queue"]["bytes"] < (1 << 20) * 1.5
        api.clear_faults()
        done = wait_for(agent, lambda s: s["queue"]["batches"] == 0, timeout_s=30)
        assert agent.stop() == 0
    finally:
        agent.kill()
    arrived = sorted(numbers(api))
    assert done["dropped_alerts"] == LINES - len(arrived) > 0
    assert arrived == list(range(LINES - len(arrived) + 1, LINES + 1))
    dropped = [e for e in agent.events() if e.get("event") == "queue_full_dropped_oldest"]
    assert sum(int(e["alerts"]) for e in dropped) == done["dropped_alerts"]
