"""Reading one open file from a durable offset into record blocks."""

from __future__ import annotations

import contextlib
import os
import time

from agent.records import RecordBlock
from agent.rulefile import SourceConfig
from agent.tail.identity import HEAD_BYTES, Head, file_id, read_head
from agent.tail.lines import split_lines
from agent.tail.multiline import MultilineJoiner


class FileReader:
    """Follows one file (one identity) through its descriptor.

    The descriptor stays open across renames, so a rotated file is drained to
    its end through it. Reads are ``os.pread`` of ``chunk_bytes`` at a time;
    a final line without LF is held until more data or ``partial_timeout_s``.

    Attributes:
        file_id: ``"dev:ino"``.
        path: the path the file is currently known under.
        offset: committable offset: just past the last record handed out.
        head: the fingerprint of the file's first bytes.
    """

    def __init__(
        self,
        path: str,
        source: SourceConfig,
        *,
        offset: int,
        chunk_bytes: int,
        max_line_bytes: int,
        partial_timeout_s: float,
    ) -> None:
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        st = os.fstat(self.fd)
        self.file_id = file_id(st)
        self.key = self.file_id
        self.path = path
        self.source = source
        self.offset = offset
        self.head: Head = read_head(self.fd)
        self._chunk = chunk_bytes
        self._max_line = max_line_bytes
        self._partial_timeout_s = partial_timeout_s
        self._pos = offset
        self._buf = b""
        self._skipping = False
        self._joiner = MultilineJoiner(source.multiline) if source.multiline else None
        self.last_data_at = time.monotonic()
        self.truncated_lines = 0
        self.gone = False

    def reset(self, offset: int) -> None:
        """Start reading at ``offset``, dropping anything held."""
        self.offset = offset
        self._pos = offset
        self._buf = b""
        self._skipping = False
        if self._joiner is not None:
            self._joiner.flush()

    def has_pending(self) -> bool:
        """Whether a partial line or a multiline record is held."""
        return bool(self._buf) or (self._joiner is not None and self._joiner.pending)

    def flush_pending(self) -> RecordBlock | None:
        """Hand out a held multiline record now (shutdown). A partial line stays held."""
        if self._joiner is None or self._buf:
            return None
        texts, ends = self._joiner.flush()
        return self._block(texts, ends) if texts else None

    def close(self) -> None:
        """Close the descriptor."""
        with contextlib.suppress(OSError):
            os.close(self.fd)

    def size(self) -> int:
        """Current size of the open file, in bytes."""
        return os.fstat(self.fd).st_size

    def refresh_head(self) -> None:
        """Recompute the fingerprint while it covers fewer than ``HEAD_BYTES`` bytes."""
        if self.head.length < HEAD_BYTES:
            self.head = read_head(self.fd)

    def check_truncated(self) -> bool:
        """Detect copytruncate: the file is now shorter than what was read.

        Returns:
            True when it was truncated; reading restarts at offset 0.
        """
        if self.size() >= self._pos:
            return False
        self.reset(0)
        self.head = read_head(self.fd)
        return True

    def read(self) -> RecordBlock | None:
        """Read one chunk and return the complete records in it, or ``None`` at EOF.

        Raises:
            OSError: the read failed.
        """
        data = os.pread(self.fd, self._chunk, self._pos)
        if not data:
            return self._flush_partial()
        self._pos += len(data)
        self.last_data_at = time.monotonic()
        if self.head.length < HEAD_BYTES:
            self.refresh_head()
        data = self._buf + data if self._buf else data
        start = self._pos - len(data)
        cut = data.rfind(b"\n")
        if cut < 0:
            self._buf = data
            return self._overlong(start)
        self._buf = data[cut + 1:]
        body = data[:cut]
        if self._skipping:
            first = body.find(b"\n")
            if first < 0:
                self._skipping = False
                return self._emit([], [], start + cut + 1)
            skip = first + 1
            self._skipping = False
            body, start = body[skip:], start + skip
        texts, ends = split_lines(body, start, self.source.encoding)
        texts = self._cap(texts)
        return self._emit(texts, ends, start + cut + 1)

    def _cap(self, texts: list[str]) -> list[str]:
        limit = self._max_line
        if max(map(len, texts), default=0) <= limit:
            return texts
        out = []
        for text in texts:
            if len(text) > limit:
                self.truncated_lines += 1
                text = text[:limit]
            out.append(text)
        return out

    def _overlong(self, start: int) -> RecordBlock | None:
        """A line longer than ``max_line_bytes`` with no LF yet: emit its head, skip the rest."""
        if len(self._buf) <= self._max_line:
            return None
        if self._skipping:
            self._buf = b""
            return None
        head = self._buf[: self._max_line]
        self._buf = b""
        self._skipping = True
        self.truncated_lines += 1
        text = head.decode("utf-8", "replace").rstrip("\r")
        return self._emit([text], [self._pos], self._pos)

    def _flush_partial(self) -> RecordBlock | None:
        """At EOF: emit a held final line once nothing followed for the partial timeout."""
        if self._joiner is not None:
            texts, ends = self._joiner.flush_due()
            if texts and not self._buf:
                return self._block(texts, ends)
        if not self._buf:
            return None
        if time.monotonic() - self.last_data_at < self._partial_timeout_s:
            return None
        data, self._buf = self._buf, b""
        start = self._pos - len(data)
        if self._skipping:
            self._skipping = False
            return self._emit([], [], self._pos)
        texts, ends = split_lines(data, start, self.source.encoding)
        ends = [self._pos] * len(ends)
        return self._emit(self._cap(texts), ends, self._pos)

    def _emit(self, texts: list[str], ends: list[int], consumed: int) -> RecordBlock | None:
        if self._joiner is not None:
            texts, ends = self._joiner.feed(texts, ends)
            if not self._joiner.pending:
                return self._block(texts, ends, consumed)
            return self._block(texts, ends) if texts else None
        return self._block(texts, ends, consumed)

    def _block(self, texts: list[str], ends: list[int], consumed: int | None = None) -> RecordBlock:
        """A block; its last end is the new committable offset."""
        if consumed is not None and (not ends or ends[-1] != consumed):
            # Skipped empty lines / overlong tails still advance the checkpoint.
            new_offset = consumed
        else:
            new_offset = ends[-1] if ends else self.offset
        block = RecordBlock(source=self.source.name, file_id=self.key, path=self.path,
                            offset=self.offset, texts=texts, ends=ends,
                            checkpoint=new_offset)
        self.offset = new_offset
        return block
