"""systemd's sd_notify protocol over ``$NOTIFY_SOCKET`` (no libsystemd needed)."""

from __future__ import annotations

import os
import socket


class Notifier:
    """Sends ``READY=1``, ``STOPPING=1``, ``RELOADING=1``, ``WATCHDOG=1`` and ``STATUS=…``.

    A no-op when ``$NOTIFY_SOCKET`` is unset (not run by systemd ``Type=notify``).
    ``watchdog_interval_s`` is half of ``$WATCHDOG_USEC`` when systemd set it.
    """

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]
        self._address = address or None
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_interval_s = int(usec) / 2e6 if usec.isdigit() else None

    @property
    def enabled(self) -> bool:
        """Whether a notify socket is configured."""
        return self._address is not None

    def send(self, *states: str) -> None:
        """Send state lines (e.g. ``"READY=1"``, ``"STATUS=queue 0"``); errors are ignored."""
        if self._address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._address)
                sock.sendall("\n".join(states).encode())
        except OSError:
            pass
