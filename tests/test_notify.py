"""sd_notify over a real AF_UNIX datagram socket."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.notify import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(2.0)
    yield sock, path
    sock.close()


def test_send_delivers_state_lines_as_one_datagram(
        listener: tuple[socket.socket, str]) -> None:
    """send("READY=1", "STATUS=x") arrives as one datagram "READY=1\\nSTATUS=x"."""
    sock, path = listener
    notifier = Notifier({"NOTIFY_SOCKET": path})
    notifier.send("READY=1", "STATUS=queue_batches=0")
    assert sock.recv(4096) == b"READY=1\nSTATUS=queue_batches=0"


def test_abstract_socket_address_is_supported() -> None:
    """An "@name" NOTIFY_SOCKET reaches the abstract-namespace socket "\\0name"."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0bigpanda-agent-test-notify")
    sock.settimeout(2.0)
    try:
        Notifier({"NOTIFY_SOCKET": "@bigpanda-agent-test-notify"}).send("STOPPING=1")
        assert sock.recv(4096) == b"STOPPING=1"
    finally:
        sock.close()


def test_without_socket_or_with_a_dead_one_sending_is_a_no_op(tmp_path: Path) -> None:
    """No $NOTIFY_SOCKET disables notifications; a missing socket file raises nothing."""
    assert not Notifier({}).enabled
    Notifier({}).send("READY=1")
    Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}).send("READY=1")


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    """WATCHDOG_USEC=4000000 gives a 2 s WATCHDOG=1 interval; unset gives none."""
    assert Notifier({"WATCHDOG_USEC": "4000000"}).watchdog_interval_s == 2.0
    assert Notifier({}).watchdog_interval_s is None
