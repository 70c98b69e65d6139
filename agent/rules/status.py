"""A record's BigPanda status, and the ``where`` conditions a record must meet."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.rulefile import StatusSpec
from agent.rules.values import to_text


class StatusMapper:
    """Derives the status: a constant, or a field's value looked up in a mapping.

    The field's value is rendered as text and lowercased (``ERROR`` → ``error``; a JSON
    ``500`` → ``"500"``) and looked up in the mapping, whose keys rulefile.py already
    lowercased. A value not in the mapping, or a missing field, takes ``default``;
    without a default the record is dropped (``of`` returns ``None``).

    Args:
        spec: the rule's ``status``.

    Attributes:
        constant: the fixed status, or ``None`` when it comes from a field.
        field: the mapped field, or ``None`` for a constant.
        default: the status for unmapped values and a missing field, or ``None``.
        lookup: ``mapping.get``: lowercased value (and a default) → status.
    """

    __slots__ = ("constant", "default", "field", "lookup")

    def __init__(self, spec: StatusSpec) -> None:
        self.constant = spec.constant
        self.field = spec.field
        self.default = spec.default
        self.lookup = dict(spec.mapping).get

    def of(self, fields: Mapping[str, Any]) -> str | None:
        """The status for ``fields``, or ``None`` when the value maps to no status."""
        if self.constant is not None:
            return self.constant
        value = fields.get(self.field)  # type: ignore[arg-type]
        if value is None:
            return self.default
        key = value.lower() if value.__class__ is str else to_text(value).lower()
        return self.lookup(key, self.default)

    def why_not(self, fields: Mapping[str, Any]) -> str:
        """Why :meth:`of` returned ``None``, for ``test-rules`` and rule tests."""
        value = fields.get(self.field)  # type: ignore[arg-type]
        if value is None:
            return f"status field {self.field!r} missing and no default"
        return f"status value {to_text(value)!r} not mapped"


class Conditions:
    """``where``: every ``field = [allowed, …]`` must hold for the rule to match.

    A value matches when its text, lowercased, equals one of the allowed values,
    lowercased (``where = { level = ["error"] }`` accepts ``ERROR``). A missing field
    (or a JSON ``null``, or a regex group that did not participate) fails its condition.

    Args:
        where: ``(field, allowed values)`` pairs from the rule.

    Attributes:
        checks: ``(field, lowercased allowed values)`` pairs.
    """

    __slots__ = ("checks",)

    def __init__(self, where: tuple[tuple[str, tuple[str, ...]], ...]) -> None:
        self.checks = tuple(
            (name, frozenset(v.lower() for v in allowed)) for name, allowed in where
        )

    def __bool__(self) -> bool:
        return bool(self.checks)

    def accepts(self, fields: Mapping[str, Any]) -> bool:
        """Whether every condition holds for ``fields``."""
        get = fields.get
        for name, allowed in self.checks:
            value = get(name)
            if value is None:
                return False
            key = value.lower() if value.__class__ is str else to_text(value).lower()
            if key not in allowed:
                return False
        return True

    @property
    def field_names(self) -> frozenset[str]:
        """The fields the conditions read."""
        return frozenset(name for name, _ in self.checks)
