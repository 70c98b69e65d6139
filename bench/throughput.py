"""End-to-end throughput: N log lines → N alerts at the API double, durable queue on.

Generates N lines (~160 bytes, a mix of levels), starts the API double and
``bigpanda-agent run`` as subprocesses, reads the file from the beginning with
a rule that turns every line into an alert, waits until every alert has
arrived, and prints lines/s, alerts/s, the agent's CPU seconds and peak RSS
(from /proc, Linux only).

    python bench/throughput.py            # 1,000,000 lines
    python bench/throughput.py -n 200000
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import urllib3

RULE = r"""
[source]
paths = ["../logs/bench.log"]
read_from = "beginning"

[[rule]]
name = "every-line"
pattern = '^(?P<time>\S+) (?P<level>[A-Z]+)\s+\[(?P<service>[^\]]+)\] (?P<message>.*)'
time = { field = "time", format = "iso8601" }

[rule.status]
field = "level"
map = { ERROR = "critical", WARN = "warning", INFO = "ok", DEBUG = "ok" }

[rule.alert]
check = "{service}"
description = "{message}"
cluster = "bench"
"""

AGENT_TOML = """
[bigpanda]
endpoint = "http://127.0.0.1:{port}/data/v2/alerts"
app_key = "bench-app-key"
token_file = "token"
max_requests_per_s = 0

[batch]
max_alerts = 5000
max_bytes = 1_000_000
flush_interval_s = 0.5

[queue]
state_dir = "state"
durability = "{durability}"

[rules]
dir = "rules.d"

[agent]
log_level = "warning"

[defaults]
host = "bench-host"
"""

LEVELS = ["INFO"] * 6 + ["DEBUG"] * 2 + ["WARN", "ERROR"]
SERVICES = ["payments", "ledger", "checkout", "orders", "inventory", "search"]


def generate(path: Path, n: int) -> int:
    """Write ``n`` unique lines of about 160 bytes; returns the file size in bytes."""
    rng = random.Random(42)
    base = 1_795_860_000
    with open(path, "w", encoding="ascii") as f:
        chunk = []
        for i in range(n):
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base + i // 50))
            level = LEVELS[rng.randrange(len(LEVELS))]
            service = SERVICES[rng.randrange(len(SERVICES))]
            msg = (f"request {i:08d} handled by worker-{rng.randrange(64):02d} "
                   f"status={rng.choice((200, 201, 404, 500, 503))} "
                   f"latency_ms={rng.randrange(2, 4000)} route=/api/v1/{service}/items "
                   f"client=10.0.{rng.randrange(256)}.{rng.randrange(256)} proto=h2")
            chunk.append(f"{ts}.{i % 1000:03d}Z {level:<5} [{service}] {msg}\n")
            if len(chunk) >= 10_000:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))
    return path.stat().st_size


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu_s(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def proc_peak_rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_stats(http: urllib3.PoolManager, port: int, n: int, agent: subprocess.Popen[bytes],
               timeout_s: float) -> dict[str, int]:
    """Poll the double's stats until ``n`` alerts arrived."""
    deadline = time.monotonic() + timeout_s
    stats: dict[str, int] = {}
    while time.monotonic() < deadline:
        resp = http.request("GET", f"http://127.0.0.1:{port}/_mock/stats")
        stats = orjson.loads(resp.data)
        if stats["alerts"] >= n:
            return stats
        if agent.poll() is not None:
            raise SystemExit(f"agent exited with {agent.returncode}")
        time.sleep(0.1)
    raise SystemExit(f"timeout: only {stats.get('alerts')} of {n} alerts arrived")


def prepare(lines: int, agent_toml: str, *, prefix: str) -> Path:
    """A work directory with ``lines`` generated log lines, the rule, token and agent.toml."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    (work / "logs").mkdir()
    (work / "rules.d").mkdir()
    size = generate(work / "logs" / "bench.log", lines)
    (work / "token").write_text("bench-token\n")
    (work / "rules.d" / "bench.toml").write_text(RULE)
    (work / "agent.toml").write_text(agent_toml)
    print(f"generated {lines:,} lines, {size / 1e6:.1f} MB")
    return work


def start_api(port: int) -> subprocess.Popen[bytes]:
    """The API double as a subprocess on ``port``, once it listens."""
    api = subprocess.Popen([sys.executable, "-m", "agent", "mock-api", "--port", str(port),
                            "--token", "bench-token", "--app-key", "bench-app-key", "--quiet"],
                           stdout=subprocess.PIPE)
    assert api.stdout is not None
    api.stdout.readline()
    return api


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--lines", type=int, default=1_000_000)
    parser.add_argument("--durability", choices=("normal", "fsync"), default="normal")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    port = free_port()
    work = prepare(args.lines, AGENT_TOML.format(port=port, durability=args.durability),
                   prefix="bpa-bench-")
    api = start_api(port)
    http = urllib3.PoolManager()
    try:
        started = time.monotonic()
        agent = subprocess.Popen([sys.executable, "-m", "agent", "run", "-c",
                                  str(work / "agent.toml")])
        stats = wait_stats(http, port, args.lines, agent, timeout_s=600)
        elapsed = time.monotonic() - started
        user, system = proc_cpu_s(agent.pid)
        cpu = user + system
        rss = proc_peak_rss_mb(agent.pid)
        api_cpu = sum(proc_cpu_s(api.pid))
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=60)
    finally:
        api.send_signal(signal.SIGTERM)
        api.wait(timeout=30)
        http.clear()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"alerts arrived:      {stats['alerts']:,} in {stats['requests']:,} requests")
    print(f"elapsed:             {elapsed:.2f} s (agent start to last alert acknowledged)")
    print(f"lines/s:             {args.lines / elapsed:,.0f}")
    print(f"alerts/s:            {stats['alerts'] / elapsed:,.0f}")
    print(f"agent CPU:           {cpu:.2f} s ({cpu / args.lines * 1e6:.2f} s per million lines;"
          f" user {user:.2f} s, system {system:.2f} s)")
    print(f"agent peak RSS:      {rss:.1f} MiB")
    print(f"API double CPU:      {api_cpu:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
