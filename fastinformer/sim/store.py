"""The simulator's storage: objects kept pre-encoded, one global resourceVersion, and a
bounded event history from which watches resume and old states are rebuilt.

Every write encodes the object once. A :class:`StoredObject` keeps only the JSON bytes of
the list item (metadata first, its byte span recorded), its labels and the values of the
field selectors its kind supports, so memory stays close to the JSON size. Watch lines are
built once per event and shared by every watcher.

Thread-safety: one re-entrant lock guards everything; public methods take it themselves.
Listeners registered with :meth:`SimStore.subscribe` are called after each commit, outside
the lock, from the writing thread.
"""

from __future__ import annotations

import builtins
import copy
import random
import threading
import time
import uuid
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

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

_META_ORDER = (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
)
_PARTIAL_PREFIX = b'{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":'
_DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def _timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class StoredObject:
    """One object version, immutable. ``item`` is its JSON as a list item."""

    __slots__ = ("fields", "item", "key", "labels", "meta_end", "meta_start", "name",
                 "namespace", "rtype", "rv", "uid")

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
            head = _LINE_HEADS.get(type_) or _line_head(type_)
            obj = self.obj
            if obj.rtype.builtin:
                return (head, _type_prefix(obj.rtype), memoryview(obj.item)[1:], b"}\n")
            return (head, obj.item, b"}\n")
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


_LINE_HEADS: dict[str, bytes] = {}


def _line_head(type_: str) -> bytes:
    head = _LINE_HEADS[type_] = b'{"type":"' + type_.encode() + b'","object":'
    return head


def _with_rv(stored: StoredObject, rv: int) -> StoredObject:
    obj = stored.to_dict()
    obj["metadata"]["resourceVersion"] = str(rv)
    return _encode(stored.rtype, obj, rv)


def _canonical(
    rtype: ResourceType, obj: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``obj`` into (metadata in the server's key order, the remaining top-level keys)."""
    meta_in = obj.get("metadata") or {}
    meta = {k: meta_in[k] for k in _META_ORDER if k in meta_in and meta_in[k] is not None}
    for k, v in meta_in.items():
        if k not in meta and v is not None:
            meta[k] = v
    rest = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion", "metadata")}
    return meta, rest


def _encode(rtype: ResourceType, obj: Mapping[str, Any], rv: int) -> StoredObject:
    """Encode ``obj`` (whose metadata is final) into a StoredObject."""
    meta, rest = _canonical(rtype, obj)
    meta_bytes = orjson.dumps(meta)
    head = b"{" if rtype.builtin else _type_prefix(rtype)
    head += b'"metadata":'
    tail = b"}" if not rest else b"," + orjson.dumps(rest)[1:]
    item = head + meta_bytes + tail
    name = meta.get("name", "")
    namespace = meta.get("namespace", "") if rtype.namespaced else ""
    key = f"{namespace}/{name}" if rtype.namespaced else name
    labels = meta.get("labels") or None
    view = _Full(obj, meta)
    fields = tuple(_intern(getter(view)) for getter in rtype.field_getters.values())
    return StoredObject(
        rtype, key, name, namespace, meta.get("uid", ""), rv, item, len(head),
        len(head) + len(meta_bytes), labels, fields,
    )


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
        self._listeners: list[Listener] = []
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
        """Call ``listener()`` after every commit; returns the unsubscribe function."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    def _table_locked(self, rtype: ResourceType) -> _Table:
        table = self._tables.get(rtype)
        if table is None:
            table = self._tables[rtype] = _Table(rtype)
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
        (never mutated here)."""
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
        elif rtype.has_status and "status" in current:
            new["status"] = current["status"]
        elif rtype.has_status:
            new.pop("status", None)
        meta = new["metadata"]
        old_meta = current["metadata"]
        for fixed in ("name", "namespace", "uid", "creationTimestamp", "generation"):
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
        stored = _encode(rtype, new, rv)
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

    def delete(
        self,
        resource: ResourceType | str,
        name: str,
        namespace: str | None = None,
        *,
        precondition_uid: str | None = None,
        precondition_rv: str | None = None,
    ) -> StoredObject:
        """Delete an object now; returns its last state (with the deletion's resourceVersion).
        Deleting a namespace deletes everything in it first."""
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
            stored = self._delete_locked(self._table_locked(rtype), old)
        self._notify()
        return stored

    def _delete_locked(self, table: _Table, old: StoredObject) -> StoredObject:
        rv = self._next_rv_locked()
        last = _with_rv(old, rv)
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
            self._window.clear()
            self._rv += 1
            self._compacted_rv = self._rv
            for name in _DEFAULT_NAMESPACES:
                self._create_locked(self.resolve("namespaces"), {"metadata": {"name": name}}, None)
        self._notify()


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
