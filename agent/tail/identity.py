"""File identity: device + inode + a fingerprint of the file's first bytes.

The inode alone is not enough: filesystems reuse inodes, so a new file can
take the number of a rotated-away one. The fingerprint of the first
``HEAD_BYTES`` bytes tells them apart; it is recomputed while the file is
shorter than that, so short files are read at once rather than ignored.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

HEAD_BYTES = 1024
"""Bytes of a file's head covered by its fingerprint."""


@dataclass(frozen=True, slots=True)
class Head:
    """A fingerprint: how many leading bytes it covers, and their digest (hex)."""

    length: int
    digest: str


def file_id(st: os.stat_result) -> str:
    """The checkpoint key of a file: ``"<st_dev>:<st_ino>"``."""
    return f"{st.st_dev}:{st.st_ino}"


def read_head(fd: int, limit: int = HEAD_BYTES) -> Head:
    """Fingerprint the first ``min(limit, size)`` bytes of an open file.

    Args:
        fd: an open file descriptor (its position is not used or moved).
        limit: bytes to cover, at most ``HEAD_BYTES``.

    Raises:
        OSError: the read failed.
    """
    data = os.pread(fd, limit, 0)
    return Head(len(data), hashlib.blake2b(data, digest_size=8).hexdigest())


def head_matches(fd: int, head: Head) -> bool:
    """Whether the file's first ``head.length`` bytes still have ``head.digest``."""
    return read_head(fd, head.length) == head
