# Keys: "namespace/name" or "name", for dicts, typed objects and tombstones.
#
# Also the attribute reads shared with the built-in index functions of _core_store.pxi:
# _attr(obj, ATTR_x) is getattr(obj, name, None) that reads the object's slot directly
# when its type has plain generic attribute access and the name is an object slot of
# the instance layout (msgspec Structs: the generated models).
from cpython.object cimport PyObject
from cpython.type cimport PyType_IsSubtype

from types import MemberDescriptorType as _MemberDescriptorType

from fastinformer.errors import KeyFuncError

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
        int flags
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
    PyObject *_PyType_Lookup(type cls, object name)  # borrowed, no error set

cdef extern from *:
    """
    static CYTHON_INLINE unsigned int __pyx_fi_type_version(PyObject *obj) {
        return Py_TYPE(obj)->tp_version_tag;
    }
    static CYTHON_INLINE int __pyx_fi_generic_getattr(PyTypeObject *cls) {
        return cls->tp_getattro == PyObject_GenericGetAttr;
    }
    """
    # Nonzero while the type is unmodified: any change to a type's attributes (or its
    # bases') resets it to 0, and a new tag is never one used before.
    unsigned int _type_version "__pyx_fi_type_version"(object obj)
    bint _generic_getattr "__pyx_fi_generic_getattr"(type cls)

cdef enum:
    ATTR_METADATA
    ATTR_NAMESPACE
    ATTR_NAME
    ATTR_LABELS
    ATTR_SPEC
    ATTR_NODE_NAME
    _ATTR_COUNT
    _SLOT_WAYS = 8  # types remembered per attribute (direct-mapped by version tag)
    _T_OBJECT = 6
    _T_OBJECT_EX = 16  # structmember.h: msgspec's field slots
    _PY_AUDIT_READ = 2  # member flags: reading it is audited
    _PY_RELATIVE_OFFSET = 8  # member flags (3.12+): offset relative to the base's size

cdef tuple _ATTR_NAMES = ("metadata", "namespace", "name", "labels", "spec", "node_name")


cdef struct _SlotCacheEntry:
    unsigned int version  # the type's version tag; 0: empty
    Py_ssize_t offset  # the slot's offset in the instance, or -1: use getattr

# Written and read under the GIL with no Python call between the two fields.
cdef _SlotCacheEntry _slot_cache[_ATTR_COUNT][_SLOT_WAYS]


cdef Py_ssize_t _slot_offset(type cls, str name) except -2:
    """The offset of ``name``'s object slot in ``cls`` instances, or -1 when reading
    it takes more than a slot read (custom attribute access, properties, no such slot).
    Runs no Python code, so ``cls`` cannot change meanwhile."""
    cdef PyObject *found
    cdef PyMemberDef *member
    if not _generic_getattr(cls):
        return -1
    found = _PyType_Lookup(cls, name)
    if found == NULL:
        return -1
    desc = <object>found
    if type(desc) is not _MemberDescriptorType or not PyType_IsSubtype(
            cls, <type>desc.__objclass__):
        return -1
    member = (<PyMemberDescrObject *>found).d_member
    if member.type != _T_OBJECT_EX and member.type != _T_OBJECT:
        return -1
    if member.flags & (_PY_AUDIT_READ | _PY_RELATIVE_OFFSET):
        return -1
    return member.offset


cdef object _attr_slow(object obj, int attr):
    """Learn where ``obj``'s type keeps ``attr``, then ``getattr(obj, name, None)``."""
    cdef str name = <str>_ATTR_NAMES[attr]
    cdef Py_ssize_t offset = _slot_offset(type(obj), name)
    cdef unsigned int version = _type_version(obj)  # assigned by the lookup above
    cdef _SlotCacheEntry *entry
    if version != 0:
        entry = &_slot_cache[attr][version % _SLOT_WAYS]
        entry.offset = offset
        entry.version = version
    return getattr(obj, name, None)


cdef inline object _attr(object obj, int attr):
    """``getattr(obj, <name of attr>, None)``, read straight from the instance's slot
    when the type allows it (see _slot_offset)."""
    cdef unsigned int version = _type_version(obj)
    cdef _SlotCacheEntry *entry = &_slot_cache[attr][version % _SLOT_WAYS]
    cdef PyObject *raw
    if version == 0 or entry.version != version:
        return _attr_slow(obj, attr)
    if entry.offset < 0:
        return getattr(obj, <str>_ATTR_NAMES[attr], None)
    raw = (<PyObject **>((<char *><PyObject *>obj) + entry.offset))[0]
    return None if raw == NULL else <object>raw


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


cdef inline bint _is_empty_str(object s) except -1:
    """``s == ""``, without a string comparison when ``s`` is a ``str``."""
    if type(s) is str:
        return len(<str>s) == 0
    return s == ""


cdef inline str _join_key(object ns, object name, object obj):
    if not isinstance(name, str) or not name:
        raise KeyFuncError(f"object has no metadata.name: {type(obj).__name__}")
    if ns is None or _is_empty_str(ns):
        return <str>name
    if not isinstance(ns, str):
        raise KeyFuncError(f"metadata.namespace is not a string: {ns!r}")
    return f"{ns}/{name}"


cdef inline str _key_of(object obj, object md):
    """The key of a ``dict`` (exact type) or typed object whose ``metadata`` is ``md``
    (read as :func:`meta_namespace_key` reads it)."""
    if type(obj) is dict:
        if type(md) is dict:
            return _join_key((<dict>md).get("namespace"), (<dict>md).get("name"), obj)
        raise KeyFuncError(f"object has no metadata: {type(obj).__name__}")
    if md is None:
        raise KeyFuncError(f"object has no metadata: {type(obj).__name__}")
    return _join_key(_attr(md, ATTR_NAMESPACE), _attr(md, ATTR_NAME), obj)


cpdef str meta_namespace_key(object obj):
    """Return ``"namespace/name"`` (or ``"name"`` when cluster-scoped).

    Accepts a dict with ``metadata``, any object with ``.metadata.name`` /
    ``.metadata.namespace``, or a tombstone (its ``key``). Raises
    :class:`KeyFuncError` when there is no name.
    """
    cdef object md
    if type(obj) is dict:
        return _key_of(obj, (<dict>obj).get("metadata"))
    if isinstance(obj, DeletedFinalStateUnknown):
        return (<DeletedFinalStateUnknown>obj).key
    if isinstance(obj, dict):
        md = obj.get("metadata")
        if isinstance(md, dict):
            return _join_key(md.get("namespace"), md.get("name"), obj)
        raise KeyFuncError(f"object has no metadata: {type(obj).__name__}")
    return _key_of(obj, _attr(obj, ATTR_METADATA))


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
