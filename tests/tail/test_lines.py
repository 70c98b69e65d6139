"""Line framing: partial lines, long lines, hostile bytes, encodings, empty lines."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from tests.tail.helpers import TailRun, config, source, write


def test_partial_final_line_is_emitted_after_the_timeout_and_never_twice(tmp_path: Path) -> None:
    """A final line without LF arrives after partial_line_timeout_s, and not again after a
    restart."""
    log = tmp_path / "app.log"
    write(log, "done\nlast words")
    run = TailRun(source(tmp_path))
    try:
        run.count(1)
        started = time.monotonic()
        run.count(2)
        assert time.monotonic() - started >= 0.2
        run.restart()
        run.settle(0.5)
        assert run.records == ["done", "last words"]
    finally:
        run.close()


def test_partial_line_held_at_a_restart_is_emitted_once_by_the_next_run(tmp_path: Path) -> None:
    """A partial line not yet emitted when the tailer stops is emitted once after restart."""
    log = tmp_path / "app.log"
    write(log, "half a li")
    run = TailRun(source(tmp_path), config(partial_line_timeout_s=5.0))
    try:
        run.pump()
        run.restart()
        write(log, "ne\n")
        run.count(1)
        run.settle()
        assert run.records == ["half a line"]
    finally:
        run.close()


def test_long_line_is_truncated_flagged_and_counted(tmp_path: Path) -> None:
    """A line over max_line_bytes is cut to the limit, flagged in its block, counted, and the
    next line is intact."""
    write(tmp_path / "app.log", "x" * 1000 + "\nnext\n")
    run = TailRun(source(tmp_path), config(max_line_bytes=256))
    try:
        run.count(2)
        assert run.records == ["x" * 256, "next"]
        block = next(b for b in run.blocks if b.texts)
        assert block.truncated == frozenset({0})
        assert run.tailer.truncated_lines == 1
    finally:
        run.close()


def test_100_mib_line_keeps_reading_in_sync_without_memory_growth(tmp_path: Path) -> None:
    """A 100 MiB line yields its first max_line_bytes, the following line arrives intact, and
    the reader never holds more than about max_line_bytes + read_chunk_bytes."""
    log = tmp_path / "app.log"
    with open(log, "wb") as f:
        f.write(b"before\n")
        block = b"y" * (1 << 20)
        for _ in range(100):
            f.write(block)
        f.write(b"\nafter\n")
    del block
    run = TailRun(source(tmp_path), config(read_chunk_bytes=256 << 10))
    tracemalloc.start()
    try:
        run.count(3, timeout_s=30)
        _, peak = tracemalloc.get_traced_memory()
        assert run.records == ["before", "y" * 65_536, "after"]
        assert peak < 4 << 20
    finally:
        tracemalloc.stop()
        run.close()


def test_invalid_utf8_and_nul_bytes_are_replaced(tmp_path: Path) -> None:
    """Invalid UTF-8 sequences and NUL bytes become U+FFFD; reading goes on."""
    write(tmp_path / "app.log", b"bad \xff\xfe end\nnul\x00byte\n\xc3\n\xc3\xa9t\xc3\xa9\n")
    run = TailRun(source(tmp_path))
    try:
        run.count(4)
        assert run.records == ["bad \ufffd\ufffd end", "nul\ufffdbyte", "\ufffd", "été"]
    finally:
        run.close()


@pytest.mark.parametrize(("encoding", "data"), [
    ("utf-8", "\ufeffcafé\r\n\r\nnaïve\n".encode()),
    ("latin-1", "café\r\n\r\nnaïve\n".encode("latin-1")),
    ("utf-16le", "\ufeffcafé\r\n\r\nnaïve\n".encode("utf-16-le")),
    ("utf-16be", "\ufeffcafé\r\n\r\nnaïve\n".encode("utf-16-be")),
    ("utf-16", "\ufeffcafé\r\n\r\nnaïve\n".encode("utf-16-be")),
    ("utf-16", "\ufeffcafé\r\n\r\nnaïve\n".encode("utf-16-le")),
])
def test_encodings_decode_with_bom_crlf_and_empty_lines(
        tmp_path: Path, encoding: str, data: bytes) -> None:
    """Each supported encoding yields the same records: BOM removed, CR removed, empty line
    skipped."""
    write(tmp_path / "app.log", data)
    run = TailRun(source(tmp_path, encoding=encoding))
    try:
        run.count(2)
        run.settle(0.05)
        assert run.records == ["café", "naïve"]
    finally:
        run.close()


def test_utf16_lines_split_across_reads_stay_aligned(tmp_path: Path) -> None:
    """UTF-16 text read in 4 KiB chunks (lines straddling them, one char U+0A0A) stays intact."""
    text = "".join(f"line {i} \u0a0a {'z' * (i % 50)}\n" for i in range(400))
    write(tmp_path / "app.log", text.encode("utf-16-le"))
    run = TailRun(source(tmp_path, encoding="utf-16le"))
    try:
        run.count(400)
        assert run.records == text.splitlines()
    finally:
        run.close()


def test_empty_lines_are_skipped_but_advance_the_offset(tmp_path: Path) -> None:
    """Empty lines produce no record, and the committed offset moves past them."""
    log = tmp_path / "app.log"
    write(log, "a\n\n\nb\n\n\n")
    run = TailRun(source(tmp_path))
    try:
        run.count(2)
        run.settle(0.05)
        assert run.records == ["a", "b"]
        assert [cp.offset for cp in run.committed.values()] == [log.stat().st_size]
    finally:
        run.close()
