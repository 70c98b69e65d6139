"""End to end: SIGHUP applies what it can, refuses what fails, says what needs a restart."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.mock_api import MockAlertsApi
from tests.e2e.harness import APP_KEY, TOKEN, Agent, append
from tests.e2e.test_daemon import RULES, line, numbers

NEW_KEY = "e2e-app-key-2"


@pytest.fixture
def api() -> Iterator[MockAlertsApi]:
    with MockAlertsApi(tokens=[TOKEN], app_keys=[APP_KEY, NEW_KEY]) as server:
        yield server


@pytest.fixture
def agent(tmp_path: Path, api: MockAlertsApi) -> Iterator[Agent]:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").write_text("")
    installation = Agent(tmp_path, api.endpoint, {"app.toml": RULES})
    yield installation
    installation.kill()


def hup(agent: Agent, event: str) -> dict[str, object]:
    """Send SIGHUP and wait for the given log event."""
    assert agent.proc is not None
    agent.proc.send_signal(signal.SIGHUP)
    return agent.wait_event(event, timeout_s=10)


def test_reload_applies_a_new_app_key(agent: Agent, api: MockAlertsApi) -> None:
    """After SIGHUP with a new app_key, new alerts carry it; earlier ones kept the old."""
    log = agent.root / "logs" / "app.log"
    agent.start()
    append(log, [line(1)])
    assert api.wait_for_alerts(1, timeout_s=15), agent.log_text()
    agent.config.write_text(agent.config.read_text().replace(APP_KEY, NEW_KEY))
    hup(agent, "reload_accepted")
    agent.wait_event("rules_reloaded", timeout_s=10)  # applied by the reading thread
    append(log, [line(2)])
    assert api.wait_for_alerts(2, timeout_s=15), agent.log_text()
    assert agent.stop() == 0
    keys = {int(str(a["description"]).rsplit(" ", 1)[1]): a["app_key"] for a in api.alerts}
    assert keys == {1: APP_KEY, 2: NEW_KEY}


def test_reload_refuses_rules_whose_examples_fail(agent: Agent, api: MockAlertsApi) -> None:
    """A rule file whose [[rule.test]] fails is refused on SIGHUP; the old rules keep working."""
    rules = agent.root / "rules.d" / "app.toml"
    agent.start()
    rules.write_text(RULES.replace("cluster = \"payments\"", "cluster = \"other\"") + """
[[rule.test]]
line = "2026-11-28T10:15:02Z ERROR [payments] boom"
expect = { cluster = "WRONG" }
""")
    event = hup(agent, "reload_rejected")
    assert "fails its example 1" in str(event["reason"])
    append(agent.root / "logs" / "app.log", [line(1)])
    assert api.wait_for_alerts(1, timeout_s=15), agent.log_text()
    assert agent.stop() == 0
    assert api.alerts[0]["cluster"] == "payments"
    assert numbers(api) == [1]


def test_reload_names_settings_that_need_a_restart(agent: Agent, api: MockAlertsApi) -> None:
    """Changing [retry] (built at start) and reloading logs reload_restart_needed naming it."""
    agent.start()
    text = agent.config.read_text().replace("flush_interval_s = 0.1", "flush_interval_s = 0.2")
    text = text.replace("[retry]\n", "[retry]\npause_probe_s = 60\n")
    agent.config.write_text(text)
    event = hup(agent, "reload_restart_needed")
    assert event["keys"] == ["retry"]
    time.sleep(0.2)
    assert agent.stop() == 0
