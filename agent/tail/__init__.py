"""The tail source: file discovery, readers, rotation, multiline."""

from __future__ import annotations

from agent.tail.tailer import Tailer, checkpoint_key

__all__ = ["Tailer", "checkpoint_key"]
