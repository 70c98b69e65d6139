"""Command line: argument parsing, one function per subcommand.

Exit status: 0 ok, 1 runtime failure, 2 usage error, 78 configuration error
(EX_CONFIG; the message names file, line/key and reason).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from agent import __version__
from agent.config import DEFAULT_CONFIG_PATH
from agent.errors import EX_CONFIG, ConfigError, StateError, UsageError
from agent.tomlfile import locate


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default=DEFAULT_CONFIG_PATH,
                        help=f"agent.toml (default {DEFAULT_CONFIG_PATH})")


def cmd_run(args: argparse.Namespace) -> int:
    """``run``: the daemon, in the foreground."""
    from agent.daemon import run_daemon

    return run_daemon(args.config)


def cmd_check(args: argparse.Namespace) -> int:
    """``check``: validate config and rules, run every ``[[rule.test]]``, list files."""
    from agent.checking import check

    return check(args.config, out=sys.stdout)


def cmd_test_rules(args: argparse.Namespace) -> int:
    """``test-rules``: show what each sample record turns into."""
    from agent.preview import preview

    return preview(args.config, args.files, source=args.source, as_json=args.json,
                   matches_only=args.matches_only, out=sys.stdout)


def cmd_send_test(args: argparse.Namespace) -> int:
    """``send-test``: send one test alert and print the HTTP result."""
    from agent.sendtest import send_test

    return send_test(args.config, status=args.status, out=sys.stdout)


def cmd_status(args: argparse.Namespace) -> int:
    """``status``: files, queue, dead letters and last delivery, from state.db."""
    from agent.statusview import show_status

    return show_status(args.config, as_json=args.json, out=sys.stdout)


def cmd_dead_letter(args: argparse.Namespace) -> int:
    """``dead-letter list|replay|purge``."""
    from agent.statusview import dead_letter_command

    ids = [*args.ids, *(args.id or [])]
    return dead_letter_command(args.config, args.action, ids=ids, out=sys.stdout)


def cmd_mock_api(args: argparse.Namespace) -> int:
    """``mock-api``: the local Alerts API double."""
    from agent.mock_api_cli import run_from_args

    return run_from_args(args)


def cmd_demo(args: argparse.Namespace) -> int:
    """``demo``: API double + sample logs + example rules, end to end."""
    from agent.demo import run_demo

    return run_demo(out=sys.stdout, keep=args.keep)


def build_parser() -> argparse.ArgumentParser:
    """The ``bigpanda-agent`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="bigpanda-agent",
        description="Tail log files, turn matching lines into BigPanda alerts, ship them durably.")
    parser.add_argument("--version", action="version", version=f"bigpanda-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str,
            config: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        if config:
            _add_config(p)
        p.set_defaults(func=func)
        return p

    add("run", cmd_run, "run the daemon in the foreground")
    add("check", cmd_check, "validate agent.toml and rule files, run rule tests")
    p = add("test-rules", cmd_test_rules, "show the alert each sample line would produce")
    p.add_argument("files", nargs="*", default=["-"], metavar="FILE",
                   help="sample log files, or - for stdin (default)")
    p.add_argument("--source", help="use only this rule file's source (its file stem)")
    p.add_argument("--json", action="store_true", help="one JSON object per record")
    p.add_argument("--matches-only", action="store_true", help="hide records with no match")
    p = add("send-test", cmd_send_test, "send one test alert to the configured endpoint")
    p.add_argument("--status", default="ok", choices=("ok", "warning", "critical"),
                   help="status of the test alert (default ok)")
    p = add("status", cmd_status, "show files, queue, dead letters, last delivery")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add("dead-letter", cmd_dead_letter, "list, replay or purge dead letters")
    p.add_argument("action", choices=("list", "replay", "purge"))
    p.add_argument("ids", nargs="*", type=int, help="dead letter ids (default: all)")
    p.add_argument("--id", type=int, action="append", metavar="N",
                   help="a dead letter id (repeatable; same as the positional ids)")
    from agent.mock_api_cli import configure_parser

    p = add("mock-api", cmd_mock_api, "run the local BigPanda Alerts API double",
            config=False)
    configure_parser(p)
    p = add("demo", cmd_demo, "run the API double, tail the sample logs, print what arrived",
            config=False)
    p.add_argument("--keep", action="store_true", help="keep the demo's work directory")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # argparse cannot take positional ids after options (dead-letter purge -c F 3).
        if args.command == "dead-letter" and all(x.isdigit() for x in extra):
            args.ids = [*args.ids, *map(int, extra)]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        result: int = args.func(args)
        return result
    except ConfigError as exc:
        print(f"bigpanda-agent: configuration error: {locate(exc)}", file=sys.stderr)
        return EX_CONFIG
    except StateError as exc:
        print(f"bigpanda-agent: state error: {exc}", file=sys.stderr)
        return 1
    except UsageError as exc:
        print(f"bigpanda-agent: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Output piped into head(1) and friends: not an error.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130
