"""End to end: each failure class of the Alerts API, against the double, through the real daemon."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from agent import mock_api
from agent.mock_api import Fault, MockAlertsApi
from agent.mock_api_checks import Request
from tests.e2e.harness import APP_KEY, TOKEN, Agent, append
from tests.e2e.test_daemon import RULES, line, numbers


class PoisonApi(MockAlertsApi):
    """The double, rejecting with 400 every request that holds an alert saying "poison"."""

    def _answer(self, req: Request) -> Any:
        if b"poison" in req.body:
            return mock_api._error_reply(400, "alert 1: poisoned payload", None)
        return super()._answer(req)


def install(tmp_path: Path, api: MockAlertsApi, **settings: str) -> Agent:
    """An agent with ``key = value`` replacements applied to the harness agent.toml."""
    (tmp_path / "logs").mkdir(exist_ok=True)
    (tmp_path / "logs" / "app.log").write_text("")
    agent = Agent(tmp_path, api.endpoint, {"app.toml": RULES})
    text = agent.config.read_text()
    for key, value in settings.items():
        lines = text.splitlines()
        hits = [i for i, row in enumerate(lines) if row.startswith(f"{key} =")]
        if hits:
            lines[hits[0]] = f"{key} = {value}"
        else:
            lines.insert(lines.index("[retry]") + 1, f"{key} = {value}")
        text = "\n".join(lines) + "\n"
    agent.config.write_text(text)
    return agent


def dead_letters(agent: Agent) -> list[tuple[int, str, str, bytes]]:
    """``(status, reason, response, body)`` of every dead letter in state.db."""
    db = sqlite3.connect(agent.root / "state" / "state.db")
    try:
        return db.execute("SELECT status, reason, response, body FROM dead_letters "
                          "ORDER BY id").fetchall()
    finally:
        db.close()


def named(agent: Agent, name: str) -> list[dict[str, Any]]:
    return [e for e in agent.events() if e.get("event") == name]


def wait_until(condition: Callable[[], bool], agent: Agent, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, agent.log_text()
        time.sleep(0.05)


@pytest.fixture
def made() -> Iterator[list[Agent]]:
    agents: list[Agent] = []
    yield agents
    for agent in agents:
        agent.kill()


def test_400_bisects_delivers_the_rest_and_dead_letters_the_bad_alert(
        tmp_path: Path, made: list[Agent]) -> None:
    """A 400 batch is bisected: 39 good alerts arrive, the poisoned one is a dead letter with
    status 400 and the response body, and `dead-letter list` shows it."""
    with PoisonApi(tokens=[TOKEN], app_keys=[APP_KEY]) as api:
        agent = install(tmp_path, api)
        made.append(agent)
        agent.start()
        rows = [line(n) for n in range(1, 41)]
        rows[16] = rows[16].replace("event number 17", "poison pill 17")
        append(tmp_path / "logs" / "app.log", rows)
        assert api.wait_for_alerts(39, timeout_s=15), agent.log_text()
        wait_until(lambda: len(dead_letters(agent)) == 1, agent)
        assert agent.stop() == 0
        assert sorted(numbers(api)) == [n for n in range(1, 41) if n != 17]
    status, reason, response, body = dead_letters(agent)[0]
    assert (status, reason) == (400, "http 400")
    assert "poisoned payload" in response and b"poison pill 17" in body
    listing = agent.run_cli("dead-letter", "list").stdout
    assert "status=400" in listing and "poison pill 17" in listing


def test_413_splits_until_parts_fit_and_dead_letters_an_alert_too_large_alone(
        tmp_path: Path, made: list[Agent]) -> None:
    """With a 2 kB body limit a 40-alert batch is split until every part fits; the one alert
    larger than the limit on its own becomes a dead letter with status 413."""
    with MockAlertsApi(tokens=[TOKEN], app_keys=[APP_KEY], max_body_bytes=2000) as api:
        agent = install(tmp_path, api)
        made.append(agent)
        agent.start()
        rows = [line(n) for n in range(1, 41)]
        rows[4] = rows[4] + " " + "x" * 2100
        append(tmp_path / "logs" / "app.log", rows)
        assert api.wait_for_alerts(39, timeout_s=15), agent.log_text()
        wait_until(lambda: len(dead_letters(agent)) == 1, agent)
        assert agent.stop() == 0
        assert sorted(numbers(api)) == [n for n in range(1, 41) if n != 5]
        assert any(r.status == 413 for r in api.requests)
    assert dead_letters(agent)[0][0] == 413


def test_401_pauses_and_a_changed_token_file_resumes(tmp_path: Path, made: list[Agent]) -> None:
    """On 401 delivery pauses with a single error line and nothing dropped; writing the new
    token into the token file resumes delivery within seconds, without a signal."""
    with MockAlertsApi(tokens=["rotated-token"], app_keys=[APP_KEY]) as api:
        agent = install(tmp_path, api, pause_probe_s="300")
        made.append(agent)
        agent.start()
        append(tmp_path / "logs" / "app.log", [line(n) for n in range(1, 11)])
        agent.wait_event("delivery_paused", timeout_s=10)
        time.sleep(1.5)
        assert len(named(agent, "delivery_paused")) == 1 and api.alerts == []
        (tmp_path / "token").write_text("rotated-token\n")
        assert api.wait_for_alerts(10, timeout_s=10), agent.log_text()
        agent.wait_event("delivery_recovered", timeout_s=5)
        assert named(agent, "token_reloaded")
        assert agent.stop() == 0


def test_401_pause_resumes_on_sighup(tmp_path: Path, made: list[Agent]) -> None:
    """A paused agent (probe interval 300 s) sends its queue right after SIGHUP once the
    token is valid again."""
    with MockAlertsApi(tokens=["other"], app_keys=[APP_KEY]) as api:
        agent = install(tmp_path, api, pause_probe_s="300")
        made.append(agent)
        agent.start()
        append(tmp_path / "logs" / "app.log", [line(n) for n in range(1, 6)])
        agent.wait_event("delivery_paused", timeout_s=10)
        api.set_tokens([TOKEN])
        time.sleep(0.5)
        assert api.alerts == []
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGHUP)
        assert api.wait_for_alerts(5, timeout_s=5), agent.log_text()
        assert agent.stop() == 0


def test_403_pause_probes_at_the_configured_interval(tmp_path: Path, made: list[Agent]) -> None:
    """While paused by a 403 the agent probes every pause_probe_s and delivers once the
    token is accepted, with no signal and no token change."""
    with MockAlertsApi(tokens=[], forbidden_tokens=[TOKEN], app_keys=[APP_KEY]) as api:
        agent = install(tmp_path, api, pause_probe_s="1.0")
        made.append(agent)
        agent.start()
        append(tmp_path / "logs" / "app.log", [line(n) for n in range(1, 6)])
        agent.wait_event("delivery_paused", timeout_s=10)
        time.sleep(2.2)
        probes = [r for r in api.requests if r.status == 403]
        assert 2 <= len(probes) <= 4
        api.set_tokens([TOKEN])
        assert api.wait_for_alerts(5, timeout_s=5), agent.log_text()
        assert len(named(agent, "delivery_paused")) == 1
        assert agent.stop() == 0


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_429_retry_after_delays_the_next_request(
        tmp_path: Path, made: list[Agent], form: str) -> None:
    """A 429 with Retry-After (delta-seconds or HTTP-date) holds every request back that long."""
    with MockAlertsApi(tokens=[TOKEN], app_keys=[APP_KEY]) as api:
        agent = install(tmp_path, api, max_backoff_s="10")
        made.append(agent)
        agent.start()
        after = "2" if form == "seconds" else formatdate(time.time() + 3, usegmt=True)
        api.add_fault(Fault(status=429, count=1, retry_after=after))
        append(tmp_path / "logs" / "app.log", [line(n) for n in range(1, 4)])
        assert api.wait_for_alerts(3, timeout_s=15), agent.log_text()
        append(tmp_path / "logs" / "app.log", [line(n) for n in range(4, 7)])
        assert api.wait_for_alerts(6, timeout_s=15), agent.log_text()
        assert agent.stop() == 0
        first, second = api.requests[:2]
        assert first.status == 429 and second.received_at - first.received_at >= 1.9
        assert sorted(numbers(api)) == list(range(1, 7))


def test_degraded_and_recovered_are_logged_once_per_change(
        tmp_path: Path, made: list[Agent]) -> None:
    """Six 503s in a row log one delivery_degraded and one delivery_recovered, not one per retry."""
    with MockAlertsApi(tokens=[TOKEN], app_keys=[APP_KEY]) as api:
        agent = install(tmp_path, api)
        made.append(agent)
        api.add_fault(Fault(status=503, count=6))
        agent.start()
        append(tmp_path / "logs" / "app.log", [line(n) for n in range(1, 21)])
        assert api.wait_for_alerts(20, timeout_s=15), agent.log_text()
        assert agent.stop() == 0
        assert sum(r.status == 503 for r in api.requests) == 6
    assert len(named(agent, "delivery_degraded")) == 1
    assert len(named(agent, "delivery_recovered")) == 1


def test_max_in_flight_above_one_is_a_configuration_error(
        tmp_path: Path, made: list[Agent]) -> None:
    """`check` refuses max_in_flight = 2 with exit 78, naming the key and the reason."""
    with MockAlertsApi(tokens=[TOKEN]) as api:
        agent = install(tmp_path, api)
    text = agent.config.read_text().replace("[bigpanda]\n", "[bigpanda]\nmax_in_flight = 2\n")
    agent.config.write_text(text)
    result = agent.run_cli("check")
    assert result.returncode == 78
    assert "bigpanda.max_in_flight" in result.stderr and "only 1" in result.stderr
