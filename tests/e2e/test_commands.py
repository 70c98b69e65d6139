"""End to end: ``check`` and the shipped examples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.harness import REPO, Agent

BAD_REGEX = r"""
[source]
paths = ["../logs/*.log"]

[[rule]]
name = "good"
pattern = '^ok (?P<message>.*)'
status = "ok"

[[rule]]
name = "broken"
pattern = '^(?P<level>ERROR'
status = "critical"
"""


def test_check_rejects_bad_regex_naming_file_and_rule(tmp_path: Path) -> None:
    """A bad regex makes ``check`` exit 78 and name the file, the rule key and its line."""
    agent = Agent(tmp_path, "http://127.0.0.1:9/data/v2/alerts", {"bad.toml": BAD_REGEX})
    result = agent.run_cli("check")
    assert result.returncode == 78
    assert "bad.toml:12: rule[1].pattern: rule 'broken': invalid regular expression" \
        in result.stderr


def test_run_refuses_bad_config_with_exit_78(tmp_path: Path) -> None:
    """``run`` with a bad rule file exits 78 before starting anything."""
    agent = Agent(tmp_path, "http://127.0.0.1:9/data/v2/alerts", {"bad.toml": BAD_REGEX})
    result = agent.run_cli("run")
    assert result.returncode == 78
    assert "rule[1].pattern" in result.stderr


def test_shipped_examples_pass_check() -> None:
    """Every shipped example rule file passes its own [[rule.test]] examples."""
    result = subprocess.run(
        [sys.executable, "-m", "agent", "check", "-c", str(REPO / "examples" / "agent.toml")],
        capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rule test(s) passed" in result.stdout


GOOD_RULES = r"""
[source]
paths = ["../logs/*.log"]
read_from = "beginning"

[[rule]]
name = "errors"
pattern = '^(?P<level>ERROR|WARN) (?P<message>.*)'
status = { field = "level", map = { ERROR = "critical", WARN = "warning" } }

[rule.alert]
description = "{message}"
"""


def test_send_test_delivers_one_alert_with_defaults(tmp_path: Path) -> None:
    """``send-test`` sends one alert carrying the [defaults] and prints the HTTP status."""
    from agent.mock_api import MockAlertsApi
    from tests.e2e.harness import APP_KEY, TOKEN

    with MockAlertsApi(tokens=[TOKEN], app_keys=[APP_KEY]) as api:
        agent = Agent(tmp_path, api.endpoint, {"app.toml": GOOD_RULES})
        result = agent.run_cli("send-test")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "HTTP 201" in result.stdout
        assert len(api.alerts) == 1
        alert = api.alerts[0]
        assert alert["check"] == "bigpanda-agent send-test"
        assert alert["environment"] == "test" and alert["host"] == "web-01"


def test_send_test_reports_rejected_token(tmp_path: Path) -> None:
    """``send-test`` against a server that refuses the token prints 401 and exits 1."""
    from agent.mock_api import MockAlertsApi
    from tests.e2e.harness import APP_KEY

    with MockAlertsApi(tokens=["other"], app_keys=[APP_KEY]) as api:
        agent = Agent(tmp_path, api.endpoint, {"app.toml": GOOD_RULES})
        result = agent.run_cli("send-test")
        assert result.returncode == 1
        assert "HTTP 401" in result.stdout


def test_test_rules_previews_each_record(tmp_path: Path) -> None:
    """``test-rules`` prints the matching rule and alert per record, or why nothing matched."""
    agent = Agent(tmp_path, "http://127.0.0.1:9/data/v2/alerts", {"app.toml": GOOD_RULES})
    result = subprocess.run(
        [sys.executable, "-m", "agent", "test-rules", "-c", str(agent.config), "--json"],
        input="ERROR disk full\nINFO fine\n", capture_output=True, text=True, cwd=REPO,
        timeout=60)
    assert result.returncode == 0, result.stderr
    import orjson

    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert rows[0]["rule"] == "errors"
    assert rows[0]["alert"]["status"] == "critical"
    assert rows[0]["alert"]["description"] == "disk full"
    assert rows[1]["alert"] is None


def test_status_shows_offsets_after_a_run(tmp_path: Path) -> None:
    """``status`` reads state.db: the file's offset equals its size after everything was read."""
    from agent.mock_api import MockAlertsApi
    from tests.e2e.harness import APP_KEY, TOKEN

    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "app.log"
    log.write_text("ERROR one\nWARN two\n")
    with MockAlertsApi(tokens=[TOKEN], app_keys=[APP_KEY]) as api:
        agent = Agent(tmp_path, api.endpoint, {"app.toml": GOOD_RULES})
        agent.start()
        assert api.wait_for_alerts(2, timeout_s=15), agent.log_text()
        assert agent.stop() == 0
    result = agent.run_cli("status", "--json")
    assert result.returncode == 0, result.stderr
    import orjson

    status = orjson.loads(result.stdout)
    [entry] = status["files"]
    assert entry["offset"] == entry["size"] == log.stat().st_size
    assert status["queue"]["batches"] == 0


def test_demo_runs_end_to_end() -> None:
    """``demo`` needs no arguments and reports every expected alert as arrived."""
    result = subprocess.run([sys.executable, "-m", "agent", "demo"], capture_output=True,
                            text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: 291 of 291 alerts arrived" in result.stdout
