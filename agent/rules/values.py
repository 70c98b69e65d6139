"""Field values → alert attribute values and text, within BigPanda's limits.

Field values are ``str`` for regex and logfmt rules; JSON rules also give ``int``,
``float``, ``bool``, ``None`` and lists (nested objects are flattened before
they get here, but a list may still hold objects).

BigPanda Alerts API (bigpanda-alerts-api.md section 1): tag values are strings,
integers or arrays of scalars; booleans and floats become strings; nulls are
dropped; strings are capped at 512 characters and lists at 15 items.
"""

from __future__ import annotations

from typing import Any

import orjson

STRING_CAP = 512
"""BigPanda truncates tag values at 512 characters (bigpanda-alerts-api.md section 1)."""

DESCRIPTION_CAP = 2049
"""``description`` is cut here only to bound the work: one character past BigPanda's 2048,
so the contract check in ``agent.bigpanda`` still sees it is too long and truncates it
with its marker."""

LIST_CAP = 15
"""At most this many list items are kept (BigPanda documents 30 today, 15 earlier)."""


def cap_for(key: str) -> int:
    """The string length cap for attribute ``key``."""
    return DESCRIPTION_CAP if key == "description" else STRING_CAP


def to_text(value: Any) -> str:
    """Render a field value as text, for templates with surrounding text and for comparisons.

    ``None`` → ``""``; booleans → ``"true"``/``"false"`` (JSON spelling); numbers → their
    ``str``; lists and objects → compact JSON.
    """
    cls = value.__class__
    if cls is str:
        return value  # type: ignore[no-any-return]
    if value is None:
        return ""
    if cls is bool:
        return "true" if value else "false"
    if cls is int or cls is float:
        return str(value)
    return _json_text(value)


def to_attribute(value: Any, cap: int) -> str | int | list[str | int] | None:
    """Convert a field value to an alert attribute value, or ``None`` to omit it.

    Strings are capped at ``cap`` characters and omitted when empty; ``int`` stays an
    ``int``; ``float`` and ``bool`` become strings; a list of scalars stays a list (nulls
    dropped, at most :data:`LIST_CAP` items, omitted when empty); anything else (an
    object, a list holding lists or objects) becomes a compact JSON string.
    """
    cls = value.__class__
    if cls is str:
        return value[:cap] if value else None
    if cls is int:
        return value  # type: ignore[no-any-return]
    if cls is list:
        items = _scalar_list(value)
        if items is not None:
            return items or None
    text = to_text(value)
    return text[:cap] if text else None


def _scalar_list(values: list[Any]) -> list[str | int] | None:
    """The list as BigPanda scalars, or ``None`` when it holds a list or an object."""
    out: list[str | int] = []
    for item in values:
        cls = item.__class__
        if cls is list or cls is dict:
            return None
        if item is None:
            continue
        if len(out) < LIST_CAP:
            out.append(item if cls is int else to_text(item)[:STRING_CAP])
    return out


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # a value orjson cannot encode (not produced by our parsers)
        return str(value)
