"""Splitting a chunk of bytes into decoded lines and their end offsets.

This is the tail's hot path: for UTF-8 and Latin-1 a chunk is split with one
``bytes.split`` and, when it is ASCII (the common case), decoded with one
``decode``; there is no syscall and no object per line beyond the line's
``str``. UTF-16 files, where LF is a two-byte code unit, take a slower path.
"""

from __future__ import annotations

from itertools import accumulate

BOM = "\ufeff"
"""A byte-order mark decodes to this; it is removed from the first line of a file."""


class ByteLines:
    """Lines of an ASCII-compatible encoding (UTF-8, Latin-1): LF is the byte ``0x0A``.

    Attributes:
        unit: bytes per code unit (the length of LF).
    """

    unit = 1

    def __init__(self, encoding: str) -> None:
        self._encoding = "latin-1" if encoding == "latin-1" else "utf-8"

    def find_lf(self, data: bytes) -> int:
        """Index of the first LF in ``data``, or -1."""
        return data.find(b"\n")

    def rfind_lf(self, data: bytes) -> int:
        """Index of the last LF in ``data``, or -1."""
        return data.rfind(b"\n")

    def split(self, data: bytes, offset: int) -> tuple[list[str], list[int]]:
        """Split complete lines (``data`` ends just before a final LF) into texts and ends.

        Args:
            data: bytes of one or more lines WITHOUT the final LF; inner lines end with LF.
            offset: file offset of ``data[0]``.

        Returns:
            ``(texts, ends)``: each line decoded (invalid bytes and NUL become U+FFFD)
            with a trailing CR removed, and the file offset just past its LF. Empty
            lines are skipped (their bytes still count).
        """
        raw = data.split(b"\n")
        ends = list(accumulate([len(line) + 1 for line in raw], initial=offset))
        del ends[0]
        if self._encoding == "utf-8" and data.isascii():
            texts = data.decode("ascii").split("\n")
        else:
            codec = self._encoding
            texts = [line.decode(codec, "replace") for line in raw]
        return clean(texts, ends, b"\r" in data, b"\x00" in data)

    def decode(self, data: bytes) -> str:
        """Decode a fragment (a truncated line's head) leniently."""
        return data.decode(self._encoding, "replace")


class Utf16Lines:
    """Lines of UTF-16 text: LF is the code unit ``0x000A`` at an even offset.

    ``data`` handed to every method starts at a code-unit boundary (a line start).
    """

    unit = 2

    def __init__(self, *, big_endian: bool) -> None:
        self._lf = b"\x00\n" if big_endian else b"\n\x00"
        self._codec = "utf-16-be" if big_endian else "utf-16-le"

    def find_lf(self, data: bytes, start: int = 0) -> int:
        """Index of the first aligned LF unit at or after ``start``, or -1."""
        i = data.find(self._lf, start)
        while i >= 0 and i % 2:
            i = data.find(self._lf, i + 1)
        return i

    def rfind_lf(self, data: bytes) -> int:
        """Index of the last aligned LF unit, or -1."""
        i = data.rfind(self._lf)
        while i >= 0 and i % 2:
            i = data.rfind(self._lf, 0, i + 1)
        return i

    def split(self, data: bytes, offset: int) -> tuple[list[str], list[int]]:
        """As :meth:`ByteLines.split`, for UTF-16 (LF is two bytes)."""
        texts: list[str] = []
        ends: list[int] = []
        start = 0
        while True:
            i = self.find_lf(data, start)
            stop = len(data) if i < 0 else i
            texts.append(data[start:stop].decode(self._codec, "replace"))
            ends.append(offset + stop + 2)
            if i < 0:
                break
            start = i + 2
        return clean(texts, ends, True, True)

    def decode(self, data: bytes) -> str:
        """Decode a fragment (a truncated line's head) leniently."""
        return data[: len(data) & ~1].decode(self._codec, "replace")


Lines = ByteLines | Utf16Lines


def lines_for(encoding: str, first_bytes: bytes) -> Lines:
    """The splitter for a source's ``encoding``.

    Args:
        encoding: ``utf-8``, ``latin-1``, ``utf-16le``, ``utf-16be``, or ``utf-16``
            (endianness from the byte-order mark, little-endian without one).
        first_bytes: the file's first two bytes (fewer if it is shorter).
    """
    if encoding == "utf-16":
        return Utf16Lines(big_endian=first_bytes.startswith(b"\xfe\xff"))
    if encoding in ("utf-16le", "utf-16be"):
        return Utf16Lines(big_endian=encoding == "utf-16be")
    return ByteLines(encoding)


def clean(texts: list[str], ends: list[int], cr: bool, nul: bool) -> tuple[list[str], list[int]]:
    """Remove a trailing CR, replace NUL with U+FFFD, and drop empty lines.

    Args:
        texts: decoded lines; ``ends`` their end offsets (same length).
        cr: whether any line may end with CR; ``nul``: whether any may hold NUL.
    """
    if cr:
        texts = [t[:-1] if t.endswith("\r") else t for t in texts]
    if nul:
        texts = [t.replace("\x00", "\ufffd") for t in texts]
    if "" in texts:
        pairs = [(t, e) for t, e in zip(texts, ends, strict=True) if t]
        texts = [t for t, _ in pairs]
        ends = [e for _, e in pairs]
    return texts, ends
