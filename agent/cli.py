"""Command line entry point (placeholder while the subcommands are built)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Run the ``bigpanda-agent`` command line; returns the exit status."""
    return 0
