"""The per-record function of a regex rule, generated once per rule with every step unrolled.

Regex rules are the hot path (``bench/rules_speed.py``). A generic method pays per
record for loops over templates, attribute look-ups and ``groupdict()``; the generated
function reads groups by index from ``match.groups()`` and writes each attribute with
straight-line code, about 30% less time per record. This is the technique of
``dataclasses`` and ``attrs``, with one safety rule: no configuration text ever
enters the generated source. Every key, field value, pattern and constant is bound
to a generated name (``_c0``, ``_c1``…) in the function's globals; the source holds
only those names, group indices and fixed code.

The semantics are those of the generic path (:meth:`agent.rules.rule.Rule.explain`,
:class:`agent.rules.attributes.AlertTemplate`), which tests hold it equal to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agent.rules.attributes import AlertTemplate, drop_unset
from agent.rules.counters import Counters
from agent.rules.status import Conditions, StatusMapper
from agent.rules.template import Parts

ProcessFn = Callable[[str, str, str, int], "dict[str, Any] | None"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RegexPlan:
    """Everything a regex rule does per record, compiled.

    Attributes:
        search: the pattern's ``search``.
        groups: group name → group number (``re.Pattern.groupindex``).
        hostname: the ``hostname`` built-in (used when no group has that name).
        where: the rule's conditions, or ``None``.
        status: the rule's status mapping.
        time_field: the field holding the time, or ``None`` (read time).
        time_parse: the time parser's ``parse``, or ``None``.
        attributes: the alert's attribute templates.
        counters: the source's counters.
        owner: the object whose ``hits`` counts alerts (the rule).
        dropped: the sentinel returned for a dropped record.
    """

    search: Callable[[str], Any]
    groups: Mapping[str, int]
    hostname: str
    where: Conditions | None
    status: StatusMapper
    time_field: str | None
    time_parse: Callable[[Any], int | None] | None
    attributes: AlertTemplate
    counters: Counters
    owner: Any
    dropped: dict[str, Any]


def regex_process(plan: RegexPlan, name: str) -> ProcessFn:
    """Generate ``process(text, path, filename, read_ts) -> alert | None | dropped``.

    Args:
        plan: the compiled rule.
        name: the rule's name (only for tracebacks: the code's file name).
    """
    gen = _Generator(plan)
    source = "\n".join(gen.function())
    namespace = dict(gen.constants)
    exec(compile(source, f"<rule {name!r}>", "exec"), namespace)  # safe: see the module doc
    process: ProcessFn = namespace["process"]
    return process


class _Generator:
    """Writes the function's lines; :meth:`const` binds a value to a generated name."""

    def __init__(self, plan: RegexPlan) -> None:
        self.plan = plan
        self.constants: dict[str, Any] = {}
        self._names: dict[int, str] = {}

    def const(self, value: Any) -> str:
        name = self._names.get(id(value))
        if name is None:
            name = self._names[id(value)] = f"_c{len(self.constants)}"
            self.constants[name] = value
        return name

    def value(self, field: str) -> str:
        """Expression for ``field``'s value: a group, a built-in, or ``None``."""
        if field in self.plan.groups:
            return f"g[{self.plan.groups[field] - 1}]"
        if field in ("line", "path", "filename"):
            return "text" if field == "line" else field
        if field == "hostname":
            return self.const(self.plan.hostname)
        return "None"

    def function(self) -> list[str]:
        plan = self.plan
        lines = ["def process(text, path, filename, read_ts):",
                 f"    match = {self.const(plan.search)}(text)",
                 "    if match is None:", "        return None",
                 "    g = match.groups()"]
        lines += self.where() + self.status() + self.time() + self.render()
        lines += [f"    alert[{self.const('status')}] = status",
                  f"    alert[{self.const('timestamp')}] = ts",
                  f"    {self.const(plan.owner)}.hits += 1",
                  "    return alert"]
        return lines

    def where(self) -> list[str]:
        lines: list[str] = []
        for field, allowed in self.plan.where.checks if self.plan.where else ():
            lines += [f"    v = {self.value(field)}",
                      f"    if v is None or v.lower() not in {self.const(allowed)}:",
                      "        return None"]
        return lines

    def status(self) -> list[str]:
        status = self.plan.status
        if status.constant is not None:
            return [f"    status = {self.const(status.constant)}"]
        default = self.const(status.default)
        return [f"    v = {self.value(status.field or '')}",
                f"    status = {default} if v is None else "
                f"{self.const(status.lookup)}(v.lower(), {default})",
                "    if status is None:",
                f"        {self.const(self.plan.counters)}.unmapped_status += 1",
                f"        return {self.const(self.plan.dropped)}"]

    def time(self) -> list[str]:
        plan = self.plan
        if plan.time_parse is None or plan.time_field is None:
            return ["    ts = read_ts"]
        return [f"    v = {self.value(plan.time_field)}",
                f"    ts = None if v is None else {self.const(plan.time_parse)}(v)",
                "    if ts is None:",
                f"        {self.const(plan.counters)}.time_errors += 1",
                "        ts = read_ts"]

    def render(self) -> list[str]:
        attributes = self.plan.attributes
        lines = [f"    alert = {self.const(attributes.shape)}.copy()"]
        assigns: list[str] = []
        for singles, multis in attributes.stages:
            for key, field, cap in singles:
                assigns += self.assign(key, self.value(field), cap)
            for key, parts, cap in multis:
                assigns += self.assign(key, self.concat(parts), cap)
        if not assigns:
            return lines
        lines += ["    empty = False", *assigns]
        if attributes.optional:
            lines += ["    if empty:",
                      f"        {self.const(drop_unset)}(alert, {self.const(attributes.optional)})"]
        return lines

    def assign(self, key: str, expr: str, cap: int) -> list[str]:
        if expr == "None":
            return ["    empty = True"]
        return [f"    v = {expr}",
                "    if v:",
                f"        alert[{self.const(key)}] = v[:{cap}]",
                "    else:",
                "        empty = True"]

    def concat(self, parts: Parts) -> str:
        terms = []
        for i, field in enumerate(parts.names):
            if parts.literals[i]:
                terms.append(self.const(parts.literals[i]))
            value = self.value(field)
            if value != "None":
                terms.append(f"({value} or '')" if value.startswith("g[") else value)
        if parts.literals[-1]:
            terms.append(self.const(parts.literals[-1]))
        return " + ".join(terms) if terms else "''"
