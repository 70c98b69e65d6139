"""Property: appends, rename-rotations, copytruncates and restarts never lose or repeat a line."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tail.helpers import TailRun, config, source, write

STEP = st.one_of(
    st.tuples(st.just("append"), st.integers(min_value=1, max_value=30)),
    st.tuples(st.sampled_from(["rotate", "truncate", "restart", "pump"]), st.just(0)),
)


class Scenario:
    """One log file under a temp dir, an application writing it, and a TailRun reading it."""

    def __init__(self, root: Path, *, close_idle: bool) -> None:
        self.root = root
        self.log = root / "app.log"
        write(self.log, "")
        self.written: list[str] = []
        self.rotations = 0
        tail = config(close_inactive_s=0.0, max_open_files=2) if close_idle else config()
        self.run = TailRun(source(root), tail)

    def apply(self, action: str, n: int) -> None:
        if action == "append":
            new = [f"line {len(self.written) + i}" for i in range(n)]
            write(self.log, "".join(f"{x}\n" for x in new))
            self.written.extend(new)
        elif action == "rotate":
            # A file no scan ever saw cannot be followed once renamed out of the glob (its
            # own inotify test covers that case): logrotate runs long after files appear.
            ino = self.log.stat().st_ino
            self.run.until(lambda: any(r.ino == ino for r in self.run.tailer.readers.values()))
            self.rotations += 1
            os.rename(self.log, self.root / f"app.log.{self.rotations}")
            write(self.log, "")
        elif action == "truncate":
            # copytruncate only keeps what was read before the truncation: let the reader catch
            # up first, as the assertion is about lines written before a rotation or restart.
            self.run.count(len(self.written))
            ino = self.log.stat().st_ino
            os.truncate(self.log, 0)
            # ... and notice the truncation before anything else happens to the file: a
            # truncate, regrow, rename-rotation and restart all before the next read is a
            # documented limit (docs/tailing.md, "Not handled").
            self.run.until(lambda: all(r.position == 0 for r in self.run.tailer.readers.values()
                                       if r.ino == ino))
        elif action == "restart":
            self.run.restart()
        else:
            self.run.pump()


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEP, max_size=12), close_idle=st.booleans())
def test_every_line_written_arrives_exactly_once(steps: list[tuple[str, int]],
                                                 close_idle: bool) -> None:
    """Whatever sequence of appends, rename-rotations, copytruncates (after the reader caught
    up) and restarts happens, every line written arrives exactly once."""
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Scenario(Path(tmp), close_idle=close_idle)
        try:
            for action, n in steps:
                scenario.apply(action, n)
            run = scenario.run
            run.count(len(scenario.written))
            run.settle(0.05)
            counts = Counter(run.records)
            assert sorted(counts) == sorted(scenario.written)
            assert max(counts.values(), default=1) == 1
        finally:
            scenario.run.close()
