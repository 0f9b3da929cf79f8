# Store / indexer: a thread-safe map of key -> object with secondary indexes.
#
# Layout: _items maps each key to a _StoreEntry holding the object and, per index, the
# bucket(s) it is filed in. An index maps a value to a _StoreBucket: the value and the
# set of entries filed under it. A lookup reads objects straight from the entries; an
# update compares its new values with the buckets' values and, when they are unchanged
# (the common case), touches no index. Entries and their buckets point at each other:
# whoever drops an index without removing its entries one by one must empty its
# buckets (_store_release_buckets) so memory is freed at once, not by the cycle
# collector. One PyThread lock per store guards _items, the entries and the buckets.
from cpython.pythread cimport (
    NOWAIT_LOCK,
    WAIT_LOCK,
    PyThread_acquire_lock,
    PyThread_allocate_lock,
    PyThread_free_lock,
    PyThread_release_lock,
    PyThread_type_lock,
)
from cpython.ref cimport Py_INCREF
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM

from fastinformer._py_store import IndexNotFoundError
from fastinformer.errors import IndexerConflictError

NAMESPACE_INDEX = "namespace"


# -- lock ---------------------------------------------------------------------------------

cdef inline void _store_lock(PyThread_type_lock lock) noexcept:
    """Acquire ``lock``, letting other threads run (GIL released) while waiting."""
    if not PyThread_acquire_lock(lock, NOWAIT_LOCK):
        with nogil:
            PyThread_acquire_lock(lock, WAIT_LOCK)


cdef inline void _store_unlock(PyThread_type_lock lock) noexcept:
    PyThread_release_lock(lock)


cdef inline str _store_str(object s, str what):
    """``s`` if it is a ``str`` (subclasses too), else a ``TypeError`` naming ``what``."""
    if type(s) is str or isinstance(s, str):
        return <str>s
    raise TypeError(f"{what} must be str, not {type(s).__name__}")


# -- built-in index functions -------------------------------------------------------------

# Passed for ``md`` when the caller has not read the object's metadata.
cdef object _MD_UNREAD = object()


cdef inline object _store_field(object parent, str dict_key, int attr):
    """``parent[dict_key]`` for a dict (``None`` if absent), else ``parent.<attr>``
    (``None`` if absent; ``attr`` is an ``ATTR_*`` of _core_keys.pxi)."""
    if type(parent) is dict:
        return (<dict>parent).get(dict_key)
    if parent is None:
        return None
    if isinstance(parent, dict):
        return (<dict>parent).get(dict_key)
    return _attr(parent, attr)


cdef inline object _store_key_metadata(object obj):
    """``obj``'s metadata as :func:`meta_namespace_key` reads it (exact dicts and typed
    objects), or ``_MD_UNREAD`` when its key comes another way (tombstones, dict
    subclasses)."""
    if type(obj) is dict:
        return (<dict>obj).get("metadata")
    if isinstance(obj, (dict, DeletedFinalStateUnknown)):
        return _MD_UNREAD
    return _attr(obj, ATTR_METADATA)


cdef inline str _store_default_key(object obj, object md):
    """``meta_namespace_key(obj)`` given ``md = _store_key_metadata(obj)``."""
    if md is _MD_UNREAD:
        return meta_namespace_key(obj)
    return _key_of(obj, md)


cdef inline object _store_metadata(object obj, object md):
    """``obj``'s metadata: ``md`` unless it is ``_MD_UNREAD``."""
    if md is _MD_UNREAD:
        return _store_field(obj, "metadata", ATTR_METADATA)
    return md


cdef inline str _store_call_key(object key_func, object obj):
    """``key_func(obj)``, which must return a ``str`` (``TypeError`` otherwise); the
    default key function is called without going through Python."""
    if key_func is meta_namespace_key:
        return meta_namespace_key(obj)
    key = key_func(obj)
    if not isinstance(key, str):
        raise TypeError(f"key_func returned {type(key).__name__}, expected str")
    return <str>key


cdef inline list _store_as_list(object values):
    if values is None:
        return []
    if type(values) is tuple:
        return list(<tuple>values)
    return [values]


cdef class _BuiltinIndexFunc:
    """An index function the store calls without going through Python."""

    cdef object values_of(self, object obj, object md):
        """Return the normalised values: ``None``, one ``str`` or a tuple of them.

        ``md`` is ``obj``'s metadata as ``_store_field`` reads it, or ``_MD_UNREAD``.
        """
        raise NotImplementedError

    def __call__(self, obj):
        return _store_as_list(self.values_of(obj, _MD_UNREAD))


cdef class _NamespaceIndexFunc(_BuiltinIndexFunc):
    """``[metadata.namespace]``, ``[""]`` when cluster-scoped."""

    cdef object values_of(self, object obj, object md):
        cdef object ns
        md = _store_metadata(obj, md)
        if md is None:
            raise TypeError(
                f"namespace_index_func: object has no metadata: {type(obj).__name__}")
        ns = _store_field(md, "namespace", ATTR_NAMESPACE)
        if ns is None:
            return ""
        if not isinstance(ns, str):
            raise TypeError(f"metadata.namespace is not a string: {ns!r}")
        return ns

    def __repr__(self):
        return "namespace_index_func"


cdef class _LabelIndexFunc(_BuiltinIndexFunc):
    """``[labels[label_key]]``, ``[]`` when the label is absent."""

    def __init__(self, label_key):
        self.label_key = _store_str(label_key, "label_key")

    cdef object values_of(self, object obj, object md):
        cdef object labels = _store_field(_store_metadata(obj, md), "labels", ATTR_LABELS)
        cdef object value
        if labels is None:
            return None
        if isinstance(labels, dict):
            value = (<dict>labels).get(self.label_key)
        else:
            value = labels.get(self.label_key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"label {self.label_key!r} is not a string: {value!r}")
        return value

    def __repr__(self):
        return f"label_index_func({self.label_key!r})"


cdef class _NodeNameIndexFunc(_BuiltinIndexFunc):
    """``[spec.nodeName]`` (dict) or ``[spec.node_name]`` (typed), ``[]`` when unset."""

    cdef object values_of(self, object obj, object md):
        cdef object node = _store_field(
            _store_field(obj, "spec", ATTR_SPEC), "nodeName", ATTR_NODE_NAME)
        if node is None or _is_empty_str(node):
            return None
        if not isinstance(node, str):
            raise TypeError(f"spec.nodeName is not a string: {node!r}")
        return node

    def __repr__(self):
        return "node_name_index_func"


namespace_index_func = _NamespaceIndexFunc()
node_name_index_func = _NodeNameIndexFunc()


def label_index_func(label_key):
    """Return an index function by the value of label ``label_key`` (``[]`` when absent)."""
    return _LabelIndexFunc(label_key)


# -- index values ------------------------------------------------------------------------

cdef object _store_normalize(object values, object func):
    """Check an index function's result and reduce it to None, one str or a tuple."""
    cdef Py_ssize_t n
    if type(values) is not list and type(values) is not tuple:
        if values is None or isinstance(values, (str, bytes, bytearray)):
            raise TypeError(
                f"index function {func!r} returned {values!r}; expected a list of str")
        if not isinstance(values, (list, tuple)):
            try:
                values = list(values)
            except TypeError:
                raise TypeError(
                    f"index function {func!r} returned {type(values).__name__}; "
                    "expected a list of str") from None
    for v in values:
        if not isinstance(v, str):
            raise TypeError(f"index function {func!r} returned a non-str value {v!r}")
    n = len(values)
    if n == 0:
        return None
    if n == 1:
        return values[0]
    distinct = tuple(dict.fromkeys(values))
    return distinct[0] if len(distinct) == 1 else distinct


cdef tuple _store_compute(tuple funcs, object obj, object md):
    """The normalised values of ``obj`` for each of ``funcs``; ``md`` is ``obj``'s
    metadata if the caller read it (see ``_BuiltinIndexFunc.values_of``)."""
    cdef Py_ssize_t i, n = len(funcs)
    cdef tuple out
    cdef object func, v
    if n == 0:
        return ()
    out = PyTuple_New(n)
    for i in range(n):
        func = funcs[i]
        if isinstance(func, _BuiltinIndexFunc):
            v = (<_BuiltinIndexFunc>func).values_of(obj, md)
        else:
            v = _store_normalize(func(obj), func)
            md = _MD_UNREAD  # user code ran: read the metadata again
        Py_INCREF(v)
        PyTuple_SET_ITEM(out, i, v)
    return out


cdef class _StoreBucket:
    """The entries having one value in one index (read and written under the lock)."""


cdef class _StoreEntry:
    """One stored object and, per index, the bucket(s) it sits in (under the lock).

    A slot of ``buckets`` is ``None`` (no value), a ``_StoreBucket`` or a tuple of them.
    Holding the buckets, not the values, makes removal a set discard and lets an update
    compare its new values with the buckets' (shared, cache-hot) strings.
    """


cdef inline _StoreEntry _store_new_entry(str key, object obj):
    cdef _StoreEntry entry = _StoreEntry.__new__(_StoreEntry)
    entry.key = key
    entry.obj = obj
    return entry


cdef _StoreBucket _store_bucket_add(dict index, object value, _StoreEntry entry):
    cdef object found = index.get(value)
    cdef _StoreBucket bucket
    if found is None:
        bucket = _StoreBucket.__new__(_StoreBucket)
        bucket.value = value
        bucket.entries = {entry}
        index[value] = bucket
        return bucket
    bucket = <_StoreBucket>found
    bucket.entries.add(entry)
    return bucket


cdef inline int _store_bucket_remove(
        dict index, _StoreBucket bucket, _StoreEntry entry) except -1:
    bucket.entries.discard(entry)
    if not bucket.entries:
        del index[bucket.value]  # free empty buckets: no growth under churn
    return 0


cdef object _store_slot_add(dict index, object values, _StoreEntry entry):
    """File ``entry`` under normalised ``values``; return the slot for ``entry.buckets``."""
    if values is None:
        return None
    if type(values) is tuple:
        return tuple([_store_bucket_add(index, v, entry) for v in <tuple>values])
    return _store_bucket_add(index, values, entry)


cdef int _store_slot_remove(dict index, object slot, _StoreEntry entry) except -1:
    if slot is None:
        return 0
    if type(slot) is tuple:
        for bucket in <tuple>slot:
            _store_bucket_remove(index, <_StoreBucket>bucket, entry)
    else:
        _store_bucket_remove(index, <_StoreBucket>slot, entry)
    return 0


cdef tuple _store_slots_add(list indices, tuple values, _StoreEntry entry):
    """File ``entry`` in every index; return its ``buckets`` tuple."""
    cdef Py_ssize_t i, n = len(values)
    cdef tuple out
    cdef object slot
    if n == 0:
        return ()
    out = PyTuple_New(n)
    for i in range(n):
        slot = _store_slot_add(<dict>indices[i], values[i], entry)
        Py_INCREF(slot)
        PyTuple_SET_ITEM(out, i, slot)
    return out


cdef inline bint _store_value_eq(object a, object b) except -1:
    if a is b:
        return True
    if type(a) is str and type(b) is str:
        return (<str>a) == (<str>b)
    return a == b


cdef bint _store_slot_matches(object slot, object values) except -1:
    """Whether ``slot`` already files its entry under exactly ``values``."""
    cdef Py_ssize_t j, n
    if values is None:
        return slot is None
    if type(values) is tuple:
        n = len(<tuple>values)
        if type(slot) is not tuple or len(<tuple>slot) != n:
            return False
        for j in range(n):
            if not _store_value_eq((<_StoreBucket>(<tuple>slot)[j]).value,
                                   (<tuple>values)[j]):
                return False
        return True
    if slot is None or type(slot) is tuple:
        return False
    return _store_value_eq((<_StoreBucket>slot).value, values)


cdef dict _store_check_indexers(object indexers):
    cdef dict checked = dict(indexers) if indexers is not None else {}
    for name, func in checked.items():
        if not isinstance(name, str):
            raise TypeError(f"index name must be str, not {type(name).__name__}")
        if not callable(func):
            raise TypeError(f"index function for {name!r} is not callable: {func!r}")
    return checked


cdef void _store_release_buckets(list indices) noexcept:
    """Empty every bucket so that entries (which point at their buckets) are freed now,
    not by the cycle collector. Only for indexes no longer reachable from a store."""
    if indices is None:
        return
    for index in indices:
        for bucket in (<dict>index).values():
            (<_StoreBucket>bucket).entries.clear()


cdef extern from "Python.h":
    int _PySet_NextEntry(object s, Py_ssize_t *pos, PyObject **key, Py_hash_t *hash)


cdef list _store_objects(set entries):
    """The objects of ``entries`` (under the store's lock: the set cannot change)."""
    cdef Py_ssize_t n = len(entries), i = 0, pos = 0
    cdef PyObject *e
    cdef Py_hash_t digest
    cdef list out = PyList_New(n)
    while i < n and _PySet_NextEntry(entries, &pos, &e, &digest):
        obj = (<_StoreEntry>e).obj
        Py_INCREF(obj)
        PyList_SET_ITEM(out, i, obj)
        i += 1
    if i != n:
        raise RuntimeError("store index changed while read")
    return out


# -- the store ------------------------------------------------------------------------

cdef class ThreadSafeStore:
    """A map of ``key -> object`` with secondary indexes, safe for concurrent use.

    ``indexers`` maps index names to index functions (``obj -> list[str]``, duplicate
    values ignored). One internal lock guards the items and the indexes together. Index
    functions run outside the lock on ``add``/``update``/``replace``/``index`` (they may
    read the store) and under it in ``add_indexers``. If an index function raises, the
    store is left unchanged and the error propagates. Query results are new lists
    (snapshots); the objects in them are shared, not copied: do not mutate them.
    """

    def __cinit__(self):
        self._lock = PyThread_allocate_lock()
        if self._lock == NULL:
            raise MemoryError("cannot allocate the store lock")
        self._items = {}
        self._names = ()
        self._funcs = ()
        self._positions = {}
        self._indices = []

    def __dealloc__(self):
        _store_release_buckets(self._indices)
        if self._lock != NULL:
            PyThread_free_lock(self._lock)
            self._lock = NULL

    def __init__(self, indexers=None):
        cdef dict checked = _store_check_indexers(indexers)
        cdef list old_indices = self._indices
        self._items = {}
        _store_release_buckets(old_indices)
        # Registration is append-only; _names/_funcs/_positions are replaced, never
        # mutated, so a writer can tell (by identity) that indexers changed meanwhile.
        self._names = tuple(checked)
        self._funcs = tuple(checked.values())
        self._positions = {name: i for i, name in enumerate(self._names)}
        self._indices = [{} for _ in self._names]

    def __repr__(self):
        return f"{type(self).__name__}(items={len(self)}, indexes={list(self._names)!r})"

    def __len__(self):
        """Number of stored objects."""
        return len(self._items)

    def __contains__(self, key):
        """Whether an object is stored under ``key`` (takes the lock)."""
        _store_lock(self._lock)
        try:
            return key in self._items
        finally:
            _store_unlock(self._lock)

    # -- writes ------------------------------------------------------------------------

    def add(self, key, obj):
        """Store ``obj`` under ``key``, replacing any previous object; same as :meth:`update`."""
        self._put(_store_str(key, "store key"), obj)

    def update(self, key, obj):
        """Store ``obj`` under ``key`` and move its index entries; takes the lock to commit."""
        self._put(_store_str(key, "store key"), obj)

    def delete(self, key):
        """Remove the object under ``key`` and its index entries; no-op if absent (locks)."""
        self._remove(_store_str(key, "store key"))

    def replace(self, items, resource_version=""):
        """Swap the whole content for ``items`` and rebuild every index.

        The new content and indexes are built outside the lock and swapped in under it,
        so readers see either the old or the new content. ``resource_version`` is
        accepted for client-go parity and not used.
        """
        cdef dict objs = {}
        for key, obj in items.items():
            objs[_store_str(key, "store key")] = obj
        self._replace(objs)

    def add_indexers(self, indexers):
        """Register more indexes and index the stored objects by them, atomically.

        Raises :class:`IndexerConflictError` if a name is already registered. The new
        index functions run over every stored object while the lock is held (they must
        not call back into this store); if one raises, nothing changes.
        """
        cdef dict checked = _store_check_indexers(indexers)
        cdef tuple funcs
        cdef list entries, computed, slots, indices
        cdef _StoreEntry entry
        cdef Py_ssize_t j
        if not checked:
            return
        funcs = tuple(checked.values())
        _store_lock(self._lock)
        try:
            taken = sorted([name for name in checked if name in self._positions])
            if taken:
                raise IndexerConflictError(f"indexer conflict: {', '.join(taken)}")
            entries = list(self._items.values())
            # User code runs here, before anything is touched.
            computed = [_store_compute(funcs, (<_StoreEntry>e).obj, _MD_UNREAD)
                        for e in entries]
            indices = [{} for _ in funcs]
            slots = [_store_slots_add(indices, <tuple>computed[j], <_StoreEntry>entries[j])
                     for j in range(len(entries))]
            # Commit.
            for j in range(len(entries)):
                entry = <_StoreEntry>entries[j]
                entry.buckets = entry.buckets + <tuple>slots[j]
            self._indices = self._indices + indices
            self._names = self._names + tuple(checked)
            self._positions = {name: i for i, name in enumerate(self._names)}
            self._funcs = self._funcs + funcs
        finally:
            _store_unlock(self._lock)

    cdef int _put(self, str key, object obj) except -1:
        """Insert or replace; index values are computed before taking the lock."""
        self._put_read(key, obj, _MD_UNREAD)
        return 0

    cdef object _put_read(self, str key, object obj, object md):
        """``_put`` of an object whose metadata ``md`` the caller already read (or
        ``_MD_UNREAD``), so that the built-in index functions do not read it again.
        Returns the object replaced, or ``None`` when ``key`` was new."""
        cdef tuple funcs, new_vals, old_slots
        cdef list indices, slots
        cdef object found, old_obj
        cdef _StoreEntry entry
        cdef dict index
        cdef Py_ssize_t i, n
        while True:
            funcs = self._funcs
            new_vals = _store_compute(funcs, obj, md)
            n = len(new_vals)
            _store_lock(self._lock)
            try:
                if self._funcs is not funcs:
                    continue  # indexers were added meanwhile: compute again
                indices = self._indices
                found = self._items.get(key)
                if found is None:
                    entry = _store_new_entry(key, obj)
                    entry.buckets = _store_slots_add(indices, new_vals, entry)
                    self._items[key] = entry
                    return None
                entry = <_StoreEntry>found
                # The replaced object stays referenced until the lock is released (and
                # goes back to the caller), so that no finaliser runs while it is held.
                old_obj = entry.obj
                entry.obj = obj
                old_slots = entry.buckets
                slots = None
                for i in range(n):
                    if _store_slot_matches(old_slots[i], new_vals[i]):
                        continue  # the common case: this index is left alone
                    if slots is None:
                        slots = list(old_slots)
                    index = <dict>indices[i]
                    _store_slot_remove(index, old_slots[i], entry)
                    slots[i] = _store_slot_add(index, new_vals[i], entry)
                if slots is not None:
                    entry.buckets = tuple(slots)
                return old_obj
            finally:
                _store_unlock(self._lock)

    cdef int _remove(self, str key) except -1:
        cdef object found
        cdef _StoreEntry entry
        cdef list indices
        cdef Py_ssize_t i
        _store_lock(self._lock)
        try:
            found = self._items.pop(key, None)
            if found is None:
                return 0
            entry = <_StoreEntry>found
            indices = self._indices
            for i in range(len(entry.buckets)):
                _store_slot_remove(<dict>indices[i], entry.buckets[i], entry)
            return 0
        finally:
            _store_unlock(self._lock)

    cdef int _replace(self, dict objs) except -1:
        cdef tuple funcs
        cdef dict entries
        cdef list indices
        cdef list old_indices = None
        cdef object old_items = None
        cdef _StoreEntry entry
        while old_indices is None:
            funcs = self._funcs
            entries = {}
            indices = [{} for _ in funcs]
            for key, obj in objs.items():
                entry = _store_new_entry(<str>key, obj)
                entry.buckets = _store_slots_add(
                    indices, _store_compute(funcs, obj, _MD_UNREAD), entry)
                entries[key] = entry
            _store_lock(self._lock)
            try:
                if self._funcs is funcs:  # else indexers were added meanwhile: again
                    old_items, old_indices = self._items, self._indices
                    self._items, self._indices = entries, indices
            finally:
                _store_unlock(self._lock)
        # The old content is freed here, after the lock is released.
        _store_release_buckets(old_indices)
        return 0

    # -- reads (each takes the lock once) ----------------------------------------------

    cdef object _get(self, str key):
        cdef object found
        _store_lock(self._lock)
        found = self._items.get(key)
        _store_unlock(self._lock)
        return None if found is None else (<_StoreEntry>found).obj

    cdef Py_ssize_t _position(self, str name) except -1:
        found = self._positions.get(name)
        if found is None:
            raise IndexNotFoundError(name, self._names)
        return <Py_ssize_t>found

    def get(self, key):
        """Return the object stored under ``key``, or ``None``."""
        return self._get(_store_str(key, "store key"))

    def list(self):
        """Return a snapshot of every stored object (unordered)."""
        _store_lock(self._lock)
        try:
            return [(<_StoreEntry>e).obj for e in self._items.values()]
        finally:
            _store_unlock(self._lock)

    def list_keys(self):
        """Return a snapshot of every key (unordered)."""
        _store_lock(self._lock)
        try:
            return list(self._items)
        finally:
            _store_unlock(self._lock)

    def index(self, name, obj):
        """Return the stored objects sharing at least one value of index ``name`` with ``obj``.

        The index function runs on ``obj`` outside the lock.
        """
        cdef Py_ssize_t pos = self._position(_store_str(name, "index name"))
        cdef object values = _store_compute((self._funcs[pos],), obj, _MD_UNREAD)[0]
        cdef dict index
        cdef object found
        cdef set union
        if values is None:
            return []
        _store_lock(self._lock)
        try:
            index = <dict>self._indices[pos]
            if type(values) is tuple:
                union = set()
                for v in <tuple>values:
                    found = index.get(v)
                    if found is not None:
                        union |= (<_StoreBucket>found).entries
                return _store_objects(union)
            found = index.get(values)
            if found is None:
                return []
            return _store_objects((<_StoreBucket>found).entries)
        finally:
            _store_unlock(self._lock)

    def index_keys(self, name, value):
        """Return the keys whose objects have ``value`` in index ``name``."""
        cdef str index_name = _store_str(name, "index name")
        cdef str index_value = _store_str(value, "index value")
        cdef object found
        _store_lock(self._lock)
        try:
            found = (<dict>self._indices[self._position(index_name)]).get(index_value)
            if found is None:
                return []
            return [(<_StoreEntry>e).key for e in (<_StoreBucket>found).entries]
        finally:
            _store_unlock(self._lock)

    def by_index(self, name, value):
        """Return the objects that have ``value`` in index ``name``."""
        cdef str index_name = _store_str(name, "index name")
        cdef str index_value = _store_str(value, "index value")
        cdef object found
        _store_lock(self._lock)
        try:
            found = (<dict>self._indices[self._position(index_name)]).get(index_value)
            if found is None:
                return []
            return _store_objects((<_StoreBucket>found).entries)
        finally:
            _store_unlock(self._lock)

    def list_index_func_values(self, name):
        """Return the values present in index ``name`` (buckets are never empty)."""
        cdef str index_name = _store_str(name, "index name")
        _store_lock(self._lock)
        try:
            return list(<dict>self._indices[self._position(index_name)])
        finally:
            _store_unlock(self._lock)

    def get_indexers(self):
        """Return a new ``{name: index_func}`` dict of the registered indexes (locks)."""
        _store_lock(self._lock)
        try:
            return dict(zip(self._names, self._funcs))
        finally:
            _store_unlock(self._lock)


# -- the indexer ----------------------------------------------------------------------

cdef class Indexer:
    """A :class:`ThreadSafeStore` keyed by ``key_func(obj)`` (client-go's cache.Indexer).

    The ``"namespace"`` index (:data:`NAMESPACE_INDEX`) is always present; a
    ``"namespace"`` entry in ``indexers`` replaces the default function. Locking is the
    store's: each call takes its lock once; ``key_func`` runs outside it.
    """

    def __init__(self, key_func=meta_namespace_key, indexers=None):
        cdef dict all_indexers = {NAMESPACE_INDEX: namespace_index_func}
        if not callable(key_func):
            raise TypeError(f"key_func is not callable: {key_func!r}")
        if indexers is not None:
            all_indexers.update(indexers)
        self._key_func = key_func
        self._default_key = key_func is meta_namespace_key
        self._store = ThreadSafeStore(all_indexers)

    @property
    def key_func(self):
        """The function deriving a store key from an object."""
        return self._key_func

    def __repr__(self):
        return f"Indexer(items={len(self)}, indexes={list(self._store.get_indexers())!r})"

    def __len__(self):
        """Number of stored objects."""
        return len(self._store._items)

    def __contains__(self, key):
        """Whether an object is stored under ``key``."""
        return key in self._store

    cdef str _key(self, object obj):
        return _store_call_key(self._key_func, obj)

    cdef int _put_obj(self, object obj) except -1:
        """Store ``obj`` under its key. With the default key function, ``metadata`` is
        read once for both the key and the built-in index functions."""
        cdef object md
        if not self._default_key:
            return self._store._put(self._key(obj), obj)
        md = _store_key_metadata(obj)
        self._store._put_read(_store_default_key(obj, md), obj, md)
        return 0

    def add(self, obj):
        """Store ``obj`` under its key; same as :meth:`update`."""
        self._put_obj(obj)

    def update(self, obj):
        """Store ``obj`` under its key, replacing the previous object."""
        self._put_obj(obj)

    def delete(self, obj):
        """Remove the object with ``obj``'s key (a tombstone works too); no-op if absent."""
        self._store._remove(self._key(obj))

    def get(self, obj):
        """Return the stored object with ``obj``'s key, or ``None``."""
        return self._store._get(self._key(obj))

    def get_by_key(self, key):
        """Return the object stored under ``key``, or ``None``."""
        return self._store._get(_store_str(key, "store key"))

    def list(self):
        """Return a snapshot of every stored object."""
        return self._store.list()

    def list_keys(self):
        """Return a snapshot of every key."""
        return self._store.list_keys()

    def replace(self, items, resource_version=""):
        """Swap the whole content for ``items`` (keyed by ``key_func``) atomically."""
        cdef dict objs = {}
        for obj in items:
            objs[self._key(obj)] = obj
        self._store._replace(objs)

    def resync(self):
        """Nothing to do for a local store (client-go parity)."""

    def index(self, name, obj):
        """See :meth:`ThreadSafeStore.index`."""
        return self._store.index(name, obj)

    def index_keys(self, name, value):
        """See :meth:`ThreadSafeStore.index_keys`."""
        return self._store.index_keys(name, value)

    def by_index(self, name, value):
        """See :meth:`ThreadSafeStore.by_index`."""
        return self._store.by_index(name, value)

    def list_index_func_values(self, name):
        """See :meth:`ThreadSafeStore.list_index_func_values`."""
        return self._store.list_index_func_values(name)

    def get_indexers(self):
        """See :meth:`ThreadSafeStore.get_indexers`."""
        return self._store.get_indexers()

    def add_indexers(self, indexers):
        """See :meth:`ThreadSafeStore.add_indexers`."""
        self._store.add_indexers(indexers)


# -- compacting decoded objects for the cache -------------------------------------------
#
# FieldSharer is the __post_init__ of the generated models (fastinformer.models.base):
# msgspec calls it on every struct it builds, innermost first. It reads and writes the
# struct's fields through their slot offsets (msgspec stores fields in member slots) so
# that a pod's ~25 structs cost a few hundred nanoseconds, not a Python call each.
# PyMemberDef, PyMemberDescrObject, _MemberDescriptorType: see _core_keys.pxi.
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.ref cimport Py_DECREF

cdef extern from "Python.h":
    int PyObject_IS_GC(object obj)
    int PyObject_GC_IsTracked(object obj)
    void PyObject_GC_UnTrack(void *obj)
    PyObject *PyDict_SetDefault(object d, object key, object default_value) except NULL

cdef enum:
    _UNTRACK_DEPTH = 64


cdef bint _untrack_tree(object obj, int depth) except -1:
    """Stop the cyclic GC from tracking ``obj`` and the lists, dicts and tuples inside it
    when everything they hold is untracked; return whether ``obj`` is untracked after.
    ``str`` items and keys (most of a decoded object) are skipped by a type check."""
    cdef bint ok = True
    cdef object kind = type(obj)
    if kind is not list and kind is not dict and kind is not tuple:
        return not PyObject_IS_GC(obj) or not PyObject_GC_IsTracked(obj)
    if not PyObject_GC_IsTracked(obj):
        return True
    if depth >= _UNTRACK_DEPTH:
        return False
    if kind is dict:
        for key, value in (<dict>obj).items():
            if type(value) is not str and not _untrack_tree(value, depth + 1):
                ok = False
            if type(key) is not str and not _untrack_tree(key, depth + 1):
                ok = False
    else:
        for item in obj:
            if type(item) is not str and not _untrack_tree(item, depth + 1):
                ok = False
    if ok:
        PyObject_GC_UnTrack(<void *>obj)
    return ok


def untrack_tree(obj):
    """Stop the cyclic GC from tracking the lists, dicts and tuples of a decoded tree
    (nested up to 64 deep) whose contents are all untracked; return whether ``obj``
    itself ends up untracked (always true for atoms such as ``str``).

    Decoded JSON has no reference cycles, so the collector has nothing to find there,
    yet every full collection would walk a whole cache of tracked lists. The objects are
    still freed by reference counting. Contract: do not create a reference cycle through
    an untracked list (e.g. by appending it to itself); it would never be collected.
    Dicts are tracked again by CPython when a tracked object is stored in them.
    """
    return _untrack_tree(obj, 0)


def untrack_object(obj):
    """Stop the cyclic GC from tracking ``obj`` itself, whatever it holds (for records
    such as instances of classes with ``__slots__``; for lists, dicts and tuples use
    :func:`untrack_tree`); return whether ``obj`` is untracked after (always true here).

    Contract: ``obj`` is never part of a reference cycle, now or later (it holds no
    reference that leads back to it); such a cycle would never be collected. It is still
    freed by reference counting.
    """
    if PyObject_IS_GC(obj) and PyObject_GC_IsTracked(obj):
        PyObject_GC_UnTrack(<void *>obj)
    return True


cdef inline object _share_str(dict strings, object value):
    return <object>PyDict_SetDefault(strings, value, value)


cdef int _share_container(dict strings, object value) except -1:
    """Share the ``str`` items of a list or the ``str`` values of a dict, in place."""
    cdef Py_ssize_t i
    cdef list items
    if type(value) is list:
        items = <list>value
        for i in range(len(items)):
            item = items[i]
            if type(item) is str:
                items[i] = _share_str(strings, item)
    elif type(value) is dict:
        for key, item in (<dict>value).items():
            if type(item) is str:
                shared = _share_str(strings, item)
                if shared is not item:
                    (<dict>value)[key] = shared  # same keys: safe while iterating
    return 0


cdef class _SharePlan:
    """Slot offsets of one struct type's fields, and which of them share strings."""

    def __dealloc__(self):
        PyMem_Free(self.offsets)
        PyMem_Free(self.shared)


cdef class FieldSharer:
    """``FieldSharer(strings, trim=None)``: its bound method ``share(obj)`` is the
    ``__post_init__`` of msgspec Structs (see :mod:`fastinformer.models.base`).

    For the struct ``obj``, in place: each field named in its class's
    ``_shared_fields`` that holds a ``str`` (or a list of them, or a dict with such
    values) gets the copy kept in the ``strings`` dict (added on first sight), so that
    equal values decoded in many objects are one object; then every list, dict or
    tuple field whose contents are all untracked stops being tracked by the cyclic GC
    (see :func:`untrack_tree`; the pure-Python twin cannot do this part). ``trim()``
    is called first for classes whose ``_trims_shared`` is true. Field layouts are
    read once per class (it must be a msgspec Struct). Safe to call from many threads.
    """

    def __init__(self, dict strings not None, trim=None):
        if trim is not None and not callable(trim):
            raise TypeError(f"trim must be callable, not {type(trim).__name__}")
        self._strings = strings
        self._trim = trim
        self._plans = {}

    def __repr__(self):
        return f"<FieldSharer strings={len(self._strings)} classes={len(self._plans)}>"

    cdef _SharePlan _plan_for(self, type cls):
        cdef object found = self._plans.get(cls)
        cdef _SharePlan plan
        cdef tuple names
        cdef Py_ssize_t i
        cdef PyMemberDescrObject *member
        if found is not None:
            return <_SharePlan>found
        names = getattr(cls, "__struct_fields__", None)
        if type(names) is not tuple:
            raise TypeError(f"FieldSharer works on msgspec Structs, not {cls.__name__}")
        shared_names = frozenset(getattr(cls, "_shared_fields", ()))
        plan = _SharePlan.__new__(_SharePlan)
        plan.n = len(names)
        plan.offsets = <Py_ssize_t *>PyMem_Malloc((plan.n + 1) * sizeof(Py_ssize_t))
        plan.shared = <char *>PyMem_Malloc(plan.n + 1)
        if plan.offsets == NULL or plan.shared == NULL:
            raise MemoryError()
        for i in range(plan.n):
            name = names[i]
            desc = getattr(cls, name, None)
            if type(desc) is not _MemberDescriptorType or not issubclass(
                    cls, desc.__objclass__):
                raise TypeError(f"{cls.__name__}.{name} is not a struct field slot")
            member = <PyMemberDescrObject *><PyObject *>desc
            if member.d_member.type != _T_OBJECT_EX:
                raise TypeError(f"{cls.__name__}.{name} is not an object slot")
            plan.offsets[i] = member.d_member.offset
            plan.shared[i] = name in shared_names
        plan.trims = bool(getattr(cls, "_trims_shared", False))
        self._plans[cls] = plan
        return plan

    def share(self, obj):
        """Share the strings of struct ``obj`` and untrack its containers, in place."""
        cdef _SharePlan plan = self._plan_for(type(obj))
        cdef dict strings = self._strings
        cdef Py_ssize_t i
        cdef PyObject **slot
        cdef PyObject *raw
        cdef object value, shared
        if plan.trims and self._trim is not None:
            self._trim()
        for i in range(plan.n):
            slot = <PyObject **>((<char *><PyObject *>obj) + plan.offsets[i])
            raw = slot[0]
            if raw == NULL or raw == <PyObject *>None:
                continue
            value = <object>raw
            if plan.shared[i]:
                if type(value) is str:
                    shared = _share_str(strings, value)
                    if shared is not value:
                        Py_INCREF(shared)
                        slot[0] = <PyObject *>shared
                        Py_DECREF(value)  # the slot's reference; ours ends with the scope
                    continue
                _share_container(strings, value)
            if type(value) is list or type(value) is dict or type(value) is tuple:
                _untrack_tree(value, 1)
