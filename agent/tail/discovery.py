"""Finding the files a source's globs name now, and whether a path matches them."""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterator

from agent.rulefile import SourceConfig

COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")
"""Rotated-and-compressed files are skipped unless a glob names the suffix itself."""

READABLE_COMPRESSED = (".gz", ".bz2", ".xz")
"""Compressed formats the standard library decompresses; ``.zst`` and ``.zip`` are not read."""


def discover(source: SourceConfig) -> Iterator[str]:
    """Yield the regular files matching the source's ``paths``, minus ``exclude``.

    ``**`` matches any depth. A compressed file (``*.gz`` …) is yielded only when
    the glob that matched it ends with that suffix. Symlinks are followed: the
    yielded path is the link, opened through to its target.
    """
    seen: set[str] = set()
    for pattern in source.paths:
        names_compressed = pattern.endswith(COMPRESSED_SUFFIXES)
        for path in glob.iglob(pattern, recursive=True):
            if path in seen or excluded(path, source.exclude):
                continue
            if path.endswith(COMPRESSED_SUFFIXES) and not names_compressed:
                continue
            if os.path.isfile(path):
                seen.add(path)
                yield path


def excluded(path: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``path`` or its file name matches one of the ``exclude`` globs."""
    name = os.path.basename(path)
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(name, p) for p in patterns)


def matches(source: SourceConfig, path: str) -> bool:
    """Whether ``path`` (which need not exist) is one :func:`discover` would yield.

    ``*``, ``?`` and ``[…]`` match within one path component; ``**`` matches any
    number of components, as in ``glob(recursive=True)``.
    """
    if excluded(path, source.exclude):
        return False
    parts = path.split(os.sep)
    for pattern in source.paths:
        if path.endswith(COMPRESSED_SUFFIXES) and not pattern.endswith(COMPRESSED_SUFFIXES):
            continue
        if _match_parts(pattern.split(os.sep), parts):
            return True
    return False


def _match_parts(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    head = pattern[0]
    if head == "**":
        return any(_match_parts(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and \
        _match_parts(pattern[1:], parts[1:])


def watch_dirs(source: SourceConfig) -> dict[str, bool]:
    """The existing directories whose events can change what the globs match.

    Returns:
        ``{directory: recursive}``. For ``/var/log/app/*.log`` that is
        ``{"/var/log/app": False}``; a wildcard in a directory part (or ``**``) makes
        the deepest literal ancestor recursive. Directories that do not exist yet are
        left out: the periodic rescan finds them and they are watched from then on.
    """
    dirs: dict[str, bool] = {}
    for pattern in source.paths:
        parts = pattern.split(os.sep)
        literal: list[str] = []
        for part in parts[:-1]:
            if glob.has_magic(part):
                break
            literal.append(part)
        directory = os.sep.join(literal) or os.sep
        recursive = len(literal) < len(parts) - 1
        if os.path.isdir(directory):
            dirs[directory] = dirs.get(directory, False) or recursive
    return dirs
