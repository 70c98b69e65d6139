"""Alert attribute templates: plain ``{name}`` substitution, compiled once.

The syntax is deliberately tiny and is never ``str.format``: ``{name}`` is replaced by
the field called exactly ``name`` (``{x.__class__}`` is the field named
``x.__class__``, a legal flattened JSON key, never attribute access), ``{{`` and
``}}`` are literal braces, and a single unpaired brace or an empty ``{}`` is a
configuration error. Each template compiles into one of three shapes, so the per-line
work is as small as the template allows: :class:`Constant`, :class:`Field` or
:class:`Parts`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.rules.values import to_text

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


class TemplateError(ValueError):
    """A template is malformed (unpaired brace, empty ``{}``)."""


@dataclass(frozen=True, slots=True)
class Constant:
    """A template without fields (or whose fields were all folded): a fixed value."""

    value: str | int


@dataclass(frozen=True, slots=True)
class Field:
    """A template that is exactly ``{name}``: the field's value, type kept."""

    name: str


@dataclass(frozen=True, slots=True)
class Parts:
    """Text around fields: ``literals[0] + f(names[0]) + literals[1] + …``.

    Attributes:
        literals: ``len(names) + 1`` literal strings (braces already unescaped).
        names: the field names, in order.
    """

    literals: tuple[str, ...]
    names: tuple[str, ...]

    def render(self, fields: Mapping[str, Any]) -> str:
        """Substitute ``fields``; a missing field or ``None`` renders as ``""``."""
        get = fields.get
        literals = self.literals
        out = literals[0]
        i = 1
        for name in self.names:
            value = get(name)
            if value is not None:
                out += value if value.__class__ is str else to_text(value)
            out += literals[i]
            i += 1
        return out


Template = Constant | Field | Parts


def compile_template(template: str | int, folded: Mapping[str, str]) -> Template:
    """Compile one attribute template.

    Args:
        template: the TOML value; an ``int`` is a constant and stays an ``int``.
        folded: fields whose value is known at compile time (e.g. ``hostname`` for a
            regex rule with no group of that name); they are substituted now.

    Returns:
        The compiled template.

    Raises:
        TemplateError: an unpaired ``{`` or ``}``, or an empty ``{}``.
    """
    if isinstance(template, int):
        return Constant(template)
    literals, names = _split(template)
    literals, names = _fold(literals, names, folded)
    if not names:
        return Constant(literals[0])
    if len(names) == 1 and literals == ["", ""]:
        return Field(names[0])
    return Parts(tuple(literals), tuple(names))


def referenced_fields(template: Template) -> tuple[str, ...]:
    """The field names a compiled template reads."""
    if isinstance(template, Field):
        return (template.name,)
    if isinstance(template, Parts):
        return template.names
    return ()


def _split(template: str) -> tuple[list[str], list[str]]:
    literals = [""]
    names: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(template):
        literals[-1] += template[pos:match.start()]
        pos = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literals[-1] += token[0]
            continue
        name = match.group(1)
        if name is None:
            raise TemplateError(f"single {token!r} at position {match.start()} "
                                f"(write {token * 2!r} for a literal brace)")
        if not name:
            raise TemplateError(f"empty {{}} at position {match.start()}; name a field")
        names.append(name)
        literals.append("")
    literals[-1] += template[pos:]
    return literals, names


def _fold(
    literals: list[str], names: list[str], folded: Mapping[str, str]
) -> tuple[list[str], list[str]]:
    if not folded or not any(name in folded for name in names):
        return literals, names
    out_literals = [literals[0]]
    out_names: list[str] = []
    for name, literal in zip(names, literals[1:], strict=True):
        if name in folded:
            out_literals[-1] += folded[name] + literal
        else:
            out_names.append(name)
            out_literals.append(literal)
    return out_literals, out_names
