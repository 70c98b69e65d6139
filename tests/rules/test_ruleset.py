"""SourceRules: status, first match wins, apply_block, counters, explain."""

from __future__ import annotations

from typing import Any

from agent.records import RecordBlock
from tests.rules.conftest import PATH, READ_TIME, CompileRules

STATUS_RULES = r"""
[[rule]]
name = "levels"
pattern = '^(?P<level>\w+): (?P<msg>.*)'
status = { field = "level", map = { ERROR = "critical", Warn = "warning", info = "ok" } }
"""


def test_status_map_is_case_insensitive(make_rules: CompileRules) -> None:
    """The status field's value is lowercased and looked up in the (lowercased) map."""
    rules = make_rules(STATUS_RULES)
    statuses = [rules.apply(f"{level}: x", PATH, READ_TIME)["status"]  # type: ignore[index]
                for level in ("error", "WARN", "Info")]
    assert statuses == ["critical", "warning", "ok"]


def test_unmapped_status_drops_and_counts(make_rules: CompileRules) -> None:
    """A value that maps to no status (and no default) drops the record, counted."""
    rules = make_rules(STATUS_RULES)
    assert rules.apply("debug: x", PATH, READ_TIME) is None
    assert rules.counters.unmapped_status == 1
    assert rules.counters.no_match == 0
    assert rules.counters.records == 1


def test_status_default_covers_unmapped_values(make_rules: CompileRules) -> None:
    """With ``default`` an unmapped value takes the default status."""
    rules = make_rules(r"""
[[rule]]
name = "levels"
pattern = '^(?P<level>\w+):'
status = { field = "level", map = { error = "critical" }, default = "warning" }
""")
    assert rules.apply("debug:", PATH, READ_TIME)["status"] == "warning"  # type: ignore[index]


def test_status_constant(make_rules: CompileRules) -> None:
    """``status = "critical"`` is set on every alert of the rule."""
    rules = make_rules('[[rule]]\nname = "r"\npattern = "boom"\nstatus = "critical"\n')
    assert rules.apply("boom", PATH, READ_TIME)["status"] == "critical"  # type: ignore[index]


TWO_RULES = r"""
[[rule]]
name = "first"
pattern = 'ERROR (?P<what>\w+)'
status = { field = "what", map = { disk = "critical" } }

[[rule]]
name = "second"
pattern = 'ERROR'
status = "warning"
"""


def test_first_matching_rule_wins(make_rules: CompileRules) -> None:
    """The first rule that matches produces the alert; later rules are not consulted."""
    rules = make_rules(TWO_RULES)
    alert = rules.apply("ERROR disk full", PATH, READ_TIME)
    assert alert is not None and alert["check"] == "first"
    assert rules.apply("ERROR", PATH, READ_TIME)["check"] == "second"  # type: ignore[index]
    assert rules.counters.per_rule == {"first": 1, "second": 1}


def test_a_dropped_record_does_not_fall_through(make_rules: CompileRules) -> None:
    """When the first matching rule drops a record (unmapped status), no later rule runs."""
    rules = make_rules(TWO_RULES)
    assert rules.apply("ERROR network", PATH, READ_TIME) is None
    assert rules.counters.unmapped_status == 1
    assert rules.counters.per_rule == {"first": 0, "second": 0}


def _block(texts: list[str]) -> RecordBlock:
    ends, offset = [], 100
    for text in texts:
        offset += len(text.encode()) + 1
        ends.append(offset)
    return RecordBlock(source="app", file_id="f1", path=PATH, offset=100, texts=texts,
                       ends=ends, checkpoint=offset)


def test_apply_block_appends_timestamp_offset_and_alert(make_rules: CompileRules) -> None:
    """apply_block yields (timestamp, end offset of the record, alert) for each alert."""
    rules = make_rules(TWO_RULES)
    block = _block(["ERROR disk", "ok line", "ERROR network", "ERROR"])
    out: list[tuple[int, int, dict[str, Any]]] = []
    rules.apply_block(block, READ_TIME, out)
    assert [(ts, end, alert["check"]) for ts, end, alert in out] == [
        (1_800_000_000, block.ends[0], "first"), (1_800_000_000, block.ends[3], "second")]
    counters = rules.counters
    assert (counters.records, counters.matched, counters.no_match, counters.unmapped_status) \
        == (4, 2, 1, 1)


def test_apply_block_single_rule_path(make_rules: CompileRules) -> None:
    """A one-rule source gives the same results through its dedicated loop."""
    rules = make_rules(STATUS_RULES)
    block = _block(["error: a", "nothing", "debug: b", "warn: c"])
    out: list[tuple[int, int, dict[str, Any]]] = []
    rules.apply_block(block, READ_TIME, out)
    assert [(end, alert["status"]) for _, end, alert in out] == [
        (block.ends[0], "critical"), (block.ends[3], "warning")]
    assert rules.counters.per_rule == {"levels": 2}
    assert (rules.counters.no_match, rules.counters.unmapped_status) == (1, 1)


def test_apply_block_on_empty_block(make_rules: CompileRules) -> None:
    """An empty block appends nothing and counts nothing."""
    rules = make_rules(TWO_RULES)
    out: list[tuple[int, int, dict[str, Any]]] = []
    rules.apply_block(_block([]), READ_TIME, out)
    assert out == [] and rules.counters.records == 0


def test_json_rules_share_one_parse_per_record(make_rules: CompileRules) -> None:
    """Several JSON rules count a non-JSON record's field error once, not once per rule."""
    rules = make_rules("""
[[rule]]
name = "a"
format = "json"
where = { level = ["error"] }
status = "critical"

[[rule]]
name = "b"
format = "json"
status = "ok"
""")
    out: list[tuple[int, int, dict[str, Any]]] = []
    rules.apply_block(_block(['{"level": "info"}', "garbage", '{"level": "error"}']), READ_TIME,
                      out)
    assert [alert["check"] for _, _, alert in out] == ["b", "a"]
    assert rules.counters.field_errors == 1


def test_explain_reports_rule_fields_alert_and_reason(make_rules: CompileRules) -> None:
    """explain names the rule, its fields and the alert, without touching counters."""
    rules = make_rules(STATUS_RULES)
    got = rules.explain("error: disk full", PATH, READ_TIME)
    assert got.rule == "levels"
    assert got.fields == {"level": "error", "msg": "disk full"}
    assert got.alert is not None and got.alert["status"] == "critical"
    assert got.reason == "matched"
    assert rules.counters.records == 0


def test_explain_reasons_for_no_match_and_unmapped(make_rules: CompileRules) -> None:
    """explain says "no match" or which status value was not mapped."""
    rules = make_rules(STATUS_RULES)
    assert rules.explain("plain", PATH, READ_TIME).reason == "no match"
    unmapped = rules.explain("debug: x", PATH, READ_TIME)
    assert (unmapped.rule, unmapped.alert) == ("levels", None)
    assert unmapped.reason == "status value 'debug' not mapped"


def test_explain_reports_time_fallback(make_rules: CompileRules) -> None:
    """explain says when the read time replaced an unparsable record time."""
    rules = make_rules(r"""
[[rule]]
name = "r"
pattern = '^(?P<t>\S+) '
time = { field = "t", format = "epoch" }
status = "ok"
""")
    got = rules.explain("soon x", PATH, READ_TIME)
    assert got.reason == "matched; time 'soon' not parsed as epoch, used read time"
    assert got.alert is not None and got.alert["timestamp"] == 1_800_000_000


def test_explain_reports_missing_status_field(make_rules: CompileRules) -> None:
    """explain names a missing status field when there is no default."""
    rules = make_rules("""
[[rule]]
name = "j"
format = "json"
status = { field = "level", map = { error = "critical" } }
""")
    assert rules.explain("{}", PATH, READ_TIME).reason == \
        "status field 'level' missing and no default"
