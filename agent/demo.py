"""The ``demo`` command: the whole product on this machine, with no set-up.

Starts the Alerts API double on a free loopback port, copies the sample logs
and example rules into a temporary directory, runs ``bigpanda-agent run`` as a
real subprocess from the beginning of the logs, waits until every alert the
rules produce has arrived, stops the agent with SIGTERM and prints a summary.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import orjson

from agent.config import hostname, load_config
from agent.mock_api import MockAlertsApi
from agent.preview import records_of
from agent.rules import compile_rules
from agent.tail.discovery import discover

DEMO_TOKEN = "test-token"
DEMO_APP_KEY = "test-app-key"
WAIT_S = 60.0


def bundled_root() -> Path:
    """Where ``examples/`` and ``sample_logs/`` are: inside the installed package, or the
    checkout this package was imported from.

    Raises:
        FileNotFoundError: neither place has them.
    """
    packaged = Path(str(resources.files("agent"))) / "bundled"
    checkout = Path(__file__).resolve().parent.parent
    for root in (packaged, checkout):
        if (root / "examples" / "agent.toml").is_file() and (root / "sample_logs").is_dir():
            return root
    raise FileNotFoundError("examples/ and sample_logs/ not found in the package or checkout")


def _prepare(work: Path, endpoint: str) -> Path:
    root = bundled_root()
    shutil.copytree(root / "examples", work / "examples")
    shutil.copytree(root / "sample_logs", work / "sample_logs")
    config = work / "examples" / "agent.toml"
    text = config.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^endpoint\s*=.*$', f'endpoint = "{endpoint}"', text)
    text = re.sub(r'(?m)^max_requests_per_s\s*=.*$', "max_requests_per_s = 0", text)
    text = re.sub(r'(?m)^flush_interval_s\s*=.*$', "flush_interval_s = 0.2", text)
    config.write_text(text, encoding="utf-8")
    (work / "examples" / "token").write_text(DEMO_TOKEN + "\n", encoding="utf-8")
    return config


def expected_alerts(config_path: Path) -> int:
    """How many distinct alerts the example rules make of the sample logs (computed offline).

    Exact repeats (same second, same fields) count once: BigPanda, and the API
    double, drop them as duplicates (204).
    """
    config = load_config(config_path)
    distinct: set[bytes] = set()
    host = hostname()
    for rf in config.rule_files:
        rules = compile_rules(rf, config.defaults, hostname=host)
        for path in sorted(discover(rf.source)):
            for text in records_of(path, rf):
                alert = rules.apply(text, path, time.time())
                if alert is not None:
                    distinct.add(orjson.dumps(alert, option=orjson.OPT_SORT_KEYS))
    return len(distinct)


def run_demo(*, out: TextIO, keep: bool = False) -> int:
    """Run the demo; returns 0 when every expected alert arrived exactly once, else 1."""
    work = Path(tempfile.mkdtemp(prefix="bigpanda-agent-demo-"))
    api = MockAlertsApi(tokens=[DEMO_TOKEN], app_keys=[DEMO_APP_KEY]).start()
    try:
        config = _prepare(work, api.endpoint)
        expected = expected_alerts(config)
        out.write(f"API double listening on {api.endpoint}\n")
        out.write(f"tailing {work / 'sample_logs'} with {config.parent / 'rules.d'}\n")
        out.write(f"expecting {expected} alerts from the sample logs\n\n")
        out.flush()
        arrived, code, elapsed = _run_agent(config, api, expected)
        _summary(api, out)
        ok = arrived == expected and code == 0
        verdict = "ok" if ok else "INCOMPLETE"
        out.write(f"\n{verdict}: {arrived} of {expected} alerts arrived in {elapsed:.1f}s; "
                  f"agent exited {code}\n")
        return 0 if ok else 1
    finally:
        api.stop()
        if keep:
            out.write(f"work directory kept: {work}\n")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _run_agent(config: Path, api: MockAlertsApi, expected: int) -> tuple[int, int, float]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    log_path = config.parent.parent / "agent.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "agent", "run", "-c", str(config)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            api.wait_for_alerts(expected, timeout_s=WAIT_S)
            time.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
    return len(api.alerts), code, time.monotonic() - started


def _summary(api: MockAlertsApi, out: TextIO) -> None:
    alerts: list[dict[str, Any]] = list(api.alerts)
    by_status = collections.Counter(a.get("status") for a in alerts)
    by_source = collections.Counter(str(a.get("log_source", a.get("check", "?"))) for a in alerts)
    requests = len(api.requests)
    out.write(f"received {len(alerts)} alerts in {requests} request(s)\n")
    out.write("by status:   " + ", ".join(f"{k}={v}" for k, v in sorted(by_status.items())) + "\n")
    out.write("by source:   " + ", ".join(f"{k}={v}" for k, v in sorted(by_source.items())) + "\n")
    out.write("\nexamples:\n")
    shown: set[str] = set()
    for alert in alerts:
        key = f"{alert.get('status')}/{alert.get('log_source', '')}"
        if key in shown:
            continue
        shown.add(key)
        description = str(alert.get("description", ""))[:90]
        out.write(f"  [{alert.get('status'):8}] host={alert.get('host')} "
                  f"check={alert.get('check')!r}\n             {description}\n")
        if len(shown) >= 8:
            break
