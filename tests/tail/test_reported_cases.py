"""The cases people reported against other shippers (issue 3), each through a running Tailer."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.tail.helpers import TailRun, config, lines, open_fds, source, write

HEADER = "# application log v2, host web-01, started by systemd\n" * 40  # 2.1 KiB


def test_files_with_the_same_header_are_distinct_files(tmp_path: Path) -> None:
    """Two files whose first 2 KiB are identical are both read in full, and once."""
    for name in ("a", "b"):
        write(tmp_path / f"{name}.log", HEADER + lines(name, 5))
    run = TailRun(source(tmp_path))
    try:
        run.count(2 * (40 + 5))
        run.restart()
        run.settle()
        body = [r for r in run.records if not r.startswith("#")]
        assert sorted(body) == sorted([f"a {i}" for i in range(5)] + [f"b {i}" for i in range(5)])
        assert len(run.records) == 90
    finally:
        run.close()


def test_rotated_file_replaced_by_one_with_the_same_header_reads_both_once(
        tmp_path: Path) -> None:
    """After rename-rotation, a new file starting with the same header is read from 0, once."""
    log = tmp_path / "app.log"
    write(log, HEADER + lines("old", 3))
    run = TailRun(source(tmp_path))
    try:
        run.count(43)
        os.rename(log, tmp_path / "app.log.1")
        write(log, HEADER + lines("new", 3))
        run.count(86)
        run.settle()
        body = [r for r in run.records if not r.startswith("#")]
        assert body == ["old 0", "old 1", "old 2", "new 0", "new 1", "new 2"]
    finally:
        run.close()


def test_log_rewritten_from_scratch_while_stopped_is_read_from_the_start(tmp_path: Path) -> None:
    """A file truncated and rewritten longer (same inode, same first line) while stopped is
    read again from byte 0."""
    log = tmp_path / "app.log"
    write(log, "started\n" + lines("before", 3))
    run = TailRun(source(tmp_path))
    try:
        run.count(4)
        run.tailer.close()
        ino = log.stat().st_ino
        write(log, "started\n" + lines("after, much longer than before", 6), mode="w")
        assert log.stat().st_ino == ino
        run.restart()
        run.count(11)
        run.settle()
        assert run.records[4:] == ["started"] + [f"after, much longer than before {i}"
                                                 for i in range(6)]
    finally:
        run.close()


def test_line_written_in_two_parts_half_a_second_apart_is_one_record(tmp_path: Path) -> None:
    """A line whose LF arrives 0.5 s after its first half is one record, not two."""
    log = tmp_path / "app.log"
    write(log, "")
    run = TailRun(source(tmp_path), config(partial_line_timeout_s=2.0))
    try:
        write(log, "payment 42 failed: ")
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            run.pump()
            time.sleep(0.02)
        write(log, "card declined\n")
        run.count(1)
        run.settle()
        assert run.records == ["payment 42 failed: card declined"]
    finally:
        run.close()


def test_file_that_appears_and_is_renamed_away_within_a_second_delivers_its_lines(
        tmp_path: Path) -> None:
    """A file created, written (10 lines) and renamed out of the glob at once is read in full."""
    run = TailRun(source(tmp_path), config(watch="inotify", poll_interval_s=30.0))
    try:
        log = tmp_path / "burst.log"
        write(log, lines("burst", 10))
        os.rename(log, tmp_path / "burst.log.1")
        run.count(10, timeout_s=5)
        run.settle()
        assert run.records == [f"burst {i}" for i in range(10)]
    finally:
        run.close()


def test_crlf_lines_leave_no_carriage_return(tmp_path: Path) -> None:
    """CRLF-terminated lines (and a CRLF final line without more data) lose their CR."""
    log = tmp_path / "app.log"
    write(log, b"one\r\ntwo\r\n\r\nthree=3\r\n")
    run = TailRun(source(tmp_path))
    try:
        run.count(3)
        write(log, b"four\r")
        write(log, b"\nfive\r\n")
        run.count(5)
        run.settle()
        assert run.records == ["one", "two", "three=3", "four", "five"]
    finally:
        run.close()


def test_5000_files_are_followed_with_descriptors_bounded_by_max_open_files(
        tmp_path: Path) -> None:
    """5,000 files matching one glob are all read, again after appends, never holding more
    than max_open_files descriptors; a reopened file resumes at its offset."""
    for i in range(5000):
        write(tmp_path / f"f{i:04d}.log", f"file {i} line 0\n")
    baseline = open_fds()
    run = TailRun(source(tmp_path), config(max_open_files=64, close_inactive_s=0.05,
                                           poll_interval_s=0.2))
    peak = 0
    try:
        def done(n: int) -> bool:
            nonlocal peak
            peak = max(peak, open_fds() - baseline)
            return len(run.records) >= n
        run.until(lambda: done(5000), timeout_s=30)
        for i in range(0, 5000, 50):
            write(tmp_path / f"f{i:04d}.log", f"file {i} line 1\n")
        run.until(lambda: done(5100), timeout_s=30)
        run.settle()
        assert peak <= 64
        assert sorted(run.records) == sorted(
            [f"file {i} line 0" for i in range(5000)]
            + [f"file {i} line 1" for i in range(0, 5000, 50)])
    finally:
        run.close()
