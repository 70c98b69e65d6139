"""Field extraction: regex groups, JSON (flattened), logfmt, built-ins, ``where``."""

from __future__ import annotations

from agent.rules.parsers import MAX_FLATTEN_DEPTH, parse_json, parse_logfmt
from tests.rules.conftest import PATH, READ_TIME, CompileRules

REGEX = r"""
[[rule]]
name = "errors"
pattern = '(?P<level>ERROR|WARN) (?P<service>\w+)(?: code=(?P<code>\d+))?: (?P<message>.*)'
status = "critical"
[rule.alert]
check = "{service}"
description = "{message}"
code = "{code}"
"""


def test_regex_pattern_is_searched_anywhere(make_rules: CompileRules) -> None:
    """An unanchored pattern matches in the middle of the record, as grep does."""
    alert = make_rules(REGEX).apply("prefix junk ERROR payments: card declined", PATH, READ_TIME)
    assert alert is not None
    assert alert["check"] == "payments"
    assert alert["description"] == "card declined"


def test_regex_group_that_did_not_participate_is_absent(make_rules: CompileRules) -> None:
    """An optional group that did not match yields no attribute (not an empty tag)."""
    rules = make_rules(REGEX)
    assert "code" not in rules.apply("ERROR payments: declined", PATH, READ_TIME)  # type: ignore[operator]
    with_code = rules.apply("ERROR payments code=51: declined", PATH, READ_TIME)
    assert with_code is not None and with_code["code"] == "51"
    explained = rules.explain("ERROR payments: declined", PATH, READ_TIME)
    assert explained.fields == {"level": "ERROR", "service": "payments", "message": "declined"}


def test_regex_without_match_is_no_match(make_rules: CompileRules) -> None:
    """A record the pattern does not find produces no alert and counts as no_match."""
    rules = make_rules(REGEX)
    assert rules.apply("INFO all good", PATH, READ_TIME) is None
    assert rules.counters.no_match == 1
    assert rules.counters.records == 1


def test_json_nested_objects_are_flattened_with_dots() -> None:
    """Nested JSON objects become dotted keys; lists stay lists."""
    fields = parse_json('{"http": {"status": 502, "req": {"id": "a1"}}, '
                        '"tags": ["x", 1], "n": null}')
    assert fields == {"http.status": 502, "http.req.id": "a1", "tags": ["x", 1], "n": None}


def test_json_flattening_collisions_and_depth() -> None:
    """A flattened key beats a literal dotted key; very deep nesting is kept whole, no crash."""
    assert parse_json('{"a.b": 1, "a": {"b": 2}, "e": {}}') == {"a.b": 2}
    deep = parse_json('{"x": ' * 1000 + "1" + "}" * 1000)
    assert deep is not None and len(deep) == 1
    (key, value), = deep.items()
    assert key == ".".join(["x"] * (MAX_FLATTEN_DEPTH + 1)) and isinstance(value, dict)


def test_json_that_is_not_an_object_gives_no_fields() -> None:
    """Invalid JSON and non-object JSON documents give no fields."""
    for text in ("not json", "[1, 2]", '"text"', "42", '{"a": 1', ""):
        assert parse_json(text) is None


def test_json_rule_uses_flattened_fields(make_rules: CompileRules) -> None:
    """A JSON rule reads dotted keys in templates, keeps ints and counts non-JSON records."""
    rules = make_rules("""
[[rule]]
name = "api"
format = "json"
status = { field = "level", map = { error = "critical" } }
[rule.alert]
check = "{service}"
http_status = "{http.status}"
""")
    alert = rules.apply('{"level": "ERROR", "service": "api", "http": {"status": 502}}',
                        PATH, READ_TIME)
    assert alert is not None
    assert alert["http_status"] == 502
    assert alert["check"] == "api"
    assert rules.apply("plain text", PATH, READ_TIME) is None
    assert rules.counters.field_errors == 1


def test_json_pattern_is_an_extra_filter_on_the_raw_text(make_rules: CompileRules) -> None:
    """For JSON rules ``pattern`` must be found in the raw record before it is parsed."""
    rules = make_rules("""
[[rule]]
name = "api"
format = "json"
pattern = '"service":\\s*"api"'
status = "warning"
""")
    assert rules.apply('{"service": "api"}', PATH, READ_TIME) is not None
    assert rules.apply('{"service": "web"}', PATH, READ_TIME) is None
    assert rules.counters.field_errors == 0


def test_logfmt_pairs_quotes_escapes_and_bare_keys() -> None:
    """logfmt: plain and quoted values, escaped quotes, bare keys as "true", empty values."""
    fields = parse_logfmt(r'level=error msg="card \"declined\" twice" retry empty= a=b=c')
    assert fields == {"level": "error", "msg": 'card "declined" twice', "retry": "true",
                      "empty": "", "a": "b=c"}


def test_logfmt_unterminated_quote_runs_to_the_end() -> None:
    """An unterminated quoted value takes the rest of the record."""
    assert parse_logfmt('a=1 msg="no end here') == {"a": "1", "msg": "no end here"}


def test_logfmt_escape_sequences() -> None:
    """Inside quotes \\n and \\t are unescaped, \\\\ is a backslash."""
    assert parse_logfmt(r'm="a\nb\tc\\d"') == {"m": "a\nb\tc\\d"}


def test_logfmt_rule_end_to_end(make_rules: CompileRules) -> None:
    """A logfmt rule maps and renders fields from the record."""
    rules = make_rules("""
[[rule]]
name = "svc"
format = "logfmt"
status = { field = "level", map = { error = "critical", warn = "warning" } }
[rule.alert]
check = "{component}"
description = "{msg}"
""")
    alert = rules.apply('level=warn component=db msg="slow query"', PATH, READ_TIME)
    assert alert is not None
    assert (alert["status"], alert["check"], alert["description"]) == ("warning", "db",
                                                                        "slow query")


def test_builtin_fields_are_available(make_rules: CompileRules) -> None:
    """hostname, path, filename and line fill templates when the rule has no such field."""
    rules = make_rules(r"""
[[rule]]
name = "any"
pattern = 'boom'
status = "critical"
[rule.alert]
description = "{line}"
file = "{filename}"
source_path = "{path}"
where_from = "{hostname}:{filename}"
""")
    alert = rules.apply("it went boom", PATH, READ_TIME)
    assert alert is not None
    assert alert["description"] == "it went boom"
    assert alert["file"] == "payments.log"
    assert alert["source_path"] == PATH
    assert alert["where_from"] == "web-03:payments.log"
    assert alert["host"] == "web-03"


def test_json_field_hides_builtin(make_rules: CompileRules) -> None:
    """A record's own ``hostname`` field wins over the built-in; absent, the built-in fills."""
    rules = make_rules("""
[[rule]]
name = "j"
format = "json"
status = "ok"
""")
    assert rules.apply('{"hostname": "db-1"}', PATH, READ_TIME)["host"] == "db-1"  # type: ignore[index]
    assert rules.apply('{"x": 1}', PATH, READ_TIME)["host"] == "web-03"  # type: ignore[index]


def test_where_is_case_insensitive_and_missing_field_fails(make_rules: CompileRules) -> None:
    """``where`` compares text case-insensitively; a missing field fails the condition."""
    rules = make_rules("""
[[rule]]
name = "j"
format = "json"
where = { level = ["Error", "fatal"], kind = ["db"] }
status = "critical"
""")
    assert rules.apply('{"level": "ERROR", "kind": "DB"}', PATH, READ_TIME) is not None
    assert rules.apply('{"level": "FATAL", "kind": "db"}', PATH, READ_TIME) is not None
    assert rules.apply('{"level": "warn", "kind": "db"}', PATH, READ_TIME) is None
    assert rules.apply('{"level": "error"}', PATH, READ_TIME) is None
    assert rules.apply('{"level": "error", "kind": null}', PATH, READ_TIME) is None


def test_where_on_regex_group(make_rules: CompileRules) -> None:
    """``where`` on a regex rule filters by a group's value; a skipped group fails."""
    rules = make_rules(r"""
[[rule]]
name = "r"
pattern = '^(?P<level>\w+)(?: (?P<kind>\w+))?'
where = { level = ["error"], kind = ["db"] }
status = "critical"
""")
    assert rules.apply("ERROR db", PATH, READ_TIME) is not None
    assert rules.apply("ERROR web", PATH, READ_TIME) is None
    assert rules.apply("ERROR", PATH, READ_TIME) is None
