"""Deciding, for each discovered file, whether it is known and where to start reading."""

from __future__ import annotations

import contextlib
import os
import time

import structlog

from agent.config import TailConfig
from agent.rulefile import SourceConfig
from agent.state import FileCheckpoint
from agent.tail.compressed import CompressedReader
from agent.tail.discovery import COMPRESSED_SUFFIXES, READABLE_COMPRESSED
from agent.tail.identity import Head, file_id, head_matches, inodes_in, parse_key
from agent.tail.openfiles import OpenFiles
from agent.tail.reader import FileReader, open_fd

log = structlog.get_logger("agent.tail")


def checkpoint_key(source: SourceConfig, fid: str) -> str:
    """Checkpoint key of a file as read by one source: ``"<source>:<dev>:<ino>"``.

    Two rule files that watch the same file each keep their own offset.
    """
    return f"{source.name}:{fid}"


class Tracker:
    """Maps discovered paths to readers, opening new files at the right offset.

    Args:
        readers: the tailer's readers by checkpoint key (shared).
        files: the descriptor budget.
        config: the ``[tail]`` settings.
        checkpoints: durable offsets by checkpoint key (shared with the tailer).
        new_sources: sources started for the first time (``read_from`` applies).

    Attributes:
        initial_scan_done: set by the tailer after its first scan.
    """

    def __init__(self, readers: dict[str, FileReader], files: OpenFiles, config: TailConfig,
                 checkpoints: dict[str, FileCheckpoint], *, new_sources: set[str]) -> None:
        self._readers = readers
        self._files = files
        self._config = config
        self._checkpoints = checkpoints
        self._new_sources = new_sources
        self._ignored: dict[str, int] = {}
        self._unsupported: set[str] = set()
        self.initial_scan_done = False

    def track(self, source: SourceConfig, path: str) -> str | None:
        """Follow the file at ``path``; return its checkpoint key, or ``None`` if not followed."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = checkpoint_key(source, file_id(st))
        reader = self._readers.get(key)
        if reader is not None:
            if reader.path != path:
                log.info("file_renamed", source=source.name, old=reader.path, new=path)
                reader.path = path
            if reader.fd is None and reader.follows and (
                    st.st_size != reader.position or st.st_mtime_ns != reader.mtime_ns):
                self._files.wanted.add(key)
            return key
        if self._too_old(key, st):
            return None
        return key if self.open(source, path, key) is not None else None

    def _too_old(self, key: str, st: os.stat_result) -> bool:
        limit = self._config.ignore_older_s
        if limit <= 0 or time.time() - st.st_mtime <= limit:
            return False
        if key not in self._ignored:
            self._ignored[key] = st.st_size
            log.debug("file_ignored_older", key=key, size=st.st_size)
        return True

    def open(self, source: SourceConfig, path: str, key: str, *,
             gone: bool = False) -> FileReader | None:
        """Open a file not followed yet and position it; ``gone`` = already rotated away."""
        cls = FileReader
        if path.endswith(COMPRESSED_SUFFIXES):
            if not path.endswith(READABLE_COMPRESSED):
                if path not in self._unsupported:
                    self._unsupported.add(path)
                    log.warning("compressed_format_unsupported", source=source.name, path=path)
                return None
            cls = CompressedReader
        try:
            reader = cls(path, source, key=key, config=self._config)
            size = os.fstat(reader.fd).st_size if reader.fd is not None else 0
            offset, how = self._start_offset(reader, source, size)
        except OSError as exc:
            log.warning("file_open_failed", source=source.name, path=path, error=str(exc))
            return None
        reader.reset(offset)
        reader.gone = gone
        self._readers[key] = reader
        self._files.opened(reader, draining=gone)
        log.info("file_opened", source=source.name, path=path, offset=offset, start=how)
        return reader

    def _start_offset(self, reader: FileReader, source: SourceConfig,
                      size: int) -> tuple[int, str]:
        saved = self._checkpoints.get(reader.key)
        if saved is not None:
            assert reader.fd is not None
            if not head_matches(reader.fd, Head(saved.head_len, saved.head_hash)):
                return 0, "new_file_reused_inode"
            if reader.follows and size < saved.offset:
                return 0, "truncated_while_stopped"
            return saved.offset, "checkpoint"
        if reader.key in self._ignored and reader.follows:
            return self._ignored.pop(reader.key), "ignored_older"
        if (not self.initial_scan_done and source.name in self._new_sources
                and source.read_from == "end" and reader.follows):
            return size, "end"
        return 0, "beginning"

    def recover_rotated(self, source: SourceConfig, seen: set[str]) -> None:
        """At startup: drain checkpointed files renamed out of the globs while stopped.

        Such a file is looked up by inode in the directory it was last seen in (where
        logrotate renames it), checked by its head fingerprint, and read from its
        checkpoint to its end; it is then released as any rotated file.
        """
        prefix = f"{source.name}:"
        lost: dict[str, list[FileCheckpoint]] = {}
        for key, cp in self._checkpoints.items():
            if key.startswith(prefix) and key not in seen and key not in self._readers:
                lost.setdefault(os.path.dirname(cp.path), []).append(cp)
        for directory, cps in lost.items():
            inodes = inodes_in(directory)
            for cp in cps:
                ident = parse_key(cp.file_id)
                path = inodes.get(ident) if ident is not None else None
                if path is not None and _unread_same_file(path, cp):
                    self.open(source, path, cp.file_id, gone=True)


def _unread_same_file(path: str, cp: FileCheckpoint) -> bool:
    """Whether ``path`` is the checkpointed file (same head) and has bytes past its offset."""
    if path.endswith(COMPRESSED_SUFFIXES):
        return False
    try:
        fd = open_fd(path)
    except OSError:
        return False
    try:
        return (os.fstat(fd).st_size > cp.offset
                and head_matches(fd, Head(cp.head_len, cp.head_hash)))
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
