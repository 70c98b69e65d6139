"""Joining lines into multiline records (stack traces) across reads.

A joiner keeps the pending record between reads, so a record is never split
because a read ended in its middle; the offset it reports as committable is
always the end of the last record it emitted, i.e. a record boundary.
"""

from __future__ import annotations

import re
import time

from agent.rulefile import MultilineConfig


class MultilineJoiner:
    """Groups lines into records by a ``start`` or a ``continue`` pattern.

    With ``start``, a matching line begins a record and any other line joins
    the current one. With ``continue``, a matching line joins the current
    record and any other begins one. A record is cut at ``max_lines`` lines or
    ``max_bytes`` characters, and :meth:`flush_due` emits it when no line has
    followed for ``timeout_s`` seconds.
    """

    def __init__(self, config: MultilineConfig) -> None:
        self._start = re.compile(config.start).search if config.start else None
        self._cont = re.compile(config.continue_).search if config.continue_ else None
        self._max_lines = config.max_lines
        self._max_chars = config.max_bytes
        self.timeout_s = config.timeout_s
        self._lines: list[str] = []
        self._chars = 0
        self._end = 0
        self._last_line_at = 0.0
        self._marked = False

    @property
    def pending(self) -> bool:
        """Whether a record is being held."""
        return bool(self._lines)

    def feed(self, texts: list[str], ends: list[int]) -> tuple[list[str], list[int]]:
        """Add lines; return the records completed by them (and their end offsets)."""
        out_texts, out_ends, _ = self.feed_marked(texts, ends, frozenset())
        return out_texts, out_ends

    def feed_marked(self, texts: list[str], ends: list[int], marked: frozenset[int],
                    ) -> tuple[list[str], list[int], frozenset[int]]:
        """As :meth:`feed`; ``marked`` holds indexes of truncated input lines.

        Returns:
            ``(texts, ends, marked)``: completed records, their end offsets, and the
            indexes of those records that contain a truncated line.
        """
        out_texts: list[str] = []
        out_ends: list[int] = []
        out_marked: set[int] = set()
        start, cont = self._start, self._cont
        for i, (text, end) in enumerate(zip(texts, ends, strict=True)):
            begins = bool(start(text)) if start else not cont(text)  # type: ignore[misc]
            if self._lines and (begins or len(self._lines) >= self._max_lines
                                or self._chars + len(text) > self._max_chars):
                if self._marked:
                    out_marked.add(len(out_texts))
                out_texts.append("\n".join(self._lines))
                out_ends.append(self._end)
                self._lines = []
                self._chars = 0
                self._marked = False
            self._lines.append(text)
            self._chars += len(text) + 1
            self._end = end
            if marked and i in marked:
                self._marked = True
        if texts:
            self._last_line_at = time.monotonic()
        return out_texts, out_ends, frozenset(out_marked)

    def flush_due(self, now: float | None = None) -> tuple[list[str], list[int]]:
        """Emit the pending record if ``timeout_s`` passed since its last line."""
        now = time.monotonic() if now is None else now
        if self._lines and now - self._last_line_at >= self.timeout_s:
            return self.flush()
        return [], []

    @property
    def pending_marked(self) -> bool:
        """Whether the pending record holds a truncated line (read before :meth:`flush`)."""
        return self._marked

    def flush(self) -> tuple[list[str], list[int]]:
        """Emit the pending record now (end of input)."""
        if not self._lines:
            return [], []
        text, end = "\n".join(self._lines), self._end
        self._lines = []
        self._chars = 0
        self._marked = False
        return [text], [end]
