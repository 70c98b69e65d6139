"""bigpanda-agent: tail log files, turn matching lines into BigPanda alerts, ship them durably."""

from __future__ import annotations

__version__ = "0.1.0"
USER_AGENT = f"bigpanda-agent/{__version__}"
