"""Shared pieces of the informer tests against the embedded simulator.

``HandlerLog`` checks that the notifications one handler receives form a legal history
per key and remembers its last view; ``plain`` turns a cached object (typed struct or
dict) into what the server would send without ``managedFields`` and nulls, so a cache
can be compared with the server's state exactly.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from fastinformer.backoff import Backoff
from fastinformer.decode import DecodeMode, decoder_for
from fastinformer.informer import SharedIndexInformer
from fastinformer.keys import DeletedFinalStateUnknown, meta_namespace_key
from fastinformer.listwatch import ListWatch
from fastinformer.protocol import Decoder, ListMeta, WatchEvent, resource_version_of
from fastinformer.sim import Simulator
from fastinformer.sim.server import RecordedRequest
from fastinformer.transport import Transport

GONE = "<deleted>"
"""A handler's last view of a key whose last notification was a delete."""


def plain(obj: Any) -> Any:
    """``obj`` as JSON-like builtins, without ``managedFields``, null values, ``kind`` and
    ``apiVersion`` (list items carry no type, like a real server's; watch objects do)."""
    data = msgspec.to_builtins(obj) if isinstance(obj, msgspec.Struct) else obj
    return _strip(data, top=True)


def _strip(value: Any, top: bool = False) -> Any:
    if isinstance(value, dict):
        out = {k: _strip(v) for k, v in value.items() if v is not None}
        if top:
            out.pop("kind", None)
            out.pop("apiVersion", None)
            if isinstance(out.get("metadata"), dict):
                out["metadata"].pop("managedFields", None)
        return out
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def server_state(
    sim: Simulator, resource: str = "pods", namespace: str | None = None
) -> dict[str, Any]:
    """Key -> plain object of every ``resource`` object the server holds now."""
    return {meta_namespace_key(o): plain(o) for o in sim.store.list(resource, namespace)}


def cache_state(informer: SharedIndexInformer) -> dict[str, Any]:
    """Key -> plain object of every object in the informer's cache."""
    return {meta_namespace_key(o): plain(o) for o in informer.get_store().list()}


def server_versions(sim: Simulator, resource: str = "pods") -> dict[str, str]:
    """Key -> resourceVersion of every ``resource`` object on the server (cheap)."""
    rtype = sim.store.resolve(resource)
    return {
        (f"{s.namespace}/{s.name}" if s.namespace else s.name): str(s.rv)
        for s in sim.store.page(rtype).items
    }


def cache_versions(informer: SharedIndexInformer) -> dict[str, str]:
    """Key -> resourceVersion of every cached object (cheap)."""
    return {meta_namespace_key(o): resource_version_of(o) for o in informer.get_store().list()}


class HandlerLog:
    """One handler: records add/update/delete per key and flags illegal sequences.

    Legal per key: add, then updates, then a delete, then possibly add again. An update
    must carry as ``old`` the object this handler last received for the key. Tombstones
    (``DeletedFinalStateUnknown``) count as deletes.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.view: dict[str, Any] = {}  # key -> last object received, or GONE
        self.history: dict[str, list[str]] = {}
        self.violations: list[str] = []
        self.counts = {"add": 0, "update": 0, "delete": 0, "tombstone": 0}

    def _note(self, key: str, kind: str) -> None:
        self.history.setdefault(key, []).append(kind)
        self.counts[kind] += 1

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None:
        key = meta_namespace_key(obj)
        with self.lock:
            if self.view.get(key, GONE) is not GONE:
                self.violations.append(f"add of present key {key}: {self.history[key][-5:]}")
            self._note(key, "add")
            self.view[key] = obj

    def on_update(self, old: Any, new: Any) -> None:
        key = meta_namespace_key(new)
        with self.lock:
            last = self.view.get(key, GONE)
            if last is GONE:
                self.violations.append(f"update of absent key {key}")
            elif resource_version_of(old) != resource_version_of(last):
                self.violations.append(
                    f"update of {key} from {resource_version_of(old)}, "
                    f"but the handler last saw {resource_version_of(last)}"
                )
            self._note(key, "update")
            self.view[key] = new

    def on_delete(self, obj: Any) -> None:
        tombstone = isinstance(obj, DeletedFinalStateUnknown)
        key = obj.key if tombstone else meta_namespace_key(obj)
        with self.lock:
            if self.view.get(key, GONE) is GONE:
                self.violations.append(f"delete of absent key {key}")
            self._note(key, "tombstone" if tombstone else "delete")
            self.view[key] = GONE

    def present(self) -> dict[str, Any]:
        """Key -> plain object of every key whose last notification was not a delete."""
        with self.lock:
            return {k: plain(v) for k, v in self.view.items() if v is not GONE}

    def versions(self) -> dict[str, str]:
        """Key -> resourceVersion of every key whose last notification was not a delete."""
        with self.lock:
            return {k: resource_version_of(v) for k, v in self.view.items() if v is not GONE}

    def deleted_keys(self) -> set[str]:
        with self.lock:
            return {k for k, v in self.view.items() if v is GONE}

    def snapshot_counts(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)


class LineRewriter:
    """A decoder wrapping the real one that can rewrite the next watch line of one type.

    The simulator cannot send unknown event types or non-410 ERROR events; this puts
    such a line in place of a real one, right where the client decodes the stream.
    """

    def __init__(self, inner: Decoder) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._rules: list[tuple[bytes, Callable[[bytes], bytes]]] = []
        self.rewritten: list[bytes] = []

    def rewrite_next(self, event_type: str, rewrite: Callable[[bytes], bytes]) -> None:
        """Pass the next line of ``event_type`` through ``rewrite`` (once)."""
        with self._lock:
            self._rules.append((b'"type":"%s"' % event_type.encode(), rewrite))

    def decode_list(self, data: bytes) -> tuple[list[Any], ListMeta]:
        return self._inner.decode_list(data)

    def decode_event(self, line: bytes) -> WatchEvent:
        with self._lock:
            for i, (marker, rewrite) in enumerate(self._rules):
                if marker in line[:40]:
                    del self._rules[i]
                    line = rewrite(bytes(line))
                    self.rewritten.append(line)
                    break
        return self._inner.decode_event(line)


class SyncedSampler:
    """Samples ``informer.has_synced()`` every 5 ms in a thread; ``stop()`` returns the set
    of values seen."""

    def __init__(self, informer: SharedIndexInformer) -> None:
        self.seen: set[bool] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(informer,), daemon=True)
        self._thread.start()

    def _run(self, informer: SharedIndexInformer) -> None:
        while not self._stop.wait(0.005):
            self.seen.add(informer.has_synced())

    def stop(self) -> set[bool]:
        self._stop.set()
        self._thread.join(5)
        return self.seen


def fast_options(seed: int = 0, **extra: Any) -> dict[str, Any]:
    """Reflector options with a short, seeded backoff (the real one starts at 0.8 s)."""
    rng = random.Random(seed)
    options: dict[str, Any] = {
        "backoff": Backoff(initial=0.02, maximum=0.3, rng=rng),
        "rng": rng,
    }
    options.update(extra)
    return options


def pod_informer(
    transport: Transport,
    *,
    mode: DecodeMode = "typed",
    namespace: str | None = None,
    label_selector: str | None = None,
    field_selector: str | None = None,
    decoder: Decoder | None = None,
    seed: int = 0,
    resync_period: float = 0.0,
    **reflector_options: Any,
) -> SharedIndexInformer:
    """A pods informer over ``transport`` with fast retries."""
    lw = ListWatch(
        transport,
        "pods",
        namespace=namespace,
        label_selector=label_selector,
        field_selector=field_selector,
        decoder=decoder if decoder is not None else decoder_for("pods", mode=mode),
    )
    return SharedIndexInformer(
        lw,
        name=f"pods-{mode}",
        resync_period=resync_period,
        reflector_options=fast_options(seed, **reflector_options),
    )


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll ``predicate`` until true (True) or ``timeout`` real seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def pod_requests(sim: Simulator, path_suffix: str = "/pods") -> Iterator[RecordedRequest]:
    """The GET requests on pod collections the server received, oldest first."""
    for req in sim.requests:
        if req.method == "GET" and req.path.endswith(path_suffix):
            yield req


def is_watch(req: RecordedRequest) -> bool:
    return req.query.get("watch") in ("1", "true")


def is_streaming_list(req: RecordedRequest) -> bool:
    return is_watch(req) and req.query.get("sendInitialEvents") == "true"


def is_full_sync(req: RecordedRequest) -> bool:
    """A LIST (its first page) or a streaming list."""
    return is_streaming_list(req) or (not is_watch(req) and "continue" not in req.query)
