"""Runs ``bigpanda-agent run`` as a real subprocess against the API double."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

TOKEN = "e2e-token"
APP_KEY = "e2e-app-key"
REPO = Path(__file__).resolve().parents[2]


def agent_toml(endpoint: str, *, extra: str = "") -> str:
    """A small agent.toml for tests: fast flushes, no client rate limit, tiny backoff."""
    return f"""
[bigpanda]
endpoint = "{endpoint}"
app_key = "{APP_KEY}"
token_file = "token"
max_requests_per_s = 0
timeout_s = 2

[batch]
max_alerts = 50
flush_interval_s = 0.1

[queue]
state_dir = "state"

[retry]
initial_backoff_s = 0.05
max_backoff_s = 0.5

[tail]
poll_interval_s = 0.2
partial_line_timeout_s = 1.0

[rules]
dir = "rules.d"

[agent]
shutdown_timeout_s = 10

[defaults]
host = "web-01"
environment = "test"
{extra}
"""


class Agent:
    """One agent installation under a temp dir: config, rules, state, log."""

    def __init__(
        self, root: Path, endpoint: str, rules: dict[str, str], *, extra: str = ""
    ) -> None:
        self.root = root
        (root / "rules.d").mkdir(parents=True, exist_ok=True)
        (root / "token").write_text(TOKEN + "\n")
        self.config = root / "agent.toml"
        self.config.write_text(agent_toml(endpoint, extra=extra))
        for name, text in rules.items():
            (root / "rules.d" / name).write_text(text)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = root / "agent.log"
        self._log_offset = 0

    def start(self, *, wait_ready: bool = True) -> None:
        """Start the daemon; wait for its ``agent_started`` log event."""
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("BIGPANDA_TOKEN", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "-c", str(self.config)],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        log.close()
        if wait_ready:
            self.wait_event("agent_started", timeout_s=20)

    def events(self) -> list[dict[str, object]]:
        """Log events of the current run, parsed."""
        if not self.log_path.exists():
            return []
        out = []
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            for line in f:
                try:
                    out.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    continue
        return out

    def wait_event(self, name: str, *, timeout_s: float) -> dict[str, object]:
        """Wait for a log event by name; fail with the log on timeout or exit."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for event in self.events():
                if event.get("event") == name:
                    return event
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"agent exited {self.proc.returncode}:\n{self.log_text()}")
            time.sleep(0.05)
        raise AssertionError(f"no {name} event in {timeout_s}s:\n{self.log_text()}")

    def log_text(self) -> str:
        """The whole agent log (for failure messages)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, *, timeout_s: float = 20) -> int:
        """Signal the daemon and wait for it; returns its exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"agent did not stop in {timeout_s}s:\n{self.log_text()}") from exc
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL, for crash tests and cleanup."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def run_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run another subcommand against this installation."""
        return subprocess.run([sys.executable, "-m", "agent", *args, "-c", str(self.config)],
                              capture_output=True, text=True, cwd=REPO, timeout=60)


def append(path: Path, lines: list[str]) -> None:
    """Append complete lines to a log file, as an application would."""
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
