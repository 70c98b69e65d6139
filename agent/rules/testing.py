"""Runs the ``[[rule.test]]`` examples of a rule file (``check`` and ``test-rules``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from agent.bigpanda import validate_alert
from agent.errors import AlertInvalid
from agent.rulefile import RuleFile, RuleTest
from agent.rules.explanation import Explanation
from agent.rules.ruleset import compile_rules


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleTestFailure:
    """A rule example that did not hold.

    Attributes:
        file: the rule file.
        rule: the rule whose example failed.
        test_index: 1-based position of the example among the rule's ``[[rule.test]]``.
        line: the example's record.
        reason: e.g. ``expected check='x', got 'y'``, ``matched rule 'other' first``,
            ``no match``, ``status value 'debug' not mapped``.
    """

    file: str
    rule: str
    test_index: int
    line: str
    reason: str


def run_rule_tests(rule_file: RuleFile, defaults: tuple[tuple[str, str], ...], *,
                   hostname: str) -> list[RuleTestFailure]:
    """Check every rule's examples against the whole source, as production would run them.

    Each example's ``line`` goes through all of the file's rules (first match wins).
    With ``match = true`` (the default) the matching rule must be the example's own and
    each ``expect`` pair must equal the alert's value, type included (``500`` is not
    ``"500"``). With ``match = false`` the example's rule must not produce an alert
    (an earlier rule may). The built-ins are ``path`` = the source's first path glob and
    its basename, and the read time is now.

    Args:
        rule_file: the loaded rule file.
        defaults: agent.toml ``[defaults]``.
        hostname: the ``hostname`` built-in.

    Returns:
        The failures, in file order; empty when every example holds.

    Raises:
        ConfigError: the rules do not compile (see :func:`compile_rules`).
    """
    rules = compile_rules(rule_file, defaults, hostname=hostname)
    path = rule_file.source.paths[0]
    read_time = time.time()
    failures = []
    for config in rule_file.rules:
        for number, test in enumerate(config.tests, start=1):
            reason = _verdict(rules.explain(test.line, path, read_time), config.name, test)
            if reason is not None:
                failures.append(RuleTestFailure(file=str(rule_file.path), rule=config.name,
                                                test_index=number, line=test.line,
                                                reason=reason))
    return failures


def _verdict(outcome: Explanation, rule: str, test: RuleTest) -> str | None:
    """Why the example fails, or ``None`` when it holds."""
    if not test.match:
        if outcome.rule == rule and outcome.alert is not None:
            return "produced an alert, but the test says match = false"
        return None
    if outcome.rule is None:
        return "no match"
    if outcome.rule != rule:
        return f"matched rule {outcome.rule!r} first"
    if outcome.alert is None:
        return outcome.reason
    problems = [_compare(key, want, outcome.alert) for key, want in test.expect]
    try:
        validate_alert(dict(outcome.alert))
    except AlertInvalid as exc:
        problems.append(f"the alert would be refused (dead letter): {exc.reason}")
    return "; ".join(p for p in problems if p) or None


def _compare(key: str, want: Any, alert: dict[str, Any]) -> str | None:
    if key not in alert:
        return f"expected {key}={want!r}, got nothing"
    got = alert[key]
    if got.__class__ is want.__class__ and got == want:
        return None
    return f"expected {key}={want!r}, got {got!r}"
