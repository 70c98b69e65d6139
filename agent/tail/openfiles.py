"""The descriptor budget: at most ``max_open_files`` followed files held open."""

from __future__ import annotations

from collections.abc import Iterable

from agent.config import TailConfig
from agent.tail.reader import FileReader


class OpenFiles:
    """Counts open descriptors; closes idle files to open ones that have new data.

    A closed reader keeps its whole read state; it is *wanted* (queued for
    reopening) when a rescan sees its size differ from its read position or an
    inotify event says it was written. Readers draining a rotated or deleted file
    are never closed to make room (closing a deleted file would lose its tail), so
    they may take the count past the limit for up to ``rotate_wait_s``.

    Args:
        readers: the tailer's readers by checkpoint key (shared, not copied).
        config: the ``[tail]`` settings (``max_open_files``).
    """

    def __init__(self, readers: dict[str, FileReader], config: TailConfig) -> None:
        self._readers = readers
        self._max = config.max_open_files
        self.count = 0
        self.wanted: set[str] = set()

    def opened(self, reader: FileReader, *, draining: bool = False) -> None:
        """Count a reader that was just constructed (it holds a descriptor).

        Over the limit, a followed file is closed again at once and queued, unless
        ``draining`` (rotated away, must be read through its descriptor).
        """
        self.count += 1
        if self.count > self._max and not draining:
            self.close(reader)
            self.wanted.add(reader.key)

    def close(self, reader: FileReader) -> None:
        """Close a reader's descriptor (its state is kept)."""
        if reader.fd is not None:
            reader.close()
            self.count -= 1

    def reopen(self, reader: FileReader, path: str) -> bool:
        """Reopen a closed reader at ``path`` if that is still its file."""
        if reader.fd is not None:
            return True
        if reader.reopen(path):
            self.count += 1
            return True
        return False

    def mark_modified(self, paths: Iterable[str]) -> None:
        """Queue the closed readers known under ``paths`` for reopening."""
        closed = {r.path: key for key, r in self._readers.items() if r.fd is None and r.follows}
        self.wanted.update(closed[p] for p in paths if p in closed)

    def open_wanted(self) -> None:
        """Reopen queued readers, closing the longest-idle drained files to make room."""
        if not self.wanted:
            return
        short = len(self.wanted) - (self._max - self.count)
        if short > 0:
            self._evict(short)
        for key in list(self.wanted):
            if self.count >= self._max:
                break
            self.wanted.discard(key)
            reader = self._readers.get(key)
            if reader is not None:
                # A failed reopen means the path is another file now: the next scan
                # finds this one by inode (or releases it if deleted).
                self.reopen(reader, reader.path)

    def _evict(self, n: int) -> None:
        idle = [r for r in self._readers.values()
                if r.fd is not None and r.at_eof and r.follows and not r.gone
                and not r.has_pending()]
        idle.sort(key=lambda r: r.last_data_at)
        for reader in idle[:n]:
            self.close(reader)
