"""Crash test: SIGKILL the daemon again and again while lines are written and the API fails.

The driver (:func:`crash_run`) is shared with ``bench/soak.py``, which runs it
for hundreds of kills.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from agent.mock_api import Fault, MockAlertsApi
from tests.e2e.harness import APP_KEY, TOKEN, Agent, append

RULES = r"""
[source]
paths = ["../logs/*.log"]
read_from = "beginning"

[[rule]]
name = "numbered"
pattern = '^(?P<time>\S+) ERROR \[(?P<service>[^\]]+)\] (?P<message>.*)'
time = { field = "time", format = "iso8601" }
status = "critical"

[rule.alert]
check = "{service}"
description = "{message}"
"""
MAX_ALERTS = 50
"""``[batch] max_alerts`` of the harness: the most one in-flight batch can repeat."""


@dataclass(frozen=True, slots=True)
class CrashResult:
    """What a crash run wrote, what arrived, and what arrived more than once.

    Attributes:
        written: numbered lines appended.
        missing: numbers that never arrived.
        duplicates: alerts the API received again after they had landed (its 204 dedup).
        kills: SIGKILLs sent.
        faults: API faults armed (503 windows, lost answers, dropped connections).
        lost_answers: faults where the body landed but the answer never came.
    """

    written: int
    missing: list[int]
    duplicates: int
    kills: int
    faults: int
    lost_answers: int


class Writer(threading.Thread):
    """Appends numbered ERROR lines at a steady rate until stopped."""

    def __init__(self, path: Path, lines_per_s: float) -> None:
        super().__init__(name="crash-writer", daemon=True)
        self.path = path
        self.interval_s = 10 / lines_per_s
        self.written = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.interval_s):
            first = self.written
            append(self.path, [f"2026-11-28T10:{n // 60 % 60:02d}:{n % 60:02d}Z ERROR "
                               f"[svc{n % 7}] event number {n}" for n in range(first, first + 10)])
            self.written += 10


def arm_random_fault(api: MockAlertsApi, rng: random.Random) -> bool:
    """Arm one fault; returns whether it is a lost answer (body stored, no reply)."""
    choice = rng.randrange(4)
    if choice == 0:
        api.add_fault(Fault(status=503, start_s=0.0, end_s=rng.uniform(0.1, 0.6)))
    elif choice == 1:
        api.add_fault(Fault(drop="after_body", count=1))
    elif choice == 2:
        api.add_fault(Fault(drop="before_response", count=1))
    else:
        api.add_fault(Fault(status=429, count=2, retry_after="0"))
    return choice == 1


def crash_run(root: Path, api: MockAlertsApi, *, kills: int, seed: int,
              lines_per_s: float = 400, max_wait_s: float = 60) -> CrashResult:
    """Write lines, SIGKILL the agent ``kills`` times at random moments, then let it finish.

    Args:
        root: an empty directory for the installation.
        api: a started double accepting the harness token and app key.
        kills: how many SIGKILLs.
        seed: seeds the kill moments and fault choices.
        lines_per_s: the writer's rate.
        max_wait_s: how long the last run may take to deliver everything.
    """
    rng = random.Random(seed)
    (root / "logs").mkdir()
    agent = Agent(root, api.endpoint, {"app.toml": RULES})
    writer = Writer(root / "logs" / "app.log", lines_per_s)
    writer.start()
    faults = lost = 0
    try:
        for _ in range(kills):
            if rng.random() < 0.6:
                lost += arm_random_fault(api, rng)
                faults += 1
            agent.start(wait_ready=False)
            time.sleep(rng.uniform(0.15, 1.0))
            agent.kill()
        writer.halt.set()
        writer.join()
        agent.start(wait_ready=False)
        api.wait_for_alerts(writer.written, timeout_s=max_wait_s)
        agent.stop()
    finally:
        writer.halt.set()
        agent.kill()
    seen = Counter(int(str(a["description"]).rsplit(" ", 1)[1]) for a in api.alerts)
    missing = [n for n in range(writer.written) if n not in seen]
    return CrashResult(written=writer.written, missing=missing,
                       duplicates=int(api.stats()["duplicates"]), kills=kills, faults=faults,
                       lost_answers=lost)


def test_sigkill_at_random_moments_loses_nothing(tmp_path: Path) -> None:
    """22 SIGKILLs at random moments, with the API failing some requests, lose no line and
    repeat at most one batch per kill or lost answer."""
    with MockAlertsApi(tokens=[TOKEN], app_keys=[APP_KEY]) as api:
        result = crash_run(tmp_path, api, kills=22, seed=20261128)
    assert result.written > 1000
    assert result.missing == []
    assert result.duplicates <= MAX_ALERTS * (result.kills + result.lost_answers)
