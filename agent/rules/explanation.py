"""What the rules did with one record, for ``test-rules`` and rule tests (like Cribl's preview)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    """The outcome of one record.

    Attributes:
        rule: the rule that matched (extraction and ``where`` held), or ``None``.
        fields: that rule's extracted fields (``None`` values, i.e. regex groups that
            did not participate, left out; built-ins not included); ``{}`` without a rule.
        alert: the alert that would be sent, or ``None`` (no match, or dropped).
        reason: ``"matched"``; ``"matched; time …, used read time"``; ``"no match"``;
            ``"status value 'debug' not mapped"``;
            ``"status field 'level' missing and no default"``.
    """

    rule: str | None
    fields: dict[str, Any]
    alert: dict[str, Any] | None
    reason: str
