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
    """A file's on-disk identity, ``"<st_dev>:<st_ino>"`` (the key adds the source)."""
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


def parse_key(key: str) -> tuple[int, int] | None:
    """``(dev, ino)`` of a checkpoint key ``"<source>:<dev>:<ino>"``, or ``None``."""
    parts = key.rsplit(":", 2)
    if len(parts) != 3 or not (parts[1].isdigit() and parts[2].isdigit()):
        return None
    return int(parts[1]), int(parts[2])


def key_names(key: str, st: os.stat_result) -> bool:
    """Whether checkpoint ``key`` names the file ``st`` describes (same dev and inode)."""
    return parse_key(key) == (st.st_dev, st.st_ino)


def find_inode(directory: str, dev: int, ino: int) -> str | None:
    """The path of the regular file ``(dev, ino)`` in ``directory`` (not recursive), if any.

    Used to find a file that was renamed to a name no glob matches (rotated while
    it was closed, or while the agent was stopped): logrotate renames within the
    directory, so one ``scandir`` is enough.
    """
    return inodes_in(directory).get((dev, ino))


def inodes_in(directory: str) -> dict[tuple[int, int], str]:
    """``{(dev, ino): path}`` of the regular files directly in ``directory``."""
    found: dict[tuple[int, int], str] = {}
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    if entry.is_file(follow_symlinks=False):
                        st = entry.stat(follow_symlinks=False)
                        found[(st.st_dev, st.st_ino)] = entry.path
                except OSError:
                    continue
    except OSError:
        pass
    return found
