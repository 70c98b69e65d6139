"""Backlog: the API is down while 1,000,000 alerts queue up; then it returns and they drain.

Starts the API double answering 503 to everything (``POST /_mock/faults``),
runs ``bigpanda-agent run`` on N generated lines (``bench/throughput.py``'s
generator, every line an alert), waits until all N alerts sit in state.db,
then clears the fault (``DELETE /_mock/faults``) and waits until the double
has them all (``GET /_mock/stats``). Prints the agent's peak RSS while
queueing and overall, and the drain rate. The client rate limit is off
(``max_requests_per_s = 0``); with the default 5 requests/s the drain is
capped at 5 x ``max_alerts`` alerts/s.

    python bench/backlog.py             # 1,000,000 alerts
    python bench/backlog.py -n 200000
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import free_port, prepare, proc_cpu_s, proc_peak_rss_mb, start_api

AGENT_TOML = """
[bigpanda]
endpoint = "http://127.0.0.1:{port}/data/v2/alerts"
app_key = "bench-app-key"
token_file = "token"
max_requests_per_s = 0

[batch]
max_alerts = {max_alerts}
flush_interval_s = 0.5

[queue]
state_dir = "state"
max_bytes = 2_000_000_000

[retry]
initial_backoff_s = 0.5
max_backoff_s = 2.0

[rules]
dir = "rules.d"

[agent]
log_level = "warning"

[defaults]
host = "bench-host"
"""


def queued_alerts(db: Path) -> int:
    """Alerts in the queue, read through a separate read-only connection."""
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute("SELECT COALESCE(SUM(alerts), 0) FROM batches").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def mock(http: urllib3.PoolManager, port: int, method: str, path: str,
         body: object = None) -> dict[str, int]:
    data = None if body is None else orjson.dumps(body)
    resp = http.request(method, f"http://127.0.0.1:{port}/_mock/{path}", body=data)
    assert resp.status == 200, resp.data
    parsed: dict[str, int] = orjson.loads(resp.data)
    return parsed


def wait(condition: Callable[[], bool], agent: subprocess.Popen[bytes],
         timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if agent.poll() is not None:
            raise SystemExit(f"agent exited with {agent.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit("timeout")
        time.sleep(0.5)


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--alerts", type=int, default=1_000_000)
    parser.add_argument("--max-alerts", type=int, default=500, help="[batch] max_alerts")
    args = parser.parse_args()
    port = free_port()
    work = prepare(args.alerts, AGENT_TOML.format(port=port, max_alerts=args.max_alerts),
                   prefix="bpa-backlog-")
    api = start_api(port)
    http = urllib3.PoolManager()
    db = work / "state" / "state.db"
    try:
        mock(http, port, "POST", "faults", {"status": 503})
        started = time.monotonic()
        agent = subprocess.Popen([sys.executable, "-m", "agent", "run", "-c",
                                  str(work / "agent.toml")])
        wait(lambda: queued_alerts(db) >= args.alerts, agent, timeout_s=1200)
        queued_s = time.monotonic() - started
        rss_queued = proc_peak_rss_mb(agent.pid)
        db_mb = sum(p.stat().st_size for p in db.parent.glob("state.db*")) / 1e6
        cpu_before = sum(proc_cpu_s(agent.pid))
        mock(http, port, "DELETE", "faults")
        drain_start = time.monotonic()
        wait(lambda: mock(http, port, "GET", "stats")["alerts"] >= args.alerts, agent, 1200)
        drain_s = time.monotonic() - drain_start
        cpu_drain = sum(proc_cpu_s(agent.pid)) - cpu_before
        rss_peak = proc_peak_rss_mb(agent.pid)
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=60)
    finally:
        api.send_signal(signal.SIGTERM)
        api.wait(timeout=30)
        http.clear()
        shutil.rmtree(work, ignore_errors=True)
    print(f"queued:              {args.alerts:,} alerts in {queued_s:.1f} s with the API down"
          f" (state.db {db_mb:.0f} MB)")
    print(f"peak RSS queued:     {rss_queued:.1f} MiB")
    print(f"drained:             {args.alerts:,} alerts in {drain_s:.1f} s = "
          f"{args.alerts / drain_s:,.0f} alerts/s (agent CPU {cpu_drain:.1f} s)")
    print(f"peak RSS overall:    {rss_peak:.1f} MiB")
    return 0 if rss_peak < 100 else 1


if __name__ == "__main__":
    sys.exit(main())
