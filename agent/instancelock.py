"""One daemon per state directory: an exclusive ``flock`` on ``state_dir/agent.lock``."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from agent.errors import StateError


class InstanceLock:
    """Held for the daemon's lifetime; a second ``run`` on the same state dir is refused.

    Two daemons sharing a queue would both send its batches (duplicates) and
    both advance the same offsets. The kernel drops the lock when the process
    dies, so a crash never leaves a stale lock behind.

    Raises:
        StateError: another process holds the lock (its PID is named when known).
    """

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "agent.lock"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            holder = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(self._fd)
            raise StateError(f"another bigpanda-agent (pid {holder}) is running with this "
                             "state directory; stop it first", path=str(self.path)) from exc
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Drop the lock (also happens when the process exits)."""
        os.close(self._fd)
