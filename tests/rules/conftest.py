"""Fixtures for the rules tests: rule files written to disk and loaded the real way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agent.rulefile import RuleFile, load_rule_file
from agent.rules import SourceRules, compile_rules

DEFAULTS = (("host", "{hostname}"), ("environment", "production"))
HOSTNAME = "web-03"
READ_TIME = 1_800_000_000.75
"""A fixed read time; its timestamp is 1_800_000_000."""
PATH = "/var/log/app/payments.log"

LoadRules = Callable[..., RuleFile]
CompileRules = Callable[..., SourceRules]


@pytest.fixture
def load_rules(tmp_path: Path) -> LoadRules:
    """Write ``[source]`` (plus ``source`` extra lines) and ``body`` to a rule file; load it."""

    def load(body: str, *, source: str = "") -> RuleFile:
        path = tmp_path / "app.toml"
        path.write_text(f'[source]\npaths = ["/var/log/app/*.log"]\n{source}\n{body}')
        return load_rule_file(path)

    return load


@pytest.fixture
def make_rules(load_rules: LoadRules) -> CompileRules:
    """Load a rule file body and compile it with the test defaults and hostname."""

    def make(body: str, *, source: str = "",
             defaults: tuple[tuple[str, str], ...] = DEFAULTS) -> SourceRules:
        return compile_rules(load_rules(body, source=source), defaults, hostname=HOSTNAME)

    return make
