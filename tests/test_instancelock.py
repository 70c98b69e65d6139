"""One daemon per state directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import StateError
from agent.instancelock import InstanceLock


def test_second_lock_on_same_state_dir_is_refused(tmp_path: Path) -> None:
    """A second InstanceLock on the same state dir raises StateError naming the holder."""
    first = InstanceLock(tmp_path)
    try:
        with pytest.raises(StateError, match="another bigpanda-agent"):
            InstanceLock(tmp_path)
    finally:
        first.release()


def test_lock_is_free_again_after_release(tmp_path: Path) -> None:
    """Releasing the lock lets the next daemon start."""
    InstanceLock(tmp_path).release()
    InstanceLock(tmp_path).release()
