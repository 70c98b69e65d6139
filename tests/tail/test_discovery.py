"""Discovery: globs, exclude, late directories, events, age, compressed files, symlinks."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import time
from pathlib import Path

from structlog.testing import capture_logs

from agent.rulefile import SourceConfig
from tests.tail.helpers import TailRun, config, lines, source, write


def test_double_star_glob_matches_files_at_any_depth(tmp_path: Path) -> None:
    """``**`` matches files directly in the base directory and any level below."""
    for sub in ("", "a", "a/b", "a/b/c"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
        write(tmp_path / sub / "x.log", f"depth {sub.count('/') + bool(sub)}\n")
    run = TailRun(source(tmp_path, "**/*.log"))
    try:
        run.count(4)
        assert sorted(run.records) == [f"depth {d}" for d in range(4)]
    finally:
        run.close()


def test_exclude_drops_matching_files(tmp_path: Path) -> None:
    """A file matching an ``exclude`` glob is never read."""
    write(tmp_path / "app.log", "kept\n")
    write(tmp_path / "app.debug.log", "dropped\n")
    run = TailRun(source(tmp_path, exclude=("*.debug.log",)))
    try:
        run.count(1)
        run.settle()
        assert run.records == ["kept"]
    finally:
        run.close()


def test_directory_created_later_is_picked_up_from_its_first_line(tmp_path: Path) -> None:
    """Files in a directory that appears after the start are read from byte 0."""
    run = TailRun(source(tmp_path / "later"))
    try:
        run.settle(0.1)
        (tmp_path / "later").mkdir()
        write(tmp_path / "later" / "app.log", lines("late", 3))
        run.count(3)
        assert run.records == ["late 0", "late 1", "late 2"]
    finally:
        run.close()


def test_inotify_event_picks_up_a_new_file_before_the_next_rescan(tmp_path: Path) -> None:
    """With watch = "inotify", a new file is read well before poll_interval_s (30 s) elapses."""
    run = TailRun(source(tmp_path), config(watch="inotify", poll_interval_s=30.0))
    try:
        write(tmp_path / "app.log", lines("event", 2))
        run.count(2, timeout_s=5)
    finally:
        run.close()


def test_file_not_modified_within_ignore_older_is_skipped_until_written(tmp_path: Path) -> None:
    """An old file is not read; once written to, only the new lines arrive."""
    log = tmp_path / "old.log"
    write(log, lines("ancient", 3))
    hour_ago = time.time() - 3600
    os.utime(log, (hour_ago, hour_ago))
    write(tmp_path / "fresh.log", "fresh\n")
    run = TailRun(source(tmp_path), config(ignore_older_s=600))
    try:
        run.count(1)
        run.settle(0.1)
        write(log, "revived\n")
        run.count(2)
        run.settle()
        assert run.records == ["fresh", "revived"]
    finally:
        run.close()


def test_compressed_files_are_skipped_unless_the_glob_names_them(tmp_path: Path) -> None:
    """``*.log*`` does not read ``app.log.1.gz``; only plain files are followed."""
    write(tmp_path / "app.log", "plain\n")
    write(tmp_path / "app.log.1.gz", gzip.compress(b"compressed\n"))
    run = TailRun(source(tmp_path, "*.log*"))
    try:
        run.count(1)
        run.settle()
        assert run.records == ["plain"]
    finally:
        run.close()


def test_named_compressed_files_are_read_once_even_after_restart_and_rename(
        tmp_path: Path) -> None:
    """Globs naming .gz, .bz2 and .xz read each file's lines once; a rescan, a restart and a
    logrotate-style rename do not read them again."""
    write(tmp_path / "a.log.1.gz", gzip.compress(lines("gz", 3).encode()))
    write(tmp_path / "b.log.1.bz2", bz2.compress(lines("bz2", 3).encode()))
    write(tmp_path / "c.log.1.xz", lzma.compress(lines("xz", 3).encode()))
    src = SourceConfig(name="app", read_from="beginning", paths=(
        str(tmp_path / "*.gz"), str(tmp_path / "*.bz2"), str(tmp_path / "*.xz")))
    run = TailRun(src, config(poll_interval_s=0.02))
    try:
        run.count(9)
        run.settle(0.2)
        os.rename(tmp_path / "a.log.1.gz", tmp_path / "a.log.2.gz")
        run.settle(0.2)
        run.restart()
        run.settle(0.3)
        assert sorted(run.records) == sorted(f"{k} {i}" for k in ("gz", "bz2", "xz")
                                             for i in range(3))
    finally:
        run.close()


def test_zstd_file_named_by_the_glob_is_reported_and_not_read(tmp_path: Path) -> None:
    """``.zst`` cannot be read with the standard library: it is logged once and skipped."""
    write(tmp_path / "app.log.1.zst", b"\x28\xb5\x2f\xfd not really zstd")
    with capture_logs() as logs:
        run = TailRun(source(tmp_path, "*.zst"))
        try:
            run.settle(0.2)
        finally:
            run.close()
    assert run.records == []
    assert [e["event"] for e in logs].count("compressed_format_unsupported") == 1


def test_symlink_is_followed_and_repointing_it_switches_files(tmp_path: Path) -> None:
    """A symlinked log is read through its target; re-pointing the link starts reading the
    new target, while the old one is drained and released."""
    (tmp_path / "data").mkdir()
    old, new = tmp_path / "data" / "v1.txt", tmp_path / "data" / "v2.txt"
    write(old, lines("v1", 2))
    link = tmp_path / "app.log"
    link.symlink_to(old)
    run = TailRun(source(tmp_path))
    try:
        run.count(2)
        write(new, lines("v2", 2))
        tmp_link = tmp_path / "app.log.tmp"
        tmp_link.symlink_to(new)
        os.replace(tmp_link, link)
        write(old, lines("v1", 1, start=2))
        run.count(5)
        run.until(lambda: len(run.tailer.readers) == 1)
        run.settle()
        assert sorted(run.records) == ["v1 0", "v1 1", "v1 2", "v2 0", "v2 1"]
    finally:
        run.close()
