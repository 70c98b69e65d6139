"""The tail source: discovers files, follows them across rotation, yields record blocks."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence

import structlog

from agent.config import TailConfig
from agent.records import RecordBlock
from agent.rulefile import SourceConfig
from agent.state import FileCheckpoint
from agent.tail.discovery import discover, matches, watch_dirs
from agent.tail.identity import file_id, find_inode
from agent.tail.openfiles import OpenFiles
from agent.tail.reader import FileReader
from agent.tail.tracking import Tracker, checkpoint_key
from agent.tail.watcher import DirectoryWatcher

log = structlog.get_logger("agent.tail")


class Tailer:
    """Follows every file of every source.

    Rotation by rename keeps the open descriptor: the old file is read to its
    end and released ``rotate_wait_s`` after its last data, while the new file
    at the same path is read from its first byte. A file shorter than what was
    read (copytruncate), or whose head changed, is read again from 0. At most
    ``max_open_files`` descriptors are held for followed files: idle ones are
    closed and reopened by identity when they change. See docs/tailing.md.

    Args:
        sources: the sources of the loaded rule files.
        config: the ``[tail]`` settings.
        checkpoints: durable offsets from the state store, by checkpoint key.
        new_sources: names of sources started for the first time; only for them
            does ``read_from = "end"`` skip the content of files present at that first
            scan. Files that appear later are always read from their first byte, so
            nothing written while the agent was stopped is skipped.
    """

    def __init__(
        self,
        sources: Sequence[SourceConfig],
        config: TailConfig,
        checkpoints: dict[str, FileCheckpoint],
        *,
        new_sources: set[str],
    ) -> None:
        self.sources = tuple(sources)
        self.config = config
        self.readers: dict[str, FileReader] = {}
        self.files = OpenFiles(self.readers, config)
        self.tracker = Tracker(self.readers, self.files, config, checkpoints,
                               new_sources=new_sources)
        self._checkpoints = checkpoints
        self.watcher = DirectoryWatcher() if config.watch == "inotify" else None
        self._wake = threading.Event()
        self._next_scan = 0.0

    @property
    def truncated_lines(self) -> int:
        """Lines cut at ``max_line_bytes`` by the files followed now."""
        return sum(r.truncated_lines for r in self.readers.values())

    # -- discovery ---------------------------------------------------------------------

    def scan(self) -> None:
        """Match the globs now: open new files, notice renamed, rotated and deleted ones."""
        seen: set[str] = set()
        for source in self.sources:
            if self.watcher is not None:
                self.watcher.watch(watch_dirs(source))
            for path in discover(source):
                key = self.tracker.track(source, path)
                if key is not None:
                    seen.add(key)
            if not self.tracker.initial_scan_done:
                self.tracker.recover_rotated(source, seen)
        for key, reader in list(self.readers.items()):
            reader.gone = key not in seen
            if reader.gone and reader.fd is None:
                self._relocate(key, reader)
        self.tracker.initial_scan_done = True
        self._next_scan = time.monotonic() + self.config.poll_interval_s

    def _relocate(self, key: str, reader: FileReader) -> None:
        """A closed file left its glob: find it by inode in its directory, or release it."""
        if reader.follows:
            found = find_inode(os.path.dirname(reader.path), reader.dev, reader.ino)
            if found is not None and self.files.reopen(reader, found):
                log.info("file_renamed", source=reader.source.name, old=reader.path, new=found)
                return
        self._release(key, reader)

    def _events(self) -> None:
        """Apply inotify hints: reopen closed files written to; follow quick renames."""
        if self.watcher is None:
            return
        modified, moves = self.watcher.take()
        if modified:
            self.files.mark_modified(modified)
        for src, dest in moves:
            for source in self.sources:
                if matches(source, src) and not matches(source, dest):
                    self._follow_rename(source, dest)

    def _follow_rename(self, source: SourceConfig, dest: str) -> None:
        """A matching file was renamed out of the globs, perhaps before any scan saw it."""
        try:
            key = checkpoint_key(source, file_id(os.stat(dest)))
        except OSError:
            return
        if key not in self.readers and os.path.isfile(dest):
            reader = self.tracker.open(source, dest, key)
            if reader is not None:
                reader.gone = True

    # -- reading -----------------------------------------------------------------------

    def read(self, budget_bytes: int) -> list[RecordBlock]:
        """Read up to about ``budget_bytes`` across all files.

        Returns:
            Blocks that hold records or advance a checkpoint; empty when all are idle.
        """
        if time.monotonic() >= self._next_scan or self._rescan_requested():
            self.scan()
        self._events()
        self.files.open_wanted()
        blocks: list[RecordBlock] = []
        spent = 0
        for key, reader in list(self.readers.items()):
            if reader.fd is None:
                continue
            while spent < budget_bytes:
                before = reader.position
                try:
                    block = reader.read()
                except OSError as exc:
                    log.warning("file_read_failed", path=reader.path, error=str(exc))
                    block = None
                if block is None:
                    self._idle(key, reader)
                    break
                spent += max(1, reader.position - before)
                if block.texts or block.checkpoint != block.offset:
                    blocks.append(block)
        return blocks

    def _rescan_requested(self) -> bool:
        if self.watcher is not None and self.watcher.rescan.is_set():
            self.watcher.rescan.clear()
            return True
        return False

    def _idle(self, key: str, reader: FileReader) -> None:
        """A file had nothing new: release it if gone and quiet; close it if inactive."""
        if reader.has_pending() or reader.fd is None:
            return
        quiet_s = time.monotonic() - reader.last_data_at
        if reader.gone:
            if quiet_s >= self.config.rotate_wait_s:
                self._release(key, reader)
        elif not reader.follows or quiet_s >= self.config.close_inactive_s:
            self.files.close(reader)
            log.debug("file_closed_inactive", path=reader.path, offset=reader.offset)

    def _release(self, key: str, reader: FileReader) -> None:
        self.checkpoint(key, reader.offset)
        self.files.close(reader)
        del self.readers[key]
        log.info("file_released", path=reader.path, offset=reader.offset)

    def wait(self, timeout_s: float) -> None:
        """Sleep until a file-system event, :meth:`wake`, or ``timeout_s`` seconds."""
        deadline = min(timeout_s, max(0.0, self._next_scan - time.monotonic()))
        if self.watcher is not None:
            self.watcher.changed.wait(deadline)
            self.watcher.changed.clear()
        else:
            self._wake.wait(deadline)
            self._wake.clear()

    def wake(self) -> None:
        """Interrupt :meth:`wait` (shutdown)."""
        self._wake.set()
        if self.watcher is not None:
            self.watcher.changed.set()

    # -- checkpoints -------------------------------------------------------------------

    def positions(self) -> list[FileCheckpoint]:
        """Checkpoints at the readers' current handed-out offsets."""
        return [self.checkpoint(key, r.offset) for key, r in self.readers.items()]

    def checkpoint(self, key: str, offset: int) -> FileCheckpoint:
        """A checkpoint of file ``key`` at ``offset``, with its current fingerprint."""
        reader = self.readers.get(key)
        if reader is None:
            saved = self._checkpoints[key]
            return FileCheckpoint(file_id=key, path=saved.path, offset=offset,
                                  head_len=saved.head_len, head_hash=saved.head_hash)
        head = reader.head
        cp = FileCheckpoint(file_id=key, path=reader.path, offset=offset, head_len=head.length,
                            head_hash=head.digest)
        self._checkpoints[key] = cp
        return cp

    def flush_all(self) -> list[RecordBlock]:
        """Records held at shutdown: none are handed out.

        A held partial line or multiline record is not emitted early: its bytes are
        past the committed offset (a record boundary), so the next run reads the
        record again, whole, instead of splitting it across a restart.
        """
        return []

    def close(self) -> None:
        """Stop watching and close every file."""
        if self.watcher is not None:
            self.watcher.stop()
        for reader in self.readers.values():
            reader.close()
        self.readers.clear()

