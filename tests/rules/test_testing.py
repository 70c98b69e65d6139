"""run_rule_tests: ``[[rule.test]]`` examples checked as production would run them."""

from __future__ import annotations

from agent.rules import RuleTestFailure, run_rule_tests
from tests.rules.conftest import DEFAULTS, HOSTNAME, LoadRules

RULES = r"""
[[rule]]
name = "payment-errors"
pattern = '^(?P<time>\S+) (?P<level>ERROR|WARN|DEBUG)\s+\[(?P<service>[^\]]+)\] (?P<message>.*)'
time = { field = "time", format = "iso8601" }
status = { field = "level", map = { ERROR = "critical", WARN = "warning" } }

[rule.alert]
check = "{service}"
description = "{message}"
code = 7
%(tests)s

[[rule]]
name = "catch-all"
pattern = 'FAIL'
status = "warning"
%(tests2)s
"""

PASSING = """
[[rule.test]]
line = "2026-11-28T10:15:02Z ERROR [payments] card processor timeout"
expect = { status = "critical", check = "payments", description = "card processor timeout", \
timestamp = 1795860902, code = 7, host = "web-03" }

[[rule.test]]
line = "2026-11-28T10:15:02Z INFO [payments] fine"
match = false
"""


def _run(load_rules: LoadRules, tests: str, tests2: str = "") -> list[RuleTestFailure]:
    rule_file = load_rules(RULES % {"tests": tests, "tests2": tests2})
    return run_rule_tests(rule_file, DEFAULTS, hostname=HOSTNAME)


def _reasons(failures: list[RuleTestFailure]) -> list[str]:
    return [f.reason for f in failures]


def test_passing_examples_give_no_failures(load_rules: LoadRules) -> None:
    """Examples whose expectations hold (ints compared as ints) produce no failures."""
    assert _run(load_rules, PASSING) == []


def test_wrong_expectation_names_key_wanted_and_got(load_rules: LoadRules) -> None:
    """A differing value is reported as ``expected key='want', got 'got'`` with its position."""
    failures = _run(load_rules, """
[[rule.test]]
line = "t ERROR [payments] x"
expect = { check = "payments" }

[[rule.test]]
line = "t ERROR [payments] x"
expect = { check = "ledger" }
""")
    assert len(failures) == 1
    failure = failures[0]
    assert (failure.rule, failure.test_index, failure.line) == ("payment-errors", 2,
                                                                "t ERROR [payments] x")
    assert failure.reason == "expected check='ledger', got 'payments'"
    assert failure.file.endswith("app.toml")


def test_int_expectation_does_not_equal_string(load_rules: LoadRules) -> None:
    """An expectation compares with its type: 7 matches the int 7, "7" does not."""
    failures = _run(load_rules, """
[[rule.test]]
line = "t ERROR [p] x"
expect = { code = "7" }
""")
    assert _reasons(failures) == ["expected code='7', got 7"]


def test_missing_attribute_is_reported(load_rules: LoadRules) -> None:
    """An expected attribute the alert lacks is reported as got nothing."""
    failures = _run(load_rules, """
[[rule.test]]
line = "t ERROR [p] x"
expect = { team = "core" }
""")
    assert _reasons(failures) == ["expected team='core', got nothing"]


def test_no_match_is_reported(load_rules: LoadRules) -> None:
    """An example no rule matches fails with "no match"."""
    failures = _run(load_rules, """
[[rule.test]]
line = "nothing to see"
""")
    assert _reasons(failures) == ["no match"]


def test_earlier_rule_matching_first_is_reported(load_rules: LoadRules) -> None:
    """An example caught by an earlier rule fails with the name of that rule."""
    failures = _run(load_rules, "", tests2="""
[[rule.test]]
line = "t ERROR [p] FAIL"
""")
    assert _reasons(failures) == ["matched rule 'payment-errors' first"]
    assert failures[0].rule == "catch-all"


def test_unmapped_status_is_reported(load_rules: LoadRules) -> None:
    """An example its own rule drops reports the status reason."""
    failures = _run(load_rules, """
[[rule.test]]
line = "t DEBUG [p] x"
""")
    assert _reasons(failures) == ["status value 'DEBUG' not mapped"]


def test_match_false_fails_when_the_rule_alerts(load_rules: LoadRules) -> None:
    """``match = false`` fails when the example's own rule produces an alert."""
    failures = _run(load_rules, """
[[rule.test]]
line = "t WARN [p] x"
match = false
""")
    assert _reasons(failures) == ["produced an alert, but the test says match = false"]


def test_match_false_passes_when_an_earlier_rule_takes_the_line(load_rules: LoadRules) -> None:
    """``match = false`` holds when the line goes to an earlier rule instead."""
    assert _run(load_rules, "", tests2="""
[[rule.test]]
line = "t ERROR [p] FAIL"
match = false
""") == []
