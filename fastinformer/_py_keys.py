"""Pure-Python twin of ``_core_keys.pxi``: keys for dicts, typed objects and tombstones."""

from __future__ import annotations

from typing import Any

from fastinformer.errors import KeyFuncError

__all__ = ["DeletedFinalStateUnknown", "meta_namespace_key", "split_meta_namespace_key"]


class DeletedFinalStateUnknown:
    """Tombstone for an object whose deletion was only seen at relist.

    ``key`` is the store key, ``obj`` the last state the cache knew (may be stale).
    """

    __slots__ = ("key", "obj")

    def __init__(self, key: str, obj: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"key must be str, not {type(key).__name__}")
        self.key = key
        self.obj = obj

    def __repr__(self) -> str:
        return f"DeletedFinalStateUnknown(key={self.key!r}, obj={self.obj!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DeletedFinalStateUnknown):
            return NotImplemented
        return self.key == other.key and bool(self.obj == other.obj)

    def __hash__(self) -> int:
        return hash(("DeletedFinalStateUnknown", self.key))

    def __reduce__(self) -> tuple[Any, ...]:
        return (DeletedFinalStateUnknown, (self.key, self.obj))


def _join_key(ns: Any, name: Any, obj: Any) -> str:
    if not isinstance(name, str) or not name:
        raise KeyFuncError(f"object has no metadata.name: {type(obj).__name__}")
    if ns is None or ns == "":
        return name
    if not isinstance(ns, str):
        raise KeyFuncError(f"metadata.namespace is not a string: {ns!r}")
    return f"{ns}/{name}"


def meta_namespace_key(obj: Any) -> str:
    """Return ``"namespace/name"`` (or ``"name"`` when cluster-scoped).

    Accepts a dict with ``metadata``, any object with ``.metadata.name`` /
    ``.metadata.namespace``, or a tombstone (its ``key``). Raises
    :class:`KeyFuncError` when there is no name.
    """
    if isinstance(obj, dict):
        md = obj.get("metadata")
        if isinstance(md, dict):
            return _join_key(md.get("namespace"), md.get("name"), obj)
        raise KeyFuncError(f"object has no metadata: {type(obj).__name__}")
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.key
    md = getattr(obj, "metadata", None)
    if md is None:
        raise KeyFuncError(f"object has no metadata: {type(obj).__name__}")
    return _join_key(getattr(md, "namespace", None), getattr(md, "name", None), obj)


def split_meta_namespace_key(key: str) -> tuple[str, str]:
    """Split a key into ``(namespace, name)``; ``namespace`` is ``""`` when cluster-scoped.

    Raises :class:`KeyFuncError` for an empty name or more than one ``/``.
    """
    if not isinstance(key, str):
        raise TypeError(f"key must be str, not {type(key).__name__}")
    i = key.find("/")
    if i < 0:
        if not key:
            raise KeyFuncError("empty key")
        return "", key
    if key.find("/", i + 1) >= 0 or i == 0 or i == len(key) - 1:
        raise KeyFuncError(f"unexpected key format: {key!r}")
    return key[:i], key[i + 1 :]
