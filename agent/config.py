"""agent.toml and rules.d → frozen dataclasses; every validation lives here.

A configuration is built in exactly one place (:func:`load_config`); a reload
builds a new :class:`AgentConfig` and the daemon swaps one reference.
Relative paths in agent.toml are resolved against agent.toml's directory;
relative globs in a rule file against the rule file's directory.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import ConfigError
from agent.rulefile import RuleFile, load_rule_dir
from agent.settings import TableReader
from agent.tomlfile import TomlDocument, load_toml

DEFAULT_CONFIG_PATH = "/etc/bigpanda-agent/agent.toml"
DEFAULT_ENDPOINT = "https://api.bigpanda.io/data/v2/alerts"
"""BigPanda's US Alerts API (bigpanda-alerts-api.md section 1)."""
DEFAULT_STATE_DIR = "/var/lib/bigpanda-agent"
BIGPANDA_MAX_BODY_BYTES = 6_000_000
"""BigPanda Alerts API: 6 MB per request body (bigpanda-alerts-api.md section 1)."""

_ENV_VAR = re.compile(r"\$\{([^}]*)\}")
_ENV_REF = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)
_TOKEN = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class BigPandaConfig:
    """The ``[bigpanda]`` table: where and how alerts are sent."""

    endpoint: str = DEFAULT_ENDPOINT
    app_key: str
    token_file: Path | None = None
    timeout_s: float = 10.0
    connect_timeout_s: float = 10.0
    batch_format: str = "envelope"
    max_requests_per_s: float = 5.0
    ca_file: Path | None = None
    max_in_flight: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchConfig:
    """The ``[batch]`` table: when a batch is cut."""

    max_alerts: int = 500
    max_bytes: int = 1_000_000
    flush_interval_s: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConfig:
    """The ``[queue]`` table: the disk-backed queue in ``state_dir/state.db``."""

    state_dir: Path = Path(DEFAULT_STATE_DIR)
    max_bytes: int = 536_870_912
    when_full: str = "block"
    durability: str = "normal"

    @property
    def db_path(self) -> Path:
        """``state_dir/state.db``."""
        return self.state_dir / "state.db"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryConfig:
    """The ``[retry]`` table: backoff bounds for transient failures (seconds)."""

    initial_backoff_s: float = 1.0
    max_backoff_s: float = 300.0
    pause_probe_s: float = 300.0
    """Seconds between probes while delivery is paused (401/403/404)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TailConfig:
    """The ``[tail]`` table: how files are discovered and read (see docs/tailing.md).

    Attributes:
        watch: ``"inotify"`` (events plus a rescan every ``poll_interval_s``) or ``"poll"``.
        poll_interval_s: seconds between rescans of the globs (and stats of closed files).
        read_chunk_bytes: bytes per ``pread``.
        max_line_bytes: longer lines are cut to this many characters and flagged.
        partial_line_timeout_s: a final line without LF is emitted after this many
            seconds without new data.
        rotate_wait_s: a rotated-away or deleted file is released this many seconds
            after its last data.
        max_open_files: descriptors held for followed files; idle ones are closed
            first. Rotated files still being drained are never closed early, so they
            can exceed it.
        close_inactive_s: a file without new data for this many seconds is closed
            (its offset kept) and reopened when it changes.
        ignore_older_s: files not modified for this many seconds are not opened
            (0 = off).
    """

    watch: str = "inotify"
    poll_interval_s: float = 1.0
    read_chunk_bytes: int = 256 << 10
    max_line_bytes: int = 65_536
    partial_line_timeout_s: float = 5.0
    rotate_wait_s: float = 5.0
    max_open_files: int = 1024
    close_inactive_s: float = 300.0
    ignore_older_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonConfig:
    """The ``[agent]`` table: process-level settings."""

    shutdown_timeout_s: float = 30.0
    log_level: str = "info"
    log_format: str = "json"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConfig:
    """Everything ``run`` needs: agent.toml plus the loaded rule files."""

    path: Path
    bigpanda: BigPandaConfig
    batch: BatchConfig = field(default_factory=BatchConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    tail: TailConfig = field(default_factory=TailConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    rules_dir: Path = Path("/etc/bigpanda-agent/rules.d")
    defaults: tuple[tuple[str, str], ...] = ()
    rule_files: tuple[RuleFile, ...] = ()


def expand_env(value: Any, doc: TomlDocument, key: str) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of ``value``.

    ``${VAR:-default}`` takes ``default`` when VAR is unset or empty, as in a POSIX shell.

    Raises:
        ConfigError: a referenced variable is unset (and has no default), or the
            reference is malformed.
    """
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            ref = _ENV_REF.fullmatch(match.group(1))
            if ref is None:
                raise doc.error(key, f"malformed environment reference ${{{match.group(1)}}}; "
                                "use ${VAR} or ${VAR:-default}")
            name, default = ref.group(1), ref.group(2)
            if default is not None:
                return os.environ.get(name) or default
            if name not in os.environ:
                raise doc.error(key, f"environment variable {name} is not set")
            return os.environ[name]

        return _ENV_VAR.sub(repl, value)
    if isinstance(value, dict):
        return {k: expand_env(v, doc, f"{key}.{k}" if key else k) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, doc, key) for v in value]
    return value


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path)


def _bigpanda(t: TableReader, base: Path) -> BigPandaConfig:
    t.only({"endpoint", "app_key", "token_file", "timeout_s", "connect_timeout_s",
            "batch_format", "max_requests_per_s", "ca_file", "max_in_flight"})
    endpoint = t.text("endpoint", DEFAULT_ENDPOINT)
    if not endpoint.startswith(("https://", "http://")):
        raise t.fail("endpoint", "must be an http(s) URL")
    if endpoint.startswith("http://") and not _is_loopback_url(endpoint):
        raise t.fail("endpoint", "plain http is allowed only to 127.0.0.1/localhost; use https")
    app_key = t.text("app_key", required=True)
    if not app_key:
        raise t.fail("app_key", "must not be empty")
    token_file = t.opt_str("token_file")
    ca_file = t.opt_str("ca_file")
    return BigPandaConfig(
        endpoint=endpoint,
        app_key=app_key,
        token_file=_resolve(base, token_file) if token_file else None,
        timeout_s=t.number("timeout_s", 10.0, minimum=0.1),
        connect_timeout_s=t.number("connect_timeout_s", 10.0, minimum=0.1),
        batch_format=t.choice("batch_format", "envelope", ("envelope", "array")),
        max_requests_per_s=t.number("max_requests_per_s", 5.0),
        ca_file=_resolve(base, ca_file) if ca_file else None,
        max_in_flight=_max_in_flight(t),
    )


def _max_in_flight(t: TableReader) -> int:
    """``max_in_flight``: 1 only, for now (docs/delivery.md, "Ordering")."""
    value = t.integer("max_in_flight", 1, minimum=1, maximum=4)
    if value != 1:
        raise t.fail("max_in_flight", "only 1 is supported in this version: concurrent "
                     "requests would need batches sharded by alert identity to keep per-"
                     "identity order (docs/delivery.md, 'Ordering')")
    return value


def _is_loopback_url(url: str) -> bool:
    host = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def _batch(t: TableReader) -> BatchConfig:
    t.only({"max_alerts", "max_bytes", "flush_interval_s"})
    return BatchConfig(
        max_alerts=t.integer("max_alerts", 500, minimum=1, maximum=100_000),
        max_bytes=t.integer("max_bytes", 1_000_000, minimum=4096,
                            maximum=BIGPANDA_MAX_BODY_BYTES - 65_536),
        flush_interval_s=t.number("flush_interval_s", 1.0, minimum=0.01),
    )


def _queue(t: TableReader, base: Path) -> QueueConfig:
    t.only({"state_dir", "max_bytes", "when_full", "durability"})
    return QueueConfig(
        state_dir=_resolve(base, t.text("state_dir", DEFAULT_STATE_DIR)),
        max_bytes=t.integer("max_bytes", 536_870_912, minimum=1 << 20),
        when_full=t.choice("when_full", "block", ("block", "drop_oldest")),
        durability=t.choice("durability", "normal", ("normal", "fsync")),
    )


def _retry(t: TableReader) -> RetryConfig:
    t.only({"initial_backoff_s", "max_backoff_s", "pause_probe_s"})
    initial = t.number("initial_backoff_s", 1.0, minimum=0.001)
    maximum = t.number("max_backoff_s", 300.0, minimum=0.001)
    if maximum < initial:
        raise t.fail("max_backoff_s", "must be >= initial_backoff_s")
    return RetryConfig(initial_backoff_s=initial, max_backoff_s=maximum,
                       pause_probe_s=t.number("pause_probe_s", 300.0, minimum=0.1))


def _tail(t: TableReader) -> TailConfig:
    t.only({"watch", "poll_interval_s", "read_chunk_bytes", "max_line_bytes",
            "partial_line_timeout_s", "rotate_wait_s", "max_open_files", "close_inactive_s",
            "ignore_older_s"})
    return TailConfig(
        watch=t.choice("watch", "inotify", ("inotify", "poll")),
        poll_interval_s=t.number("poll_interval_s", 1.0, minimum=0.01),
        read_chunk_bytes=t.integer("read_chunk_bytes", 256 << 10, minimum=4096, maximum=64 << 20),
        max_line_bytes=t.integer("max_line_bytes", 65_536, minimum=256),
        partial_line_timeout_s=t.number("partial_line_timeout_s", 5.0),
        rotate_wait_s=t.number("rotate_wait_s", 5.0),
        max_open_files=t.integer("max_open_files", 1024, minimum=1),
        close_inactive_s=t.number("close_inactive_s", 300.0),
        ignore_older_s=t.number("ignore_older_s", 0.0),
    )


def _daemon(t: TableReader) -> DaemonConfig:
    t.only({"shutdown_timeout_s", "log_level", "log_format"})
    return DaemonConfig(
        shutdown_timeout_s=t.number("shutdown_timeout_s", 30.0, minimum=0.1),
        log_level=t.choice("log_level", "info", ("debug", "info", "warning", "error")),
        log_format=t.choice("log_format", "json", ("json", "console")),
    )


def _defaults(t: TableReader) -> tuple[tuple[str, str], ...]:
    items: dict[str, str] = {"host": "{hostname}"}
    for name, value in t.table.items():
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise t.fail(name, "must be a string or an integer")
        items[name] = str(value)
    return tuple(items.items())


def load_agent_toml(path: Path) -> AgentConfig:
    """Parse agent.toml only (no rule files).

    Raises:
        ConfigError: naming file, key, line and reason.
    """
    doc = load_toml(path)
    data = expand_env(doc.data, doc, "")
    root = TableReader(doc, data, "")
    root.only({"bigpanda", "batch", "queue", "retry", "rules", "defaults", "tail", "agent"})
    base = path.parent
    rules = root.sub("rules")
    rules.only({"dir"})
    if "bigpanda" not in data:
        raise doc.error("bigpanda", "table is required (at least app_key)")
    return AgentConfig(
        path=path,
        bigpanda=_bigpanda(root.sub("bigpanda"), base),
        batch=_batch(root.sub("batch")),
        queue=_queue(root.sub("queue"), base),
        retry=_retry(root.sub("retry")),
        tail=_tail(root.sub("tail")),
        daemon=_daemon(root.sub("agent")),
        rules_dir=_resolve(base, rules.text("dir", "/etc/bigpanda-agent/rules.d")),
        defaults=_defaults(root.sub("defaults")),
    )


def load_config(path: str | Path) -> AgentConfig:
    """Load agent.toml and every rule file of its rules dir (in name order).

    Returns:
        A frozen ``AgentConfig`` with ``rule_files`` filled.

    Raises:
        ConfigError: the first problem found, naming file, key, line and reason.
    """
    config = load_agent_toml(Path(path))
    rule_files = load_rule_dir(config.rules_dir)
    return AgentConfig(
        path=config.path,
        bigpanda=config.bigpanda,
        batch=config.batch,
        queue=config.queue,
        retry=config.retry,
        tail=config.tail,
        daemon=config.daemon,
        rules_dir=config.rules_dir,
        defaults=config.defaults,
        rule_files=rule_files,
    )


def hostname() -> str:
    """The machine's host name, the default primary property value."""
    return socket.gethostname()


def read_token(config: BigPandaConfig, environ: dict[str, str] | None = None) -> str:
    """The org token: ``token_file``, else ``$BIGPANDA_TOKEN``, else the systemd credential.

    The credential is ``$CREDENTIALS_DIRECTORY/bigpanda-token`` (systemd
    ``LoadCredential=``). The token is never logged.

    Raises:
        ConfigError: no source yields a token, a token file cannot be read, or the
            token is not one line of printable ASCII without spaces (what an HTTP
            ``Authorization`` header can carry). The message never includes it.
    """
    env = os.environ if environ is None else environ
    if config.token_file is not None:
        return _token_from_file(config.token_file, "bigpanda.token_file")
    if env.get("BIGPANDA_TOKEN", "").strip():
        return _checked_token(env["BIGPANDA_TOKEN"], "BIGPANDA_TOKEN", None)
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        cred = Path(cred_dir) / "bigpanda-token"
        if cred.is_file():
            return _token_from_file(cred, "credential bigpanda-token")
    raise ConfigError(
        "no token: set bigpanda.token_file, BIGPANDA_TOKEN, or the systemd credential "
        "bigpanda-token", key="bigpanda.token_file")


def _token_from_file(path: Path, key: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read token file: {exc.strerror}", file=str(path),
                          key=key) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("token file is not UTF-8 text", file=str(path), key=key) from exc
    return _checked_token(text, key, str(path))


def _checked_token(text: str, key: str, file: str | None) -> str:
    token = text.lstrip("\ufeff").strip()
    if not token:
        raise ConfigError("token is empty", file=file, key=key)
    if not _TOKEN.fullmatch(token):
        raise ConfigError("token must be one line of printable ASCII without spaces "
                          "(the org token from BigPanda's integration page)", file=file, key=key)
    return token


def token_file_mode_warning(config: BigPandaConfig) -> str | None:
    """A warning when ``token_file`` is readable by group or others, else ``None``."""
    if config.token_file is None:
        return None
    try:
        mode = config.token_file.stat().st_mode
    except OSError:
        return None
    if mode & 0o077:
        return (f"{config.token_file} is readable by group or others (mode {mode & 0o777:o}); "
                "chmod 600 it")
    return None
