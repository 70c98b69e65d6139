"""A source's compiled rules: records in, alert dicts out (first matching rule wins).

A rule *matches* a record when its extraction succeeds (the regex is found; the
record is a JSON object and passes the optional ``pattern`` filter; logfmt always
parses) and every ``where`` condition holds; otherwise the next rule is tried. The
first matching rule decides: it produces the alert, or drops the record when its
status value maps to no BigPanda status. A record no rule matches is dropped.
Nothing here raises for bad input: it is counted (:class:`Counters`) and dropped, or
sent with the read time.
"""

from __future__ import annotations

import math
import os.path
import re
import zoneinfo
from typing import Any

from agent.errors import ConfigError
from agent.records import RecordBlock
from agent.rulefile import RuleFile
from agent.rules.counters import Counters
from agent.rules.explanation import Explanation
from agent.rules.parsers import SharedParse, parse_json, parse_logfmt
from agent.rules.rule import DROPPED, Rule

RESERVED_KEYS = frozenset({"status", "timestamp", "app_key"})
"""Alert keys only the agent sets (bigpanda-alerts-api.md section 1)."""

_ATTR_KEY = re.compile(r"[a-z][a-z0-9_-]{0,63}")


class SourceRules:
    """The rules of one rule file, in order, ready for records of its source.

    Build with :func:`compile_rules`. Not thread-safe: the per-rule time caches and the
    shared JSON/logfmt parse hold state between records, so one thread uses a
    ``SourceRules`` at a time (compile another for another thread).

    Attributes:
        name: the source's name (the rule file's stem).
        rules: the compiled rules, in file order.
        counters: cumulative counts, updated by :meth:`apply` and :meth:`apply_block`.
    """

    __slots__ = ("_shared", "counters", "name", "rules")

    def __init__(self, name: str, rules: tuple[Rule, ...], shared: tuple[SharedParse, ...],
                 counters: Counters) -> None:
        self.name = name
        self.rules = rules
        self.counters = counters
        self._shared = shared
        for rule in rules:
            counters.per_rule[rule.name] = 0

    def apply(self, text: str, path: str, read_time: float) -> dict[str, Any] | None:
        """The alert for one record, or ``None`` (no match, or dropped).

        Args:
            text: the record, without its line terminator.
            path: the file it was read from (built-ins ``path``, ``filename``).
            read_time: Unix time the record was read, the timestamp fallback.
        """
        for shared in self._shared:
            shared.reset()
        filename = os.path.basename(path)
        read_ts = math.floor(read_time)
        alert = None
        for rule in self.rules:
            alert = rule.process(text, path, filename, read_ts)
            if alert is not None:
                break
        self._tally(1, 1 if alert is None else 0)
        return None if alert is DROPPED else alert

    def apply_block(self, block: RecordBlock, read_time: float,
                    out: list[tuple[int, int, dict[str, Any]]]) -> None:
        """Append ``(timestamp, end offset, alert)`` to ``out`` for each alert of the block.

        The hot path: one pass, no per-record objects beyond the alert and the match.

        Args:
            block: consecutive records of one file; ``block.ends[i]`` is record i's end.
            read_time: Unix time the block was read, the timestamp fallback.
            out: receives the alerts, in record order.
        """
        for shared in self._shared:
            shared.reset()
        path = block.path
        filename = os.path.basename(path)
        read_ts = math.floor(read_time)
        append = out.append
        no_match = 0
        rules = self.rules
        if len(rules) == 1:
            process = rules[0].process
            for text, end in zip(block.texts, block.ends):  # noqa: B905 (hot: no strict check)
                alert = process(text, path, filename, read_ts)
                if alert is None:
                    no_match += 1
                elif alert is not DROPPED:
                    append((alert["timestamp"], end, alert))
        else:
            processes = tuple(rule.process for rule in rules)
            for text, end in zip(block.texts, block.ends):  # noqa: B905
                for process in processes:
                    alert = process(text, path, filename, read_ts)
                    if alert is not None:
                        break
                else:
                    no_match += 1
                    continue
                if alert is not DROPPED:
                    append((alert["timestamp"], end, alert))
        self._tally(len(block.texts), no_match)

    def explain(self, text: str, path: str, read_time: float) -> Explanation:
        """What the rules do with one record and why; counts nothing.

        Args:
            text: the record.
            path: the file it came from (built-ins ``path``, ``filename``).
            read_time: Unix time, the timestamp fallback.
        """
        filename = os.path.basename(path)
        read_ts = math.floor(read_time)
        for rule in self.rules:
            outcome = rule.explain(text, path, filename, read_ts)
            if outcome is not None:
                return outcome
        return Explanation(rule=None, fields={}, alert=None, reason="no match")

    def _tally(self, records: int, no_match: int) -> None:
        counters = self.counters
        counters.records += records
        counters.no_match += no_match
        per_rule = counters.per_rule
        matched = 0
        for rule in self.rules:
            per_rule[rule.name] = rule.hits
            matched += rule.hits
        counters.matched = matched


def compile_rules(rule_file: RuleFile, defaults: tuple[tuple[str, str], ...], *,
                  hostname: str) -> SourceRules:
    """Compile a rule file's rules for its source.

    Args:
        rule_file: the loaded, validated rule file.
        defaults: agent.toml ``[defaults]`` ``(attribute, template)`` pairs, which every
            alert gets unless its rule sets the attribute.
        hostname: the ``hostname`` built-in.

    Returns:
        The source's rules.

    Raises:
        ConfigError: a malformed template, an unusable strptime format, an unknown time
            zone, or a default attribute that is reserved (``status``, ``timestamp``,
            ``app_key``) or not a valid attribute name.
    """
    file = str(rule_file.path)
    _check_defaults(defaults)
    source = rule_file.source
    zone = _zone(source.timezone, file)
    counters = Counters()
    shared = {"json": SharedParse(parse_json, counters),
              "logfmt": SharedParse(parse_logfmt, counters)}
    rules = tuple(
        Rule(config, defaults, hostname=hostname, zone=zone, shared=shared.get(config.format),
             counters=counters, file=file)
        for config in rule_file.rules
    )
    used = {config.format for config in rule_file.rules}
    return SourceRules(source.name, rules, tuple(p for f, p in shared.items() if f in used),
                       counters)


def _check_defaults(defaults: tuple[tuple[str, str], ...]) -> None:
    for key, _ in defaults:
        if key in RESERVED_KEYS:
            raise ConfigError("is set by the agent, not by defaults", key=f"defaults.{key}")
        if not _ATTR_KEY.fullmatch(key):
            raise ConfigError("attribute names must be lowercase, start with a letter, and use "
                              "only a-z 0-9 _ - (at most 64 characters)", key=f"defaults.{key}")


def _zone(name: str | None, file: str) -> zoneinfo.ZoneInfo | None:
    if name is None:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown IANA time zone {name!r}", file=file,
                          key="source.timezone") from exc
