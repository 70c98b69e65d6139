"""Splitting a chunk of bytes into decoded lines and their end offsets.

This is the tail's hot path: a chunk is split with one ``bytes.split`` and,
when it is ASCII (the common case), decoded with one ``decode``; there is no
syscall and no object per line beyond the line's ``str``.
"""

from __future__ import annotations

from itertools import accumulate


def split_lines(data: bytes, offset: int, encoding: str) -> tuple[list[str], list[int]]:
    """Split complete lines (``data`` ends just before a final LF) into texts and ends.

    Args:
        data: bytes of one or more lines WITHOUT the final LF; inner lines end with LF.
        offset: file offset of ``data[0]``.
        encoding: ``"utf-8"`` or ``"latin-1"``; invalid bytes become U+FFFD.

    Returns:
        ``(texts, ends)``: each line decoded with a trailing CR removed, and the file
        offset just past its LF. Empty lines are skipped (their bytes still count).
    """
    raw = data.split(b"\n")
    ends = list(accumulate([len(line) + 1 for line in raw], initial=offset))
    del ends[0]
    if encoding == "utf-8" and data.isascii():
        texts = data.decode("ascii").split("\n")
    else:
        codec = "latin-1" if encoding == "latin-1" else "utf-8"
        texts = [line.decode(codec, "replace") for line in raw]
    if b"\r" in data:
        texts = [t[:-1] if t.endswith("\r") else t for t in texts]
    if b"\x00" in data:
        texts = [t.replace("\x00", "\ufffd") for t in texts]
    if "" in texts:
        pairs = [(t, e) for t, e in zip(texts, ends, strict=True) if t]
        texts = [t for t, _ in pairs]
        ends = [e for _, e in pairs]
    return texts, ends
