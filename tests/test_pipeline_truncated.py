"""Alerts from records cut at max_line_bytes say so."""

from __future__ import annotations

from typing import Any

from agent.pipeline import _flag_truncated
from agent.records import RecordBlock


def test_alert_of_a_cut_record_carries_truncated_flag() -> None:
    """Only the alert whose record was truncated gets truncated = "true"."""
    block = RecordBlock(source="s", file_id="s:1:2", path="/x", offset=0,
                        texts=["short", "long…"], ends=[6, 70_000], checkpoint=70_000,
                        truncated=frozenset({1}))
    produced: list[tuple[int, int, dict[str, Any]]] = [
        (1, 6, {"status": "ok"}), (1, 70_000, {"status": "critical"})]
    _flag_truncated(block, produced)
    assert "truncated" not in produced[0][2]
    assert produced[1][2]["truncated"] == "true"
