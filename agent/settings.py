"""Typed reads of TOML values with file/key/line errors (used by ``agent.config``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.tomlfile import TomlDocument


class TableReader:
    """Reads typed keys from one TOML table, raising errors that name file, key and line.

    Args:
        doc: the document the table came from.
        table: the table itself.
        where: dotted path of the table (``"bigpanda"``, ``"rule[1]"``), ``""`` for the root.
    """

    def __init__(self, doc: TomlDocument, table: Mapping[str, Any], where: str) -> None:
        self.doc = doc
        self.table = table
        self.where = where

    def key(self, name: str) -> str:
        """The dotted path of ``name`` inside this table."""
        return f"{self.where}.{name}" if self.where else name

    def fail(self, name: str, reason: str) -> Exception:
        """An error about key ``name`` of this table."""
        return self.doc.error(self.key(name), reason)

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        """A string value; ``default`` when absent.

        Raises:
            ConfigError: wrong type, or absent and required.
        """
        value = self.table.get(name, default)
        if value is None:
            if required:
                raise self.fail(name, "is required")
            return ""
        if not isinstance(value, str):
            raise self.fail(name, f"must be a string, not {type(value).__name__}")
        return value

    def opt_str(self, name: str) -> str | None:
        """A string value or ``None`` when absent."""
        return self.text(name) if name in self.table else None

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        """A string that must be one of ``choices``."""
        value = self.text(name, default)
        if value not in choices:
            raise self.fail(name, f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def number(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        """A number (int or float) ≥ ``minimum``."""
        value = self.table.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(name, f"must be a number, not {type(value).__name__}")
        if value < minimum:
            raise self.fail(name, f"must be >= {minimum}; got {value}")
        return float(value)

    def integer(
        self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None
    ) -> int:
        """An integer within ``[minimum, maximum]``."""
        value = self.table.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, f"must be an integer, not {type(value).__name__}")
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise self.fail(name, f"must be {bound}; got {value}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        """A boolean."""
        value = self.table.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, f"must be true or false, not {type(value).__name__}")
        return value

    def str_list(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """A list of strings (a single string is accepted as a one-item list)."""
        value = self.table.get(name, list(default))
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(name, "must be a list of strings")
        return tuple(value)

    def sub(self, name: str) -> TableReader:
        """The sub-table ``name`` (empty when absent)."""
        value = self.table.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(name, "must be a table")
        return TableReader(self.doc, value, self.key(name))

    def only(self, allowed: set[str]) -> None:
        """Reject keys outside ``allowed``."""
        for name in self.table:
            if name not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail(name, f"unknown key (known: {known})")
