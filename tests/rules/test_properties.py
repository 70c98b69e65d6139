"""Properties over arbitrary input: rules never raise; the generated path equals the generic."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.records import RecordBlock
from agent.rulefile import load_rule_file
from agent.rules import SourceRules, compile_rules
from agent.rules.parsers import _parse_quoted, parse_logfmt
from tests.rules.conftest import DEFAULTS, HOSTNAME, PATH, READ_TIME


def _compile(body: str) -> SourceRules:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prop.toml"
        path.write_text(f'[source]\npaths = ["/var/log/app/*.log"]\n{body}')
        return compile_rules(load_rule_file(path), DEFAULTS, hostname=HOSTNAME)


REGEX = _compile(r"""
[[rule]]
name = "regex"
pattern = '^(?P<time>\S+)(?: (?P<level>[A-Za-z]+))?(?: \[(?P<service>[^\]]*)\])? ?(?P<message>.*)'
where = { level = ["error", "warn", "info", "debug"] }
time = { field = "time", format = "iso8601" }
status = { field = "level", map = { error = "critical", warn = "warning", info = "ok" } }
[rule.alert]
check = "{service}"
description = "{message}"
summary = "{level}: {service} {{{message}}}"
origin = "{hostname}/{filename}"

[[rule]]
name = "syslog"
pattern = '^(?P<time>\w{3} [ \d]\d \d\d:\d\d:\d\d) (?P<rest>.*)'
time = { field = "time", format = "%b %d %H:%M:%S" }
status = "warning"
[rule.alert]
description = "{line}"
""")

JSON = _compile("""
[[rule]]
name = "json"
format = "json"
where = { level = ["error", "true", "1"] }
time = { field = "ts", format = "epoch" }
status = { field = "level", map = { error = "critical" }, default = "warning" }
[rule.alert]
check = "{service}"
description = "{msg} ({a.b})"
code = "{code}"
tags = "{tags}"

[[rule]]
name = "json-any"
format = "json"
time = { field = "time", format = "iso8601" }
status = { field = "severity", map = { high = "critical" } }
""")

LOGFMT = _compile("""
[[rule]]
name = "logfmt"
format = "logfmt"
time = { field = "ts", format = "%Y-%m-%dT%H:%M:%S%z" }
status = { field = "level", map = { error = "critical", warn = "warning" } }
[rule.alert]
check = "{component}"
description = "{msg}"
""")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False,
                                                                           allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
json_records = st.dictionaries(
    st.sampled_from(["level", "ts", "time", "service", "msg", "a", "code", "tags", "severity",
                     "hostname", "x"]),
    json_values, max_size=8,
).map(lambda d: orjson.dumps(d).decode())


def _assert_valid(alert: dict[str, Any] | None) -> None:
    if alert is None:
        return
    assert alert["status"] in ("ok", "warning", "critical")
    assert isinstance(alert["timestamp"], int)
    for key, value in alert.items():
        assert value is not None and value != "" and value != []
        assert not isinstance(value, dict)
        if isinstance(value, str) and key != "description":
            assert len(value) <= 512


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_regex_rules_never_raise(text: str) -> None:
    """Any text through regex rules gives a valid alert or None, never an exception."""
    _assert_valid(REGEX.apply(text, PATH, READ_TIME))
    REGEX.explain(text, PATH, READ_TIME)


@settings(max_examples=300)
@given(st.text(max_size=300) | json_records)
def test_json_rules_never_raise(text: str) -> None:
    """Any text or JSON object through JSON rules gives a valid alert or None."""
    _assert_valid(JSON.apply(text, PATH, READ_TIME))
    JSON.explain(text, PATH, READ_TIME)


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_logfmt_rules_never_raise(text: str) -> None:
    """Any text through logfmt rules gives a valid alert or None."""
    _assert_valid(LOGFMT.apply(text, PATH, READ_TIME))
    LOGFMT.explain(text, PATH, READ_TIME)


@settings(max_examples=100)
@given(st.lists(st.text(max_size=80) | json_records, max_size=20))
def test_apply_block_never_raises_and_keeps_order(texts: list[str]) -> None:
    """apply_block over arbitrary records yields alerts in record order with valid offsets."""
    ends = list(range(1, len(texts) + 1))
    block = RecordBlock(source="s", file_id="f", path=PATH, offset=0, texts=texts, ends=ends,
                        checkpoint=len(texts))
    for rules in (REGEX, JSON, LOGFMT):
        out: list[tuple[int, int, dict[str, Any]]] = []
        rules.apply_block(block, READ_TIME, out)
        assert [end for _, end, _ in out] == sorted(end for _, end, _ in out)
        for ts, _, alert in out:
            assert ts == alert["timestamp"]
            _assert_valid(alert)


levels = st.sampled_from(["", " error", " ERROR", " warn", " info", " debug", " x"])
services = st.sampled_from(["", " []", " [payments]", " [a b]"])
times = st.sampled_from(["2026-11-28T10:15:02Z", "2026-11-28T10:15:02.5+01:00", "bad", "x"])


@settings(max_examples=300)
@given(times, levels, services, st.text(max_size=40))
def test_generated_regex_path_equals_generic_path(time: str, level: str, service: str,
                                                  message: str) -> None:
    """The generated per-record function gives exactly the alert the generic explain path does."""
    line = f"{time}{level}{service} {message}"
    assert REGEX.apply(line, PATH, READ_TIME) == REGEX.explain(line, PATH, READ_TIME).alert


@given(st.text(alphabet=st.characters(blacklist_characters='"'), max_size=120))
def test_logfmt_fast_path_equals_full_parser(text: str) -> None:
    """For records without quotes, the split-based logfmt path equals the full parser."""
    assert parse_logfmt(text) == _parse_quoted(text)
