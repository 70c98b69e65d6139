"""What a source's rules did with the records they saw (cumulative)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Counters:
    """Cumulative counts for one source's rules; mutable, updated in place.

    Every record lands in exactly one of ``matched``, ``no_match`` and
    ``unmapped_status``, so ``records == matched + no_match + unmapped_status``.
    ``time_errors`` and ``field_errors`` count events, not records: a record whose
    time did not parse is still sent (with the read time), and a record that is not
    JSON may still match a later regex rule.

    ``per_rule`` and ``matched`` are brought up to date when ``apply`` or
    ``apply_block`` returns.

    Attributes:
        records: records offered to the rules.
        matched: records that produced an alert.
        no_match: records no rule matched (dropped).
        unmapped_status: records whose rule matched but whose status value maps to no
            BigPanda status and has no default (dropped).
        time_errors: alerts whose time was missing or unparsable (read time used).
        field_errors: JSON rules' records that were not a JSON object.
        per_rule: alerts produced per rule name.
    """

    records: int = 0
    matched: int = 0
    no_match: int = 0
    unmapped_status: int = 0
    time_errors: int = 0
    field_errors: int = 0
    per_rule: dict[str, int] = field(default_factory=dict)
