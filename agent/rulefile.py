"""Rule files (``rules.d/*.toml``) → frozen dataclasses, with all their validation.

A rule file holds one ``[source]`` (which files) and ``[[rule]]`` entries
(which records become alerts, first match wins). See docs/configuration.md.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import ConfigError
from agent.settings import TableReader
from agent.tomlfile import TomlDocument, load_toml

STATUSES = ("ok", "warning", "critical", "unknown", "acknowledged")
"""BigPanda alert statuses (bigpanda-alerts-api.md section 1, ``status``)."""

MULTILINE_PRESETS: dict[str, dict[str, str]] = {
    # A Java record starts with a timestamp; "\tat …", "Caused by:", "... 12 more" continue it.
    "java": {"continue": r"^(\s+at\s|\s+\.\.\.\s\d+\smore|Caused by:"
                         r"|\s*[\w.$]+(Exception|Error)\b|\t)"},
    # Python tracebacks: indented frames, the "Traceback" header and the final exception line.
    "python": {"continue": r"^(\s|Traceback \(most recent call last\):"
                           r"|[\w.]+(Error|Exception|Exit|Interrupt)(:|$)"
                           r"|During handling|The above exception)"},
    # Go panics: "goroutine N [...]:" blocks, indented frames and blank-free continuation lines.
    "go": {"continue": r"^(\s|goroutine \d+ \[|panic:|\[signal |created by |main\.|runtime\."
                       r"|[\w./-]+\.go:\d+)"},
}


@dataclass(frozen=True, slots=True, kw_only=True)
class MultilineConfig:
    """How lines join into one record: a ``start`` or a ``continue`` pattern.

    Attributes:
        start: a line matching this begins a new record; others append to the current one.
        continue_: a line matching this appends to the current record; others begin one.
        max_lines: a record is cut after this many lines.
        max_bytes: a record is cut after this many bytes (UTF-8).
        timeout_s: a pending record is emitted when no line follows for this long.
    """

    start: str | None = None
    continue_: str | None = None
    max_lines: int = 500
    max_bytes: int = 65_536
    timeout_s: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceConfig:
    """A rule file's ``[source]`` table.

    Attributes:
        name: the rule file's stem (``20-nginx``), used in logs and checkpoints.
        paths: absolute glob patterns (``**`` allowed).
        exclude: glob patterns matched against the full path and the file name.
        read_from: ``"end"`` or ``"beginning"`` for files seen the first time.
        multiline: how lines join into records, or ``None`` (one line, one record).
        timezone: IANA zone for times without one; ``None`` = host local time.
        encoding: the files' text encoding.
    """

    name: str
    paths: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    read_from: str = "end"
    multiline: MultilineConfig | None = None
    timezone: str | None = None
    encoding: str = "utf-8"


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeSpec:
    """``time = { field = …, format = … }``: ``iso8601``, ``epoch`` or a strptime format."""

    field: str
    format: str = "iso8601"


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusSpec:
    """``status``: a constant, or a field mapped through ``map`` (keys case-insensitive).

    Attributes:
        constant: the fixed status, or ``None``.
        field: the field whose value is mapped.
        mapping: ``(lowercased value, status)`` pairs.
        default: status for values not in ``mapping``; ``None`` drops the record.
    """

    constant: str | None = None
    field: str | None = None
    mapping: tuple[tuple[str, str], ...] = ()
    default: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleTest:
    """A ``[[rule.test]]`` example: a record and the alert fields it must produce.

    Attributes:
        line: the record text (may contain newlines for multiline records).
        expect: ``(attribute, value)`` pairs the alert must contain.
        match: ``False`` asserts the rule does not turn ``line`` into an alert.
    """

    line: str
    expect: tuple[tuple[str, Any], ...] = ()
    match: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleConfig:
    """One ``[[rule]]``.

    Attributes:
        name: unique within its file; the default ``check``.
        index: 1-based position in the file.
        format: ``"regex"``, ``"json"`` or ``"logfmt"``.
        pattern: the regex (searched anywhere in the record), for ``format = "regex"``.
        where: ``(field, allowed values)`` conditions, all of which must hold.
        time: how to parse the record's time, or ``None`` (read time).
        status: how to derive the BigPanda status.
        alert: ``(attribute, template)`` pairs; ``{field}`` fills from the record.
        tests: the rule's examples.
    """

    name: str
    index: int
    format: str = "regex"
    pattern: str | None = None
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()
    time: TimeSpec | None = None
    status: StatusSpec
    alert: tuple[tuple[str, str | int], ...] = ()
    tests: tuple[RuleTest, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleFile:
    """A loaded rule file: its source and its rules, in file order."""

    path: Path
    source: SourceConfig
    rules: tuple[RuleConfig, ...]


def load_rule_dir(directory: Path) -> tuple[RuleFile, ...]:
    """Load every ``*.toml`` in ``directory`` in name order.

    Raises:
        ConfigError: the directory is missing or holds no rule file, or any file is
            invalid (the first error, naming file, key, line and reason).
    """
    if not directory.is_dir():
        raise ConfigError("rules directory does not exist", file=str(directory), key="rules.dir")
    files = sorted(p for p in directory.glob("*.toml") if p.is_file())
    if not files:
        raise ConfigError("rules directory holds no *.toml rule file", file=str(directory),
                          key="rules.dir")
    return tuple(load_rule_file(p) for p in files)


def load_rule_file(path: Path) -> RuleFile:
    """Load and validate one rule file.

    Raises:
        ConfigError: naming the file, the key (``rule[2].pattern``), its line and why.
    """
    doc = load_toml(path)
    root = TableReader(doc, doc.data, "")
    root.only({"source", "rule"})
    if "source" not in doc.data:
        raise doc.error("source", "a [source] table is required")
    source = _source(root.sub("source"), path)
    raw_rules = doc.data.get("rule", [])
    if not isinstance(raw_rules, list) or not raw_rules:
        raise doc.error("rule", "at least one [[rule]] is required")
    rules = tuple(_rule(doc, raw, i) for i, raw in enumerate(raw_rules))
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.name in seen:
            raise doc.error(f"rule[{i}].name", f"duplicate rule name {rule.name!r}")
        seen.add(rule.name)
    return RuleFile(path=path, source=source, rules=rules)


def _source(t: TableReader, path: Path) -> SourceConfig:
    t.only({"paths", "exclude", "read_from", "multiline", "timezone", "encoding"})
    paths = t.str_list("paths")
    if not paths:
        raise t.fail("paths", "at least one path glob is required")
    base = path.parent
    resolved = tuple(os.path.normpath(p if Path(p).is_absolute() else str(base / p))
                     for p in paths)
    timezone = t.opt_str("timezone")
    if timezone is not None:
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise t.fail("timezone", f"unknown IANA time zone {timezone!r}") from exc
    encoding = t.choice("encoding", "utf-8", ("utf-8", "latin-1", "utf-16le", "utf-16be", "utf-16"))
    return SourceConfig(
        name=path.stem,
        paths=resolved,
        exclude=t.str_list("exclude"),
        read_from=t.choice("read_from", "end", ("end", "beginning")),
        multiline=_multiline(t),
        timezone=timezone,
        encoding=encoding,
    )


def _multiline(t: TableReader) -> MultilineConfig | None:
    value = t.table.get("multiline")
    if value is None:
        return None
    if isinstance(value, str):
        if value not in MULTILINE_PRESETS:
            raise t.fail("multiline", f"unknown preset {value!r} (known: java, python, go)")
        value = dict(MULTILINE_PRESETS[value])
    if not isinstance(value, dict):
        raise t.fail("multiline", "must be a preset name or a table with start or continue")
    m = TableReader(t.doc, value, t.key("multiline"))
    m.only({"start", "continue", "preset", "max_lines", "max_bytes", "timeout_s"})
    preset = m.opt_str("preset")
    base: dict[str, str] = {}
    if preset is not None:
        if preset not in MULTILINE_PRESETS:
            raise m.fail("preset", f"unknown preset {preset!r} (known: java, python, go)")
        base = MULTILINE_PRESETS[preset]
    start = m.opt_str("start") or base.get("start")
    cont = m.opt_str("continue") or base.get("continue")
    if (start is None) == (cont is None):
        raise t.fail("multiline", "set exactly one of start or continue (or a preset)")
    for key, pattern in (("start", start), ("continue", cont)):
        if pattern is not None:
            _compile(m, key, pattern)
    return MultilineConfig(
        start=start,
        continue_=cont,
        max_lines=m.integer("max_lines", 500, minimum=1),
        max_bytes=m.integer("max_bytes", 65_536, minimum=64),
        timeout_s=m.number("timeout_s", 1.0, minimum=0.0),
    )


def _compile(t: TableReader, key: str, pattern: str, *, rule: str = "") -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        prefix = f"rule {rule!r}: " if rule else ""
        raise t.fail(key, f"{prefix}invalid regular expression: {exc}") from exc


def _rule(doc: TomlDocument, raw: Any, i: int) -> RuleConfig:
    where_key = f"rule[{i}]"
    if not isinstance(raw, dict):
        raise doc.error(where_key, "must be a table")
    t = TableReader(doc, raw, where_key)
    t.only({"name", "pattern", "format", "where", "time", "status", "alert", "test"})
    name = t.text("name", required=True)
    if not name.strip():
        raise t.fail("name", "must not be empty")
    fmt = t.choice("format", "regex", ("regex", "json", "logfmt"))
    pattern = t.opt_str("pattern")
    if fmt == "regex":
        if pattern is None:
            raise t.fail("pattern", f"rule {name!r} needs a pattern (or format = json/logfmt)")
        compiled = _compile(t, "pattern", pattern, rule=name)
        fields = set(compiled.groupindex)
    else:
        if pattern is not None:
            _compile(t, "pattern", pattern, rule=name)
        fields = None
    rule = RuleConfig(
        name=name,
        index=i + 1,
        format=fmt,
        pattern=pattern,
        where=_where(t),
        time=_time(t),
        status=_status(t),
        alert=_alert(t),
        tests=_tests(t),
    )
    if fields is not None:
        _check_fields(t, rule, fields)
    return rule


_BUILTIN_FIELDS = {"hostname", "path", "filename", "line"}
_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")


def _check_fields(t: TableReader, rule: RuleConfig, fields: set[str]) -> None:
    """For regex rules the fields are known: reject references to unknown ones."""
    known = fields | _BUILTIN_FIELDS
    for key, template in rule.alert:
        if isinstance(template, str):
            for ref in _TEMPLATE_FIELD.findall(template.replace("{{", "").replace("}}", "")):
                if ref not in known:
                    raise t.fail(f"alert.{key}", f"template uses {{{ref}}} but the pattern has no "
                                 f"group named {ref!r}")
    if rule.time is not None and rule.time.field not in fields:
        raise t.fail("time", f"field {rule.time.field!r} is not a named group of the pattern")
    if rule.status.field is not None and rule.status.field not in known:
        raise t.fail("status", f"field {rule.status.field!r} is not a named group of the pattern")
    for name, _ in rule.where:
        if name not in known:
            raise t.fail("where", f"field {name!r} is not a named group of the pattern")


def _where(t: TableReader) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``where = { level = ["error", "fatal"], "http.status" = [500, 503] }``.

    Values may be strings or integers (compared as text), one or a list.
    """
    where = t.sub("where")
    out = []
    for name, raw in where.table.items():
        values = raw if isinstance(raw, list) else [raw]
        if not values or not all(isinstance(v, str | int) and not isinstance(v, bool)
                                 for v in values):
            raise where.fail(name, "must be a string or integer, or a list of them")
        out.append((name, tuple(str(v) for v in values)))
    return tuple(out)


def _time(t: TableReader) -> TimeSpec | None:
    raw = t.table.get("time")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise t.fail("time", "must be a table { field = …, format = … }")
    spec = t.sub("time")
    spec.only({"field", "format"})
    fmt = spec.text("format", "iso8601")
    if fmt not in ("iso8601", "epoch") and "%" not in fmt:
        raise spec.fail("format", "must be iso8601, epoch, or a strptime format with % directives")
    return TimeSpec(field=spec.text("field", required=True), format=fmt)


def _status(t: TableReader) -> StatusSpec:
    raw = t.table.get("status")
    if raw is None:
        raise t.fail("status", "is required: a constant or { field = …, map = { … } }")
    if isinstance(raw, str):
        if raw not in STATUSES:
            raise t.fail("status", f"must be one of {', '.join(STATUSES)}; got {raw!r}")
        return StatusSpec(constant=raw)
    if not isinstance(raw, dict):
        raise t.fail("status", "must be a status name (\"critical\") or a table "
                     "{ field = …, map = { … } }")
    spec = t.sub("status")
    spec.only({"field", "map", "default"})
    mapping = spec.sub("map")
    pairs = []
    seen: dict[str, str] = {}
    for value, status in mapping.table.items():
        if status not in STATUSES:
            raise mapping.fail(value, f"maps to {status!r}, not one of {', '.join(STATUSES)}")
        if value.lower() in seen and seen[value.lower()] != status:
            raise mapping.fail(value, "map keys are compared case-insensitively; this key "
                               f"clashes with {value.lower()!r} mapped to {seen[value.lower()]!r}")
        seen[value.lower()] = status
        pairs.append((value.lower(), status))
    default = spec.opt_str("default")
    if default is not None and default not in STATUSES:
        raise spec.fail("default", f"must be one of {', '.join(STATUSES)}")
    if not pairs and default is None:
        raise spec.fail("map", "is required (or a default)")
    return StatusSpec(field=spec.text("field", required=True), mapping=tuple(pairs),
                      default=default)


_ATTR_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def _alert(t: TableReader) -> tuple[tuple[str, str | int], ...]:
    alert = t.sub("alert")
    out: list[tuple[str, str | int]] = []
    for key, value in alert.table.items():
        if not _ATTR_KEY.match(key):
            raise alert.fail(key, "attribute names must be lowercase, start with a letter, and "
                             "use only a-z 0-9 _ - (at most 64 characters)")
        if key in ("status", "timestamp", "app_key"):
            raise alert.fail(key, "is set by the agent, not by alert templates")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise alert.fail(key, "must be a string template or an integer")
        out.append((key, value))
    return tuple(out)


def _tests(t: TableReader) -> tuple[RuleTest, ...]:
    raw = t.table.get("test", [])
    if not isinstance(raw, list):
        raise t.fail("test", "must be an array of tables [[rule.test]]")
    tests = []
    for j, item in enumerate(raw):
        if not isinstance(item, dict):
            raise t.fail(f"test[{j}]", "must be a table")
        tt = TableReader(t.doc, item, t.key(f"test[{j}]"))
        tt.only({"line", "expect", "match"})
        expect = tt.sub("expect")
        tests.append(RuleTest(
            line=tt.text("line", required=True),
            expect=tuple(expect.table.items()),
            match=tt.boolean("match", True),
        ))
    return tuple(tests)
