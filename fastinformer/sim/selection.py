"""Server-side label and field selector evaluation for one resource type.

Parsing is delegated to :mod:`fastinformer.selectors` (the grammar of apimachinery); this
module checks field names against what the real server supports for the kind and answers
with its 400s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastinformer.sim.registry import ResourceType
from fastinformer.sim.status import bad_request
from fastinformer.sim.store import StoredObject

Predicate = Callable[[StoredObject], bool]

_FIELD_ALIASES = {("Pod", "spec.host"): "spec.nodeName"}


def _parse(label: str, field: str) -> tuple[Any, Any]:
    """Parse both selectors with fastinformer.selectors (the one wiring point)."""
    from fastinformer.selectors import SelectorError, parse_field_selector, parse_label_selector

    try:
        return (
            parse_label_selector(label) if label else None,
            parse_field_selector(field) if field else None,
        )
    except SelectorError as exc:
        raise bad_request(str(exc)) from None


def compile_selectors(rtype: ResourceType, label: str, field: str) -> Predicate | None:
    """A predicate over stored objects, or None when both selectors are empty.

    Raises :class:`StatusError` 400 with the server's wording for a malformed selector or
    a field the kind does not support.
    """
    if not label and not field:
        return None
    label_sel, field_sel = _parse(label, field)
    if label_sel is not None and getattr(label_sel, "empty", False):
        label_sel = None
    fields: dict[str, str] = {}
    if field_sel is not None:
        for name, _op, _value in field_sel.requirements:
            canonical = _FIELD_ALIASES.get((rtype.kind, name), name)
            if canonical not in rtype.field_index:
                raise bad_request(rtype.field_error(name))
            fields[name] = canonical
        if not fields:
            field_sel = None
    if label_sel is None and field_sel is None:
        return None

    def matches(stored: StoredObject) -> bool:
        if label_sel is not None and not label_sel.matches(stored.labels or {}):
            return False
        if field_sel is not None:
            return bool(field_sel.matches(lambda name: stored.field(fields[name])))
        return True

    return matches
