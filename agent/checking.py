"""The ``check`` command: validate everything an operator wrote, like ``nginx -t``."""

from __future__ import annotations

import os
from typing import TextIO

from agent.config import (
    AgentConfig,
    hostname,
    load_config,
    read_token,
    token_file_mode_warning,
)
from agent.errors import EX_CONFIG, ConfigError
from agent.rules import compile_rules, run_rule_tests
from agent.tail.discovery import discover


def check(config_path: str, *, out: TextIO) -> int:
    """Load agent.toml and all rule files, compile rules, run ``[[rule.test]]`` examples.

    Prints each source with the files its globs match now, each rule with its
    test results, and a final verdict.

    Returns:
        0 when everything is valid and every rule test passes, else 78.

    Raises:
        ConfigError: a file is invalid (the caller prints it and exits 78).
    """
    config = load_config(config_path)
    out.write(f"config {config.path}: ok\n")
    out.write(f"endpoint {config.bigpanda.endpoint} ({config.bigpanda.batch_format})\n")
    out.write(f"token {_check_token(config)}\n")
    out.write(f"state {config.queue.db_path}: {_check_state_dir(config)}\n")
    out.write(f"rules {config.rules_dir}: {len(config.rule_files)} file(s)\n")
    failures = _check_rules(config, out)
    total = sum(len(rule.tests) for rf in config.rule_files for rule in rf.rules)
    if failures:
        out.write(f"FAILED: {failures} of {total} rule test(s) failed\n")
        return EX_CONFIG
    out.write(f"ok: {len(config.rule_files)} rule file(s), {total} rule test(s) passed\n")
    return 0


def _check_token(config: AgentConfig) -> str:
    """Where the token will come from; a token file must be readable and well-formed.

    Raises:
        ConfigError: the token file is unreadable, empty or malformed.
    """
    env = os.environ
    if config.bigpanda.token_file is None and not env.get("BIGPANDA_TOKEN") \
            and not env.get("CREDENTIALS_DIRECTORY"):
        return "from the systemd credential bigpanda-token at run time (not checked here)"
    read_token(config.bigpanda)
    warning = token_file_mode_warning(config.bigpanda)
    source = (str(config.bigpanda.token_file) if config.bigpanda.token_file
              else "$BIGPANDA_TOKEN" if env.get("BIGPANDA_TOKEN") else "credential")
    return f"ok ({source})" + (f"; WARNING: {warning}" if warning else "")


def _check_state_dir(config: AgentConfig) -> str:
    """Whether ``state_dir`` exists and is writable, or can be created.

    Raises:
        ConfigError: it exists but is not a writable directory, or cannot be created.
    """
    state_dir = config.queue.state_dir
    if state_dir.exists():
        if not state_dir.is_dir() or not os.access(state_dir, os.W_OK | os.X_OK):
            raise ConfigError("is not a writable directory (for the user running check)",
                              file=str(config.path), key="queue.state_dir")
        return "ok"
    parent = state_dir.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"does not exist and cannot be created under {parent}",
                          file=str(config.path), key="queue.state_dir")
    return "will be created at first run"


def _check_rules(config: AgentConfig, out: TextIO) -> int:
    host = hostname()
    failures = 0
    for rf in config.rule_files:
        compile_rules(rf, config.defaults, hostname=host)
        files = sorted(discover(rf.source))
        out.write(f"\n{rf.path.name}: source {rf.source.name}, read_from={rf.source.read_from}\n")
        for pattern in rf.source.paths:
            out.write(f"  path {pattern}\n")
        for path in files[:20]:
            out.write(f"    matches {path}\n")
        if len(files) > 20:
            out.write(f"    … and {len(files) - 20} more\n")
        if not files:
            out.write("    (no file matches now)\n")
        results = run_rule_tests(rf, config.defaults, hostname=host)
        by_rule: dict[str, list[str]] = {}
        for failure in results:
            by_rule.setdefault(failure.rule, []).append(
                f"test {failure.test_index}: {failure.reason}")
        for rule in rf.rules:
            problems = by_rule.get(rule.name, [])
            verdict = "FAIL" if problems else "ok"
            out.write(f"  rule {rule.name} ({rule.format}): {len(rule.tests)} test(s) {verdict}\n")
            for problem in problems:
                out.write(f"    {rf.path}: rule {rule.name!r} {problem}\n")
        failures += len(results)
    return failures


def validate_only(config_path: str) -> AgentConfig:
    """Load, compile and run every ``[[rule.test]]``, without printing (``run``, reload).

    The same bar as ``check``: a rule set whose own examples fail is refused.

    Raises:
        ConfigError: the first problem found; for a failing example, naming the
            file, ``rule[i].test[j]`` and the reason.
    """
    config = load_config(config_path)
    host = hostname()
    for rf in config.rule_files:
        failures = run_rule_tests(rf, config.defaults, hostname=host)  # compiles too
        if failures:
            first = failures[0]
            index = next(i for i, rule in enumerate(rf.rules) if rule.name == first.rule)
            raise ConfigError(
                f"rule {first.rule!r} fails its example {first.test_index}: {first.reason}"
                + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""),
                file=str(rf.path), key=f"rule[{index}].test[{first.test_index - 1}]")
    return config
