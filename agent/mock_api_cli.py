"""Command line glue of ``bigpanda-agent mock-api`` (:mod:`agent.cli` calls these).

:func:`configure_parser` adds the options ``docs/mock-api.md`` lists;
:func:`run_from_args` serves a :class:`~agent.mock_api.MockAlertsApi` until
SIGINT or SIGTERM and prints each accepted alert as one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

from agent.mock_api import DEFAULT_APP_KEY, DEFAULT_TOKEN, LOOPBACK, MockAlertsApi


class _Repeatable(argparse.Action):
    """``append``, except that the first use replaces the default list."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        current = getattr(namespace, self.dest)
        setattr(namespace, self.dest, [*([] if current is self.default else current), values])


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``mock-api`` options to ``parser`` (docs/mock-api.md lists them)."""
    add = parser.add_argument
    add("--port", type=int, default=8080, help="TCP port on 127.0.0.1, 0 = any (default 8080)")
    add("--token", action=_Repeatable, default=[DEFAULT_TOKEN], metavar="TOKEN",
        help=f"accepted bearer token; repeatable (default {DEFAULT_TOKEN})")
    add("--app-key", action=_Repeatable, default=[DEFAULT_APP_KEY], metavar="KEY",
        help=f"accepted app key; repeatable (default {DEFAULT_APP_KEY})")
    add("--forbidden-token", action=_Repeatable, default=[], metavar="TOKEN",
        help="token answered with 403; repeatable")
    add("--lenient", action="store_true", help="truncate long descriptions instead of 400")
    add("--strict-array", action="store_true", help="reject a bare top-level array with 400")
    add("--gzip", action="store_true", help="accept Content-Encoding: gzip")
    add("--partial-accept", action="store_true", help="drop only bad alerts; answer 201")
    add("--max-body-bytes", type=int, default=6_000_000, metavar="N",
        help="body limit in bytes, after decompression (default 6000000)")
    add("--rate-limit", type=float, metavar="FLOAT", help="requests/s before 429 (default none)")
    add("--quiet", action="store_true", help="do not print accepted alerts")
    add("--verbose", action="store_true", help="log every request to stderr")


def run_from_args(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; returns 0, or 1 when the double cannot start.

    Prints ``mock-api listening on <endpoint>`` first, then each accepted alert
    as one line of compact JSON unless ``--quiet``.
    """
    try:
        api = MockAlertsApi(
            port=args.port, tokens=args.token, forbidden_tokens=args.forbidden_token,
            app_keys=args.app_key, max_body_bytes=args.max_body_bytes, gzip=args.gzip,
            strict_array=args.strict_array, strict_description=not args.lenient,
            partial_accept=args.partial_accept, rate_limit_per_s=args.rate_limit,
            record_bodies=False, on_accept=None if args.quiet else _print_alerts,
            verbose=args.verbose)
    except (OSError, ValueError) as exc:
        print(f"mock-api: cannot start on {LOOPBACK}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = [False]
    previous = _install_stop_handlers(stop)
    try:
        with api:
            print(f"mock-api listening on {api.endpoint}", flush=True)
            while not stop[0]:
                time.sleep(0.2)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


_print_lock = threading.Lock()


def _print_alerts(alerts: list[bytes]) -> None:
    text = b"\n".join(alerts).decode() + "\n"
    with _print_lock, contextlib.suppress(BrokenPipeError, ValueError):
        sys.stdout.write(text)
        sys.stdout.flush()


def _install_stop_handlers(stop: list[bool]) -> dict[int, Any]:
    """Make SIGINT and SIGTERM set ``stop[0]`` (main thread only); returns the old handlers.

    The handler only sets a flag: calling ``Event.set()`` from a signal handler can
    deadlock when the main thread is inside ``Event.wait()`` on the same event.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, frame: FrameType | None) -> None:
        stop[0] = True

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
