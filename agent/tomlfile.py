"""Reading TOML files with error locations: file, dotted key and line."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import ConfigError

_AT_LINE = re.compile(r"\(at line (\d+), column \d+\)")


@dataclass(frozen=True, slots=True)
class TomlDocument:
    """A parsed TOML file plus its text, so errors can name the line of a key.

    Attributes:
        path: the file, as given.
        data: the parsed document.
        text: the raw text (for line lookups).
    """

    path: Path
    data: dict[str, Any]
    text: str

    def error(self, key: str, reason: str) -> ConfigError:
        """Build a ``ConfigError`` naming this file, ``key`` and, when found, its line."""
        return ConfigError(reason, file=str(self.path), key=key, line=self.line_of(key))

    def line_of(self, key: str) -> int | None:
        """Best-effort 1-based line of a dotted key such as ``rule[2].pattern``.

        Array-of-tables indices (``rule[2]``) are located by counting ``[[rule]]``
        headers; the leaf key is the first ``leaf =`` after the table header.
        """
        lines = self.text.splitlines()
        start = 0
        parts = key.split(".")
        for part in parts[:-1] if len(parts) > 1 else []:
            start = self._find_table(lines, part, start)
        leaf = re.sub(r"\[\d+\]$", "", parts[-1])
        if len(parts) == 1 and leaf != parts[-1]:
            return self._find_table(lines, parts[-1], 0) + 1
        name = re.escape(leaf)
        pattern = re.compile(rf"^\s*{name}\s*=|^\s*\[+\s*(?:[\w.]+\.)?{name}\s*\]+")
        for index in range(start, len(lines)):
            if pattern.search(lines[index]):
                return index + 1
        # An inline table (``time = { field = "t", fromat = … }``): the leaf inside
        # braces, looked for up to the next table header.
        inline = re.compile(rf"[{{,]\s*[\"']?{name}[\"']?\s*=")
        for index in range(start, len(lines)):
            if index > start and lines[index].lstrip().startswith("["):
                break
            if inline.search(lines[index]):
                return index + 1
        return start + 1 if start else None

    @staticmethod
    def _find_table(lines: list[str], part: str, start: int) -> int:
        match = re.fullmatch(r"(\w+)\[(\d+)\]", part)
        name, nth = (match.group(1), int(match.group(2))) if match else (part, 0)
        header = re.compile(rf"^\s*\[+\s*{re.escape(name)}\s*\]+")
        seen = -1
        for index in range(start, len(lines)):
            if header.search(lines[index]):
                seen += 1
                if seen == nth:
                    return index
        return start


def load_toml(path: Path) -> TomlDocument:
    """Read and parse a TOML file.

    Raises:
        ConfigError: the file is unreadable or not valid TOML (with the parser's line).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8: {exc}", file=str(path)) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _AT_LINE.search(str(exc))
        line = int(found.group(1)) if found else None
        reason = _AT_LINE.sub("", str(exc)).strip()
        raise ConfigError(f"invalid TOML: {reason}", file=str(path), line=line) from exc
    return TomlDocument(path=path, data=data, text=text)


def check_keys(doc: TomlDocument, table: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    """Reject keys of ``table`` outside ``allowed`` (typos must not pass silently).

    Raises:
        ConfigError: naming the first unknown key.
    """
    for key in table:
        if key not in allowed:
            full = f"{where}.{key}" if where else key
            known = ", ".join(sorted(allowed))
            raise doc.error(full, f"unknown key (known: {known})")


def locate(error: ConfigError) -> ConfigError:
    """``error`` with its line filled in from its file and key, when it had none.

    Errors raised after parsing (compiling a template or a time format) know
    the file and key but not the line; this finds it. Never raises.
    """
    if error.line is not None or not error.file or not error.key:
        return error
    try:
        doc = load_toml(Path(error.file))
    except ConfigError:
        return error
    line = doc.line_of(error.key)
    if line is None:
        return error
    return ConfigError(error.reason, file=error.file, key=error.key, line=line)
