"""Counts of read, matched and dropped records are logged per source."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from agent.recordstats import RecordReporter
from agent.rulefile import load_rule_file
from agent.rules import compile_rules

RULES = r"""
[source]
paths = ["/tmp/x.log"]

[[rule]]
name = "errors"
pattern = '^(?P<level>[A-Z]+) (?P<message>.*)'
status = { field = "level", map = { ERROR = "critical" } }
"""


def test_unmapped_and_unmatched_records_are_reported(tmp_path: Path) -> None:
    """A WARN line the map does not cover and a non-matching line both show in the counts."""
    path = tmp_path / "r.toml"
    path.write_text(RULES)
    rules = {"r": compile_rules(load_rule_file(path), (("host", "h"),), hostname="h")}
    for text in ("ERROR boom", "WARN slow", "garbage"):
        rules["r"].apply(text, "/tmp/x.log", 1.0)
    reporter = RecordReporter(interval_s=3600)
    with capture_logs() as logs:
        reporter.maybe_report(rules, force=True)
        reporter.maybe_report(rules, force=True)
    assert len(logs) == 1
    event = logs[0]
    assert event["event"] == "records_counted" and event["source"] == "r"
    assert (event["records"], event["matched"]) == (3, 1)
    assert event["unmapped_status"] == 1 and event["no_match"] == 1
