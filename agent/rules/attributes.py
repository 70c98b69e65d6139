"""The attributes one rule writes into every alert: agent defaults overlaid by the rule.

Precedence, per attribute key:

* a rule's non-empty constant replaces the default;
* a rule's empty constant (``environment = ""``) removes the default attribute;
* a rule's template with fields overrides the default whenever it renders a value;
  when it renders nothing (a missing field, ``""``) the default's value stays.

An attribute whose value renders as ``""`` (or an empty list) is omitted, so an
optional regex group does not produce an empty tag. ``status`` and ``timestamp``
are not attributes: the rule adds them after rendering.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agent.rules.template import Constant, Field, Parts, Template, referenced_fields
from agent.rules.values import cap_for, to_attribute

Singles = tuple[tuple[str, str, int], ...]
Multis = tuple[tuple[str, Parts, int], ...]


class AlertTemplate:
    """Renders a rule's attributes from a record's fields.

    Args:
        defaults: ``(key, template)`` from agent.toml ``[defaults]``, compiled.
        own: ``(key, template)`` from the rule's ``[rule.alert]``, compiled.
        reserve: keys the caller sets after rendering (``status``, ``timestamp``); the
            new dict holds slots for them so setting them does not resize it.

    Attributes:
        shape: the dict every alert starts as: constants, ``None`` for each optional key
            (and each reserved key), in a dict already sized for all of them.
        stages: ``(singles, multis)`` groups rendered in order: the defaults that a rule
            template overrides (only when there are such), then the main templates.
            ``singles`` are ``(key, field, cap)`` for ``{field}`` templates; ``multis``
            are ``(key, Parts, cap)``.
        optional: keys that have no value until a template renders one.
        field_names: every field name the templates read.
    """

    __slots__ = ("field_names", "optional", "shape", "stages")

    def __init__(self, defaults: Sequence[tuple[str, Template]],
                 own: Sequence[tuple[str, Template]], reserve: Sequence[str] = ()) -> None:
        consts: dict[str, Any] = {}
        base: dict[str, Template] = {}
        for key, template in defaults:
            _place(key, template, consts, base)
        overrides: dict[str, Template] = {}
        for key, template in own:
            if isinstance(template, Constant):
                base.pop(key, None)
                consts.pop(key, None)
                _place(key, template, consts, base)
            else:
                overrides[key] = template
        fallback = {key: t for key, t in base.items() if key in overrides}
        main = {key: t for key, t in base.items() if key not in overrides} | overrides
        self.stages = (_stage(fallback), _stage(main)) if fallback else (_stage(main),)
        self.optional = tuple(key for key in main if key not in consts)
        self.shape = consts | dict.fromkeys(self.optional) | dict.fromkeys(reserve)
        self.field_names = frozenset(
            name for t in (*base.values(), *overrides.values()) for name in referenced_fields(t)
        )

    def render(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """A new alert dict with every attribute that renders a value (hot path).

        Keys in ``reserve`` are present with value ``None`` until the caller sets them.
        """
        alert = self.shape.copy()
        empty = False
        for singles, multis in self.stages:
            empty = _fill(alert, fields, singles, multis) or empty
        if empty:
            drop_unset(alert, self.optional)
        return alert


def drop_unset(alert: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Remove the ``keys`` of ``alert`` that no template filled (still ``None``)."""
    for key in keys:
        if alert[key] is None:
            del alert[key]


def _fill(alert: dict[str, Any], fields: Mapping[str, Any], singles: Singles,
          multis: Multis) -> bool:
    """Write the rendered values into ``alert``; ``True`` when some rendered empty."""
    get = fields.get
    empty = False
    for key, name, cap in singles:
        value = get(name)
        if value.__class__ is str:
            if value:
                alert[key] = value[:cap]
                continue
        elif value is not None:
            value = to_attribute(value, cap)
            if value is not None:
                alert[key] = value
                continue
        empty = True
    for key, parts, cap in multis:
        text = parts.render(fields)
        if text:
            alert[key] = text[:cap]
        else:
            empty = True
    return empty


def _place(key: str, template: Template, consts: dict[str, Any],
           dynamic: dict[str, Template]) -> None:
    if isinstance(template, Constant):
        value = template.value
        if isinstance(value, str):
            value = value[:cap_for(key)]
        if value != "":
            consts[key] = value
    else:
        dynamic[key] = template


def _stage(templates: Mapping[str, Template]) -> tuple[Singles, Multis]:
    singles = tuple((key, t.name, cap_for(key)) for key, t in templates.items()
                    if isinstance(t, Field))
    multis = tuple((key, t, cap_for(key)) for key, t in templates.items()
                   if isinstance(t, Parts))
    return singles, multis
