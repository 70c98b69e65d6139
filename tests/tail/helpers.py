"""A running Tailer over real files, with the pipeline's commit-then-restart cycle."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.config import TailConfig
from agent.records import RecordBlock
from agent.rulefile import SourceConfig
from agent.state import FileCheckpoint
from agent.tail import Tailer

FAST = TailConfig(watch="poll", poll_interval_s=0.05, partial_line_timeout_s=0.3,
                  rotate_wait_s=0.3, read_chunk_bytes=4096)
"""Short timeouts so tests finish quickly."""


class TailRun:
    """A Tailer over ``source``; every block is 'committed' at once, as the pipeline does.

    Attributes:
        records: every record text handed out, in order (across restarts).
        blocks: every block handed out.
        committed: the checkpoints a state store would hold.
    """

    def __init__(self, source: SourceConfig, config: TailConfig = FAST) -> None:
        self.source = source
        self.config = config
        self.records: list[str] = []
        self.blocks: list[RecordBlock] = []
        self.committed: dict[str, FileCheckpoint] = {}
        self._started = False
        self.tailer = self._new()

    def _new(self) -> Tailer:
        new = set() if self._started else {self.source.name}
        self._started = True
        tailer = Tailer([self.source], self.config, dict(self.committed), new_sources=new)
        tailer.scan()
        for cp in tailer.positions():
            self.committed[cp.file_id] = cp
        return tailer

    def pump(self) -> int:
        """One read pass; returns the number of records it handed out."""
        n = 0
        for block in self.tailer.read(1 << 20):
            self.blocks.append(block)
            self.records.extend(block.texts)
            n += len(block.texts)
            self.committed[block.file_id] = self.tailer.checkpoint(block.file_id,
                                                                  block.checkpoint)
        return n

    def until(self, condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
        """Pump until ``condition()`` holds; fail after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; records so far: {self.records[-20:]}")
            if not self.pump():
                time.sleep(0.01)

    def settle(self, quiet_s: float = 0.3) -> None:
        """Pump until nothing new arrived for ``quiet_s`` seconds."""
        last = time.monotonic()
        while time.monotonic() - last < quiet_s:
            if self.pump():
                last = time.monotonic()
            else:
                time.sleep(0.01)

    def count(self, n: int, timeout_s: float = 5.0) -> None:
        """Pump until at least ``n`` records arrived."""
        self.until(lambda: len(self.records) >= n, timeout_s)

    def restart(self) -> None:
        """Close the tailer and build a new one from the committed checkpoints."""
        self.tailer.close()
        self.tailer = self._new()

    def close(self) -> None:
        """Close the tailer."""
        self.tailer.close()


def source(tmp: Path, pattern: str = "*.log", **kw: Any) -> SourceConfig:
    """A source over ``tmp/pattern`` reading new files from the beginning."""
    kw.setdefault("read_from", "beginning")
    return SourceConfig(name="app", paths=(str(tmp / pattern),), **kw)


def config(**kw: Any) -> TailConfig:
    """``FAST`` with some settings changed."""
    return dataclasses.replace(FAST, **kw)


def write(path: Path, text: str | bytes, mode: str = "a") -> None:
    """Write (append by default) to a file and close it, as a logging app would."""
    data = text.encode() if isinstance(text, str) else text
    with open(path, mode + "b") as f:
        f.write(data)


def lines(prefix: str, n: int, start: int = 0) -> str:
    """``n`` newline-terminated lines ``"<prefix> <i>"``."""
    return "".join(f"{prefix} {i}\n" for i in range(start, start + n))


def open_fds() -> int:
    """Descriptors this process holds now (Linux)."""
    return len(os.listdir("/proc/self/fd"))
