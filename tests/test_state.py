"""The state store under a full disk and with a corrupt file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.errors import StateError
from agent.state import FileCheckpoint, StateStore


def checkpoint(offset: int) -> FileCheckpoint:
    return FileCheckpoint(file_id="app:1:2", path="/var/log/app.log", offset=offset,
                          head_len=0, head_hash="")


def test_full_disk_rolls_back_the_whole_enqueue_and_recovers(tmp_path: Path) -> None:
    """SQLITE_FULL during enqueue raises StateError, writes neither batch nor offset, and
    the same enqueue succeeds once space returns, leaving an intact database."""
    store = StateStore(tmp_path / "state.db")
    store.enqueue([(b"[1]", 1)], [checkpoint(10)])
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    big = [(bytes(200_000), 5)]
    with pytest.raises(StateError, match="full"):
        store.enqueue(big, [checkpoint(99)])
    assert store.stats().batches == 1 and store.checkpoints()["app:1:2"].offset == 10
    store._db.execute("PRAGMA max_page_count = 1073741823")
    store.enqueue(big, [checkpoint(99)])
    assert store.stats().alerts == 6 and store.checkpoints()["app:1:2"].offset == 99
    store.verify()
    store.close()


def test_garbage_file_is_refused_with_the_recovery_hint(tmp_path: Path) -> None:
    """A state.db that is not a database raises StateError naming the file and the
    recovery path, and the file is left as it was."""
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 300)
    with pytest.raises(StateError, match=r"move state\.db") as caught:
        StateStore(path)
    assert caught.value.path == str(path)
    assert path.read_bytes() == b"this is not sqlite" * 300


def test_verify_detects_damaged_pages(tmp_path: Path) -> None:
    """verify() raises StateError for a database whose table pages were overwritten."""
    path = tmp_path / "state.db"
    store = StateStore(path)
    store.enqueue([(bytes(3000), 1) for _ in range(50)], [checkpoint(1)])
    store.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    with open(path, "r+b") as f:
        header = f.read(100)
        page = int.from_bytes(header[16:18], "big") or 65536
        size = f.seek(0, 2)
        f.seek(page)  # every page after the first: the tables' b-tree pages
        f.write(b"\xff" * (size - page))
    with pytest.raises(StateError, match=r"corrupt|malformed|not a database"):
        damaged = StateStore(path)
        try:
            damaged.verify()
        finally:
            damaged.close()
