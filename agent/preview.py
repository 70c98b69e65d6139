"""The ``test-rules`` command: what each sample record would turn into (like a preview tab)."""

from __future__ import annotations

import fnmatch
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO

import orjson

from agent.config import hostname, load_config
from agent.errors import UsageError
from agent.rulefile import RuleFile
from agent.rules import SourceRules, compile_rules
from agent.tail.multiline import MultilineJoiner


def preview(
    config_path: str,
    files: list[str],
    *,
    source: str | None,
    as_json: bool,
    matches_only: bool,
    out: TextIO,
) -> int:
    """Feed sample lines through the configured rules and print the result per record.

    For a FILE, the sources whose globs match its path are used (all sources when
    none does); stdin goes through all sources, or only ``source``. Multiline
    sources join lines first, as the daemon would.

    Returns:
        0; 78 when ``source`` names no rule file.

    Raises:
        ConfigError: the configuration is invalid.
    """
    config = load_config(config_path)
    host = hostname()
    rule_files = [rf for rf in config.rule_files if source in (None, rf.source.name)]
    if not rule_files:
        names = ", ".join(rf.source.name for rf in config.rule_files)
        raise UsageError(f"no rule file has source {source!r} (sources: {names})")
    compiled = {rf.source.name: compile_rules(rf, config.defaults, hostname=host)
                for rf in rule_files}
    counts = {"records": 0, "matched": 0}
    stdin_lines = list(_read_lines("-", "utf-8")) if "-" in files else []
    for name in files:
        if name != "-" and not os.path.isfile(name):
            raise UsageError(f"cannot read sample file {name!r}: no such file")
        for rf in _sources_for(name, rule_files):
            for text in records_of(name, rf, stdin_lines):
                _show(name, rf, compiled[rf.source.name], text, counts, as_json, matches_only,
                      out)
    if not as_json:
        out.write(f"{counts['matched']} of {counts['records']} record(s) matched\n")
    return 0


def _sources_for(name: str, rule_files: list[RuleFile]) -> list[RuleFile]:
    if name == "-":
        return rule_files
    matching = [rf for rf in rule_files
                if any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(_abs(name), p)
                       for p in rf.source.paths)]
    return matching or rule_files


def _abs(name: str) -> str:
    return os.path.abspath(name)


def _read_lines(name: str, encoding: str) -> Iterator[str]:
    stream: TextIO = (
        sys.stdin if name == "-" else open(name, encoding=encoding, errors="replace"))  # noqa: SIM115
    try:
        for line in stream:
            line = line.rstrip("\n").rstrip("\r")
            if line:
                yield line
    finally:
        if name != "-":
            stream.close()


def records_of(name: str, rf: RuleFile, stdin_lines: list[str] | None = None) -> Iterator[str]:
    """The records of a file (or ``-``) as the source would cut them (multiline joined).

    Standard input can be read only once: pass its lines as ``stdin_lines`` so that
    every source sees them.
    """
    encoding = "latin-1" if rf.source.encoding == "latin-1" else "utf-8"
    lines: Iterable[str] = (
        stdin_lines if name == "-" and stdin_lines is not None else _read_lines(name, encoding))
    if rf.source.multiline is None:
        yield from lines
        return
    joiner = MultilineJoiner(rf.source.multiline)
    for line in lines:
        texts, _ = joiner.feed([line], [0])
        yield from texts
    yield from joiner.flush()[0]


def _show(name: str, rf: RuleFile, rules: SourceRules, text: str, counts: dict[str, int],
          as_json: bool, matches_only: bool, out: TextIO) -> None:
    path = "-" if name == "-" else _abs(name)
    result = rules.explain(text, path, time.time())
    counts["records"] += 1
    if result.alert is not None:
        counts["matched"] += 1
    elif matches_only:
        return
    if as_json:
        out.write(orjson.dumps({"source": rf.source.name, "record": text, "rule": result.rule,
                                "fields": result.fields, "alert": result.alert,
                                "reason": result.reason}, default=str).decode() + "\n")
        return
    first = text.split("\n", 1)[0]
    out.write(f"[{rf.source.name}] {first[:160]}\n")
    if result.alert is None:
        out.write(f"  no match: {result.reason}\n" if result.reason else "  no match\n")
        return
    out.write(f"  rule: {result.rule}\n")
    out.write(f"  fields: {orjson.dumps(result.fields, default=str).decode()}\n")
    out.write(f"  alert: {orjson.dumps(result.alert, default=str).decode()}\n")
