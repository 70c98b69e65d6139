"""Reading one file (one identity) from a durable offset into record blocks."""

from __future__ import annotations

import contextlib
import os
import time

import structlog

from agent.config import TailConfig
from agent.records import RecordBlock
from agent.rulefile import SourceConfig
from agent.tail.identity import HEAD_BYTES, Head, head_matches, read_head
from agent.tail.lines import BOM, lines_for
from agent.tail.multiline import MultilineJoiner

log = structlog.get_logger("agent.tail")

_NO_MARKS: frozenset[int] = frozenset()


def open_fd(path: str) -> int:
    """Open a file read-only (close-on-exec), following symlinks.

    Raises:
        OSError: it cannot be opened.
    """
    return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))


class FileReader:
    """Follows one file through its descriptor, which may be closed while idle.

    The descriptor stays open across renames, so a rotated file is drained to its
    end through it. Reads are ``os.pread`` of ``read_chunk_bytes``; a final line
    without LF is held until more data or ``partial_line_timeout_s``. Closing the
    descriptor (:meth:`close`) keeps all state; :meth:`reopen` resumes.

    Attributes:
        key: the checkpoint key, ``"<source>:<dev>:<ino>"``.
        dev, ino: the file's identity on disk.
        path: the path the file is currently known under.
        offset: committable offset: just past the last record handed out.
        head: the fingerprint of the file's first bytes.
        at_eof: the last read found no new data.
        mtime_ns: the file's modification time at the last end-of-file check.
        follows: whether the file is followed for appends (a compressed one is not).
        gone: no glob matches the file any more (rotated away or deleted).
        truncated_lines: lines cut at ``max_line_bytes`` (a running count).
    """

    follows = True

    def __init__(self, path: str, source: SourceConfig, *, key: str, config: TailConfig) -> None:
        self.fd: int | None = open_fd(path)
        st = os.fstat(self.fd)
        self.dev, self.ino = st.st_dev, st.st_ino
        self.key = key
        self.path = path
        self.source = source
        self.head: Head = read_head(self.fd)
        self._lines = lines_for(source.encoding, os.pread(self.fd, 2, 0))
        self._chunk = config.read_chunk_bytes
        self._max_line = config.max_line_bytes
        self._partial_timeout_s = config.partial_line_timeout_s
        self._joiner = MultilineJoiner(source.multiline) if source.multiline else None
        self.offset = self._pos = 0
        self._buf = b""
        self._skipping = False
        self.last_data_at = time.monotonic()
        self.at_eof = False
        self._verify_head = True  # first data after opening: same file as when opened?
        self.mtime_ns = 0
        self._gone = False
        self._gone_mtime_ns: int | None = None
        self.abandoned = False
        self._restart_from = 0
        self._held_after_restart: list[str] | None = None  # set by a restart
        self.truncated_lines = 0

    # -- descriptor --------------------------------------------------------------------

    def close(self) -> None:
        """Close the descriptor; the read state is kept for :meth:`reopen`."""
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None

    def reopen(self, path: str) -> bool:
        """Open ``path`` again if it is still this file (same device and inode).

        Returns:
            Whether the descriptor is open now. The next data read checks the head,
            so a file replaced in place (copytruncate, then regrown) restarts at 0.
        """
        try:
            fd = open_fd(path)
        except OSError:
            return False
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (self.dev, self.ino):
            os.close(fd)
            return False
        self.fd, self.path, self._verify_head, self.at_eof = fd, path, True, False
        return True

    def size(self) -> int:
        """Current size of the open file, in bytes."""
        assert self.fd is not None
        return os.fstat(self.fd).st_size

    @property
    def position(self) -> int:
        """The read position: bytes consumed, including any held partial data."""
        return self._pos

    def reset(self, offset: int) -> None:
        """Start reading at ``offset``, dropping anything held."""
        self.offset = self._pos = offset
        self._buf = b""
        self._skipping = False
        if self._joiner is not None:
            self._joiner.flush()

    @property
    def gone(self) -> bool:
        """Whether the path no longer leads to this file (rotated away or deleted)."""
        return self._gone

    @gone.setter
    def gone(self, value: bool) -> None:
        if value and not self._gone:
            # Remember the content's mtime when it went away: a later change to it is
            # someone rewriting a rotated file, not the application's copytruncate.
            try:
                self._gone_mtime_ns = os.fstat(self.fd).st_mtime_ns if self.fd else None
            except OSError:
                self._gone_mtime_ns = None
        self._gone = value

    def has_pending(self) -> bool:
        """Whether a partial line or a multiline record is held (never, once abandoned)."""
        if self.abandoned:
            return False
        return bool(self._buf) or (self._joiner is not None and self._joiner.pending)

    # -- reading -----------------------------------------------------------------------

    def read(self) -> RecordBlock | None:
        """Read one chunk and return the complete records in it, or ``None`` (nothing new).

        A chunk that completes no record (the middle of a long line or of a multiline
        record) gives a block without texts, so the caller goes on reading.

        Raises:
            OSError: the read failed.
        """
        assert self.fd is not None
        if self.abandoned:
            return None
        if self._held_after_restart is not None:
            return self._emit_held()
        data = self._fetch(self._pos)
        if not data:
            self.at_eof = self._verify_head = True
            return self._at_eof()
        self.at_eof = False
        if self._verify_head:
            # First data after a pause: was the file replaced in place and regrown?
            self._verify_head = False
            if not head_matches(self.fd, self.head):
                self._restart("head_changed")
                return self._emit_held()
        self._pos += len(data)
        self.last_data_at = time.monotonic()
        if self.head.length < HEAD_BYTES:
            self.head = read_head(self.fd)
        if self._buf:
            data = self._buf + data
        start = self._pos - len(data)
        unit = self._lines.unit
        cut = self._lines.rfind_lf(data)
        if cut < 0:
            self._buf = data
            return self._overlong(start) or self._block([], [], None, _NO_MARKS)
        self._buf = data[cut + unit:]
        body = data[:cut]
        if self._skipping:
            self._skipping = False
            first = self._lines.find_lf(body)
            if first < 0:
                return self._emit([], [], start + cut + unit)
            body, start = body[first + unit:], start + first + unit
        texts, ends = self._lines.split(body, start)
        if start == 0 and texts and texts[0].startswith(BOM):
            texts[0] = texts[0][1:]
        texts, marks = self._cap(texts)
        return self._emit(texts, ends, start + cut + unit, marks)

    def _fetch(self, pos: int) -> bytes:
        """Up to ``read_chunk_bytes`` bytes of the file at ``pos``."""
        assert self.fd is not None
        return os.pread(self.fd, self._chunk, pos)

    def _replaced(self) -> bool:
        """At EOF: was the file truncated, or rewritten in place to the same size?

        A size below the read position is a truncation. A size equal to it with a new
        modification time since the last EOF check means the content changed without
        growing (copytruncate, then regrown to exactly the old size): the head tells.
        """
        assert self.fd is not None
        st = os.fstat(self.fd)
        if self.follows and st.st_size < self._pos:
            self._restart("size_below_offset")
            return True
        if st.st_mtime_ns != self.mtime_ns:
            self.mtime_ns = st.st_mtime_ns
            if self.follows and not head_matches(self.fd, self.head):
                self._restart("head_changed")
                return True
        return False

    def _restart(self, why: str) -> None:
        """The file was replaced in place (copytruncate): read it again from 0.

        A file rewritten after it was rotated away (``gone``, and changed since) is
        not read again: its new content is a copy of the live log (``cp app.log
        app.log.1`` during a rotation), which is read through the live path. It is
        abandoned instead and released once ``rotate_wait_s`` passes. A
        copytruncate that happened before the rotation was noticed is a normal
        restart from 0.
        """
        assert self.fd is not None
        if self.gone and self._rewritten_since_gone():
            log.info("rotated_file_replaced", source=self.source.name, path=self.path,
                     reason=why, offset=self._pos, action="abandoned")
            self.abandoned = True
            return
        held = self._take_held()
        self._restart_from = self._pos
        log.info("file_truncated", source=self.source.name, path=self.path, reason=why,
                 offset=self._pos, held_records=len(held))
        self.reset(0)
        self.head = read_head(self.fd)
        self._held_after_restart = held

    def _rewritten_since_gone(self) -> bool:
        assert self.fd is not None
        return self._gone_mtime_ns is not None and \
            os.fstat(self.fd).st_mtime_ns != self._gone_mtime_ns

    def _take_held(self) -> list[str]:
        """Records already read but still held (a partial line, a pending multiline
        record): at a truncation they are handed out rather than dropped with the
        old content."""
        texts: list[str] = []
        if self._buf and not self._skipping:
            texts, _ = self._lines.split(self._buf, self._pos - len(self._buf))
            texts = [t[: self._max_line] for t in texts]
        joiner = self._joiner
        if joiner is None:
            return texts
        done, _ = joiner.feed(texts, [0] * len(texts))
        rest, _ = joiner.flush()
        return done + rest

    def _emit_held(self) -> RecordBlock:
        """The held records of a truncated file, as a block at the new offset 0."""
        held, self._held_after_restart = self._held_after_restart or [], None
        # The block spans "old position → 0": it carries the held records and moves the
        # checkpoint to 0 with the new head, so a restart before any new record is read
        # still recognises the file (also when it is rotated away meanwhile).
        block = RecordBlock(source=self.source.name, file_id=self.key, path=self.path,
                            offset=self._restart_from, texts=held, ends=[0] * len(held),
                            checkpoint=0)
        self.offset = 0
        return block

    def _cap(self, texts: list[str]) -> tuple[list[str], frozenset[int]]:
        limit = self._max_line
        if max(map(len, texts), default=0) <= limit:
            return texts, _NO_MARKS
        marks = frozenset(i for i, t in enumerate(texts) if len(t) > limit)
        self.truncated_lines += len(marks)
        return [t[:limit] for t in texts], marks

    def _overlong(self, start: int) -> RecordBlock | None:
        """A line longer than ``max_line_bytes`` with no LF yet: emit its head, skip the rest."""
        if len(self._buf) <= self._max_line:
            return None
        head, self._buf = self._buf[: self._max_line], b""
        if self._skipping:
            return None
        self._skipping = True
        self.truncated_lines += 1
        text = self._lines.decode(head).rstrip("\r")
        if start == 0:
            text = text.removeprefix(BOM)
        return self._emit([text], [self._pos], self._pos, frozenset((0,)))

    def _at_eof(self) -> RecordBlock | None:
        """No new data: notice truncation; emit held data whose timeout passed."""
        if self._replaced():
            return self._emit_held()
        joiner = self._joiner
        if joiner is not None and not self._buf:
            marked = joiner.pending_marked
            texts, ends = joiner.flush_due()
            if texts:
                return self._block(texts, ends, None, frozenset((0,)) if marked else _NO_MARKS)
        if not self._buf or time.monotonic() - self.last_data_at < self._partial_timeout_s:
            return None
        data, self._buf = self._buf, b""
        if self._skipping:
            self._skipping = False
            return self._emit([], [], self._pos)
        start = self._pos - len(data)
        texts, ends = self._lines.split(data, start)
        if start == 0 and texts and texts[0].startswith(BOM):
            texts[0] = texts[0][1:]
        texts, marks = self._cap(texts)
        return self._emit(texts, [self._pos] * len(ends), self._pos, marks)

    def _emit(self, texts: list[str], ends: list[int], consumed: int,
              marks: frozenset[int] = _NO_MARKS) -> RecordBlock | None:
        joiner = self._joiner
        if joiner is not None:
            texts, ends, marks = joiner.feed_marked(texts, ends, marks)
            if joiner.pending:
                return self._block(texts, ends, None, marks)
        return self._block(texts, ends, consumed, marks)

    def _block(self, texts: list[str], ends: list[int], consumed: int | None,
               marks: frozenset[int]) -> RecordBlock:
        """A block; ``consumed`` (bytes read to a record boundary) advances the checkpoint."""
        new_offset = consumed if consumed is not None else (ends[-1] if ends else self.offset)
        block = RecordBlock(source=self.source.name, file_id=self.key, path=self.path,
                            offset=self.offset, texts=texts, ends=ends,
                            checkpoint=new_offset, truncated=marks)
        self.offset = new_offset
        return block
