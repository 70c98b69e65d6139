"""Rotation by rename, copytruncate and deletion, through a running Tailer."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.tail.helpers import TailRun, lines, open_fds, source, write


def test_rename_rotation_out_of_the_glob_drains_the_old_file_then_releases_it(
        tmp_path: Path) -> None:
    """Lines the app writes to its old file after the rename arrive, then the old file is
    closed rotate_wait_s after its last write; the new file is read from byte 0."""
    log = tmp_path / "app.log"
    app = open(log, "a", buffering=1)  # noqa: SIM115 - the "application" keeps it open
    run = TailRun(source(tmp_path))
    try:
        app.write(lines("old", 3))
        run.count(3)
        os.rename(log, tmp_path / "app.log.1")
        app.write(lines("old", 2, start=3))
        write(log, lines("new", 2))
        run.count(7)
        app.close()
        run.until(lambda: len(run.tailer.readers) == 1)
        run.settle()
        assert sorted(run.records) == sorted([f"old {i}" for i in range(5)]
                                             + ["new 0", "new 1"])
        assert next(iter(run.tailer.readers.values())).path == str(log)
    finally:
        app.close()
        run.close()


def test_rename_rotation_within_the_glob_reads_nothing_twice(tmp_path: Path) -> None:
    """A file renamed to a name the glob also matches keeps its offset, across a restart too."""
    log = tmp_path / "app.log"
    write(log, lines("old", 3))
    run = TailRun(source(tmp_path, "app.log*"))
    try:
        run.count(3)
        os.rename(log, tmp_path / "app.log.1")
        write(tmp_path / "app.log.1", lines("old", 1, start=3))
        write(log, lines("new", 2))
        run.count(6)
        run.restart()
        write(log, lines("new", 1, start=2))
        run.count(7)
        run.settle()
        assert sorted(run.records) == sorted([f"old {i}" for i in range(4)]
                                             + [f"new {i}" for i in range(3)])
    finally:
        run.close()


def test_file_rotated_out_of_the_glob_while_stopped_is_found_by_inode_and_drained(
        tmp_path: Path) -> None:
    """Lines written before a rotation that happened while the agent was stopped arrive once."""
    log = tmp_path / "app.log"
    write(log, lines("old", 3))
    run = TailRun(source(tmp_path))
    try:
        run.count(3)
        run.tailer.close()
        write(log, lines("old", 2, start=3))
        os.rename(log, tmp_path / "app.log-20261128")
        write(log, lines("new", 2))
        run.restart()
        run.count(7)
        run.until(lambda: len(run.tailer.readers) == 1)
        run.settle()
        assert sorted(run.records) == sorted([f"old {i}" for i in range(5)]
                                             + ["new 0", "new 1"])
    finally:
        run.close()


def test_copytruncate_reads_the_new_content_from_zero_without_duplicates(tmp_path: Path) -> None:
    """After copy-then-truncate, the file (now shorter than the offset) is read from 0, once."""
    log = tmp_path / "app.log"
    write(log, lines("before", 5))
    run = TailRun(source(tmp_path))
    try:
        run.count(5)
        run.settle(0.05)
        shutil.copyfile(log, tmp_path / "app.log.1")
        os.truncate(log, 0)
        write(log, lines("after", 2))
        run.count(7)
        run.settle()
        assert run.records == [f"before {i}" for i in range(5)] + ["after 0", "after 1"]
    finally:
        run.close()


def test_copytruncate_regrown_past_the_offset_is_detected_by_the_head(tmp_path: Path) -> None:
    """A file truncated and regrown beyond the old offset before the tailer looked again is
    noticed by its changed head fingerprint and read from 0."""
    log = tmp_path / "app.log"
    write(log, lines("x", 3))
    run = TailRun(source(tmp_path))
    try:
        run.count(3)
        run.settle(0.05)
        os.truncate(log, 0)
        write(log, lines("after the truncation", 4))
        run.count(7)
        run.settle()
        assert run.records[3:] == [f"after the truncation {i}" for i in range(4)]
    finally:
        run.close()


def test_deleted_file_still_written_is_read_to_its_end_then_released(tmp_path: Path) -> None:
    """Lines written to an unlinked file arrive; its descriptor is closed rotate_wait_s later."""
    log = tmp_path / "app.log"
    app = open(log, "a", buffering=1)  # noqa: SIM115 - the "application" keeps it open
    run = TailRun(source(tmp_path))
    try:
        app.write(lines("kept", 2))
        run.count(2)
        before = open_fds()
        os.unlink(log)
        app.write(lines("kept", 2, start=2))
        run.count(4)
        app.close()
        run.until(lambda: not run.tailer.readers)
        assert open_fds() == before - 2  # the app's descriptor and the tailer's
        assert run.records == [f"kept {i}" for i in range(4)]
    finally:
        app.close()
        run.close()
