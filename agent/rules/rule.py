"""A compiled rule: everything parsed once, a short per-record method.

Per record, a rule: extracts fields (regex named groups searched anywhere in the
record, or the source's shared JSON/logfmt parse behind an optional ``pattern``
filter), adds the built-ins it uses, checks ``where``, derives the status (drops the
record when it maps to none), parses the time (read time on failure), renders the
attributes and adds ``status`` and ``timestamp``.

Built-in fields: ``hostname``, ``path``, ``filename`` (basename of ``path``) and
``line`` (the whole record). A rule's own field of the same name hides the built-in
(a JSON record's ``hostname``, a group named ``line``); for a regex rule without a
``hostname`` group, ``{hostname}`` is substituted once at compile time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import tzinfo
from typing import Any

from agent.errors import ConfigError
from agent.rulefile import RuleConfig
from agent.rules.attributes import AlertTemplate
from agent.rules.codegen import ProcessFn, RegexPlan, regex_process
from agent.rules.counters import Counters
from agent.rules.explanation import Explanation
from agent.rules.parsers import Fields, SharedParse
from agent.rules.status import Conditions, StatusMapper
from agent.rules.template import Constant, Template, TemplateError, compile_template
from agent.rules.timeparse import make_time_parser

BUILTIN_FIELDS = frozenset({"hostname", "path", "filename", "line"})

TimeParseFn = Callable[[Any], "int | None"]

DROPPED: dict[str, Any] = {}
"""Returned by :meth:`Rule.process` when the rule matched but the record is dropped."""


class Rule:
    """One ``[[rule]]``, compiled.

    Args:
        config: the validated rule.
        defaults: agent.toml ``[defaults]`` ``(key, template)`` pairs.
        hostname: the ``hostname`` built-in.
        zone: zone for times without one; ``None`` = host local time.
        shared: the source's shared parse for this rule's format (JSON/logfmt only).
        counters: the source's counters (``unmapped_status``, ``time_errors``).
        file: the rule file, for errors.

    Attributes:
        name: the rule's name.
        hits: alerts produced so far.
        process: ``process(text, path, filename, read_ts)``, the hot path: the alert for
            one record; ``None`` = no match (try the next rule); :data:`DROPPED` = matched
            but dropped. Counts ``unmapped_status`` and ``time_errors``. For regex rules a
            generated function (:mod:`agent.rules.codegen`), else :meth:`_process`.

    Raises:
        ConfigError: a malformed template, regex or strptime format.
    """

    __slots__ = ("_attributes", "_counters", "_filter", "_hostname", "_needs", "_render",
                 "_search", "_shared", "_status", "_time_field", "_time_format", "_time_parse",
                 "_where", "hits", "name", "process")

    def __init__(self, config: RuleConfig, defaults: tuple[tuple[str, str], ...], *,
                 hostname: str, zone: tzinfo | None, shared: SharedParse | None,
                 counters: Counters, file: str) -> None:
        key = f"rule[{config.index - 1}]"
        self.name = config.name
        self.hits = 0
        self._counters = counters
        self._hostname = hostname
        self._shared = shared
        self._search, self._filter, groups = _patterns(config, file, key)
        folded = {} if groups is None or "hostname" in groups else {"hostname": hostname}
        self._attributes = _attributes(config, defaults, folded, file, key)
        self._render = self._attributes.render
        self._where = Conditions(config.where) or None
        self._status = StatusMapper(config.status)
        self._time_field, self._time_format, self._time_parse = _time(config, zone, file, key)
        self._needs = tuple(sorted(self._field_names(config) & BUILTIN_FIELDS - set(groups or ())))
        self.process: ProcessFn = self._process
        if groups is not None:
            self.process = regex_process(self._plan(groups), self.name)

    def _field_names(self, config: RuleConfig) -> set[str]:
        names = set(self._attributes.field_names)
        names.update(name for name, _ in config.where)
        names.update(n for n in (self._status.field, self._time_field) if n is not None)
        return names

    def _plan(self, groups: dict[str, int]) -> RegexPlan:
        return RegexPlan(search=self._search, groups=groups, hostname=self._hostname,
                         where=self._where, status=self._status, time_field=self._time_field,
                         time_parse=self._time_parse, attributes=self._attributes,
                         counters=self._counters, owner=self, dropped=DROPPED)

    def _process(self, text: str, path: str, filename: str, read_ts: int) -> dict[str, Any] | None:
        """:attr:`process` for JSON and logfmt rules."""
        if self._filter is not None and self._filter(text) is None:
            return None
        fields = self._shared.fields_of(text)  # type: ignore[union-attr]
        if fields is None:
            return None
        if self._needs:
            self._add_builtins(fields, text, path, filename)
        if self._where is not None and not self._where.accepts(fields):
            return None
        status = self._status.of(fields)
        if status is None:
            self._counters.unmapped_status += 1
            return DROPPED
        ts = read_ts
        if self._time_parse is not None:
            raw = fields.get(self._time_field)  # type: ignore[arg-type]
            parsed = None if raw is None else self._time_parse(raw)
            if parsed is None:
                self._counters.time_errors += 1
            else:
                ts = parsed
        alert = self._render(fields)
        alert["status"] = status
        alert["timestamp"] = ts
        self.hits += 1
        return alert

    def explain(self, text: str, path: str, filename: str, read_ts: int) -> Explanation | None:
        """Like :meth:`process` but counting nothing and saying why; ``None`` = no match."""
        if self._search is not None:
            match = self._search(text)
            fields = None if match is None else match.groupdict()
        elif self._filter is None or self._filter(text) is not None:
            fields = self._shared.parse(text)  # type: ignore[union-attr]
        else:
            fields = None
        if fields is None:
            return None
        shown = {k: v for k, v in fields.items() if v is not None}
        self._add_builtins(fields, text, path, filename)
        if self._where is not None and not self._where.accepts(fields):
            return None
        status = self._status.of(fields)
        if status is None:
            return Explanation(rule=self.name, fields=shown, alert=None,
                               reason=self._status.why_not(fields))
        ts, reason = read_ts, "matched"
        if self._time_parse is not None:
            raw = fields.get(self._time_field)
            parsed = None if raw is None else self._time_parse(raw)
            if parsed is None:
                what = f"{raw!r} not parsed as {self._time_format}"
                if raw is None:
                    what = f"field {self._time_field!r} missing"
                reason = f"matched; time {what}, used read time"
            else:
                ts = parsed
        alert = self._render(fields)
        alert["status"] = status
        alert["timestamp"] = ts
        return Explanation(rule=self.name, fields=shown, alert=alert, reason=reason)

    def _add_builtins(self, fields: Fields, text: str, path: str, filename: str) -> None:
        for name in self._needs:
            if fields.get(name) is None:
                if name == "line":
                    fields[name] = text
                elif name == "path":
                    fields[name] = path
                elif name == "filename":
                    fields[name] = filename
                else:
                    fields[name] = self._hostname


def _patterns(config: RuleConfig, file: str,
              key: str) -> tuple[Any, Any, dict[str, int] | None]:
    """``(search, filter, groupindex)``: the regex for regex rules, else the optional filter."""
    if config.pattern is None:
        return None, None, None
    try:
        compiled = re.compile(config.pattern)
    except re.error as exc:
        raise ConfigError(f"invalid regular expression: {exc}", file=file,
                          key=f"{key}.pattern") from exc
    if config.format == "regex":
        return compiled.search, None, dict(compiled.groupindex)
    return None, compiled.search, None


def _time(config: RuleConfig, zone: tzinfo | None, file: str,
          key: str) -> tuple[str | None, str, TimeParseFn | None]:
    """``(field, format, parse)`` of the rule's time, or ``(None, "", None)``."""
    if config.time is None:
        return None, "", None
    try:
        parser = make_time_parser(config.time.format, zone)
    except ValueError as exc:
        raise ConfigError(str(exc), file=file, key=f"{key}.time.format") from exc
    return config.time.field, config.time.format, parser.parse


def _attributes(config: RuleConfig, defaults: tuple[tuple[str, str], ...],
                folded: dict[str, str], file: str, key: str) -> AlertTemplate:
    own = _compile_all(config.alert, folded, file, f"{key}.alert")
    base = _compile_all(defaults, folded, None, "defaults")
    if not any(name == "check" for name, _ in defaults):
        # The rule's name is the default check: a rule's own check template that
        # renders nothing (missing field) falls back to it, keeping a stable identity.
        base.append(("check", Constant(config.name)))
    return AlertTemplate(base, own, reserve=("status", "timestamp"))


def _compile_all(items: tuple[tuple[str, str | int], ...] | tuple[tuple[str, str], ...],
                 folded: dict[str, str], file: str | None,
                 where: str) -> list[tuple[str, Template]]:
    out: list[tuple[str, Template]] = []
    for name, template in items:
        try:
            out.append((name, compile_template(template, folded)))
        except TemplateError as exc:
            raise ConfigError(str(exc), file=file, key=f"{where}.{name}") from exc
    return out
