"""Field extraction for structured records: JSON objects and logfmt.

(Regex rules need no parser: their named groups are the fields, see
:mod:`agent.rules.rule`.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from agent.rules.counters import Counters

Fields = dict[str, Any]

_LOGFMT_PAIR = re.compile(r'([^\s="]+)(?:(=")([^"\\]*(?:\\.[^"\\]*)*)"?|(=)(\S*))?', re.DOTALL)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def parse_json(text: str) -> Fields | None:
    """Fields of a JSON object record, nested objects flattened; ``None`` if not an object.

    ``{"http": {"status": 502}}`` gives ``{"http.status": 502}``; lists stay lists (an
    object inside a list is not flattened). A flattened key wins over an identical literal
    dotted key (``{"a.b": 1, "a": {"b": 2}}`` gives ``a.b`` = 2); an empty object gives no
    field. Objects nested deeper than :data:`MAX_FLATTEN_DEPTH` levels are kept whole
    (and render as compact JSON). Invalid JSON, or JSON that is not an object (``[1]``,
    ``"x"``), gives ``None``.
    """
    try:
        obj = orjson.loads(text)
    except ValueError:  # orjson.JSONDecodeError, also for invalid UTF-8 / surrogates
        return None
    if obj.__class__ is not dict:
        return None
    for key in [key for key, value in obj.items() if value.__class__ is dict]:
        _flatten_into(obj, f"{key}.", obj.pop(key), 1)
    return obj


MAX_FLATTEN_DEPTH = 32
"""Nesting levels flattened; orjson accepts 1024, more than Python's recursion limit."""


def _flatten_into(out: Fields, prefix: str, obj: Fields, depth: int) -> None:
    for key, value in obj.items():
        if value.__class__ is dict and depth < MAX_FLATTEN_DEPTH:
            _flatten_into(out, f"{prefix}{key}.", value, depth + 1)
        else:
            out[prefix + key] = value


def parse_logfmt(text: str) -> Fields:
    """Fields of a logfmt record: ``key=value``, ``key="quoted \\" value"``, bare ``key``.

    A bare key is ``"true"``; ``key=`` is ``""``; inside quotes ``\\"``, ``\\\\``,
    ``\\n``, ``\\t`` and ``\\r`` are unescaped (any other escaped character stands for
    itself); an unterminated quote runs to the end of the record. A repeated key keeps
    its last value. Text that is not logfmt still parses (each word a bare key): use
    ``where`` or ``pattern`` to select records.
    """
    if '"' in text:
        return _parse_quoted(text)
    fields: Fields = {}
    for token in text.split():
        key, eq, value = token.partition("=")
        if not key:
            token = token.lstrip("=")
            if not token:
                continue
            key, eq, value = token.partition("=")
        fields[key] = value if eq else "true"
    return fields


def _parse_quoted(text: str) -> Fields:
    fields: Fields = {}
    for key, quote, quoted, eq, plain in _LOGFMT_PAIR.findall(text):
        if quote:
            fields[key] = _ESCAPE.sub(_unescape, quoted) if "\\" in quoted else quoted
        elif eq:
            fields[key] = plain
        else:
            fields[key] = "true"
    return fields


def _unescape(match: re.Match[str]) -> str:
    char = match.group(1)
    return _ESCAPES.get(char, char)


class SharedParse:
    """Parses each record once for all of a source's rules of one format.

    Rules are tried in order on the same record; consecutive JSON rules reuse this
    parse instead of decoding the record again. The cache holds the last record
    only and is cleared at the start of every block (:meth:`reset`), because the
    fields also receive per-block built-ins (``path``).

    Args:
        parse: :func:`parse_json` or :func:`parse_logfmt`.
        counters: receives ``field_errors`` for records ``parse`` rejects.
    """

    __slots__ = ("_counters", "_last_fields", "_last_text", "parse")

    def __init__(self, parse: Callable[[str], Fields | None], counters: Counters) -> None:
        self.parse = parse
        self._counters = counters
        self._last_text: str | None = None
        self._last_fields: Fields | None = None

    def fields_of(self, text: str) -> Fields | None:
        """The record's fields (shared, cached), or ``None`` when it does not parse."""
        if text is self._last_text:
            return self._last_fields
        fields = self.parse(text)
        if fields is None:
            self._counters.field_errors += 1
        self._last_text = text
        self._last_fields = fields
        return fields

    def reset(self) -> None:
        """Forget the cached record."""
        self._last_text = None
        self._last_fields = None
