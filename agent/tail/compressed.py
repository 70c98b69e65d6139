"""Reading a rotated-and-compressed file (``.gz``, ``.bz2``, ``.xz``) once.

Offsets of such a file count decompressed bytes. It is read to its end once and
not followed: its checkpoint (same identity rules as any file: device, inode and
head fingerprint) records that it was read, so a rescan or a rename never reads
it again. Resuming after a restart decompresses up to the saved offset again.
``.zst`` needs a library outside the standard library and is not read.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
from typing import BinaryIO

import structlog

from agent.config import TailConfig
from agent.rulefile import SourceConfig
from agent.tail.reader import FileReader

log = structlog.get_logger("agent.tail")

_DECOMPRESS_ERRORS = (OSError, EOFError, lzma.LZMAError, ValueError)


def _stream(path: str, raw: BinaryIO) -> io.BufferedIOBase:
    if path.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if path.endswith(".bz2"):
        return bz2.BZ2File(raw)
    return lzma.LZMAFile(raw)


class CompressedReader(FileReader):
    """A :class:`FileReader` over the decompressed content of a file, read once.

    A corrupt or incomplete stream ends the file where it breaks (logged once as
    ``compressed_read_failed``).
    """

    follows = False

    def __init__(self, path: str, source: SourceConfig, *, key: str, config: TailConfig) -> None:
        super().__init__(path, source, key=key, config=config)
        self._stream: io.BufferedIOBase | None = None
        self._raw: BinaryIO | None = None
        self._stream_pos = 0
        self._failed = False

    def _fetch(self, pos: int) -> bytes:
        """Decompressed bytes at ``pos`` (reopening the stream to seek backwards)."""
        if self._failed or self.fd is None:
            return b""
        try:
            if self._stream is None or pos < self._stream_pos:
                self._open_stream()
            assert self._stream is not None
            while self._stream_pos < pos:
                skipped = self._stream.read(min(self._chunk, pos - self._stream_pos))
                if not skipped:
                    return b""
                self._stream_pos += len(skipped)
            data = self._stream.read(self._chunk)
        except _DECOMPRESS_ERRORS as exc:
            self._failed = True
            log.warning("compressed_read_failed", path=self.path, offset=pos, error=str(exc))
            return b""
        self._stream_pos += len(data)
        return data

    def _open_stream(self) -> None:
        self._close_stream()
        assert self.fd is not None
        self._raw = os.fdopen(os.dup(self.fd), "rb")
        self._stream = _stream(self.path, self._raw)
        self._stream_pos = 0

    def _close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._raw is not None:
            self._raw.close()
        self._stream = self._raw = None

    def close(self) -> None:
        """Close the stream and the descriptor."""
        self._close_stream()
        super().close()
