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
from agent.tail.discovery import discover, watch_dirs
from agent.tail.identity import Head, file_id, head_matches
from agent.tail.reader import FileReader
from agent.tail.watcher import DirectoryWatcher

log = structlog.get_logger("agent.tail")


def checkpoint_key(source: SourceConfig, fid: str) -> str:
    """Checkpoint key of a file as read by one source: ``"<source>:<dev>:<ino>"``.

    Two rule files that watch the same file each keep their own offset.
    """
    return f"{source.name}:{fid}"


class Tailer:
    """Follows every file of every source.

    Rotation by rename keeps the open descriptor: the old file is read to its
    end and released ``rotate_wait_s`` after its last data, while the new file
    at the same path is read from its first byte. A file shorter than what was
    read (copytruncate) is read again from 0.

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
        self._checkpoints = checkpoints
        self._new_sources = new_sources
        self._initial_scan_done = False
        self.readers: dict[str, FileReader] = {}
        self.watcher = DirectoryWatcher() if config.watch == "inotify" else None
        self._wake = threading.Event()
        self._next_scan = 0.0

    # -- discovery ---------------------------------------------------------------------

    def scan(self) -> None:
        """Match the globs now: open new files, notice renamed, rotated and deleted ones."""
        seen: set[str] = set()
        for source in self.sources:
            if self.watcher is not None:
                self.watcher.watch(watch_dirs(source))
            for path in discover(source):
                key = self._track(source, path)
                if key is not None:
                    seen.add(key)
        for key, reader in self.readers.items():
            reader.gone = key not in seen
        self._initial_scan_done = True
        self._next_scan = time.monotonic() + self.config.poll_interval_s

    def _track(self, source: SourceConfig, path: str) -> str | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = checkpoint_key(source, file_id(st))
        reader = self.readers.get(key)
        if reader is not None:
            if reader.path != path:
                log.info("file_renamed", source=source.name, old=reader.path, new=path)
                reader.path = path
            return key
        try:
            self._open(source, path, key, st.st_size)
        except OSError as exc:
            log.warning("file_open_failed", source=source.name, path=path, error=str(exc))
            return None
        return key

    def _open(self, source: SourceConfig, path: str, key: str, size: int) -> None:
        reader = FileReader(path, source, offset=0, chunk_bytes=self.config.read_chunk_bytes,
                            max_line_bytes=self.config.max_line_bytes,
                            partial_timeout_s=self.config.partial_line_timeout_s)
        reader.key = key
        offset, how = self._start_offset(reader, source, key, size)
        reader.reset(offset)
        self.readers[key] = reader
        log.info("file_opened", source=source.name, path=path, offset=offset, start=how)

    def _start_offset(self, reader: FileReader, source: SourceConfig, key: str,
                      size: int) -> tuple[int, str]:
        saved = self._checkpoints.get(key)
        if saved is not None:
            if not head_matches(reader.fd, Head(saved.head_len, saved.head_hash)):
                return 0, "new_file_reused_inode"
            if size < saved.offset:
                return 0, "truncated_while_stopped"
            return saved.offset, "checkpoint"
        if (not self._initial_scan_done and source.name in self._new_sources
                and source.read_from == "end"):
            return size, "end"
        return 0, "beginning"

    # -- reading -----------------------------------------------------------------------

    def read(self, budget_bytes: int) -> list[RecordBlock]:
        """Read up to about ``budget_bytes`` across all files (round robin).

        Returns:
            Blocks that hold records or advance a checkpoint; empty when all are idle.
        """
        if time.monotonic() >= self._next_scan or self._rescan_requested():
            self.scan()
        blocks: list[RecordBlock] = []
        spent = 0
        for key in list(self.readers):
            reader = self.readers[key]
            while spent < budget_bytes:
                try:
                    block = reader.read()
                except OSError as exc:
                    log.warning("file_read_failed", path=reader.path, error=str(exc))
                    block = None
                if block is None:
                    self._maybe_release(key, reader)
                    break
                spent += max(1, block.checkpoint - block.offset)
                if block.texts or block.checkpoint != block.offset:
                    blocks.append(block)
        return blocks

    def _rescan_requested(self) -> bool:
        if self.watcher is not None and self.watcher.rescan.is_set():
            self.watcher.rescan.clear()
            return True
        return False

    def _maybe_release(self, key: str, reader: FileReader) -> None:
        """Close a file that is gone (rotated away or deleted) once drained and quiet."""
        if reader.check_truncated():
            log.info("file_truncated", path=reader.path)
            return
        if not reader.gone:
            return
        if time.monotonic() - reader.last_data_at < self.config.rotate_wait_s:
            return
        if reader.has_pending():
            return
        self.checkpoint(key, reader.offset)
        reader.close()
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
        """Hand out held records (pending multiline records) at shutdown."""
        blocks = []
        for reader in self.readers.values():
            block = reader.flush_pending()
            if block is not None:
                blocks.append(block)
        return blocks

    def close(self) -> None:
        """Stop watching and close every file."""
        if self.watcher is not None:
            self.watcher.stop()
        for reader in self.readers.values():
            reader.close()
        self.readers.clear()
