"""A record's time → integer Unix seconds (UTC), with a last-value cache per rule.

Formats (``time = { field = …, format = … }``):

* ``iso8601``: :meth:`datetime.fromisoformat` (Python 3.11): ``Z``, offsets,
  fractions of any length, ``,`` as decimal mark, a space (or any one character)
  instead of ``T``, basic and week forms, a bare date.
* ``epoch``: a number or numeric string. Above 10^17 it is taken as nanoseconds,
  above 10^14 as microseconds, above 10^11 as milliseconds, else seconds.
* anything else: a :func:`datetime.strptime` format. A format without a year
  (syslog's ``%b %d %H:%M:%S``) takes the current year, or the previous one when the
  result would be more than a day in the future (December lines read in January).

A time without a zone is in the source's ``timezone`` or, without one, host local
time. Fractions are dropped (floor). A result outside ``[0, 10^11)`` is an error:
BigPanda rejects such timestamps (bigpanda-alerts-api.md section 3, check 12).
Parsers return ``None`` for anything they cannot parse; they never raise.

Consecutive records usually carry the same time, so every parser remembers the last
value and its result; the ISO parser also remembers the last whole second, so
``…:02.123Z`` and ``…:02.456Z`` parse once.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any, Protocol

MAX_TIMESTAMP = 100_000_000_000
"""Exclusive upper bound: the API double rejects larger values as milliseconds."""

_DIGITS = "0123456789"
_STRPTIME_DIRECTIVES = frozenset("aAbBcdfGHIjmMpSuUVwWxXyYzZ%")
_YEAR_DIRECTIVES = frozenset("YyGcx")
_FUTURE_SLACK_S = 86_400
_UNSET: Any = object()

Clock = Callable[[], float]


class TimeParser(Protocol):
    """Turns a field value into Unix seconds, or ``None`` when it cannot."""

    def parse(self, raw: Any) -> int | None:
        """Unix seconds (UTC) for ``raw``, or ``None``."""


def make_time_parser(fmt: str, zone: tzinfo | None, *, clock: Clock = time.time) -> TimeParser:
    """Build the parser for ``format`` ``fmt``.

    Args:
        fmt: ``"iso8601"``, ``"epoch"`` or a strptime format.
        zone: zone for times without one; ``None`` = host local time.
        clock: current Unix time, for year-less formats (tests pass a fixed one).

    Raises:
        ValueError: a strptime format with a directive Python cannot parse.
    """
    if fmt == "iso8601":
        return IsoTimeParser(zone)
    if fmt == "epoch":
        return EpochTimeParser()
    return StrptimeTimeParser(fmt, zone, clock)


def to_seconds(dt: datetime, zone: tzinfo | None) -> int | None:
    """``dt`` as Unix seconds; a naive ``dt`` is in ``zone`` (``None`` = local)."""
    if dt.tzinfo is None and zone is not None:
        dt = dt.replace(tzinfo=zone)
    try:
        ts = math.floor(dt.timestamp())
    except (OverflowError, OSError, ValueError):
        return None
    return ts if 0 <= ts < MAX_TIMESTAMP else None


class IsoTimeParser:
    """ISO 8601 text → seconds, caching the last string and the last whole second.

    The second-level cache keeps the first 20 characters of the last parsed
    ``YYYY-MM-DDTHH:MM:SS.`` value and what follows its fraction digits (``Z``,
    ``+02:00``): a value with the same head, only digits after it, and the same tail
    is in the same whole second. (A bare ``.`` with no digits passes this check too.)
    """

    __slots__ = ("_head", "_head_ts", "_last_raw", "_last_ts", "_tail", "_zone")

    def __init__(self, zone: tzinfo | None) -> None:
        self._zone = zone
        self._last_raw: Any = _UNSET
        self._last_ts: int | None = None
        self._head: str | None = None
        self._tail = ""
        self._head_ts: int | None = None

    def parse(self, raw: Any) -> int | None:
        """Unix seconds for ISO 8601 text ``raw``, or ``None``."""
        if raw == self._last_raw:
            return self._last_ts
        if raw.__class__ is not str:
            return None
        if raw[:20] == self._head and raw[20:].lstrip(_DIGITS) == self._tail:
            ts = self._head_ts
        else:
            ts = self._parse(raw)
        self._last_raw = raw
        self._last_ts = ts
        return ts

    def _parse(self, raw: str) -> int | None:
        try:
            dt = datetime.fromisoformat(raw)
        except ValueError:
            stripped = raw.strip()
            if stripped == raw or not stripped:
                return None
            try:
                dt = datetime.fromisoformat(stripped)
            except ValueError:
                return None
        ts = to_seconds(dt, self._zone)
        if ts is not None and len(raw) > 20 and raw[19] in ".," and raw[13] == raw[16] == ":":
            self._head, self._tail, self._head_ts = raw[:20], raw[20:].lstrip(_DIGITS), ts
        return ts


class EpochTimeParser:
    """Unix epoch numbers (s, ms, µs, ns by magnitude) → seconds."""

    __slots__ = ("_last_raw", "_last_ts")

    def __init__(self) -> None:
        self._last_raw: Any = _UNSET
        self._last_ts: int | None = None

    def parse(self, raw: Any) -> int | None:
        """Unix seconds for a number or numeric string ``raw``, or ``None``."""
        cls = raw.__class__
        if cls is int or cls is float:
            return epoch_seconds(raw)
        if cls is not str:
            return None
        if raw == self._last_raw:
            return self._last_ts
        ts = epoch_seconds(_number(raw))
        self._last_raw, self._last_ts = raw, ts
        return ts


def epoch_seconds(value: int | float | None) -> int | None:
    """Seconds for an epoch value whose unit is guessed from its magnitude."""
    if value is None:
        return None
    try:
        if value > 10**17:
            ts = value // 10**9
        elif value > 10**14:
            ts = value // 10**6
        elif value > 10**11:
            ts = value // 1000
        else:
            ts = value
        ts = math.floor(ts)
    except (OverflowError, ValueError):  # inf, nan
        return None
    return ts if 0 <= ts < MAX_TIMESTAMP else None


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


class StrptimeTimeParser:
    """``datetime.strptime`` with a format; year-less formats get the likely year.

    Args:
        fmt: the strptime format.
        zone: zone for times without ``%z``; ``None`` = host local time.
        clock: current Unix time (used only for year-less formats).

    Raises:
        ValueError: ``fmt`` has a directive strptime does not know.
    """

    __slots__ = ("_clock", "_fmt", "_last_raw", "_last_ts", "_yearless", "_zone")

    def __init__(self, fmt: str, zone: tzinfo | None, clock: Clock) -> None:
        directives = set(re.findall(r"%(.)", fmt, re.DOTALL))
        unknown = directives - _STRPTIME_DIRECTIVES
        if unknown:
            names = ", ".join("%" + d for d in sorted(unknown))
            raise ValueError(f"strptime cannot parse directive(s) {names}")
        if "%" in re.sub(r"%.", "", fmt, flags=re.DOTALL):
            raise ValueError("stray % at the end of the format")
        self._yearless = not directives & _YEAR_DIRECTIVES
        self._fmt = "%Y " + fmt if self._yearless else fmt
        self._zone = zone
        self._clock = clock
        self._last_raw: Any = _UNSET
        self._last_ts: int | None = None

    def parse(self, raw: Any) -> int | None:
        """Unix seconds for ``raw`` in this format, or ``None``."""
        if raw == self._last_raw:
            return self._last_ts
        if raw.__class__ is not str:
            return None
        ts = self._yearless_parse(raw) if self._yearless else self._parse(raw)
        self._last_raw, self._last_ts = raw, ts
        return ts

    def _parse(self, raw: str) -> int | None:
        try:
            return to_seconds(datetime.strptime(raw, self._fmt), self._zone)
        except ValueError:
            return None

    def _yearless_parse(self, raw: str) -> int | None:
        now = self._clock()
        year = datetime.fromtimestamp(now, self._zone).year
        for candidate in (year, year - 1):  # Feb 29 fails in a non-leap year: try the last
            ts = self._parse(f"{candidate} {raw}")
            if ts is not None and ts <= now + _FUTURE_SLACK_S:
                return ts
        return None
