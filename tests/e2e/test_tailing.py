"""End to end: rotation and truncation through the real daemon, each line exactly once."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.mock_api import MockAlertsApi
from tests.e2e.harness import Agent, append
from tests.e2e.test_daemon import RULES, line, numbers


@pytest.fixture
def agent(tmp_path: Path, api: MockAlertsApi) -> Iterator[Agent]:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").write_text("")
    rules = RULES.replace('read_from = "end"', 'read_from = "beginning"')
    installation = Agent(tmp_path, api.endpoint, {"app.toml": rules})
    text = installation.config.read_text().replace(
        "partial_line_timeout_s = 1.0", "partial_line_timeout_s = 1.0\nrotate_wait_s = 1.0")
    installation.config.write_text(text)
    yield installation
    installation.kill()


def settle(api: MockAlertsApi, n: int, agent: Agent) -> None:
    """Wait for ``n`` alerts, then a little longer so late duplicates would show."""
    assert api.wait_for_alerts(n, timeout_s=20), agent.log_text()
    time.sleep(1.5)


def test_logrotate_rename_and_create_while_running(agent: Agent, api: MockAlertsApi) -> None:
    """Lines written to the old file after a rename and to the new file arrive once each."""
    log = agent.root / "logs" / "app.log"
    agent.start()
    append(log, [line(n) for n in range(1, 6)])
    settle(api, 5, agent)
    os.rename(log, log.with_name("app.log.1"))
    append(log.with_name("app.log.1"), [line(6)])  # a late write to the rotated file
    append(log, [line(n) for n in range(7, 11)])
    settle(api, 10, agent)
    assert agent.stop() == 0
    assert sorted(numbers(api)) == list(range(1, 11))


def test_rotation_while_stopped_drains_the_rotated_file(agent: Agent, api: MockAlertsApi) -> None:
    """A file rotated out of the glob while the agent was stopped is read to its end."""
    log = agent.root / "logs" / "app.log"
    agent.start()
    append(log, [line(n) for n in range(1, 4)])
    settle(api, 3, agent)
    assert agent.stop() == 0
    append(log, [line(4)])
    os.rename(log, log.with_name("app.log.1"))
    append(log, [line(5)])
    agent.start()
    settle(api, 5, agent)
    assert agent.stop() == 0
    assert sorted(numbers(api)) == [1, 2, 3, 4, 5]


def test_copytruncate_while_running(agent: Agent, api: MockAlertsApi) -> None:
    """copytruncate (copy aside, truncate in place) repeats nothing and loses no later line."""
    log = agent.root / "logs" / "app.log"
    agent.start()
    append(log, [line(n) for n in range(1, 6)])
    settle(api, 5, agent)
    shutil.copy(log, log.with_name("app.log.1"))
    with open(log, "r+") as f:
        f.truncate(0)
    append(log, [line(n) for n in range(6, 9)])
    settle(api, 8, agent)
    assert agent.stop() == 0
    assert sorted(numbers(api)) == list(range(1, 9))


def test_copy_onto_the_rotated_file_during_drain_repeats_nothing(
        agent: Agent, api: MockAlertsApi) -> None:
    """Rotating, then copying the new log over the rotated one (truncating it in place)
    while the agent still drains it, sends no line twice."""
    log = agent.root / "logs" / "app.log"
    text = agent.config.read_text().replace("rotate_wait_s = 1.0", "rotate_wait_s = 5.0")
    agent.config.write_text(text)
    agent.start()
    append(log, [line(n) for n in range(1, 4)])
    settle(api, 3, agent)
    rotated = log.with_name("app.log.1")
    os.rename(log, rotated)
    append(log, [line(n) for n in range(4, 7)])
    assert api.wait_for_alerts(6, timeout_s=20), agent.log_text()
    time.sleep(0.3)  # well inside rotate_wait_s: the rotated file is still held
    shutil.copy(log, rotated)  # overwrites the rotated file in place, shorter than before
    with open(log, "r+") as f:
        f.truncate(0)
    append(log, [line(7)])
    settle(api, 7, agent)
    assert agent.stop() == 0
    assert sorted(numbers(api)) == list(range(1, 8))
    assert api.stats()["duplicates"] == 0


def test_copytruncate_hands_out_the_held_record(agent: Agent, api: MockAlertsApi) -> None:
    """A line read but still held (no newline yet) when the file is copytruncated arrives."""
    log = agent.root / "logs" / "app.log"
    agent.start()
    append(log, [line(1)])
    with open(log, "a") as f:
        f.write(line(2))  # no newline: held until more data or the partial-line timeout
    time.sleep(0.5)
    shutil.copy(log, log.with_name("app.log.1"))
    with open(log, "r+") as f:
        f.truncate(0)
    append(log, [line(3)])
    settle(api, 3, agent)
    assert agent.stop() == 0
    assert sorted(numbers(api)) == [1, 2, 3]


def test_checkpoints_of_files_gone_for_good_are_forgotten(
        agent: Agent, api: MockAlertsApi) -> None:
    """After a restart, offsets of deleted files leave state.db; live ones stay."""
    import sqlite3

    log = agent.root / "logs" / "app.log"
    other = agent.root / "logs" / "other.log"
    agent.start()
    append(log, [line(1)])
    append(other, [line(2)])
    settle(api, 2, agent)
    assert agent.stop() == 0
    other.unlink()
    agent.start()
    agent.wait_event("checkpoints_forgotten", timeout_s=10)
    assert agent.stop() == 0
    db = sqlite3.connect(agent.root / "state" / "state.db")
    paths = [row[0] for row in db.execute("SELECT path FROM files")]
    db.close()
    assert paths == [str(log)]
