"""Rules: turn a record into a BigPanda alert dict (or nothing).

``compile_rules`` turns a validated rule file (``agent.rulefile``) into
:class:`SourceRules`; ``SourceRules.apply_block`` is the pipeline's hot path,
``explain`` serves ``test-rules`` and ``run_rule_tests`` serves ``check``.
"""

from __future__ import annotations

from agent.rules.counters import Counters
from agent.rules.explanation import Explanation
from agent.rules.ruleset import SourceRules, compile_rules
from agent.rules.testing import RuleTestFailure, run_rule_tests

__all__ = [
    "Counters",
    "Explanation",
    "RuleTestFailure",
    "SourceRules",
    "compile_rules",
    "run_rule_tests",
]
