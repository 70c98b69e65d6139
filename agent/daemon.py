"""The ``run`` command: threads, signals, reload, systemd notifications.

Threads: the pipeline (read → rules → batch → queue), the shipper (queue →
HTTP), watchdog's observer, and this main thread, which only waits for
signals and supervises. A thread that dies calls :meth:`Daemon.fatal`; the
process then logs why and exits 1 so systemd restarts it, rather than
running half-working.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import FrameType

import structlog

from agent import __version__
from agent.checking import validate_only
from agent.config import AgentConfig, load_config, read_token
from agent.delivery import Shipper
from agent.errors import ConfigError, StateError
from agent.instancelock import InstanceLock
from agent.logs import configure_logging
from agent.notify import Notifier
from agent.pipeline import Pipeline
from agent.state import StateStore
from agent.transport import Urllib3Client

log = structlog.get_logger("agent.daemon")

TOKEN_CHECK_S = 2.0
"""Seconds between checks of the token file for a new token."""
STATUS_EVERY_S = 5.0
"""Seconds between sd_notify ``STATUS=`` lines (queue depth is read from state.db)."""


class TokenWatch:
    """Notices a changed token file (size, mtime or inode, then content).

    Args:
        path: the token file, or ``None`` (token from the environment: nothing to watch).
        token: the token in use.
    """

    def __init__(self, path: Path | None, token: str) -> None:
        self._path = path
        self._token = token
        self._seen = self._stamp()

    def _stamp(self) -> tuple[int, int, int] | None:
        if self._path is None:
            return None
        try:
            st = self._path.stat()
        except OSError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns

    def poll(self) -> str | None:
        """The new token when the file changed to a different non-empty one, else ``None``."""
        stamp = self._stamp()
        if self._path is None or stamp is None or stamp == self._seen:
            return None
        self._seen = stamp
        try:
            token = self._path.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        if not token or token == self._token:
            return None
        self._token = token
        return token

    def accept(self, token: str) -> None:
        """The token just installed by a reload (so it is not reported again)."""
        self._token = token
        self._seen = self._stamp()


class Daemon:
    """The running agent.

    Args:
        config_path: agent.toml, re-read on SIGHUP.
        config: the loaded configuration.
        token: the org token (never logged).
    """

    def __init__(self, config_path: str, config: AgentConfig, token: str) -> None:
        self.config_path = config_path
        self.config = config
        self._stop = threading.Event()
        self._stop_signalled = False
        self._reload_signalled = False
        self._fatal: BaseException | None = None
        self.notifier = Notifier()
        self.client = Urllib3Client.from_config(config.bigpanda, token)
        self.shipper = Shipper(
            db_path=config.queue.db_path,
            durability=config.queue.durability,
            client=self.client,
            retry=config.retry,
            bigpanda=config.bigpanda,
            pause_probe_s=config.retry.pause_probe_s,
            on_fatal=self.fatal,
        )
        self._token_watch = TokenWatch(config.bigpanda.token_file, token)
        self._status_store: StateStore | None = None
        self.pipeline = Pipeline(config, on_queued=self.shipper.wake, on_fatal=self.fatal)

    def fatal(self, exc: BaseException) -> None:
        """A thread died: stop the process with status 1."""
        self._fatal = exc
        self._stop.set()

    # Signal handlers run in the main thread between two bytecodes, possibly while
    # it holds an Event's internal lock inside Event.wait(); calling Event.set()
    # there would deadlock. They only set plain flags; the supervisor polls them.

    def request_stop(self, signum: int = 0, frame: FrameType | None = None) -> None:
        """SIGTERM/SIGINT handler: sets a flag only (see above)."""
        self._stop_signalled = True

    def request_reload(self, signum: int = 0, frame: FrameType | None = None) -> None:
        """SIGHUP handler: sets a flag only (see above)."""
        self._reload_signalled = True

    def run(self) -> int:
        """Start the threads, wait for a signal or a fatal error, shut down; returns exit status."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, self.request_reload)
        self.pipeline.start()
        self.shipper.start()
        self.pipeline.ready.wait(30)
        log.info("agent_started", version=__version__, config=self.config_path,
                 sources=len(self.config.rule_files), endpoint=self.config.bigpanda.endpoint)
        self.notifier.send("READY=1", "STATUS=running")
        self._supervise()
        return self._shutdown()

    def _supervise(self) -> None:
        watchdog_s = self.notifier.watchdog_interval_s
        next_token = next_status = next_watchdog = 0.0
        while not self._stop.is_set() and not self._stop_signalled:
            self._stop.wait(0.2)
            if self._reload_signalled:
                self._reload_signalled = False
                self._do_reload()
            now = time.monotonic()
            if now >= next_token:
                next_token = now + TOKEN_CHECK_S
                self._check_token()
            if watchdog_s is not None and now >= next_watchdog:
                next_watchdog = now + watchdog_s
                self.notifier.send("WATCHDOG=1")
            if self.notifier.enabled and now >= next_status:
                next_status = now + STATUS_EVERY_S
                self.notifier.send(self._status_line())
        if self._status_store is not None:
            self._status_store.close()

    def _check_token(self) -> None:
        token = self._token_watch.poll()
        if token is None:
            return
        try:
            self.shipper.resume(token)
        except ValueError as exc:
            log.error("token_rejected", file=str(self.config.bigpanda.token_file), reason=str(exc))
            return
        log.info("token_reloaded", file=str(self.config.bigpanda.token_file))

    def _status_line(self) -> str:
        """``STATUS=`` with delivery state and queue depth (from state.db)."""
        try:
            if self._status_store is None:
                self._status_store = StateStore(self.config.queue.db_path,
                                                durability=self.config.queue.durability)
            q = self._status_store.stats()
            depth = f"queue_batches={q.batches} queue_alerts={q.alerts} queue_bytes={q.bytes}"
        except StateError:
            depth = "queue=unknown"
        blocked = " state_write=blocked" if self.pipeline.write_blocked else ""
        return (f"STATUS=delivery={self.shipper.state} {depth} "
                f"alerts_sent={self.shipper.counters.alerts_sent}{blocked}")

    def _do_reload(self) -> None:
        self.notifier.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            config = validate_only(self.config_path)
            token = read_token(config.bigpanda)
        except ConfigError as exc:
            log.error("reload_rejected", error=str(exc), file=exc.file, key=exc.key,
                      line=exc.line, reason=exc.reason, kept="previous rules")
            self.notifier.send("READY=1")
            return
        try:
            self.shipper.resume(token)
        except ValueError as exc:
            log.error("token_rejected", file=str(config.bigpanda.token_file), reason=str(exc))
        self._token_watch.accept(token)
        self.shipper.reconfigure(config.bigpanda)
        self.pipeline.reload(config)
        stale = restart_needed(self.config, config)
        if stale:
            log.warning("reload_restart_needed", keys=stale,
                        reason="these settings take effect at the next start")
        self.config = config
        log.info("reload_accepted", rule_files=len(config.rule_files))
        self.notifier.send("READY=1")

    def _shutdown(self) -> int:
        self.notifier.send("STOPPING=1")
        deadline = time.monotonic() + self.config.daemon.shutdown_timeout_s
        log.info("agent_stopping", reason="fatal" if self._fatal else "signal")
        self.pipeline.stop()
        self.pipeline.join(max(0.1, deadline - time.monotonic()))
        self.shipper.stop(drain_timeout_s=max(0.0, deadline - time.monotonic() - 0.5))
        self.shipper.join(max(0.1, deadline - time.monotonic()))
        self.client.close()
        if self._fatal is not None:
            log.error("agent_failed", error=repr(self._fatal))
            return 1
        log.info("agent_stopped")
        return 0


_RESTART_KEYS = ("endpoint", "timeout_s", "connect_timeout_s", "ca_file", "max_in_flight",
                 "token_file")


def restart_needed(old: AgentConfig, new: AgentConfig) -> list[str]:
    """Settings a reload cannot apply to a running daemon, as dotted keys that changed.

    Rules, ``[defaults]``, ``[batch]``, the app key, the body format, the rate
    limit and the token are applied at once; the HTTP client, the state store,
    the tail settings, retries and process settings are built at start.
    """
    keys = [f"bigpanda.{k}" for k in _RESTART_KEYS
            if getattr(old.bigpanda, k) != getattr(new.bigpanda, k)]
    tables = (("queue", "queue"), ("retry", "retry"), ("tail", "tail"), ("agent", "daemon"),
              ("rules.dir", "rules_dir"))
    keys += [name for name, attr in tables if getattr(old, attr) != getattr(new, attr)]
    return keys


def run_daemon(config_path: str) -> int:
    """Load the configuration, check the state database, run until signalled.

    Returns:
        0 after a clean stop, 1 after a fatal error.

    Raises:
        ConfigError: invalid configuration or no token (exit 78).
        StateError: state.db cannot be opened (exit 1, with the recovery hint).
    """
    config = load_config(config_path)
    configure_logging(config.daemon.log_level, config.daemon.log_format)
    token = read_token(config.bigpanda)
    lock = InstanceLock(config.queue.state_dir)  # refuses a second daemon on this state
    StateStore(config.queue.db_path, durability=config.queue.durability, verify=True).close()
    validate_only(config_path)
    try:
        return Daemon(config_path, config, token).run()
    finally:
        lock.release()
