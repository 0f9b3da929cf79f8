"""Pure-Python twin of ``_core_store.pxi``: a thread-safe store with secondary indexes.

Semantics follow client-go's ``tools/cache`` thread-safe store and indexer: an index
function maps an object to zero or more string values; each index maps a value to the
keys whose objects produced it. Readers and writers share one lock per store, so a
reader sees an object and its index entries either both before or both after a write.
"""

from __future__ import annotations

import builtins
import gc
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from fastinformer._py_keys import meta_namespace_key
from fastinformer.errors import FastInformerError, IndexerConflictError

__all__ = [
    "NAMESPACE_INDEX",
    "FieldSharer",
    "IndexNotFoundError",
    "Indexer",
    "ThreadSafeStore",
    "label_index_func",
    "namespace_index_func",
    "node_name_index_func",
    "untrack_object",
    "untrack_tree",
]

IndexFunc = Callable[[Any], list[str]]
"""Maps an object to the values it is indexed under (may be empty, duplicates ignored)."""

NAMESPACE_INDEX: Final = "namespace"
"""Name of the index by ``metadata.namespace`` that every :class:`Indexer` has."""

# The values of one object for one index, normalised: no value, one value, or several
# distinct values in first-seen order. Stored per key so that an update or a delete
# removes exactly what was indexed, even if the old object was mutated in place.
_Values = str | tuple[str, ...] | None


class IndexNotFoundError(FastInformerError, KeyError):
    """A query named an index that is not registered. ``name`` is the unknown name."""

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        self.name = name
        self.known = tuple(known)
        super().__init__(name, self.known)

    def __str__(self) -> str:
        known = ", ".join(repr(n) for n in self.known) or "none"
        return f"no index named {self.name!r} (registered: {known})"


def _field(parent: Any, dict_key: str, attr: str) -> Any:
    """``parent[dict_key]`` for a dict (``None`` if absent), else ``parent.<attr>``."""
    if isinstance(parent, dict):
        return parent.get(dict_key)
    if parent is None:
        return None
    return getattr(parent, attr, None)


def namespace_index_func(obj: Any) -> list[str]:
    """Return ``[metadata.namespace]``, ``[""]`` for a cluster-scoped object.

    Works on dicts and attribute-style objects; ``TypeError`` when there is no metadata.
    """
    md = _field(obj, "metadata", "metadata")
    if md is None:
        raise TypeError(f"namespace_index_func: object has no metadata: {type(obj).__name__}")
    ns = _field(md, "namespace", "namespace")
    if ns is None:
        return [""]
    if not isinstance(ns, str):
        raise TypeError(f"metadata.namespace is not a string: {ns!r}")
    return [ns]


class _LabelIndexFunc:
    """Index function returning ``[labels[label_key]]``, ``[]`` when the label is absent."""

    __slots__ = ("label_key",)

    def __init__(self, label_key: str) -> None:
        if not isinstance(label_key, str):
            raise TypeError(f"label_key must be str, not {type(label_key).__name__}")
        self.label_key = label_key

    def __call__(self, obj: Any) -> list[str]:
        labels = _field(_field(obj, "metadata", "metadata"), "labels", "labels")
        if labels is None:
            return []
        value = labels.get(self.label_key)
        if value is None:
            return []
        if not isinstance(value, str):
            raise TypeError(f"label {self.label_key!r} is not a string: {value!r}")
        return [value]

    def __repr__(self) -> str:
        return f"label_index_func({self.label_key!r})"


def label_index_func(label_key: str) -> IndexFunc:
    """Return an index function by the value of label ``label_key`` (``[]`` when absent)."""
    return _LabelIndexFunc(label_key)


def node_name_index_func(obj: Any) -> list[str]:
    """Return ``[spec.nodeName]`` (dict) or ``[spec.node_name]`` (typed); ``[]`` when unset."""
    node = _field(_field(obj, "spec", "spec"), "nodeName", "node_name")
    if node is None or node == "":
        return []
    if not isinstance(node, str):
        raise TypeError(f"spec.nodeName is not a string: {node!r}")
    return [node]


def _normalize(values: Any, func: Any) -> _Values:
    """Check an index function's result and reduce it to the stored ``_Values`` form."""
    if type(values) is list and len(values) == 1 and type(values[0]) is str:
        return values[0]  # the common case, checked fast
    if not isinstance(values, (list, tuple)):
        if values is None or isinstance(values, (str, bytes, bytearray)):
            raise TypeError(f"index function {func!r} returned {values!r}; expected a list of str")
        try:
            values = list(values)
        except TypeError:
            raise TypeError(
                f"index function {func!r} returned {type(values).__name__}; expected a list of str"
            ) from None
    for v in values:
        if not isinstance(v, str):
            raise TypeError(f"index function {func!r} returned a non-str value {v!r}")
    if not values:
        return None
    if len(values) == 1:
        return values[0]  # type: ignore[no-any-return]
    distinct = tuple(dict.fromkeys(values))
    return distinct[0] if len(distinct) == 1 else distinct


def _as_list(values: _Values) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    return list(values)


def _bucket_add(index: dict[str, set[str]], values: _Values, key: str) -> None:
    for v in (values,) if isinstance(values, str) else values or ():
        bucket = index.get(v)
        if bucket is None:
            index[v] = {key}
        else:
            bucket.add(key)


def _bucket_remove(index: dict[str, set[str]], values: _Values, key: str) -> None:
    for v in (values,) if isinstance(values, str) else values or ():
        bucket = index[v]
        bucket.discard(key)
        if not bucket:
            del index[v]


def _check_indexers(indexers: Mapping[str, IndexFunc]) -> dict[str, IndexFunc]:
    checked = dict(indexers)
    for name, func in checked.items():
        if not isinstance(name, str):
            raise TypeError(f"index name must be str, not {type(name).__name__}")
        if not callable(func):
            raise TypeError(f"index function for {name!r} is not callable: {func!r}")
    return checked


def _check_str(s: Any, what: str) -> str:
    if not isinstance(s, str):
        raise TypeError(f"{what} must be str, not {type(s).__name__}")
    return s


def _check_key(key: Any) -> str:
    return _check_str(key, "store key")


def _call_key(key_func: Callable[[Any], Any], obj: Any) -> str:
    """``key_func(obj)``, which must return a ``str`` (``TypeError`` otherwise)."""
    key = key_func(obj)
    if not isinstance(key, str):
        raise TypeError(f"key_func returned {type(key).__name__}, expected str")
    return key


class ThreadSafeStore:
    """A map of ``key -> object`` with secondary indexes, safe for concurrent use.

    ``indexers`` maps index names to index functions (``obj -> list[str]``, duplicate
    values ignored). One internal lock guards the items and the indexes together. Index
    functions run outside the lock on ``add``/``update``/``replace``/``index`` (they may
    read the store) and under it in ``add_indexers``. If an index function raises, the
    store is left unchanged and the error propagates. Query results are new lists
    (snapshots); the objects in them are shared, not copied: do not mutate them.
    """

    __slots__ = ("_funcs", "_indices", "_items", "_lock", "_names", "_positions", "_values")

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        checked = _check_indexers(indexers or {})
        self._lock = threading.Lock()
        self._items: dict[str, Any] = {}
        # key -> the values of its object for each index, aligned with _names.
        self._values: dict[str, tuple[_Values, ...]] = {}
        # Registration is append-only; _names/_funcs/_positions are replaced, never
        # mutated, so a writer can tell (by identity) that indexers changed meanwhile.
        self._names: tuple[str, ...] = tuple(checked)
        self._funcs: tuple[IndexFunc, ...] = tuple(checked.values())
        self._positions: dict[str, int] = {n: i for i, n in enumerate(self._names)}
        self._indices: builtins.list[dict[str, set[str]]] = [{} for _ in self._names]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(items={len(self)}, indexes={list(self._names)!r})"

    def __len__(self) -> int:
        """Number of stored objects."""
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        """Whether an object is stored under ``key`` (takes the lock)."""
        with self._lock:
            return key in self._items

    # -- writes ------------------------------------------------------------------------

    def add(self, key: str, obj: Any) -> None:
        """Store ``obj`` under ``key``, replacing any previous object; same as :meth:`update`."""
        self.update(key, obj)

    def update(self, key: str, obj: Any) -> None:
        """Store ``obj`` under ``key`` and move its index entries; takes the lock to commit."""
        _check_key(key)
        while True:
            funcs = self._funcs
            new = tuple([_normalize(f(obj), f) for f in funcs])
            with self._lock:
                if self._funcs is not funcs:
                    continue  # indexers were added meanwhile: compute again
                # Keep the replaced object referenced until the lock is released, so
                # that no finaliser runs while it is held.
                replaced = self._items.get(key)  # noqa: F841
                self._items[key] = obj
                if funcs:
                    self._reindex_locked(key, self._values.get(key), new)
                return

    def delete(self, key: str) -> None:
        """Remove the object under ``key`` and its index entries; no-op if absent (locks)."""
        _check_key(key)
        with self._lock:
            removed = self._items.pop(key, _MISSING)  # freed after the lock is released
            if removed is _MISSING:
                return
            old = self._values.pop(key, None)
            if old is not None:
                for index, values in zip(self._indices, old, strict=True):
                    _bucket_remove(index, values, key)

    def replace(self, items: Mapping[str, Any], resource_version: str = "") -> None:
        """Swap the whole content for ``items`` and rebuild every index.

        The new content and indexes are built outside the lock and swapped in under it,
        so readers see either the old or the new content. ``resource_version`` is
        accepted for client-go parity and not used.
        """
        new_items = {_check_key(k): obj for k, obj in items.items()}
        while True:
            funcs = self._funcs
            values: dict[str, tuple[_Values, ...]] = {}
            indices: builtins.list[dict[str, set[str]]] = [{} for _ in funcs]
            if funcs:
                for key, obj in new_items.items():
                    vals = tuple(_normalize(f(obj), f) for f in funcs)
                    values[key] = vals
                    for index, v in zip(indices, vals, strict=True):
                        _bucket_add(index, v, key)
            with self._lock:
                if self._funcs is not funcs:
                    continue
                # The old content is freed after the lock is released.
                old = (self._items, self._values, self._indices)  # noqa: F841
                self._items, self._values, self._indices = new_items, values, indices
                return

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Register more indexes and index the stored objects by them, atomically.

        Raises :class:`IndexerConflictError` if a name is already registered. The new
        index functions run over every stored object while the lock is held (they must
        not call back into this store); if one raises, nothing changes.
        """
        checked = _check_indexers(indexers)
        if not checked:
            return
        with self._lock:
            taken = sorted(n for n in checked if n in self._positions)
            if taken:
                raise IndexerConflictError(f"indexer conflict: {', '.join(taken)}")
            funcs = tuple(checked.values())
            added = {
                key: tuple(_normalize(f(obj), f) for f in funcs) for key, obj in self._items.items()
            }
            indices: builtins.list[dict[str, set[str]]] = [{} for _ in funcs]
            for key, vals in added.items():
                for index, v in zip(indices, vals, strict=True):
                    _bucket_add(index, v, key)
            # Commit: nothing below can fail.
            self._values = {key: self._values.get(key, ()) + added[key] for key in added}
            self._indices = self._indices + indices
            self._names = self._names + tuple(checked)
            self._positions = {n: i for i, n in enumerate(self._names)}
            self._funcs = self._funcs + funcs

    def _reindex_locked(
        self, key: str, old: tuple[_Values, ...] | None, new: tuple[_Values, ...]
    ) -> None:
        """Move ``key`` from its ``old`` index values to ``new``; caller holds the lock."""
        indices = self._indices
        if old is None:
            for index, values in zip(indices, new, strict=True):
                _bucket_add(index, values, key)
        else:
            for index, before, after in zip(indices, old, new, strict=True):
                if before != after:  # the common case: leave the index alone
                    _bucket_remove(index, before, key)
                    _bucket_add(index, after, key)
        self._values[key] = new

    # -- reads (each takes the lock once) ----------------------------------------------

    def get(self, key: str) -> Any | None:
        """Return the object stored under ``key``, or ``None``."""
        _check_key(key)
        with self._lock:
            return self._items.get(key)

    def list(self) -> builtins.list[Any]:
        """Return a snapshot of every stored object (unordered)."""
        with self._lock:
            return list(self._items.values())

    def list_keys(self) -> builtins.list[str]:
        """Return a snapshot of every key (unordered)."""
        with self._lock:
            return list(self._items)

    def index(self, name: str, obj: Any) -> builtins.list[Any]:
        """Return the stored objects sharing at least one value of index ``name`` with ``obj``.

        The index function runs on ``obj`` outside the lock.
        """
        func = self._funcs[self._position(name)]
        values = _normalize(func(obj), func)
        with self._lock:
            index = self._indices[self._position(name)]
            if values is None:
                return []
            if isinstance(values, str):
                keys: Iterable[str] = index.get(values, ())
            else:
                keys = set().union(*(index.get(v, ()) for v in values))
            items = self._items
            return [items[k] for k in keys]

    def index_keys(self, name: str, value: str) -> builtins.list[str]:
        """Return the keys whose objects have ``value`` in index ``name``."""
        _check_str(value, "index value")
        with self._lock:
            return list(self._indices[self._position(name)].get(value, ()))

    def by_index(self, name: str, value: str) -> builtins.list[Any]:
        """Return the objects that have ``value`` in index ``name``."""
        _check_str(value, "index value")
        with self._lock:
            keys = self._indices[self._position(name)].get(value, ())
            items = self._items
            return [items[k] for k in keys]

    def list_index_func_values(self, name: str) -> builtins.list[str]:
        """Return the values present in index ``name`` (buckets are never empty)."""
        with self._lock:
            return list(self._indices[self._position(name)])

    def get_indexers(self) -> dict[str, IndexFunc]:
        """Return a new ``{name: index_func}`` dict of the registered indexes (locks)."""
        with self._lock:
            return dict(zip(self._names, self._funcs, strict=True))

    def _position(self, name: str) -> int:
        pos = self._positions.get(_check_str(name, "index name"))
        if pos is None:
            raise IndexNotFoundError(name, self._names)
        return pos


_MISSING: Final = object()


class Indexer:
    """A :class:`ThreadSafeStore` keyed by ``key_func(obj)`` (client-go's cache.Indexer).

    The ``"namespace"`` index (:data:`NAMESPACE_INDEX`) is always present; a
    ``"namespace"`` entry in ``indexers`` replaces the default function. Locking is the
    store's: each call takes its lock once; ``key_func`` runs outside it.
    """

    __slots__ = ("_key_func", "_store")

    def __init__(
        self,
        key_func: Callable[[Any], str] = meta_namespace_key,
        indexers: Mapping[str, IndexFunc] | None = None,
    ) -> None:
        if not callable(key_func):
            raise TypeError(f"key_func is not callable: {key_func!r}")
        all_indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: namespace_index_func}
        all_indexers.update(indexers or {})
        self._key_func = key_func
        self._store = ThreadSafeStore(all_indexers)

    @property
    def key_func(self) -> Callable[[Any], str]:
        """The function deriving a store key from an object."""
        return self._key_func

    def __repr__(self) -> str:
        names = list(self._store.get_indexers())
        return f"Indexer(items={len(self)}, indexes={names!r})"

    def __len__(self) -> int:
        """Number of stored objects."""
        return len(self._store)

    def __contains__(self, key: object) -> bool:
        """Whether an object is stored under ``key``."""
        return key in self._store

    def _key(self, obj: Any) -> str:
        return _call_key(self._key_func, obj)

    def add(self, obj: Any) -> None:
        """Store ``obj`` under its key; same as :meth:`update`."""
        self._store.update(self._key(obj), obj)

    def update(self, obj: Any) -> None:
        """Store ``obj`` under its key, replacing the previous object."""
        self._store.update(self._key(obj), obj)

    def delete(self, obj: Any) -> None:
        """Remove the object with ``obj``'s key (a tombstone works too); no-op if absent."""
        self._store.delete(self._key(obj))

    def get(self, obj: Any) -> Any | None:
        """Return the stored object with ``obj``'s key, or ``None``."""
        return self._store.get(self._key(obj))

    def get_by_key(self, key: str) -> Any | None:
        """Return the object stored under ``key``, or ``None``."""
        return self._store.get(key)

    def list(self) -> builtins.list[Any]:
        """Return a snapshot of every stored object."""
        return self._store.list()

    def list_keys(self) -> builtins.list[str]:
        """Return a snapshot of every key."""
        return self._store.list_keys()

    def replace(self, items: Iterable[Any], resource_version: str = "") -> None:
        """Swap the whole content for ``items`` (keyed by ``key_func``) atomically."""
        self._store.replace({self._key(obj): obj for obj in items}, resource_version)

    def resync(self) -> None:
        """Nothing to do for a local store (client-go parity)."""

    def index(self, name: str, obj: Any) -> builtins.list[Any]:
        """See :meth:`ThreadSafeStore.index`."""
        return self._store.index(name, obj)

    def index_keys(self, name: str, value: str) -> builtins.list[str]:
        """See :meth:`ThreadSafeStore.index_keys`."""
        return self._store.index_keys(name, value)

    def by_index(self, name: str, value: str) -> builtins.list[Any]:
        """See :meth:`ThreadSafeStore.by_index`."""
        return self._store.by_index(name, value)

    def list_index_func_values(self, name: str) -> builtins.list[str]:
        """See :meth:`ThreadSafeStore.list_index_func_values`."""
        return self._store.list_index_func_values(name)

    def get_indexers(self) -> dict[str, IndexFunc]:
        """See :meth:`ThreadSafeStore.get_indexers`."""
        return self._store.get_indexers()

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """See :meth:`ThreadSafeStore.add_indexers`."""
        self._store.add_indexers(indexers)


# -- compacting decoded objects for the cache ---------------------------------------------


def untrack_tree(obj: Any) -> bool:
    """Stop the cyclic GC from tracking the lists, dicts and tuples of a decoded tree
    (nested up to 64 deep) whose contents are all untracked; return whether ``obj``
    itself ends up untracked (always true for atoms such as ``str``).

    Pure Python cannot untrack an object: this twin only reports (``False`` for any
    list or non-empty container CPython tracks). The compiled core untracks.
    """
    return not gc.is_tracked(obj)


def untrack_object(obj: Any) -> bool:
    """Stop the cyclic GC from tracking ``obj`` itself, whatever it holds (for records
    such as instances of classes with ``__slots__``; for lists, dicts and tuples use
    :func:`untrack_tree`); return whether ``obj`` is untracked after.

    Pure Python cannot untrack an object: this twin only reports. The compiled core
    untracks.
    """
    return not gc.is_tracked(obj)


class FieldSharer:
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

    def __init__(self, strings: dict[Any, Any], trim: Callable[[], object] | None = None) -> None:
        if not isinstance(strings, dict):
            raise TypeError(f"strings must be a dict, not {type(strings).__name__}")
        if trim is not None and not callable(trim):
            raise TypeError(f"trim must be callable, not {type(trim).__name__}")
        self._strings = strings
        self._trim = trim
        self._plans: dict[type, tuple[bool, tuple[str, ...]]] = {}

    def __repr__(self) -> str:
        return f"<FieldSharer strings={len(self._strings)} classes={len(self._plans)}>"

    def _plan_for(self, cls: type) -> tuple[bool, tuple[str, ...]]:
        plan = self._plans.get(cls)
        if plan is None:
            names = getattr(cls, "__struct_fields__", None)
            if type(names) is not tuple:
                raise TypeError(f"FieldSharer works on msgspec Structs, not {cls.__name__}")
            shared = frozenset(getattr(cls, "_shared_fields", ()))
            plan = self._plans[cls] = (
                bool(getattr(cls, "_trims_shared", False)),
                tuple(n for n in names if n in shared),
            )
        return plan

    def share(self, obj: Any) -> None:
        """Share the strings of struct ``obj`` and untrack its containers, in place."""
        trims, names = self._plan_for(type(obj))
        if trims and self._trim is not None:
            self._trim()
        share = self._strings.setdefault
        for name in names:
            value = getattr(obj, name)
            if type(value) is str:
                setattr(obj, name, share(value, value))
            elif type(value) is list:
                for i, item in enumerate(value):
                    if type(item) is str:
                        value[i] = share(item, item)
            elif type(value) is dict:
                for key, item in value.items():
                    if type(item) is str:
                        value[key] = share(item, item)
