"""Multiline records: presets on real traces; never split by reads, pauses or restarts."""

from __future__ import annotations

from pathlib import Path

from agent.rulefile import MULTILINE_PRESETS, MultilineConfig
from tests.tail.helpers import TailRun, config, source, write

JAVA = """\
2026-11-28 10:15:02,123 ERROR [main] c.e.PaymentService - charge failed
java.lang.IllegalStateException: card processor timeout
\tat com.example.PaymentService.charge(PaymentService.java:42)
\tat com.example.Api.handle(Api.java:17)
Caused by: java.net.SocketTimeoutException: Read timed out
\tat java.base/java.net.SocketInputStream.read(SocketInputStream.java:168)
\t... 12 more
"""
PYTHON = """\
2026-11-28 10:15:02 ERROR worker crashed
Traceback (most recent call last):
  File "/app/worker.py", line 10, in run
    process(job)
  File "/app/worker.py", line 20, in process
    raise ValueError("bad job")
ValueError: bad job
"""
GO = """\
2026/11/28 10:15:02 fatal: handler crashed
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1b2c]

goroutine 1 [running]:
main.handler(0x0)
\t/app/main.go:12 +0x1d
main.main()
\t/app/main.go:20 +0x25
"""
NEXT = "2026-11-28 10:15:03 INFO next request ok\n"


def preset(name: str) -> MultilineConfig:
    """The multiline settings of preset ``name``, with a short timeout."""
    return MultilineConfig(continue_=MULTILINE_PRESETS[name]["continue"], timeout_s=0.2)


def joined(trace: str) -> str:
    """A trace as one record: its non-empty lines joined by LF."""
    return "\n".join(line for line in trace.splitlines() if line)


def run_trace(tmp_path: Path, name: str, trace: str) -> list[str]:
    """Records a source with preset ``name`` makes of ``trace`` followed by one more line."""
    write(tmp_path / "app.log", trace + NEXT)
    run = TailRun(source(tmp_path, multiline=preset(name)))
    try:
        run.count(2)
        run.settle()
        return run.records
    finally:
        run.close()


def test_java_preset_joins_a_stack_trace_with_its_causes(tmp_path: Path) -> None:
    """The java preset makes a log line, its exception, frames and 'Caused by' one record."""
    assert run_trace(tmp_path, "java", JAVA) == [joined(JAVA), NEXT.strip()]


def test_python_preset_joins_a_traceback(tmp_path: Path) -> None:
    """The python preset makes a log line and its whole traceback one record."""
    assert run_trace(tmp_path, "python", PYTHON) == [joined(PYTHON), NEXT.strip()]


def test_go_preset_joins_a_panic_with_its_goroutines(tmp_path: Path) -> None:
    """The go preset makes a log line and the panic with its goroutine frames one record."""
    assert run_trace(tmp_path, "go", GO) == [joined(GO), NEXT.strip()]


def test_record_longer_than_a_read_chunk_is_not_split(tmp_path: Path) -> None:
    """A 300-frame trace spanning many 4 KiB reads arrives as one record."""
    frames = "".join(f"\tat com.example.Deep.call{i}(Deep.java:{i})\n" for i in range(300))
    trace = "2026-11-28 10:15:02 ERROR deep\njava.lang.StackOverflowError\n" + frames
    assert run_trace(tmp_path, "java", trace) == [joined(trace), NEXT.strip()]


def test_record_paused_mid_trace_is_not_split(tmp_path: Path) -> None:
    """A trace whose second half is written after a pause shorter than timeout_s is one record."""
    log = tmp_path / "app.log"
    head, tail = JAVA[:200], JAVA[200:]
    write(log, head)
    multiline = MultilineConfig(continue_=MULTILINE_PRESETS["java"]["continue"], timeout_s=1.0)
    run = TailRun(source(tmp_path, multiline=multiline))
    try:
        for _ in range(10):
            run.pump()
        write(log, tail + NEXT)
        run.count(2)
        assert run.records == [joined(JAVA), NEXT.strip()]
    finally:
        run.close()


def test_restart_mid_record_commits_a_record_boundary_and_keeps_the_record_whole(
        tmp_path: Path) -> None:
    """Stopping while a trace is half written commits the offset of its first line, and the
    next run emits the trace once, whole."""
    log = tmp_path / "app.log"
    first = "2026-11-28 10:15:01 INFO started\n"
    write(log, first + JAVA[:150])
    run = TailRun(source(tmp_path, multiline=preset("java")), config())
    try:
        run.count(1)
        for _ in range(5):
            run.pump()
        assert [cp.offset for cp in run.committed.values()] == [len(first)]
        assert not run.tailer.flush_all()
        run.restart()
        write(log, JAVA[150:] + NEXT)
        run.count(3)
        run.settle()
        assert run.records == [first.strip(), joined(JAVA), NEXT.strip()]
    finally:
        run.close()


def test_copytruncate_hands_out_a_held_multiline_record(tmp_path: Path) -> None:
    """A trace still held (waiting for its next line) when the file is truncated is emitted."""
    log = tmp_path / "app.log"
    write(log, JAVA)
    run = TailRun(source(tmp_path, multiline=MultilineConfig(
        continue_=MULTILINE_PRESETS["java"]["continue"], timeout_s=30.0)))
    try:
        run.pump()
        assert run.records == []  # held: no line after it yet, long timeout
        with open(log, "r+") as f:
            f.truncate(0)
        with open(log, "a") as f:
            f.write(NEXT)
        run.count(1)
        assert run.records[0] == joined(JAVA)
    finally:
        run.close()
