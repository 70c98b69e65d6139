"""Record times → integer Unix seconds: formats, zones, year-less syslog, fallback."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from agent.errors import ConfigError
from agent.rules.timeparse import (
    EpochTimeParser,
    IsoTimeParser,
    StrptimeTimeParser,
    make_time_parser,
)
from tests.rules.conftest import PATH, READ_TIME, CompileRules

T0 = 1_795_860_902  # 2026-11-28T10:15:02Z
NY = ZoneInfo("America/New_York")


def _utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp())


@pytest.fixture
def berlin_local() -> Iterator[None]:
    """Run with the host's local zone set to Europe/Berlin."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.mark.parametrize("text", [
    "2026-11-28T10:15:02Z",
    "2026-11-28T10:15:02.999Z",
    "2026-11-28 10:15:02+00:00",
    "2026-11-28T12:15:02,5+02:00",
    "2026-11-28T10:15:02.123456789Z",
    "20261128T101502Z",
])
def test_iso8601_forms(text: str) -> None:
    """ISO 8601 with Z, offsets, fractions (dropped), comma decimals, space or basic form."""
    assert IsoTimeParser(None).parse(text) == T0


def test_iso8601_without_zone_uses_source_timezone() -> None:
    """A zone-less ISO time is read in the configured zone (New York is UTC-5 in November)."""
    assert IsoTimeParser(NY).parse("2026-11-28T05:15:02") == T0


def test_iso8601_without_zone_and_timezone_is_host_local(berlin_local: None) -> None:
    """Without ``timezone`` a zone-less time is host local time (here Berlin, UTC+1)."""
    assert IsoTimeParser(None).parse("2026-11-28T11:15:02") == T0


def test_iso8601_second_cache_keeps_correctness() -> None:
    """The per-second cache answers same-second fractions and still parses new seconds."""
    parser = IsoTimeParser(None)
    assert parser.parse("2026-11-28T10:15:02.100Z") == T0
    assert parser.parse("2026-11-28T10:15:02.900Z") == T0
    assert parser.parse("2026-11-28T10:15:02.9+01:00") == T0 - 3600
    assert parser.parse("2026-11-28T10:15:03.000Z") == T0 + 1
    assert parser.parse("2026-11-28T10:15:03.0x0Z") is None


@pytest.mark.parametrize("raw", ["yesterday", "", "2026-13-01T00:00:00Z", 12, None, ["x"],
                                 "9999-12-31T23:59:59Z", "1960-01-01T00:00:00Z"])
def test_iso8601_rejects_garbage_and_out_of_range(raw: object) -> None:
    """Unparsable values and times BigPanda would reject (before 1970, far future) give None."""
    assert IsoTimeParser(None).parse(raw) is None


@pytest.mark.parametrize(("raw", "expected"), [
    (T0, T0),
    (str(T0), T0),
    (f"{T0}.75", T0),
    (T0 * 1000 + 999, T0),
    (f"{T0}123", T0),
    (T0 * 1_000_000 + 5, T0),
    (T0 * 1_000_000_000, T0),
    (float(T0) * 1000, T0),
])
def test_epoch_units_by_magnitude(raw: object, expected: int) -> None:
    """Epoch numbers or numeric strings in s, ms, µs or ns all give seconds."""
    assert EpochTimeParser().parse(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "", "-5", float("nan"), float("inf"), True, None])
def test_epoch_rejects_non_numbers(raw: object) -> None:
    """Non-numeric, negative, non-finite and boolean epoch values give None."""
    assert EpochTimeParser().parse(raw) is None


def test_strptime_with_zone_and_without() -> None:
    """A strptime format with %z is absolute; without it the configured zone applies."""
    assert StrptimeTimeParser("%d/%b/%Y:%H:%M:%S %z", None, time.time).parse(
        "28/Nov/2026:11:15:02 +0100") == T0
    assert StrptimeTimeParser("%Y-%m-%d %H:%M:%S", NY, time.time).parse(
        "2026-11-28 05:15:02") == T0


def test_syslog_without_year_takes_the_current_year() -> None:
    """A year-less syslog time is in the current year when that is not in the future."""
    now = _utc(2026, 11, 28, 12, 0, 0)
    parser = StrptimeTimeParser("%b %d %H:%M:%S", UTC, lambda: now)
    assert parser.parse("Nov 28 10:15:02") == T0
    assert parser.parse("Nov  2 10:15:02") == _utc(2026, 11, 2, 10, 15, 2)


def test_syslog_year_rollover_takes_the_previous_year() -> None:
    """On 1 January, a 31 December line belongs to the previous year."""
    now = _utc(2027, 1, 1, 0, 5, 0)
    parser = StrptimeTimeParser("%b %d %H:%M:%S", UTC, lambda: now)
    assert parser.parse("Dec 31 23:59:58") == _utc(2026, 12, 31, 23, 59, 58)
    assert parser.parse("Jan  1 00:04:00") == _utc(2027, 1, 1, 0, 4, 0)


def test_syslog_slightly_ahead_stays_in_this_year() -> None:
    """A time less than a day ahead (clock skew) keeps the current year."""
    now = _utc(2026, 6, 1, 12, 0, 0)
    parser = StrptimeTimeParser("%b %d %H:%M:%S", UTC, lambda: now)
    assert parser.parse("Jun  1 20:00:00") == _utc(2026, 6, 1, 20, 0, 0)


def test_syslog_feb_29_in_a_non_leap_year_uses_the_leap_year_before() -> None:
    """Feb 29 read in January of a non-leap year is the previous (leap) year's."""
    now = _utc(2029, 1, 10, 0, 0, 0)
    parser = StrptimeTimeParser("%b %d %H:%M:%S", UTC, lambda: now)
    assert parser.parse("Feb 29 10:00:00") == _utc(2028, 2, 29, 10, 0, 0)


def test_unknown_strptime_directive_is_rejected() -> None:
    """A format with a directive strptime cannot parse fails at compile time."""
    with pytest.raises(ValueError, match="%Q"):
        make_time_parser("%Y %Q", None)


def test_bad_time_format_is_a_config_error(make_rules: CompileRules) -> None:
    """compile_rules names the rule's time.format key for an unusable strptime format."""
    with pytest.raises(ConfigError) as caught:
        make_rules(r"""
[[rule]]
name = "r"
pattern = '(?P<t>\S+)'
time = { field = "t", format = "%Y %Q" }
status = "ok"
""")
    assert caught.value.key == "rule[0].time.format"


RULE = r"""
[[rule]]
name = "r"
pattern = '^(?P<t>\S+) (?P<msg>.*)'
time = { field = "t", format = "iso8601" }
status = "critical"
"""


def test_unparsable_time_falls_back_to_read_time(make_rules: CompileRules) -> None:
    """A bad time never drops the record: read time is used and time_errors counted."""
    rules = make_rules(RULE)
    alert = rules.apply("not-a-time something broke", PATH, READ_TIME)
    assert alert is not None
    assert alert["timestamp"] == int(READ_TIME)
    assert rules.counters.time_errors == 1
    good = rules.apply("2026-11-28T10:15:02Z something broke", PATH, READ_TIME)
    assert good is not None and good["timestamp"] == T0
    assert rules.counters.time_errors == 1


def test_source_timezone_applies_to_rules(make_rules: CompileRules) -> None:
    """``[source] timezone`` is the zone of zone-less record times."""
    rules = make_rules(RULE, source='timezone = "America/New_York"')
    alert = rules.apply("2026-11-28T05:15:02 x", PATH, READ_TIME)
    assert alert is not None and alert["timestamp"] == T0


def test_no_time_spec_uses_read_time(make_rules: CompileRules) -> None:
    """A rule without ``time`` stamps alerts with the read time (whole seconds)."""
    rules = make_rules("""
[[rule]]
name = "r"
pattern = 'x'
status = "ok"
""")
    assert rules.apply("x", PATH, READ_TIME)["timestamp"] == 1_800_000_000  # type: ignore[index]
    assert rules.counters.time_errors == 0
