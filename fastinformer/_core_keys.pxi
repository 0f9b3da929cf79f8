# Keys: "namespace/name" or "name", for dicts, typed objects and tombstones.
from fastinformer.errors import KeyFuncError


cdef class DeletedFinalStateUnknown:
    """Tombstone for an object whose deletion was only seen at relist.

    ``key`` is the store key, ``obj`` the last state the cache knew (may be stale).
    """

    def __init__(self, str key not None, object obj):
        self.key = key
        self.obj = obj

    def __repr__(self):
        return f"DeletedFinalStateUnknown(key={self.key!r}, obj={self.obj!r})"

    def __eq__(self, other):
        if not isinstance(other, DeletedFinalStateUnknown):
            return NotImplemented
        return (self.key == (<DeletedFinalStateUnknown>other).key
                and self.obj == (<DeletedFinalStateUnknown>other).obj)

    def __hash__(self):
        return hash(("DeletedFinalStateUnknown", self.key))

    def __reduce__(self):
        return (DeletedFinalStateUnknown, (self.key, self.obj))


cdef inline str _join_key(object ns, object name, object obj):
    if not isinstance(name, str) or not name:
        raise KeyFuncError(f"object has no metadata.name: {type(obj).__name__}")
    if ns is None or ns == "":
        return <str>name
    if not isinstance(ns, str):
        raise KeyFuncError(f"metadata.namespace is not a string: {ns!r}")
    return f"{ns}/{name}"


cpdef str meta_namespace_key(object obj):
    """Return ``"namespace/name"`` (or ``"name"`` when cluster-scoped).

    Accepts a dict with ``metadata``, any object with ``.metadata.name`` /
    ``.metadata.namespace``, or a tombstone (its ``key``). Raises
    :class:`KeyFuncError` when there is no name.
    """
    cdef object md
    if type(obj) is dict:
        md = (<dict>obj).get("metadata")
        if type(md) is dict:
            return _join_key((<dict>md).get("namespace"), (<dict>md).get("name"), obj)
        raise KeyFuncError(f"object has no metadata: {type(obj).__name__}")
    if isinstance(obj, DeletedFinalStateUnknown):
        return (<DeletedFinalStateUnknown>obj).key
    if isinstance(obj, dict):
        md = obj.get("metadata")
        if isinstance(md, dict):
            return _join_key(md.get("namespace"), md.get("name"), obj)
        raise KeyFuncError(f"object has no metadata: {type(obj).__name__}")
    md = getattr(obj, "metadata", None)
    if md is None:
        raise KeyFuncError(f"object has no metadata: {type(obj).__name__}")
    return _join_key(getattr(md, "namespace", None), getattr(md, "name", None), obj)


def split_meta_namespace_key(str key not None):
    """Split a key into ``(namespace, name)``; ``namespace`` is ``""`` when cluster-scoped.

    Raises :class:`KeyFuncError` for an empty name or more than one ``/``.
    """
    cdef Py_ssize_t i = key.find("/")
    if i < 0:
        if not key:
            raise KeyFuncError("empty key")
        return "", key
    if key.find("/", i + 1) >= 0 or i == 0 or i == len(key) - 1:
        raise KeyFuncError(f"unexpected key format: {key!r}")
    return key[:i], key[i + 1:]
