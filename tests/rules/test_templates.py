"""Attribute templates: plain ``{name}`` substitution, types, caps, defaults precedence."""

from __future__ import annotations

import pytest

from agent.errors import ConfigError
from agent.rules.template import Constant, Field, Parts, TemplateError, compile_template
from agent.rules.values import LIST_CAP, STRING_CAP, to_attribute
from tests.rules.conftest import PATH, READ_TIME, CompileRules


def test_template_shapes() -> None:
    """Templates compile to a constant, a single field, or literal/field parts."""
    assert compile_template("payments", {}) == Constant("payments")
    assert compile_template(42, {}) == Constant(42)
    assert compile_template("{service}", {}) == Field("service")
    assert compile_template("{a}-{b}!", {}) == Parts(("", "-", "!"), ("a", "b"))


def test_double_braces_are_literal() -> None:
    """``{{`` and ``}}`` render single literal braces and are not fields."""
    assert compile_template("{{x}}", {}) == Constant("{x}")
    parts = compile_template("{{{a}}}", {})
    assert isinstance(parts, Parts)
    assert parts.render({"a": "v"}) == "{v}"


@pytest.mark.parametrize("bad", ["{", "}", "a{b", "a}b", "{}", "{a}}"])
def test_unpaired_or_empty_braces_are_errors(bad: str) -> None:
    """A single brace or an empty ``{}`` is a template error, not silently literal."""
    with pytest.raises(TemplateError):
        compile_template(bad, {})


def test_no_format_attribute_access() -> None:
    """``{x.__class__}`` is the field literally named ``x.__class__``, never attribute access."""
    template = compile_template("v={x.__class__}{y[0]}", {})
    assert isinstance(template, Parts)
    assert template.render({"x": "s", "y": "abc"}) == "v="
    assert template.render({"x.__class__": "dotted", "y[0]": "!"}) == "v=dotted!"


def test_folded_fields_become_constants() -> None:
    """Fields known at compile time (the regex rule's hostname) are substituted once."""
    assert compile_template("{hostname}", {"hostname": "web-03"}) == Constant("web-03")
    assert compile_template("{hostname}/{x}", {"hostname": "h"}) == Parts(("h/", ""), ("x",))


def test_attribute_value_types() -> None:
    """ints stay ints; floats and bools become text; scalar lists stay lists; objects → JSON."""
    assert to_attribute(502, STRING_CAP) == 502
    assert to_attribute(1.5, STRING_CAP) == "1.5"
    assert to_attribute(True, STRING_CAP) == "true"
    assert to_attribute(["a", 1, None, 2.5], STRING_CAP) == ["a", 1, "2.5"]
    assert to_attribute(list(range(40)), STRING_CAP) == list(range(LIST_CAP))
    assert to_attribute([{"a": 1}], STRING_CAP) == '[{"a":1}]'
    assert to_attribute({"a": [1]}, STRING_CAP) == '{"a":[1]}'
    assert to_attribute("", STRING_CAP) is None
    assert to_attribute([], STRING_CAP) is None


JSON_RULE = """
[[rule]]
name = "j"
format = "json"
status = "warning"
[rule.alert]
code = "{code}"
text_code = "code {code}"
ratio = "{ratio}"
tags = "{tags}"
description = "{msg}"
summary = "{msg}"
retries = 3
"""


def test_json_templates_keep_ints_and_cap_strings(make_rules: CompileRules) -> None:
    """An exact ``{name}`` keeps ints, text around it makes a string; caps apply per key."""
    rules = make_rules(JSON_RULE)
    alert = rules.apply('{"code": 502, "ratio": 0.25, "tags": ["a", "b"], "msg": "%s"}'
                        % ("x" * 5000), PATH, READ_TIME)
    assert alert is not None
    assert alert["code"] == 502
    assert alert["text_code"] == "code 502"
    assert alert["ratio"] == "0.25"
    assert alert["tags"] == ["a", "b"]
    assert alert["retries"] == 3
    assert len(alert["summary"]) == 512
    assert len(alert["description"]) == 2049


def test_missing_field_omits_the_attribute(make_rules: CompileRules) -> None:
    """A template whose field is missing renders "" and the attribute is left out."""
    alert = make_rules(JSON_RULE).apply("{}", PATH, READ_TIME)
    assert alert is not None
    assert "code" not in alert and "tags" not in alert and "description" not in alert
    assert alert["text_code"] == "code "


def test_defaults_apply_and_rule_overrides(make_rules: CompileRules) -> None:
    """Defaults fill every alert; a rule's constant replaces a default; "" removes it."""
    rules = make_rules("""
[[rule]]
name = "r"
pattern = 'x'
status = "ok"
[rule.alert]
environment = "staging"
team = ""
""", defaults=(("host", "{hostname}"), ("environment", "production"), ("team", "core")))
    alert = rules.apply("x", PATH, READ_TIME)
    assert alert is not None
    assert alert["host"] == "web-03"
    assert alert["environment"] == "staging"
    assert "team" not in alert


def test_rule_template_that_renders_empty_keeps_the_default(make_rules: CompileRules) -> None:
    """A rule's ``host = "{src}"`` overrides the default host, which stays when src is absent."""
    rules = make_rules(r"""
[[rule]]
name = "r"
pattern = 'x(?: from (?P<src>\S+))?'
status = "ok"
[rule.alert]
host = "{src}"
""")
    assert rules.apply("x from db-7", PATH, READ_TIME)["host"] == "db-7"  # type: ignore[index]
    assert rules.apply("x", PATH, READ_TIME)["host"] == "web-03"  # type: ignore[index]


def test_check_defaults_to_rule_name(make_rules: CompileRules) -> None:
    """Without ``check`` in the rule or the defaults, check is the rule's name."""
    rules = make_rules("""
[[rule]]
name = "disk-full"
pattern = 'ENOSPC'
status = "critical"
""")
    assert rules.apply("write: ENOSPC", PATH, READ_TIME)["check"] == "disk-full"  # type: ignore[index]


def test_check_from_defaults_wins_over_rule_name(make_rules: CompileRules) -> None:
    """A default ``check`` is used instead of the rule's name."""
    rules = make_rules("""
[[rule]]
name = "disk-full"
pattern = 'ENOSPC'
status = "critical"
""", defaults=(("host", "{hostname}"), ("check", "logs")))
    assert rules.apply("ENOSPC", PATH, READ_TIME)["check"] == "logs"  # type: ignore[index]


def test_bad_template_is_a_config_error_naming_the_key(make_rules: CompileRules) -> None:
    """An unpaired brace in a rule template fails compile_rules with file and key."""
    with pytest.raises(ConfigError) as caught:
        make_rules("""
[[rule]]
name = "r"
format = "json"
status = "ok"
[rule.alert]
check = "{svc"
""")
    assert caught.value.key == "rule[0].alert.check"
    assert caught.value.file is not None and caught.value.file.endswith("app.toml")


@pytest.mark.parametrize("key", ["status", "timestamp", "app_key", "Bad Key"])
def test_reserved_or_invalid_default_keys_are_config_errors(
        make_rules: CompileRules, key: str) -> None:
    """Defaults may not set agent-owned keys or invalid attribute names."""
    with pytest.raises(ConfigError) as caught:
        make_rules('[[rule]]\nname = "r"\npattern = "x"\nstatus = "ok"\n',
                   defaults=((key, "v"),))
    assert caught.value.key == f"defaults.{key}"


def test_status_and_timestamp_come_only_from_the_agent(make_rules: CompileRules) -> None:
    """Record fields named status/timestamp never reach the alert's reserved keys."""
    rules = make_rules("""
[[rule]]
name = "j"
format = "json"
status = "warning"
""")
    alert = rules.apply('{"status": "ok", "timestamp": 5, "app_key": "x"}', PATH, READ_TIME)
    assert alert is not None
    assert alert["status"] == "warning"
    assert alert["timestamp"] == 1_800_000_000
    assert "app_key" not in alert
