"""The default check: the rule's name, also when the rule's own check renders empty."""

from __future__ import annotations

from pathlib import Path

from agent.rulefile import load_rule_file
from agent.rules import compile_rules

RULES = r"""
[source]
paths = ["/tmp/x.log"]

[[rule]]
name = "svc-errors"
format = "json"
status = "critical"

[rule.alert]
check = "{svc}"
description = "{msg}"
"""


def test_check_template_rendering_empty_falls_back_to_rule_name(tmp_path: Path) -> None:
    """A check template whose field is missing yields the rule's name, not no check."""
    path = tmp_path / "r.toml"
    path.write_text(RULES)
    rules = compile_rules(load_rule_file(path), (("host", "{hostname}"),), hostname="h1")
    with_field = rules.apply('{"svc": "payments", "msg": "x"}', "/tmp/x.log", 1.0)
    without = rules.apply('{"msg": "x"}', "/tmp/x.log", 1.0)
    assert with_field is not None and with_field["check"] == "payments"
    assert without is not None and without["check"] == "svc-errors"
