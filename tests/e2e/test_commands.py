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
