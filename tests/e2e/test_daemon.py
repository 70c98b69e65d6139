"""End to end: the real daemon as a subprocess, the API double over 127.0.0.1."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.mock_api import Fault, MockAlertsApi
from tests.e2e.harness import APP_KEY, TOKEN, Agent, append

RULES = r"""
[source]
paths = ["../logs/*.log"]
read_from = "end"

[[rule]]
name = "app-errors"
pattern = '^(?P<time>\S+) (?P<level>ERROR|WARN|RECOVERED)\s+\[(?P<service>[^\]]+)\] (?P<message>.*)'
time = { field = "time", format = "iso8601" }
status = { field = "level", map = { ERROR = "critical", WARN = "warning", RECOVERED = "ok" } }

[rule.alert]
check = "{service}"
description = "{message}"
cluster = "payments"
"""


def line(n: int, level: str = "ERROR", service: str = "payments") -> str:
    """A log line whose message carries a sequence number."""
    return f"2026-11-28T10:15:{n % 60:02d}Z {level} [{service}] event number {n}"


@pytest.fixture
def agent(tmp_path: Path, api: MockAlertsApi) -> Iterator[Agent]:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").write_text(line(0) + "\n" + "old noise\n")
    installation = Agent(tmp_path, api.endpoint, {"app.toml": RULES})
    yield installation
    installation.kill()


def numbers(api: MockAlertsApi) -> list[int]:
    """The sequence numbers of the alerts that arrived, in arrival order."""
    return [int(str(a["description"]).rsplit(" ", 1)[1]) for a in api.alerts]


def test_appended_lines_arrive_as_exact_alerts(agent: Agent, api: MockAlertsApi) -> None:
    """Appended matching lines arrive as alerts with exactly the expected fields;
    old content (read_from = end) and non-matching lines produce nothing."""
    agent.start()
    log = agent.root / "logs" / "app.log"
    append(log, [line(1, "ERROR"), "2026-11-28T10:15:02Z INFO [payments] all good",
                 line(3, "WARN", "ledger"), "garbage", line(5, "RECOVERED")])
    assert api.wait_for_alerts(3, timeout_s=15), agent.log_text()
    time.sleep(0.5)
    assert agent.stop() == 0
    common = {"app_key": APP_KEY, "host": "web-01", "environment": "test",
              "cluster": "payments"}
    assert api.alerts == [
        {**common, "status": "critical", "check": "payments", "timestamp": 1795860901,
         "description": "event number 1"},
        {**common, "status": "warning", "check": "ledger", "timestamp": 1795860903,
         "description": "event number 3"},
        {**common, "status": "ok", "check": "payments", "timestamp": 1795860905,
         "description": "event number 5"},
    ]
    request = api.requests[0]
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("bigpanda-agent/")


def test_outage_keeps_alerts_queued_until_api_recovers(agent: Agent, api: MockAlertsApi) -> None:
    """While the API answers 503 alerts stay in state.db; afterwards all arrive, none twice."""
    api.add_fault(Fault(status=503, start_s=0.0, end_s=4.0))
    agent.start()
    append(agent.root / "logs" / "app.log", [line(n) for n in range(1, 121)])
    time.sleep(2.0)
    assert api.alerts == []
    db = sqlite3.connect(agent.root / "state" / "state.db")
    queued = db.execute("SELECT COALESCE(SUM(alerts), 0) FROM batches").fetchone()[0]
    db.close()
    assert queued == 120
    assert api.wait_for_alerts(120, timeout_s=30), agent.log_text()
    time.sleep(0.5)
    assert agent.stop() == 0
    assert sorted(numbers(api)) == list(range(1, 121))
    assert any(r.status == 503 for r in api.requests)


def test_restart_reads_exactly_the_new_lines_once(agent: Agent, api: MockAlertsApi) -> None:
    """Lines appended while the agent is stopped arrive after restart; nothing arrives twice."""
    log = agent.root / "logs" / "app.log"
    agent.start()
    append(log, [line(n) for n in range(1, 11)])
    assert api.wait_for_alerts(10, timeout_s=15), agent.log_text()
    assert agent.stop() == 0
    append(log, [line(n) for n in range(11, 21)])
    agent.start()
    assert api.wait_for_alerts(20, timeout_s=15), agent.log_text()
    time.sleep(1.0)
    assert agent.stop() == 0
    assert sorted(numbers(api)) == list(range(1, 21))


def test_sigterm_queues_in_memory_alerts_and_exits_zero(agent: Agent, api: MockAlertsApi) -> None:
    """SIGTERM during an outage exits 0 in time with everything queued; a restart delivers it."""
    api.add_fault(Fault(status=503, count=10_000))
    agent.start()
    append(agent.root / "logs" / "app.log", [line(n) for n in range(1, 31)])
    time.sleep(1.5)
    started = time.monotonic()
    assert agent.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 12
    api.clear_faults()
    agent.start()
    assert api.wait_for_alerts(30, timeout_s=15), agent.log_text()
    time.sleep(0.5)
    assert agent.stop() == 0
    assert sorted(numbers(api)) == list(range(1, 31))


def test_file_created_while_running_is_read_from_its_first_line(
        agent: Agent, api: MockAlertsApi) -> None:
    """A file that appears while the agent runs is read from byte 0, despite read_from = end."""
    agent.start()
    append(agent.root / "logs" / "new.log", [line(n) for n in range(1, 4)])
    assert api.wait_for_alerts(3, timeout_s=15), agent.log_text()
    assert agent.stop() == 0
    assert sorted(numbers(api)) == [1, 2, 3]


def test_second_daemon_on_same_state_dir_is_refused(agent: Agent, api: MockAlertsApi) -> None:
    """A second ``run`` with the same state directory exits 1 and names the running one."""
    agent.start()
    second = agent.run_cli("run")
    assert second.returncode == 1
    assert "another bigpanda-agent" in second.stderr
    assert agent.stop() == 0


def test_array_batch_format_sends_bare_arrays_with_app_key(
        agent: Agent, api: MockAlertsApi) -> None:
    """With batch_format = "array" each request is a JSON array whose alerts carry app_key."""
    import orjson

    text = agent.config.read_text().replace(
        "max_requests_per_s = 0", 'max_requests_per_s = 0\nbatch_format = "array"')
    agent.config.write_text(text)
    agent.start()
    append(agent.root / "logs" / "app.log", [line(1), line(2, "WARN")])
    assert api.wait_for_alerts(2, timeout_s=15), agent.log_text()
    assert agent.stop() == 0
    body = orjson.loads(api.requests[0].body)
    assert isinstance(body, list)
    assert [a["app_key"] for a in body] == [APP_KEY, APP_KEY]
    assert sorted(numbers(api)) == [1, 2]
