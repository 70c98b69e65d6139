"""The reading thread blocks, and loses nothing, while state.db cannot be written."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

import agent.pipeline
from agent.config import load_config
from agent.errors import StateError
from agent.pipeline import Pipeline
from agent.state import StateStore

RULES = r"""
[source]
paths = ["../logs/*.log"]
read_from = "beginning"

[[rule]]
name = "errors"
pattern = '^(?P<level>ERROR) (?P<message>.*)'
status = "critical"

[rule.alert]
check = "app"
description = "{message}"
"""

AGENT = """
[bigpanda]
endpoint = "http://127.0.0.1:9/data/v2/alerts"
app_key = "k"
[batch]
max_alerts = 10
flush_interval_s = 0.05
[queue]
state_dir = "state"
[tail]
watch = "poll"
poll_interval_s = 0.05
[rules]
dir = "rules.d"
"""

DISK_FULL = threading.Event()


class FlakyStore(StateStore):
    """A state store whose enqueue fails like a full disk while DISK_FULL is set."""

    def enqueue(self, batches: Sequence[tuple[bytes, int]],
                checkpoints: Any, dead_letters: Any = ()) -> None:
        if DISK_FULL.is_set():
            raise StateError("commit failed: database or disk is full", path=str(self.path))
        super().enqueue(batches, checkpoints, dead_letters)


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def named(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


def queued_and_offset(db: Path) -> tuple[int, int]:
    conn = sqlite3.connect(db)
    try:
        alerts = conn.execute("SELECT COALESCE(SUM(alerts), 0) FROM batches").fetchone()[0]
        offset = conn.execute("SELECT COALESCE(MAX(offset), 0) FROM files").fetchone()[0]
    finally:
        conn.close()
    return int(alerts), int(offset)


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    (tmp_path / "logs").mkdir()
    (tmp_path / "rules.d").mkdir()
    (tmp_path / "rules.d" / "app.toml").write_text(RULES)
    (tmp_path / "agent.toml").write_text(AGENT)
    monkeypatch.setattr(agent.pipeline, "StateStore", FlakyStore)
    DISK_FULL.clear()
    fatal: list[BaseException] = []
    made = Pipeline(load_config(tmp_path / "agent.toml"), on_queued=lambda: None,
                    on_fatal=fatal.append)
    yield made
    made.stop()
    assert made.join(5.0)
    DISK_FULL.clear()
    assert not fatal


def test_full_disk_blocks_reading_then_commits_everything(
        pipeline: Pipeline, tmp_path: Path) -> None:
    """A failing commit logs queue_write_failed once, advances no offset, keeps the batch in
    memory, and after space returns logs queue_write_recovered and queues every alert."""
    db = tmp_path / "state" / "state.db"
    log = tmp_path / "logs" / "app.log"
    log.write_text("")
    with capture_logs() as logs:
        pipeline.start()
        assert pipeline.ready.wait(5.0)
        DISK_FULL.set()
        log.write_text("".join(f"ERROR number {n}\n" for n in range(25)))
        wait_until(lambda: pipeline.write_blocked)
        time.sleep(0.5)
        assert queued_and_offset(db) == (0, 0)
        with log.open("a") as f:
            f.write("ERROR written while blocked\n")
        DISK_FULL.clear()
        wait_until(lambda: queued_and_offset(db) == (26, log.stat().st_size))
    failed = named(logs, "queue_write_failed")
    assert len(failed) == 1 and "disk is full" in failed[0]["reason"]
    assert len(named(logs, "queue_write_recovered")) == 1
    assert not pipeline.write_blocked


def test_stop_while_blocked_abandons_the_write_and_keeps_offsets(
        pipeline: Pipeline, tmp_path: Path) -> None:
    """A stop during a write outage ends the thread promptly, with offsets not advanced,
    so the records are read again at the next start."""
    db = tmp_path / "state" / "state.db"
    (tmp_path / "logs" / "app.log").write_text("ERROR one\nERROR two\n")
    DISK_FULL.set()
    with capture_logs() as logs:
        pipeline.start()
        wait_until(lambda: pipeline.write_blocked)
        started = time.monotonic()
        pipeline.stop()
        assert pipeline.join(5.0) and time.monotonic() - started < 2.0
    assert queued_and_offset(db) == (0, 0)
    assert named(logs, "queue_write_abandoned")[0]["alerts"] == 2

