"""Listers: read-only queries over an informer's cache (by namespace, label selector, index).

Objects returned are the cached objects themselves: treat them as read-only.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from fastinformer.errors import NotFoundError
from fastinformer.selectors import LabelSelector, parse_label_selector
from fastinformer.store import NAMESPACE_INDEX, Indexer

Selector = str | LabelSelector | Mapping[str, str] | None


def labels_of(obj: Any) -> Mapping[str, str] | None:
    """``metadata.labels`` of a dict or a typed object."""
    if isinstance(obj, dict):
        md = obj.get("metadata")
        return md.get("labels") if isinstance(md, dict) else None
    md = getattr(obj, "metadata", None)
    return getattr(md, "labels", None) if md is not None else None


def _compile(selector: Selector) -> LabelSelector | None:
    if selector is None:
        return None
    if isinstance(selector, LabelSelector):
        return None if selector.empty else selector
    if isinstance(selector, str):
        parsed = parse_label_selector(selector)
        return None if parsed.empty else parsed
    if isinstance(selector, Mapping):
        parts = [f"{k}={v}" for k, v in selector.items()]
        parsed = parse_label_selector(",".join(parts))
        return None if parsed.empty else parsed
    raise TypeError(f"a selector is a string, a LabelSelector or a mapping, not {selector!r}")


def _filter(objs: list[Any], selector: Selector) -> list[Any]:
    sel = _compile(selector)
    if sel is None:
        return objs
    matches = sel.matches
    return [o for o in objs if matches(labels_of(o))]


class Lister:
    """Queries over one resource's cache. ``kind``/``plural`` shape NotFound messages."""

    def __init__(self, indexer: Indexer, plural: str = "objects", group: str = "") -> None:
        self._indexer = indexer
        self._resource = f"{plural}.{group}" if group else plural

    def list(self, selector: Selector = None) -> builtins.list[Any]:
        """Every cached object matching the label selector (all when ``None`` or empty)."""
        return _filter(self._indexer.list(), selector)

    def get(self, name: str) -> Any:
        """A cluster-scoped object by name; :class:`NotFoundError` when absent."""
        obj = self._indexer.get_by_key(name)
        if obj is None:
            raise NotFoundError(404, "NotFound", f'{self._resource} "{name}" not found')
        return obj

    def namespace(self, namespace: str) -> NamespaceLister:
        """Queries restricted to one namespace (uses the namespace index)."""
        if not namespace:
            raise ValueError("namespace must be a non-empty string")
        return NamespaceLister(self._indexer, namespace, self._resource)

    def by_index(
        self, index_name: str, value: str, selector: Selector = None
    ) -> builtins.list[Any]:
        """Objects whose ``index_name`` index has ``value``, filtered by the label selector."""
        return _filter(self._indexer.by_index(index_name, value), selector)


class NamespaceLister:
    """Queries over one namespace of a resource's cache."""

    def __init__(self, indexer: Indexer, namespace: str, resource: str) -> None:
        self._indexer = indexer
        self._namespace = namespace
        self._resource = resource

    def list(self, selector: Selector = None) -> builtins.list[Any]:
        """Objects of this namespace matching the label selector."""
        return _filter(self._indexer.by_index(NAMESPACE_INDEX, self._namespace), selector)

    def get(self, name: str) -> Any:
        """The object ``name`` of this namespace; :class:`NotFoundError` when absent."""
        obj = self._indexer.get_by_key(f"{self._namespace}/{name}")
        if obj is None:
            raise NotFoundError(404, "NotFound", f'{self._resource} "{name}" not found')
        return obj
