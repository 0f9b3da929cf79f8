"""A scripted, deterministic in-memory API server for one resource, and a checking store.

:class:`FakeListerWatcher` implements the ``ListerWatcher`` protocol over a set of
ConfigMap-like dicts with a global resourceVersion counter and an event history:

* ``create``/``update``/``delete`` change the state and broadcast to open watches;
  ``bump`` advances the global resourceVersion (writes to other resources);
  ``bookmark`` sends a BOOKMARK to watches that asked for them; ``compact`` forgets the
  history, so older resourceVersions get 410; ``expire_continue_tokens`` drops the
  snapshots behind continue tokens.
* LIST: ``"0"`` is served "from the watch cache" (``limit`` ignored when
  ``rv0_ignores_limit``); ``""`` and ``NotOlderThan`` are paginated with ``limit``;
  a resourceVersion older than the compaction point is 410 (when
  ``expire_old_list_rv``), one newer than the server is 504 "Too large resource version".
* WATCH: ``""``/``"0"`` replay the state as ADDED then go live; a resourceVersion
  replays the history after it, or yields one ERROR 410 event if compacted.
  ``streaming`` says how ``sendInitialEvents=true`` is handled: ``"supported"``,
  ``"rejected"`` (422, like a server with the WatchList gate off), ``"ignored"`` (a
  plain watch) or ``"no-annotation"`` (initial events, then a bookmark without the
  initial-events-end annotation).
* Faults: ``fail_next_list``/``fail_next_watch`` queue exceptions raised by the next
  calls; ``inject`` puts a :class:`StreamFault` into every open watch, and
  ``inject_on_next_watch`` into the next one opened.
* ``calls`` records every call's kind and a copy of its :class:`ListOptions`.

Streams block on a condition variable (real time, not the test clock) until an event,
a fault or ``close()`` arrives. :class:`RecordingStore` applies what a reflector feeds
it and records every violation of "no event lost, none applied twice".
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec

from fastinformer.errors import ApiError, DecodeError, ExpiredError, api_error
from fastinformer.protocol import (
    ADDED,
    BOOKMARK,
    DELETED,
    ERROR,
    MODIFIED,
    ListOptions,
    ListResult,
    WatchEvent,
    resource_version_of,
)

SUPPORTED = "supported"
REJECTED = "rejected"
IGNORED = "ignored"
NO_ANNOTATION = "no-annotation"
STREAMING_MODES = frozenset((SUPPORTED, REJECTED, IGNORED, NO_ANNOTATION))

Obj = dict[str, Any]


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` (real time) until true; False after ``timeout`` (a deadlock guard)."""
    end = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.002)


def status(code: int, reason: str, message: str, **details: Any) -> Obj:
    """A ``Status`` object as the server puts it in an ERROR event."""
    st: Obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        st["details"] = details
    return st


def too_old_status(rv: str, current: int) -> Obj:
    return status(410, "Expired", f"too old resource version: {rv} ({current})")


def too_large_error(rv: int, current: int) -> ApiError:
    return api_error(
        504,
        "Timeout",
        f"Timeout: Too large resource version: {rv}, current: {current}",
        retry_after=1.0,
        details={
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ],
            "retryAfterSeconds": 1,
        },
    )


@dataclass(frozen=True)
class StreamFault:
    """Something a watch stream does instead of (or before) its next event.

    ``kind``: ``"close"`` (clean end), ``"error"`` (an ERROR event with ``status``, then
    the end), ``"corrupt"`` (the next real event arrives malformed: ``DecodeError``, end),
    ``"unknown"`` (an event of type ``event_type``), ``"raise"`` (``exc`` raised, end).
    """

    kind: str
    status: Obj | None = None
    event_type: str = ""
    exc: BaseException | None = None

    @staticmethod
    def close() -> StreamFault:
        return StreamFault("close")

    @staticmethod
    def error(code: int, reason: str, message: str = "", **details: Any) -> StreamFault:
        return StreamFault("error", status=status(code, reason, message or reason, **details))

    @staticmethod
    def corrupt() -> StreamFault:
        return StreamFault("corrupt")

    @staticmethod
    def unknown(event_type: str = "SURPRISE") -> StreamFault:
        return StreamFault("unknown", event_type=event_type)

    @staticmethod
    def raise_(exc: BaseException) -> StreamFault:
        return StreamFault("raise", exc=exc)


class Call(NamedTuple):
    kind: str  # "list" or "watch"
    options: ListOptions


class FakeWatchStream:
    """One open watch; iterate for events; ``close()`` ends it from any thread."""

    def __init__(
        self,
        server: FakeListerWatcher,
        items: Iterable[WatchEvent | StreamFault],
        options: ListOptions,
    ) -> None:
        self._server = server
        self._cond = server._cond
        self._queue: deque[WatchEvent | StreamFault] = deque(items)
        self.options = options
        self.bookmarks = options.allow_watch_bookmarks
        self.closed = False
        self._corrupt_next = False
        self._end_next = False

    def push(self, item: WatchEvent | StreamFault) -> None:
        """Queue an event or fault (the caller holds the server's lock)."""
        if not self.closed:
            self._queue.append(item)

    def close(self) -> None:
        with self._cond:
            self._finish_locked()

    def _finish_locked(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.clear()
            self._server._streams.remove(self)
        self._cond.notify_all()

    def __iter__(self) -> Iterator[WatchEvent]:
        return self

    def __next__(self) -> WatchEvent:
        with self._cond:
            while True:
                if self.closed or self._end_next:
                    self._finish_locked()
                    raise StopIteration
                if not self._queue:
                    self._cond.wait()
                    continue
                item = self._queue.popleft()
                if isinstance(item, WatchEvent):
                    if self._corrupt_next:
                        self._finish_locked()
                        raise DecodeError(
                            "malformed watch line: unexpected end of JSON input",
                            sample=b'{"type":"' + item.type.encode() + b'","object":{"metad',
                        )
                    return item
                if item.kind == "close":
                    self._finish_locked()
                    raise StopIteration
                if item.kind == "error":
                    self._end_next = True
                    return WatchEvent(ERROR, item.status)
                if item.kind == "corrupt":
                    self._corrupt_next = True
                elif item.kind == "unknown":
                    return WatchEvent(
                        item.event_type,
                        {"metadata": {"name": "mystery"}},
                        "",
                    )
                elif item.kind == "raise":
                    self._finish_locked()
                    assert item.exc is not None
                    raise item.exc
                else:
                    raise AssertionError(f"unknown fault kind {item.kind!r}")


class FakeListerWatcher:
    """An in-memory, scripted API server for one namespaced resource (see module doc)."""

    def __init__(
        self,
        *,
        namespace: str = "default",
        streaming: str = SUPPORTED,
        rv0_ignores_limit: bool = True,
        expire_old_list_rv: bool = True,
        start_rv: int = 100,
    ) -> None:
        if streaming not in STREAMING_MODES:
            raise ValueError(f"streaming must be one of {sorted(STREAMING_MODES)}")
        self.namespace = namespace
        self.streaming = streaming
        self.rv0_ignores_limit = rv0_ignores_limit
        self.expire_old_list_rv = expire_old_list_rv
        self._cond = threading.Condition(threading.RLock())
        self._rv = start_rv
        self._compacted = start_rv
        self._objects: dict[str, Obj] = {}
        self._history: list[WatchEvent] = []
        self._snapshots: dict[str, tuple[int, list[Obj]]] = {}
        self._tokens = 0
        self._streams: list[FakeWatchStream] = []
        self._list_faults: deque[BaseException] = deque()
        self._watch_faults: deque[BaseException] = deque()
        self._next_watch_faults: list[tuple[int | None, StreamFault]] = []
        self.calls: list[Call] = []
        self.list_hook: Callable[[ListOptions], None] | None = None

    # -- server state -----------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        with self._cond:
            return str(self._rv)

    def state(self) -> dict[str, Obj]:
        """Current objects by ``namespace/name``."""
        with self._cond:
            return dict(self._objects)

    def key(self, name: str) -> str:
        return f"{self.namespace}/{name}"

    def create(self, name: str, data: dict[str, str] | None = None) -> Obj:
        with self._cond:
            key = self.key(name)
            if key in self._objects:
                raise ValueError(f"{key} exists")
            return self._write_locked(ADDED, key, name, data or {})

    def update(self, name: str, data: dict[str, str] | None = None) -> Obj:
        with self._cond:
            key = self.key(name)
            if key not in self._objects:
                raise KeyError(key)
            return self._write_locked(MODIFIED, key, name, data or {})

    def delete(self, name: str) -> Obj:
        with self._cond:
            key = self.key(name)
            old = self._objects[key]
            return self._write_locked(DELETED, key, name, old["data"])

    def _write_locked(self, etype: str, key: str, name: str, data: dict[str, str]) -> Obj:
        self._rv += 1
        obj: Obj = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "uid": f"uid-{name}",
                "resourceVersion": str(self._rv),
            },
            "data": dict(data),
        }
        if etype == DELETED:
            del self._objects[key]
        else:
            self._objects[key] = obj
        event = WatchEvent(etype, obj, str(self._rv))
        self._history.append(event)
        for stream in self._streams:
            stream.push(event)
        self._cond.notify_all()
        return obj

    def bump(self, n: int = 1) -> None:
        """Advance the resourceVersion as writes to other resources would."""
        with self._cond:
            self._rv += n

    def bookmark(self) -> None:
        """Send a BOOKMARK at the current resourceVersion to watches that want them."""
        with self._cond:
            event = WatchEvent(BOOKMARK, self._bookmark_object_locked(False), str(self._rv))
            for stream in self._streams:
                if stream.bookmarks:
                    stream.push(event)
            self._cond.notify_all()

    def _bookmark_object_locked(self, initial_events_end: bool) -> Obj:
        md: Obj = {"resourceVersion": str(self._rv)}
        if initial_events_end:
            md["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"kind": "ConfigMap", "apiVersion": "v1", "metadata": md}

    def compact(self) -> None:
        """Forget the history: resourceVersions older than now become 410."""
        with self._cond:
            self._compacted = self._rv
            self._history.clear()

    def expire_continue_tokens(self) -> None:
        with self._cond:
            self._snapshots.clear()

    # -- scripting ----------------------------------------------------------------------------

    def fail_next_list(self, *excs: BaseException) -> None:
        with self._cond:
            self._list_faults.extend(excs)

    def fail_next_watch(self, *excs: BaseException) -> None:
        with self._cond:
            self._watch_faults.extend(excs)

    def inject(self, fault: StreamFault) -> int:
        """Put ``fault`` into every open watch; return how many got it."""
        with self._cond:
            for stream in self._streams:
                stream.push(fault)
            self._cond.notify_all()
            return len(self._streams)

    def inject_on_next_watch(self, fault: StreamFault, position: int | None = None) -> None:
        """Put ``fault`` into the next watch opened: at ``position`` among its replayed
        events, or after them (None)."""
        with self._cond:
            self._next_watch_faults.append((position, fault))

    def end_watches(self) -> int:
        """Close every open watch cleanly after what it has queued (a server timeout)."""
        return self.inject(StreamFault.close())

    @property
    def open_watches(self) -> int:
        with self._cond:
            return len(self._streams)

    def count(self, kind: str) -> int:
        with self._cond:
            return sum(1 for c in self.calls if c.kind == kind)

    def options(self, kind: str) -> list[ListOptions]:
        with self._cond:
            return [c.options for c in self.calls if c.kind == kind]

    def wait_for_open_watch(self, n: int = 1, timeout: float = 10.0) -> bool:
        """Wait until ``n`` watches are open, with all they have queued consumed."""

        def ready() -> bool:
            with self._cond:
                return len(self._streams) >= n and all(not s._queue for s in self._streams)

        return wait_for(ready, timeout)

    def wait_for_calls(self, kind: str, n: int, timeout: float = 10.0) -> bool:
        return wait_for(lambda: self.count(kind) >= n, timeout)

    # -- ListerWatcher ------------------------------------------------------------------------

    def _sorted_state_locked(self) -> list[Obj]:
        return [self._objects[k] for k in sorted(self._objects)]

    def list(self, options: ListOptions) -> ListResult:
        with self._cond:
            self.calls.append(Call("list", msgspec.structs.replace(options)))
            if self.list_hook is not None:
                self.list_hook(options)
            if self._list_faults:
                raise self._list_faults.popleft()
            limit = options.limit
            if options.continue_:
                if options.resource_version or options.resource_version_match:
                    raise api_error(
                        400,
                        "BadRequest",
                        "specifying resource version is not allowed when using continue",
                    )
                snap = self._snapshots.pop(options.continue_, None)
                if snap is None or snap[0] < self._compacted:
                    raise ExpiredError(
                        410,
                        "Expired",
                        "The provided continue parameter is too old to display "
                        "a consistent list result.",
                    )
                rv, items = snap
            else:
                wanted = options.resource_version or ""
                rv = self._rv
                items = self._sorted_state_locked()
                if wanted == "0":
                    if self.rv0_ignores_limit:
                        limit = None
                elif wanted:
                    n = self._parse_rv(wanted)
                    if n > self._rv:
                        raise too_large_error(n, self._rv)
                    if n < self._compacted and self.expire_old_list_rv:
                        raise ExpiredError(
                            410, "Expired", "The resourceVersion for the provided list is too old."
                        )
            if limit is None or limit <= 0 or len(items) <= limit:
                return ListResult(list(items), str(rv))
            page, rest = items[:limit], items[limit:]
            self._tokens += 1
            token = f"token-{self._tokens}"
            self._snapshots[token] = (rv, rest)
            return ListResult(page, str(rv), token, len(rest))

    def watch(self, options: ListOptions) -> FakeWatchStream:
        with self._cond:
            self.calls.append(Call("watch", msgspec.structs.replace(options)))
            if self._watch_faults:
                raise self._watch_faults.popleft()
            wanted = options.resource_version or ""
            items: list[WatchEvent | StreamFault]
            streaming = options.send_initial_events is True and self.streaming != IGNORED
            if streaming and self.streaming == REJECTED:
                raise api_error(
                    422,
                    "Invalid",
                    'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: '
                    "Forbidden: sendInitialEvents is forbidden for watch unless the WatchList "
                    "feature gate is enabled",
                )
            if streaming:
                if options.resource_version_match != "NotOlderThan":
                    raise api_error(422, "Invalid", "resourceVersionMatch: Forbidden")
                if wanted and self._parse_rv(wanted) > self._rv:
                    raise too_large_error(self._parse_rv(wanted), self._rv)
                items = [
                    WatchEvent(ADDED, o, resource_version_of(o))
                    for o in self._sorted_state_locked()
                ]
                end = self.streaming == SUPPORTED
                items.append(
                    WatchEvent(BOOKMARK, self._bookmark_object_locked(end), str(self._rv), end)
                )
            elif wanted in ("", "0"):
                items = [
                    WatchEvent(ADDED, o, resource_version_of(o))
                    for o in self._sorted_state_locked()
                ]
            else:
                n = self._parse_rv(wanted)
                if n < self._compacted:
                    items = [StreamFault("error", status=too_old_status(wanted, self._compacted))]
                else:
                    items = [e for e in self._history if int(e.resource_version) > n]
            for position, fault in self._next_watch_faults:
                if position is None:
                    items.append(fault)
                else:
                    items.insert(position, fault)
            self._next_watch_faults.clear()
            stream = FakeWatchStream(self, items, msgspec.structs.replace(options))
            self._streams.append(stream)
            self._cond.notify_all()
            return stream

    @staticmethod
    def _parse_rv(rv: str) -> int:
        try:
            return int(rv)
        except ValueError:
            raise api_error(400, "BadRequest", f"invalid resource version: {rv!r}") from None


class RecordingStore:
    """A store that applies the reflector's calls and records rule violations.

    ``violations`` lists every add of a present key, update or delete of an absent key,
    and event whose resourceVersion is not above everything applied before it (an event
    applied twice or out of order). ``ops`` is the call log.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: dict[str, Obj] = {}
        self.ops: list[tuple[str, str]] = []
        self.violations: list[str] = []
        self.replaces: list[tuple[list[str], str]] = []
        self.resyncs = 0
        self._last_rv = -1

    @staticmethod
    def key(obj: Obj) -> str:
        md = obj["metadata"]
        return f"{md['namespace']}/{md['name']}"

    def _check_rv_locked(self, op: str, obj: Obj) -> None:
        rv = int(resource_version_of(obj))
        if rv <= self._last_rv:
            self.violations.append(f"{op} {self.key(obj)} at {rv} after {self._last_rv}")
        self._last_rv = max(rv, self._last_rv)

    def replace(self, items: list[Any], resource_version: str) -> None:
        with self.lock:
            self.items = {self.key(o): o for o in items}
            self.replaces.append((sorted(self.items), resource_version))
            self.ops.append(("replace", resource_version))
            self._last_rv = int(resource_version)

    def add(self, obj: Obj) -> None:
        with self.lock:
            key = self.key(obj)
            self.ops.append(("add", key))
            if key in self.items:
                self.violations.append(f"add of present {key}")
            self._check_rv_locked("add", obj)
            self.items[key] = obj

    def update(self, obj: Obj) -> None:
        with self.lock:
            key = self.key(obj)
            self.ops.append(("update", key))
            if key not in self.items:
                self.violations.append(f"update of absent {key}")
            self._check_rv_locked("update", obj)
            self.items[key] = obj

    def delete(self, obj: Obj) -> None:
        with self.lock:
            key = self.key(obj)
            self.ops.append(("delete", key))
            if key not in self.items:
                self.violations.append(f"delete of absent {key}")
            self._check_rv_locked("delete", obj)
            self.items.pop(key, None)

    def resync(self) -> None:
        with self.lock:
            self.resyncs += 1
            self.ops.append(("resync", ""))

    def snapshot(self) -> dict[str, Obj]:
        with self.lock:
            return dict(self.items)

    def count(self, op: str) -> int:
        with self.lock:
            return sum(1 for o, _ in self.ops if o == op)
