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


class _Wake(FileSystemEventHandler):
    def __init__(self, changed: threading.Event, rescan: threading.Event) -> None:
        self._changed = changed
        self._rescan = rescan

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in ("modified", "closed", "opened", "closed_no_write"):
            self._rescan.set()
        self._changed.set()


class DirectoryWatcher:
    """Watches directories with inotify (via watchdog) and sets events on change.

    Attributes:
        changed: set on any event in a watched directory.
        rescan: set when files may have appeared, moved or vanished.
    """

    def __init__(self) -> None:
        self.changed = threading.Event()
        self.rescan = threading.Event()
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self._watched: set[str] = set()

    def watch(self, directories: Mapping[str, bool]) -> None:
        """Watch ``{directory: recursive}`` not watched yet; a failure falls back to polling."""
        if self._observer is None:
            self._observer = Observer()
            self._observer.daemon = True
            self._observer.start()
        handler = _Wake(self.changed, self.rescan)
        for directory in sorted(set(directories) - self._watched):
            try:
                self._observer.schedule(handler, directory, recursive=directories[directory])
                self._watched.add(directory)
            except OSError as exc:
                log.warning("watch_failed", directory=directory, error=str(exc),
                            fallback="poll")

    def stop(self) -> None:
        """Stop the observer thread."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
