"""The simulator's storage: objects kept pre-encoded, one global resourceVersion, and a
bounded event history from which watches resume and old states are rebuilt.

Every write encodes the object once. A :class:`StoredObject` keeps only the JSON bytes of
the list item (metadata first, the byte spans of the metadata, its managedFields and the
status recorded), its labels and the values of the field selectors its kind supports, so
memory stays close to the JSON size. :meth:`SimStore.merge` (the churn driver's write) and
stamped deletions decode and re-encode only the parts they change and splice the others'
bytes in. Watch lines are never encoded: they are joined from a per-kind head and the
stored bytes, shared by every watcher (:func:`watch_parts`).

Thread-safety: one re-entrant lock guards everything; public methods take it themselves.
Listeners registered with :meth:`SimStore.subscribe` are called after each commit (or once
per :meth:`SimStore.batch`), outside the lock, from the writing thread.
"""

from __future__ import annotations

import builtins
import contextlib
import copy
import random
import threading
import time
import uuid
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import orjson

from fastinformer._compat import core
from fastinformer.sim import status as st
from fastinformer.sim.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from fastinformer.sim.registry import Registry, ResourceType

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
WHOLE = "*"
"""``subresource`` of :meth:`SimStore.merge`: main resource and status at once."""

_META_ORDER = (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
)
_META_KEYS = frozenset(_META_ORDER)
_FIXED_META = ("name", "namespace", "uid", "creationTimestamp", "generation")
"""Metadata a write cannot change."""
_UNSPLICEABLE = frozenset({"managedFields", "resourceVersion", "uid"})
"""Metadata keys a patch must not set for :meth:`SimStore.merge` to splice."""
_PARTIAL_PREFIX = b'{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":'
_DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"

_untrack: Callable[[Any], bool] = core.untrack_object
"""Stored versions and events never form reference cycles; untracked, a history of
100,000 events adds nothing to the cyclic GC's full collections (which walked 200,000
such records in tens of milliseconds, stalling every watch)."""


def _timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class StoredObject:
    """One object version, immutable. ``item`` is its JSON as a list item: the metadata
    spans ``item[meta_start:meta_end]``; when ``managed_start`` is not 0 the metadata ends
    with ``managedFields``, whose entry (with its leading comma) starts there; when
    ``status_tail`` is not 0 the object ends with its ``status``, whose entry (with its
    leading comma) is the last ``status_tail`` bytes but the closing brace. Writes use
    these spans to decode and re-encode only what they change."""

    __slots__ = ("fields", "item", "key", "labels", "managed_start", "meta_end", "meta_start",
                 "name", "namespace", "rtype", "rv", "status_tail", "uid")

    def __init__(
        self,
        rtype: ResourceType,
        key: str,
        name: str,
        namespace: str,
        uid: str,
        rv: int,
        item: bytes,
        meta_start: int,
        meta_end: int,
        labels: dict[str, str] | None,
        fields: tuple[str | None, ...],
        managed_start: int = 0,
        status_tail: int = 0,
    ) -> None:
        self.rtype = rtype
        self.key = key
        self.name = name
        self.namespace = namespace
        self.uid = uid
        self.rv = rv
        self.item = item
        self.meta_start = meta_start
        self.meta_end = meta_end
        self.labels = labels
        self.fields = fields
        self.managed_start = managed_start
        self.status_tail = status_tail
        _untrack(self)

    @property
    def resource_version(self) -> str:
        return str(self.rv)

    def full_json(self) -> bytes:
        """The object as GET and watch events carry it (with kind and apiVersion)."""
        if not self.rtype.builtin:
            return self.item
        return _type_prefix(self.rtype) + self.item[1:]

    def full_parts(self) -> tuple[bytes | memoryview, ...]:
        """``full_json()`` as pieces to join (saves one copy of the body)."""
        if not self.rtype.builtin:
            return (self.item,)
        return (_type_prefix(self.rtype), memoryview(self.item)[1:])

    def metadata_json(self) -> bytes:
        return self.item[self.meta_start:self.meta_end]

    def partial_json(self) -> bytes:
        """The object as a ``PartialObjectMetadata``."""
        return _PARTIAL_PREFIX + self.item[self.meta_start:self.meta_end] + b"}"

    def to_dict(self) -> dict[str, Any]:
        """A fresh dict of the full object (callers may mutate it)."""
        obj: dict[str, Any] = orjson.loads(self.full_json())
        return obj

    def field(self, name: str) -> str | None:
        return self.fields[self.rtype.field_index[name]]


_PREFIXES: dict[tuple[str, str], bytes] = {}


def _type_prefix(rtype: ResourceType) -> bytes:
    key = (rtype.kind, rtype.api_version)
    prefix = _PREFIXES.get(key)
    if prefix is None:
        prefix = orjson.dumps({"kind": rtype.kind, "apiVersion": rtype.api_version})[:-1] + b","
        _PREFIXES[key] = prefix
    return prefix


class Event:
    """One committed change. ``obj`` is the new state (for DELETED, the last state carrying
    the deletion's resourceVersion); ``prev`` the state before (None for ADDED)."""

    __slots__ = ("_lines", "obj", "prev", "rv", "type")

    def __init__(self, type_: str, obj: StoredObject, prev: StoredObject | None) -> None:
        self.type = type_
        self.obj = obj
        self.prev = prev
        self.rv = obj.rv
        self._lines: dict[tuple[str, bool, bool], bytes] | None = None
        _untrack(self)

    def parts(
        self, type_: str, partial: bool = False, from_prev: bool = False
    ) -> tuple[bytes | memoryview, ...]:
        """The watch line announcing this event as ``type_``, as pieces to join.

        The common case references the stored encoding without copying it; the rare ones
        (metadata-only, or ``from_prev``: the previous state with this event's
        resourceVersion, which a selector watch sees when the object stops matching) are
        encoded once and cached.
        """
        if not partial and not from_prev:
            obj = self.obj
            layout = _layout(obj.rtype)
            head = layout.line_heads.get(type_) or layout.line_head(type_)
            return (head, memoryview(obj.item)[layout.body_start:], b"}\n")
        return (self.line(type_, partial, from_prev),)

    def line(self, type_: str, partial: bool = False, from_prev: bool = False) -> bytes:
        """The watch line as one bytes object (cached per variant)."""
        cache = self._lines
        if cache is None:
            cache = self._lines = {}
        key = (type_, partial, from_prev)
        line = cache.get(key)
        if line is None:
            source = self.obj
            if from_prev and self.prev is not None:
                source = _with_rv(self.prev, self.rv)
            body = source.partial_json() if partial else source.full_json()
            line = cache[key] = (_LINE_HEADS.get(type_) or _line_head(type_)) + body + b"}\n"
        return line


def watch_parts(
    events: Iterable[Event], partial: bool = False
) -> builtins.list[bytes | memoryview]:
    """An empty first piece (room for a chunk header), then the pieces of the watch lines
    announcing ``events`` as they are (no selector), to join: the stored encodings are
    referenced, not copied, and nothing is encoded."""
    parts: builtins.list[bytes | memoryview] = [b""]
    if partial:
        for event in events:
            parts.append(event.line(event.type, True))
        return parts
    append = parts.append
    layout: _Layout | None = None
    heads: dict[str, bytes] = {}
    start = 0
    for event in events:
        obj = event.obj
        if layout is None or layout.rtype is not obj.rtype:
            layout = _layout(obj.rtype)
            heads, start = layout.line_heads, layout.body_start
        head = heads.get(event.type) or layout.line_head(event.type)
        append(head)
        append(memoryview(obj.item)[start:])
        append(b"}\n")
    return parts


_LINE_HEADS: dict[str, bytes] = {}


def _line_head(type_: str) -> bytes:
    head = _LINE_HEADS[type_] = b'{"type":"' + type_.encode() + b'","object":'
    return head


_RV_KEY = b'"resourceVersion":"'


def _with_rv(
    stored: StoredObject, rv: int, annotations: Mapping[str, str] | None = None
) -> StoredObject:
    """``stored`` with the resourceVersion ``rv`` (and ``annotations`` added)."""
    if not annotations:
        # The first '"resourceVersion":"' of the metadata is its own (the keys before it
        # hold plain strings, in which quotes are escaped): splice the new value in.
        item = stored.item
        at = item.find(_RV_KEY, stored.meta_start, stored.meta_end)
        if at >= 0:
            start = at + len(_RV_KEY)
            end = item.index(b'"', start)
            new_rv = str(rv).encode()
            shift = len(new_rv) - (end - start)
            managed_at = stored.managed_start
            return StoredObject(
                stored.rtype, stored.key, stored.name, stored.namespace, stored.uid, rv,
                b"".join((item[:start], new_rv, item[end:])), stored.meta_start,
                stored.meta_end + shift, stored.labels, stored.fields,
                managed_at + shift if managed_at else 0, stored.status_tail,
            )
    meta, managed = _decode_meta(stored)
    new_meta = dict(meta)
    new_meta["resourceVersion"] = str(rv)
    if annotations:
        new_meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
    new_meta = _canonical_meta(new_meta)
    if managed and not _META_KEYS.issuperset(new_meta):
        obj = stored.to_dict()
        obj["metadata"] = {**obj["metadata"], **new_meta}
        return _encode(stored.rtype, obj, rv)
    return _assemble(
        stored.rtype, new_meta, orjson.dumps(new_meta), managed, stored.item[stored.meta_end:],
        stored.status_tail, rv, {"metadata": new_meta}, (stored, {"metadata": meta}),
    )


def _decode_meta(stored: StoredObject) -> tuple[dict[str, Any], bytes]:
    """The metadata of ``stored`` without its managedFields, and the encoded managedFields
    entry (b"" when not split off; the metadata then has them)."""
    item = stored.item
    if stored.managed_start:
        meta: dict[str, Any] = orjson.loads(item[stored.meta_start:stored.managed_start] + b"}")
        return meta, item[stored.managed_start:stored.meta_end - 1]
    meta = orjson.loads(item[stored.meta_start:stored.meta_end])
    return meta, b""


def _canonical(
    rtype: ResourceType, obj: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``obj`` into (metadata in the server's key order, the remaining top-level keys)."""
    rest = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion", "metadata")}
    return _canonical_meta(obj.get("metadata") or {}), rest


def _canonical_meta(meta_in: Mapping[str, Any]) -> dict[str, Any]:
    """``meta_in`` in the server's key order, without null values."""
    meta = {k: meta_in[k] for k in _META_ORDER if k in meta_in and meta_in[k] is not None}
    if len(meta) < len(meta_in):
        for k, v in meta_in.items():
            if k not in meta and v is not None:
                meta[k] = v
    return meta


def _encode(
    rtype: ResourceType,
    obj: Mapping[str, Any],
    rv: int,
    base: tuple[StoredObject, Mapping[str, Any]] | None = None,
) -> StoredObject:
    """Encode ``obj`` (whose metadata is final) into a StoredObject.

    ``base`` is the previous version and its decoded form: a field selector value is then
    reused when what it reads is unchanged (see :class:`_Layout`).
    """
    meta, rest = _canonical(rtype, obj)
    managed = b""
    if len(meta) > 1 and next(reversed(meta)) == "managedFields":
        value = meta.pop("managedFields")
        managed = b',"managedFields":' + orjson.dumps(value)
        small = orjson.dumps(meta)
        meta["managedFields"] = value
    else:
        small = orjson.dumps(meta)
    tail, status_tail = _encode_rest(rest)
    return _assemble(rtype, meta, small, managed, tail, status_tail, rv, obj, base)


_STATUS_KEY = b',"status":'


def _encode_rest(rest: dict[str, Any]) -> tuple[bytes, int]:
    """The encoding of the sections after the metadata (``,...}``, or ``}``), with the
    status entry encoded last on its own: (bytes, its ``status_tail``, 0 without one)."""
    if not rest:
        return b"}", 0
    if next(reversed(rest)) != "status":
        return b"," + orjson.dumps(rest)[1:], 0
    status = rest.pop("status")
    entry = _STATUS_KEY + orjson.dumps(status) + b"}"
    before = orjson.dumps(rest)[:-1] if rest else b"{"
    rest["status"] = status
    if len(before) == 1:
        return entry, len(entry) - 1
    return b"," + before[1:] + entry, len(entry) - 1


def _assemble(
    rtype: ResourceType,
    meta: dict[str, Any],
    small: bytes,
    managed: bytes,
    tail: bytes,
    status_tail: int,
    rv: int,
    obj: Mapping[str, Any],
    base: tuple[StoredObject, Mapping[str, Any]] | None,
) -> StoredObject:
    """The StoredObject whose metadata ``meta`` (canonical) is encoded as ``small``
    without its managedFields entry ``managed`` (b"" when it has none or they are not
    last), followed by the other sections ``tail`` (``,...}``, or ``}``; see
    :func:`_encode_rest` for ``status_tail``). ``obj`` is the object the field selectors
    read (see :func:`_encode` for ``base``)."""
    layout = _layout(rtype)
    head = layout.head
    meta_start = len(head)
    managed_start = meta_start + len(small) - 1 if managed else 0
    if managed:
        item = b"".join((head, memoryview(small)[:-1], managed, b"}", tail))
    else:
        item = b"".join((head, small, tail))
    name = meta.get("name", "")
    namespace = meta.get("namespace", "") if rtype.namespaced else ""
    key = f"{namespace}/{name}" if rtype.namespaced else name
    return StoredObject(
        rtype, key, name, namespace, meta.get("uid", ""), rv, item, meta_start,
        meta_start + len(small) + len(managed), meta.get("labels") or None,
        layout.fields(obj, meta, base), managed_start, status_tail,
    )


_Getter = Callable[[Mapping[str, Any]], "str | None"]


class _Layout:
    """How objects of one type are encoded: the bytes before the metadata, and the field
    selector getters with what each reads.

    A field selector named ``a.b.c`` reads nothing but ``obj["a"]["b"]`` (``a`` alone: only
    ``obj["a"]``), the naming rule of the server's field label conversions, which every
    getter of the registry follows. Its value therefore carries over from the previous
    version when ``a`` is the very same object (which patches leave untouched) or when
    both ``a`` are objects with equal ``b``.
    """

    __slots__ = ("body_start", "getters", "head", "line_heads", "rtype")

    def __init__(self, rtype: ResourceType) -> None:
        self.rtype = rtype
        self.head = (b"{" if rtype.builtin else _type_prefix(rtype)) + b'"metadata":'
        self.body_start = 1 if rtype.builtin else 0  # lines carry item[body_start:]
        self.line_heads: dict[str, bytes] = {}
        self.getters: tuple[tuple[str, str, _Getter], ...] = tuple(
            (*_split_field(name), getter) for name, getter in rtype.field_getters.items()
        )

    def line_head(self, type_: str) -> bytes:
        """``{"type":...,"object":`` and, for built-in kinds, the kind and apiVersion."""
        head = _LINE_HEADS.get(type_) or _line_head(type_)
        if self.rtype.builtin:
            head += _type_prefix(self.rtype)
        self.line_heads[type_] = head
        return head

    def fields(
        self,
        obj: Mapping[str, Any],
        meta: dict[str, Any],
        base: tuple[StoredObject, Mapping[str, Any]] | None,
    ) -> tuple[str | None, ...]:
        view: _Full | None = None
        values: builtins.list[str | None] = []
        append = values.append
        for i, (section, sub, getter) in enumerate(self.getters):
            if base is not None:
                new = meta if section == "metadata" else obj.get(section)
                old = base[1].get(section)
                if new is old or (sub and type(new) is dict and type(old) is dict
                                  and new.get(sub) == old.get(sub)):
                    append(base[0].fields[i])
                    continue
            if view is None:
                view = _Full(obj, meta)
            append(_intern(getter(view)))
        return tuple(values)


def _split_field(name: str) -> tuple[str, str]:
    section, _, rest = name.partition(".")
    return section, rest.partition(".")[0]


_LAYOUTS: dict[int, _Layout] = {}


def _layout(rtype: ResourceType) -> _Layout:
    """The layout of ``rtype``, found by identity (hashing a ResourceType is slow)."""
    layout = _LAYOUTS.get(id(rtype))
    if layout is None or layout.rtype is not rtype:
        layout = _LAYOUTS[id(rtype)] = _Layout(rtype)
    return layout


class _Full(dict[str, Any]):
    """``obj`` seen with its canonical metadata (for the field getters)."""

    def __init__(self, obj: Mapping[str, Any], meta: dict[str, Any]) -> None:
        super().__init__(obj)
        self["metadata"] = meta


_INTERNED: dict[str, str] = {}


def _intern(value: str | None) -> str | None:
    if value is None or len(value) > 64:
        return value
    return _INTERNED.setdefault(value, value)


class _Table:
    """Objects and history of one resource type (guarded by the store's lock)."""

    __slots__ = ("_keys", "_pending", "events", "objects", "rtype", "trim_at")

    def __init__(self, rtype: ResourceType) -> None:
        self.rtype = rtype
        self.objects: dict[str, StoredObject] = {}
        self.events: list[Event] = []
        self.trim_at = 4096
        self._keys: list[str] = []
        self._pending: list[tuple[bool, str]] = []

    def put_locked(self, stored: StoredObject, new: bool) -> None:
        self.objects[stored.key] = stored
        if new:
            self._pending.append((True, stored.key))

    def remove_locked(self, key: str) -> None:
        del self.objects[key]
        self._pending.append((False, key))

    def sorted_keys_locked(self) -> list[str]:
        """Current keys in storage order (sorted), maintained incrementally."""
        pending = self._pending
        if pending:
            if len(pending) > 256:
                self._keys = sorted(self.objects)
            else:
                keys = self._keys
                for added, key in pending:
                    i = bisect_left(keys, key)
                    present = i < len(keys) and keys[i] == key
                    if added and not present:
                        keys.insert(i, key)
                    elif not added and present and key not in self.objects:
                        del keys[i]
            self._pending = []
        return self._keys

    def trim_locked(self, compacted_rv: int) -> None:
        if len(self.events) >= self.trim_at:
            cut = bisect_right(self.events, compacted_rv, key=_event_rv)
            if cut:
                del self.events[:cut]
            self.trim_at = max(4096, 2 * len(self.events))


def _event_rv(event: Event) -> int:
    return event.rv


class Page:
    """One list answer: items, the list's resourceVersion, the start key of the next page
    (relative to the listed prefix) and the number of items after this page."""

    __slots__ = ("items", "next_key", "remaining", "rv")

    def __init__(
        self, items: list[StoredObject], rv: int, next_key: str | None, remaining: int | None
    ) -> None:
        self.items = items
        self.rv = rv
        self.next_key = next_key
        self.remaining = remaining


Predicate = Callable[[StoredObject], bool]
Listener = Callable[[], None]


class SimStore:
    """Storage of every served resource.

    ``history`` bounds the number of events kept (the watch window): resuming a watch or
    a list from a resourceVersion that fell out of it answers 410 Expired.
    """

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        history: int = 100_000,
        start_rv: int = 1000,
        create_default_namespaces: bool = True,
    ) -> None:
        if history < 1:
            raise ValueError("history must be at least 1 event")
        self.registry = registry or Registry()
        self.history = history
        self._lock = threading.RLock()
        self._rv = start_rv
        self._compacted_rv = start_rv
        self._window: deque[int] = deque()
        self._tables: dict[ResourceType, _Table] = {}
        self._tables_by_id: dict[int, tuple[ResourceType, _Table]] = {}
        self._listeners: tuple[Listener, ...] = ()
        self._batching = threading.local()
        if create_default_namespaces:
            for name in _DEFAULT_NAMESPACES:
                self.create("namespaces", {"metadata": {"name": name}})

    # Introspection ------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The current (latest committed) resourceVersion."""
        return self._rv

    @property
    def compacted_rv(self) -> int:
        """Watches and lists from a resourceVersion older than this answer 410."""
        return self._compacted_rv

    def resolve(self, resource: ResourceType | str) -> ResourceType:
        """``ResourceType``, plural (``pods``), ``group/version/plural`` or ``plural.group``."""
        if isinstance(resource, ResourceType):
            return resource
        parts = resource.split("/")
        found: ResourceType | None = None
        if len(parts) == 3:
            found = self.registry.get(parts[0], parts[1], parts[2])
        elif len(parts) == 2:
            found = self.registry.get("", parts[0], parts[1])
        else:
            plural, _, group = resource.partition(".")
            for rtype in self.registry.types():
                if rtype.plural == plural and (not group or rtype.group == group):
                    found = rtype
                    break
        if found is None:
            raise KeyError(f"unknown resource {resource!r}")
        return found

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener()`` after every commit (once per :meth:`batch`); returns the
        unsubscribe function."""
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            with self._lock:
                listeners = list(self._listeners)
                if listener in listeners:
                    listeners.remove(listener)
                    self._listeners = tuple(listeners)

        return unsubscribe

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Within the block, this thread's commits notify listeners once, at its end (the
        watchers then wake once for many events). Blocks may nest."""
        state = self._batching
        depth = getattr(state, "depth", 0)
        state.depth = depth + 1
        try:
            yield
        finally:
            state.depth = depth
            if depth == 0 and getattr(state, "pending", False):
                state.pending = False
                self._notify()

    def _notify(self) -> None:
        state = self._batching
        if getattr(state, "depth", 0):
            state.pending = True
            return
        for listener in self._listeners:
            listener()

    def _table_locked(self, rtype: ResourceType) -> _Table:
        found = self._tables_by_id.get(id(rtype))
        if found is not None and found[0] is rtype:
            return found[1]
        table = self._tables.get(rtype)
        if table is None:
            table = self._tables[rtype] = _Table(rtype)
        self._tables_by_id[id(rtype)] = (rtype, table)
        return table

    def __len__(self) -> int:
        with self._lock:
            return sum(len(t.objects) for t in self._tables.values())

    def count(self, resource: ResourceType | str) -> int:
        rtype = self.resolve(resource)
        with self._lock:
            return len(self._table_locked(rtype).objects)

    # Reads ----------------------------------------------------------------------------------

    def get_stored(
        self, resource: ResourceType | str, name: str, namespace: str | None = None
    ) -> StoredObject:
        """The current version of one object; 404 StatusError when absent."""
        rtype = self.resolve(resource)
        key = f"{namespace or ''}/{name}" if rtype.namespaced else name
        with self._lock:
            stored = self._table_locked(rtype).objects.get(key)
        if stored is None:
            raise st.not_found(rtype.plural, name)
        return stored

    def get_stored_or_none(
        self, resource: ResourceType | str, name: str, namespace: str | None = None
    ) -> StoredObject | None:
        try:
            return self.get_stored(resource, name, namespace)
        except st.StatusError:
            return None

    def sample(
        self, resource: ResourceType | str, rng: random.Random, namespace: str | None = None
    ) -> StoredObject | None:
        """A random current object (in ``namespace``), or None when there is none."""
        rtype = self.resolve(resource)
        with self._lock:
            table = self._table_locked(rtype)
            keys = table.sorted_keys_locked()
            lo, hi = 0, len(keys)
            if namespace and rtype.namespaced:
                lo, hi = bisect_left(keys, namespace + "/"), bisect_left(keys, namespace + "0")
            if hi <= lo:
                return None
            return table.objects[keys[rng.randrange(lo, hi)]]

    def get(
        self, resource: ResourceType | str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """A fresh dict of one object, or None."""
        try:
            return self.get_stored(resource, name, namespace).to_dict()
        except st.StatusError:
            return None

    def list(
        self, resource: ResourceType | str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """Fresh dicts of every object (in one namespace when given), in key order."""
        page = self.page(self.resolve(resource), namespace)
        return [s.to_dict() for s in page.items]

    def page(
        self,
        rtype: ResourceType,
        namespace: str | None = None,
        *,
        at_rv: int | None = None,
        start_key: str | None = None,
        limit: int | None = None,
        predicate: Predicate | None = None,
    ) -> Page:
        """One page of ``rtype`` as of ``at_rv`` (default: now), keys after ``start_key``.

        ``start_key`` and the returned ``next_key`` are relative to the namespace prefix.
        ``remaining`` is set only without a predicate. Raises 410 when ``at_rv`` is older
        than the history window.
        """
        prefix = f"{namespace}/" if namespace and rtype.namespaced else ""
        with self._lock:
            table = self._table_locked(rtype)
            rv = self._rv if at_rv is None else at_rv
            if rv < self._compacted_rv:
                raise st.expired(st.EXPIRED_LIST)
            overlay = self._overlay_locked(table, rv) if rv < self._rv else {}
            keys = table.sorted_keys_locked()
            lo_key = prefix + start_key + "\x00" if start_key is not None else prefix
            hi_key = prefix[:-1] + "0" if prefix else None
            lo = bisect_left(keys, lo_key)
            hi = bisect_left(keys, hi_key) if hi_key is not None else len(keys)
            extra = sorted(
                k for k, v in overlay.items()
                if v is not None and k not in table.objects
                and k >= lo_key and (hi_key is None or k < hi_key)
            )
            return self._collect_locked(
                table, keys, lo, hi, extra, overlay, rv, prefix, limit, predicate
            )

    def _collect_locked(
        self,
        table: _Table,
        keys: builtins.list[str],
        lo: int,
        hi: int,
        extra: builtins.list[str],
        overlay: dict[str, StoredObject | None],
        rv: int,
        prefix: str,
        limit: int | None,
        predicate: Predicate | None,
    ) -> Page:
        objects = table.objects
        items: builtins.list[StoredObject] = []
        append = items.append
        want = limit if limit and limit > 0 else -1
        i, j, n_extra = lo, 0, len(extra)
        last_key: str | None = None
        while i < hi or j < n_extra:
            if j < n_extra and (i >= hi or extra[j] < keys[i]):
                key = extra[j]
                j += 1
            else:
                key = keys[i]
                i += 1
            stored = overlay[key] if key in overlay else objects[key]
            if stored is None or (predicate is not None and not predicate(stored)):
                continue
            append(stored)
            last_key = key
            if len(items) == want:
                break
        more = (i < hi or j < n_extra) and len(items) == want
        if not more:
            return Page(items, rv, None, None)
        remaining: int | None = None
        if predicate is None:
            remaining = (hi - i) + (n_extra - j)
            if overlay and i < hi:
                tail_lo = keys[i]
                tail_hi = keys[hi - 1]
                for key, prev in overlay.items():
                    if prev is None and key in objects and tail_lo <= key <= tail_hi:
                        remaining -= 1
            if remaining <= 0:
                return Page(items, rv, None, None)
        assert last_key is not None
        return Page(items, rv, last_key[len(prefix):], remaining)

    def _overlay_locked(self, table: _Table, rv: int) -> dict[str, StoredObject | None]:
        """Key -> state at ``rv`` for every key changed after ``rv`` (None: absent then)."""
        events = table.events
        cut = bisect_right(events, rv, key=_event_rv)
        overlay: dict[str, StoredObject | None] = {}
        for event in reversed(events[cut:]):
            overlay[event.obj.key] = event.prev
        return overlay

    def events_after(
        self, rtype: ResourceType, rv: int, limit: int = 10_000
    ) -> builtins.list[Event] | None:
        """Events of ``rtype`` newer than ``rv`` (at most ``limit``), or None when events
        after ``rv`` are no longer all kept (the caller answers 410)."""
        with self._lock:
            if rv < self._compacted_rv:
                return None
            events = self._table_locked(rtype).events
            start = bisect_right(events, rv, key=_event_rv)
            return events[start:start + limit]

    def snapshot(
        self, rtype: ResourceType, namespace: str | None = None
    ) -> tuple[builtins.list[StoredObject], int]:
        """Every current object of ``rtype`` (in ``namespace``) and the resourceVersion."""
        with self._lock:
            page = self.page(rtype, namespace)
            return page.items, page.rv

    # Writes ---------------------------------------------------------------------------------

    def _commit_locked(self, table: _Table, event: Event) -> None:
        table.events.append(event)
        window = self._window
        window.append(event.rv)
        while len(window) > self.history:
            self._compacted_rv = window.popleft()
        table.trim_locked(self._compacted_rv)

    def _next_rv_locked(self) -> int:
        self._rv += 1
        return self._rv

    def create(
        self,
        resource: ResourceType | str,
        obj: Mapping[str, Any],
        namespace: str | None = None,
    ) -> StoredObject:
        """Create ``obj``; 409 AlreadyExists, 404 when its namespace does not exist."""
        rtype = self.resolve(resource)
        with self._lock:
            stored = self._create_locked(rtype, obj, namespace)
        self._notify()
        return stored

    def _create_locked(
        self, rtype: ResourceType, obj_in: Mapping[str, Any], namespace: str | None
    ) -> StoredObject:
        obj = self._checked_body(rtype, obj_in)
        meta = obj["metadata"]
        if rtype.namespaced:
            ns = self._namespace_for(meta, namespace)
            meta["namespace"] = ns
            if rtype.plural != "namespaces" and not self._namespace_exists_locked(ns):
                raise st.not_found("namespaces", ns)
        else:
            meta.pop("namespace", None)
        name = meta.get("name")
        if not name:
            generate = meta.get("generateName")
            if not generate:
                raise st.invalid(
                    rtype.kind, "", "metadata.name", "FieldValueRequired",
                    "Required value: name or generateName is required", rtype.group,
                )
            name = meta["name"] = self._generated_name_locked(rtype, generate, meta)
        _check_name(rtype, name)
        table = self._table_locked(rtype)
        key = f"{meta['namespace']}/{name}" if rtype.namespaced else name
        if key in table.objects:
            raise st.already_exists(rtype.plural, name)
        rv = self._next_rv_locked()
        meta["uid"] = str(uuid.uuid4())
        meta["resourceVersion"] = str(rv)
        meta["creationTimestamp"] = _timestamp()
        meta.pop("deletionTimestamp", None)
        if rtype.has_generation:
            meta["generation"] = 1
        _apply_defaults(rtype, obj)
        stored = _encode(rtype, obj, rv)
        table.put_locked(stored, new=True)
        self._commit_locked(table, Event(ADDED, stored, None))
        return stored

    def _generated_name_locked(self, rtype: ResourceType, base: str, meta: dict[str, Any]) -> str:
        table = self._table_locked(rtype)
        seed = uuid.uuid4().int
        for _ in range(100):
            suffix = "".join(_NAME_CHARS[(seed >> (5 * i)) % len(_NAME_CHARS)] for i in range(5))
            name = base + suffix
            key = f"{meta.get('namespace', '')}/{name}" if rtype.namespaced else name
            if key not in table.objects:
                return name
            seed = uuid.uuid4().int
        raise st.StatusError(500, "InternalError", "could not generate a unique name")

    @staticmethod
    def _namespace_for(meta: Mapping[str, Any], namespace: str | None) -> str:
        body_ns = meta.get("namespace")
        if namespace and body_ns and body_ns != namespace:
            raise st.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        return str(namespace or body_ns or "default")

    def _namespace_exists_locked(self, namespace: str) -> bool:
        ns_type = self.registry.get("", "v1", "namespaces")
        if ns_type is None:
            return True
        return namespace in self._table_locked(ns_type).objects

    def _checked_body(self, rtype: ResourceType, obj_in: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(obj_in, Mapping):
            raise st.bad_request("the request body must be a JSON object")
        try:  # a deep copy: JSON round trips are much faster than copy.deepcopy
            obj: dict[str, Any] = orjson.loads(orjson.dumps(obj_in))
        except TypeError:  # not JSON-serializable as it is (orjson's errors are TypeErrors)
            obj = copy.deepcopy(dict(obj_in))
        api_version = obj.get("apiVersion")
        if api_version and api_version != rtype.api_version:
            raise st.bad_request(
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({rtype.api_version})"
            )
        kind = obj.get("kind")
        if kind and kind != rtype.kind:
            raise st.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({rtype.kind})"
            )
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise st.bad_request("metadata must be a JSON object")
        obj["kind"] = rtype.kind
        obj["apiVersion"] = rtype.api_version
        return obj

    def update(
        self,
        resource: ResourceType | str,
        obj: Mapping[str, Any],
        namespace: str | None = None,
        *,
        name: str | None = None,
        subresource: str | None = None,
    ) -> StoredObject:
        """Replace an object (PUT). A non-empty ``metadata.resourceVersion`` must match the
        stored one (else 409 Conflict). ``subresource="status"`` changes only the status;
        otherwise the status is kept for kinds having a status subresource."""
        rtype = self.resolve(resource)
        with self._lock:
            new = self._checked_body(rtype, obj)
            meta = new["metadata"]
            url_name = name or meta.get("name") or ""
            if meta.get("name") and meta["name"] != url_name:
                raise st.bad_request(
                    f"the name of the object ({meta['name']}) does not match the name on the "
                    f"URL ({url_name})"
                )
            ns = self._namespace_for(meta, namespace) if rtype.namespaced else None
            old = self._current_locked(rtype, url_name, ns)
            stored = self._replace_locked(rtype, old, new, subresource)
        self._notify()
        return stored

    def _current_locked(
        self, rtype: ResourceType, name: str, namespace: str | None
    ) -> StoredObject:
        key = f"{namespace}/{name}" if rtype.namespaced else name
        old = self._table_locked(rtype).objects.get(key)
        if old is None:
            raise st.not_found(rtype.plural, name)
        return old

    def _replace_locked(
        self,
        rtype: ResourceType,
        old: StoredObject,
        new: dict[str, Any],
        subresource: str | None,
        current: dict[str, Any] | None = None,
    ) -> StoredObject:
        """Commit ``new`` over ``old``; ``current`` is ``old`` decoded, if the caller has it
        (never mutated here). ``subresource`` None keeps the status, ``"status"`` changes
        only it, :data:`WHOLE` takes every section from ``new``."""
        meta = new.get("metadata")
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            raise st.bad_request("metadata must be a JSON object")
        meta = new["metadata"] = dict(meta)
        wanted_rv = meta.get("resourceVersion")
        if wanted_rv not in (None, "") and str(wanted_rv) != str(old.rv):
            raise st.conflict(rtype.plural, old.name)
        wanted_uid = meta.get("uid")
        if wanted_uid and wanted_uid != old.uid:
            raise st.conflict(
                rtype.plural, old.name,
                f"Precondition failed: UID in precondition: {wanted_uid}, UID in object meta: "
                f"{old.uid}",
            )
        if current is None:
            current = old.to_dict()
        if subresource == "status":
            merged = dict(current)
            merged["metadata"] = dict(current["metadata"])
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            new = merged
        elif subresource == WHOLE:
            pass
        elif rtype.has_status and "status" in current:
            new["status"] = current["status"]
        elif rtype.has_status:
            new.pop("status", None)
        meta = new["metadata"]
        old_meta = current["metadata"]
        for fixed in _FIXED_META:
            if fixed in old_meta:
                meta[fixed] = old_meta[fixed]
            else:
                meta.pop(fixed, None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if _same(current, new):
            return old
        if rtype.has_generation and current.get("spec") != new.get("spec"):
            meta["generation"] = int(old_meta.get("generation", 0)) + 1
        rv = self._next_rv_locked()
        meta["resourceVersion"] = str(rv)
        stored = _encode(rtype, new, rv, (old, current))
        table = self._table_locked(rtype)
        table.put_locked(stored, new=False)
        self._commit_locked(table, Event(MODIFIED, stored, old))
        return stored

    def patch(
        self,
        resource: ResourceType | str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = MERGE_PATCH,
        subresource: str | None = None,
    ) -> StoredObject:
        """Apply a merge, JSON or strategic merge patch (422 when it cannot apply)."""
        rtype = self.resolve(resource)
        with self._lock:
            old = self._current_locked(rtype, name, namespace if rtype.namespaced else None)
            current = old.to_dict()
            try:
                if patch_type == JSON_PATCH:
                    new = json_patch(current, patch)
                elif patch_type == STRATEGIC_MERGE_PATCH:
                    if not rtype.builtin:
                        raise st.unsupported_media_type(
                            "application/json-patch+json, application/merge-patch+json, "
                            "application/apply-patch+yaml"
                        )
                    new = strategic_merge_patch(current, patch)
                elif patch_type in (MERGE_PATCH, APPLY_PATCH):
                    if not isinstance(patch, dict):
                        raise PatchError("a merge patch must be a JSON object")
                    new = merge_patch(current, patch)
                else:
                    raise st.unsupported_media_type(
                        "application/json-patch+json, application/merge-patch+json, "
                        "application/apply-patch+yaml, application/strategic-merge-patch+json"
                    )
            except PatchError as exc:
                raise st.StatusError(422, "UnprocessableEntity", str(exc)) from None
            if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
                raise st.StatusError(422, "UnprocessableEntity", "the patch removed metadata")
            new["kind"] = rtype.kind
            new["apiVersion"] = rtype.api_version
            if new["metadata"].get("name") != old.name:
                raise st.bad_request("metadata.name cannot be changed by a patch")
            if rtype.namespaced and new["metadata"].get("namespace") != old.namespace:
                raise st.bad_request("metadata.namespace cannot be changed by a patch")
            stored = self._replace_locked(rtype, old, new, subresource, current)
        self._notify()
        return stored

    def merge(
        self,
        resource: ResourceType | str,
        name: str,
        patch: dict[str, Any],
        namespace: str | None = None,
    ) -> StoredObject:
        """Apply a JSON merge patch to the whole object, status included, as one write (what
        a controller's update and status update would do together). Meant for the
        simulator's own writers (churn); HTTP requests go through :meth:`patch`."""
        rtype = self.resolve(resource)
        if not isinstance(patch, dict):
            raise TypeError(f"a merge patch must be a dict, not {type(patch).__name__}")
        with self._lock:
            old = self._current_locked(rtype, name, namespace if rtype.namespaced else None)
            stored = self._merge_spliced_locked(rtype, old, patch)
            if stored is None:
                current = old.to_dict()
                new = _merge(current, patch)
                if not isinstance(new.get("metadata"), dict):
                    raise st.StatusError(422, "UnprocessableEntity", "the patch removed metadata")
                new["kind"] = rtype.kind
                new["apiVersion"] = rtype.api_version
                stored = self._replace_locked(rtype, old, new, WHOLE, current)
        self._notify()
        return stored

    def _merge_spliced_locked(
        self, rtype: ResourceType, old: StoredObject, patch: dict[str, Any]
    ) -> StoredObject | None:
        """:meth:`merge` decoding only what the patch touches: the metadata without its
        managedFields, and the status alone or all the other sections when the patch has
        any; the rest of the encoding is spliced in as it is. None when this does not
        apply (the patch sets managedFields, preconditions or a non-object metadata;
        unusual metadata keys)."""
        meta_patch = patch.get("metadata", {})
        if not isinstance(meta_patch, dict) or not _UNSPLICEABLE.isdisjoint(meta_patch):
            return None
        rest_patch = {k: v for k, v in patch.items() if k not in ("metadata", "kind", "apiVersion")}
        meta, managed = _decode_meta(old)
        new_meta = _canonical_meta(_merge(meta, meta_patch))
        if managed and not _META_KEYS.issuperset(new_meta):
            return None
        for fixed in _FIXED_META:
            if fixed in meta:
                new_meta[fixed] = meta[fixed]
            else:
                new_meta.pop(fixed, None)
        new_meta["resourceVersion"] = meta["resourceVersion"]
        tail = old.item[old.meta_end:]
        status_tail = old.status_tail
        rest: dict[str, Any] = {}
        new_rest: dict[str, Any] = {}
        status_only = bool(status_tail) and rest_patch.keys() == {"status"}
        if status_only:  # decode the status alone; the sections before it stay as they are
            before = tail[:len(tail) - 1 - status_tail]
            rest = {"status": orjson.loads(tail[len(before) + len(_STATUS_KEY):-1])}
            new_rest = _merge(rest, rest_patch)
        elif rest_patch:
            if tail[:1] == b",":
                rest = orjson.loads(b"{" + tail[1:])
            new_rest = _merge(rest, rest_patch)
        if new_meta == meta and new_rest == rest:
            return old
        if rtype.has_generation and rest.get("spec") != new_rest.get("spec"):
            new_meta["generation"] = int(meta.get("generation", 0)) + 1
        rv = self._next_rv_locked()
        new_meta["resourceVersion"] = str(rv)
        if status_only:
            if "status" in new_rest:
                entry = _STATUS_KEY + orjson.dumps(new_rest["status"])
                tail, status_tail = b"".join((before, entry, b"}")), len(entry)
            else:
                tail, status_tail = before + b"}", 0
        elif rest_patch:
            tail, status_tail = _encode_rest(new_rest)
        stored = _assemble(
            rtype, new_meta, orjson.dumps(new_meta), managed, tail, status_tail, rv,
            {**new_rest, "metadata": new_meta}, (old, {**rest, "metadata": meta}),
        )
        table = self._table_locked(rtype)
        table.put_locked(stored, new=False)
        self._commit_locked(table, Event(MODIFIED, stored, old))
        return stored

    def delete(
        self,
        resource: ResourceType | str,
        name: str,
        namespace: str | None = None,
        *,
        precondition_uid: str | None = None,
        precondition_rv: str | None = None,
        annotate: Mapping[str, str] | None = None,
    ) -> StoredObject:
        """Delete an object now; returns its last state (with the deletion's resourceVersion).
        Deleting a namespace deletes everything in it first. ``annotate`` adds annotations
        to the last state the DELETED event carries (the simulator's writers stamp events
        with it; a real server never does)."""
        rtype = self.resolve(resource)
        with self._lock:
            old = self._current_locked(rtype, name, namespace if rtype.namespaced else None)
            if precondition_uid and precondition_uid != old.uid:
                raise st.conflict(
                    rtype.plural, name,
                    f"Precondition failed: UID in precondition: {precondition_uid}, UID in "
                    f"object meta: {old.uid}",
                )
            if precondition_rv and precondition_rv != str(old.rv):
                raise st.conflict(
                    rtype.plural, name,
                    f"Precondition failed: ResourceVersion in precondition: {precondition_rv}, "
                    f"ResourceVersion in object meta: {old.rv}",
                )
            if rtype.plural == "namespaces" and not rtype.group:
                for table in list(self._tables.values()):
                    if table.rtype.namespaced:
                        for key in [k for k in table.objects if k.startswith(name + "/")]:
                            self._delete_locked(table, table.objects[key])
            stored = self._delete_locked(self._table_locked(rtype), old, annotate)
        self._notify()
        return stored

    def _delete_locked(
        self, table: _Table, old: StoredObject, annotate: Mapping[str, str] | None = None
    ) -> StoredObject:
        rv = self._next_rv_locked()
        last = _with_rv(old, rv, annotate)
        table.remove_locked(old.key)
        self._commit_locked(table, Event(DELETED, last, old))
        return last

    def load(self, resource: ResourceType | str, objects: Iterable[Mapping[str, Any]]) -> int:
        """Store many new objects fast, without watch events: the history is compacted to
        the resulting resourceVersion (older watches answer 410). Existing keys are
        replaced. Returns the number stored."""
        rtype = self.resolve(resource)
        count = 0
        with self._lock:
            table = self._table_locked(rtype)
            stamp = _timestamp()
            for obj_in in objects:
                obj = dict(obj_in)
                meta = dict(obj.get("metadata") or {})
                obj["metadata"] = meta
                if not meta.get("name"):
                    raise ValueError(f"object without metadata.name: {obj_in!r:.200}")
                if rtype.namespaced:
                    meta.setdefault("namespace", "default")
                rv = self._next_rv_locked()
                meta.setdefault("uid", str(uuid.uuid4()))
                meta["resourceVersion"] = str(rv)
                meta.setdefault("creationTimestamp", stamp)
                if rtype.has_generation:
                    meta.setdefault("generation", 1)
                stored = _encode(rtype, obj, rv)
                table.put_locked(stored, new=stored.key not in table.objects)
                count += 1
            self._compact_locked(self._rv)
        self._notify()
        return count

    def compact(self, rv: int | None = None) -> int:
        """Forget history up to ``rv`` (default: everything); returns the compacted rv."""
        with self._lock:
            self._compact_locked(self._rv if rv is None else min(rv, self._rv))
            return self._compacted_rv

    def _compact_locked(self, rv: int) -> None:
        if rv <= self._compacted_rv:
            return
        self._compacted_rv = rv
        while self._window and self._window[0] <= rv:
            self._window.popleft()
        for table in self._tables.values():
            cut = bisect_right(table.events, rv, key=_event_rv)
            del table.events[:cut]

    def reset(self) -> None:
        """Lose every object and all history (a restart without state); resourceVersions
        keep increasing so clients resuming from old ones get 410."""
        with self._lock:
            self._tables.clear()
            self._tables_by_id.clear()
            self._window.clear()
            self._rv += 1
            self._compacted_rv = self._rv
            for name in _DEFAULT_NAMESPACES:
                self._create_locked(self.resolve("namespaces"), {"metadata": {"name": name}}, None)
        self._notify()


_SCALARS = (str, int, float, bool)


def _merge(doc: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """:func:`~fastinformer.sim.patch.merge_patch` of two objects, without copying scalars
    (it allocates less; same result, inputs left untouched)."""
    result = dict(doc)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            sub = result.get(key)
            result[key] = _merge(sub if isinstance(sub, dict) else {}, value)
        elif isinstance(value, _SCALARS):
            result[key] = value
        else:
            result[key] = merge_patch(None, value)
    return result


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """True when an update changes nothing (the server then writes nothing)."""
    return a == b


def _check_name(rtype: ResourceType, name: Any) -> None:
    if not isinstance(name, str) or "/" in name or "%" in name or name in (".", ".."):
        raise st.invalid(
            rtype.kind, str(name), "metadata.name", "FieldValueInvalid",
            f"Invalid value: {name!r}: may not contain '/' or '%'", rtype.group,
        )


def _apply_defaults(rtype: ResourceType, obj: dict[str, Any]) -> None:
    """The few defaults the real server adds that clients look at."""
    if rtype.builtin and rtype.plural == "namespaces":
        meta = obj["metadata"]
        labels = meta.setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = meta["name"]
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj["status"] = {"phase": "Active"}
    elif rtype.builtin and rtype.plural == "pods":
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            spec.setdefault("restartPolicy", "Always")
            spec.setdefault("terminationGracePeriodSeconds", 30)
            spec.setdefault("dnsPolicy", "ClusterFirst")
            spec.setdefault("schedulerName", "default-scheduler")
        obj.setdefault("status", {"phase": "Pending"})
