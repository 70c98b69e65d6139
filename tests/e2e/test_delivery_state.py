"""End to end: what `run` does with a state database it cannot trust."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.e2e.harness import Agent

RULES = r"""
[source]
paths = ["../logs/*.log"]

[[rule]]
name = "errors"
pattern = 'ERROR (?P<message>.*)'
status = "critical"
"""


def test_corrupt_state_db_stops_run_with_the_recovery_path(tmp_path: Path) -> None:
    """`run` on a damaged state.db exits 1 naming the file and the move-aside recovery,
    and neither replaces nor modifies the file."""
    (tmp_path / "logs").mkdir()
    agent = Agent(tmp_path, "http://127.0.0.1:9/data/v2/alerts", {"app.toml": RULES})
    db_path = tmp_path / "state" / "state.db"
    db_path.parent.mkdir()
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE filler (x BLOB)")
    db.executemany("INSERT INTO filler VALUES (?)", [(bytes(3000),) for _ in range(40)])
    db.commit()
    db.close()
    with open(db_path, "r+b") as f:
        f.seek(4096 * 2)
        f.write(b"\xee" * 4096 * 6)
    damaged = db_path.read_bytes()
    result = agent.run_cli("run")
    assert result.returncode == 1, result.stderr
    assert str(db_path) in result.stderr and "move state.db" in result.stderr
    assert "docs/delivery.md" in result.stderr
    assert db_path.read_bytes() == damaged
