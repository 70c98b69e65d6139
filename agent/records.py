"""The unit that crosses the source → rules boundary."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordBlock:
    """Consecutive records read from one file in one read.

    A block, not one object per line, crosses the boundary so the hot path
    makes no per-line objects beyond the line's own ``str``.

    Attributes:
        source: name of the source (the rule file's stem) the file belongs to.
        file_id: durable identity of the file (see ``agent.tail``), the checkpoint key.
        path: the path the file was opened under.
        offset: byte offset in the file where the first record starts.
        texts: the records, decoded, without their line terminator (LF or CRLF).
        ends: for each record, the byte offset just past its terminator.
        checkpoint: the file offset to commit once every record of the block is
            queued (≥ ``ends[-1]``: skipped empty lines still advance it).
        truncated: indexes into ``texts`` of records holding a line cut at the
            ``[tail] max_line_bytes`` limit (the rest of that line is skipped); empty
            for almost every block.
    """

    source: str
    file_id: str
    path: str
    offset: int
    texts: list[str]
    ends: list[int]
    checkpoint: int
    truncated: frozenset[int] = frozenset()
