"""File-system events (watchdog) that wake the tailer early.

Events are only a hint: the tailer also rescans every ``poll_interval_s``, so a
lost or coalesced inotify event (or an exhausted watch limit) delays a line by
at most one poll interval and never loses it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import structlog
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

log = structlog.get_logger("agent.tail")


MAX_PENDING_EVENTS = 10_000
"""Modified paths or moves held between two reads; beyond it, a full rescan is asked for."""


class _Wake(FileSystemEventHandler):
    def __init__(self, watcher: DirectoryWatcher) -> None:
        self._watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        watcher = self._watcher
        kind = event.event_type
        if kind == "modified" and not event.is_directory:
            watcher.note_modified(_text(event.src_path))
        elif kind == "moved":
            watcher.note_moved(_text(event.src_path), _text(event.dest_path))
        if kind not in ("modified", "closed", "opened", "closed_no_write"):
            watcher.rescan.set()
        watcher.changed.set()


def _text(path: str | bytes) -> str:
    return path if isinstance(path, str) else path.decode(errors="surrogateescape")


class DirectoryWatcher:
    """Watches directories with inotify (via watchdog) and sets events on change.

    Attributes:
        changed: set on any event in a watched directory.
        rescan: set when files may have appeared, moved or vanished.
    """

    def __init__(self) -> None:
        self.changed = threading.Event()
        self.rescan = threading.Event()
        self._lock = threading.Lock()
        self._modified: set[str] = set()
        self._moves: list[tuple[str, str]] = []
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self._watched: set[str] = set()

    def watch(self, directories: Mapping[str, bool]) -> None:
        """Watch ``{directory: recursive}`` not watched yet; a failure falls back to polling."""
        if self._observer is None:
            self._observer = Observer()
            self._observer.daemon = True
            self._observer.start()
        handler = _Wake(self)
        for directory in sorted(set(directories) - self._watched):
            try:
                self._observer.schedule(handler, directory, recursive=directories[directory])
                self._watched.add(directory)
            except OSError as exc:
                log.warning("watch_failed", directory=directory, error=str(exc),
                            fallback="poll")

    def note_modified(self, path: str) -> None:
        """Remember that ``path`` was written (observer thread)."""
        with self._lock:
            if len(self._modified) < MAX_PENDING_EVENTS:
                self._modified.add(path)
            else:
                self.rescan.set()

    def note_moved(self, src: str, dest: str) -> None:
        """Remember a rename (observer thread)."""
        with self._lock:
            if len(self._moves) < MAX_PENDING_EVENTS:
                self._moves.append((src, dest))
            else:
                self.rescan.set()

    def take(self) -> tuple[set[str], list[tuple[str, str]]]:
        """The paths modified and the ``(src, dest)`` renames since the last call."""
        with self._lock:
            modified, self._modified = self._modified, set()
            moves, self._moves = self._moves, []
        return modified, moves

    def stop(self) -> None:
        """Stop the observer thread."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
