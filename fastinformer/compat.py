"""Drop-in replacement for ``kubernetes.informer``: change the import, keep the code.

``SharedInformer(list_func, namespace=None, resync_period=0, label_selector=None,
field_selector=None, key_func=None)`` takes the same bound list method of the kubernetes
client (``CoreV1Api().list_namespaced_config_map``, ``list_pod_for_all_namespaces``...)
and fires the same ``ADDED``/``MODIFIED``/``DELETED``/``BOOKMARK``/``ERROR`` callbacks,
on fastinformer's engine. Handlers receive typed objects with the client models'
attribute names (``obj.metadata.name``, ``pod.spec.node_name``).

Differences, all in the user's favour: the watch resumes without relisting and relists
after 410 without losing deletions; ``resync_period`` re-fires ``MODIFIED`` for cached
objects without an API call; handlers run on their own thread, never on the watch's.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import logging
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

from fastinformer.informer import SharedIndexInformer, unwrap_tombstone
from fastinformer.keys import meta_namespace_key
from fastinformer.listwatch import ListWatch
from fastinformer.protocol import (
    ADDED,
    BOOKMARK,
    DELETED,
    ERROR,
    MODIFIED,
    ListerWatcher,
    ListOptions,
    ListResult,
    WatchEvent,
    WatchStream,
)
from fastinformer.resources import Resource, resource_for
from fastinformer.store import Indexer
from fastinformer.transport import Transport

__all__ = ["ADDED", "BOOKMARK", "DELETED", "ERROR", "MODIFIED", "ObjectCache", "SharedInformer"]

log = logging.getLogger("fastinformer.compat")

_EVENT_TYPES = (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR)

# API class prefix (CoreV1Api -> "Core") to API group.
_GROUPS = {
    "Core": "",
    "Apps": "apps",
    "Batch": "batch",
    "Coordination": "coordination.k8s.io",
    "Networking": "networking.k8s.io",
    "RbacAuthorization": "rbac.authorization.k8s.io",
    "Policy": "policy",
    "Storage": "storage.k8s.io",
    "Autoscaling": "autoscaling",
    "Events": "events.k8s.io",
    "Discovery": "discovery.k8s.io",
    "Scheduling": "scheduling.k8s.io",
    "Node": "node.k8s.io",
    "Certificates": "certificates.k8s.io",
    "Apiextensions": "apiextensions.k8s.io",
    "Admissionregistration": "admissionregistration.k8s.io",
}
_CLASS_RE = re.compile(r"^(?P<group>[A-Z][A-Za-z]*?)(?P<version>V\d+(?:(?:alpha|beta)\d+)?)Api$")
_METHOD_RE = re.compile(r"^list_(?:namespaced_)?(?P<kind>[a-z0-9_]+?)(?:_for_all_namespaces)?$")


class ObjectCache:
    """The informer's cache with ``kubernetes.informer.ObjectCache``'s read API."""

    def __init__(self, indexer: Indexer, key_func: Callable[[Any], str]) -> None:
        self._indexer = indexer
        self._key_func = key_func

    def list(self) -> builtins.list[Any]:
        """A snapshot list of every cached object."""
        return self._indexer.list()

    def list_keys(self) -> builtins.list[str]:
        """A snapshot list of every cache key."""
        return self._indexer.list_keys()

    def get(self, obj: Any) -> Any:
        """The cached copy of ``obj`` (looked up by its key), or None."""
        return self._indexer.get_by_key(self._key_func(obj))

    def get_by_key(self, key: str) -> Any:
        """The cached object with ``key``, or None."""
        return self._indexer.get_by_key(key)


def _resource_of(list_func: Callable[..., Any]) -> tuple[Resource, Any]:
    """Resolve a bound kubernetes-client list method to (resource, ApiClient)."""
    kwargs: dict[str, Any] = {}
    func = list_func
    while isinstance(func, functools.partial):
        kwargs = {**func.keywords, **kwargs}
        func = func.func
    api = getattr(func, "__self__", None)
    name = getattr(func, "__name__", "")
    if api is None or not hasattr(api, "api_client"):
        raise TypeError(
            "list_func must be a bound list method of a kubernetes client API object, "
            f"such as CoreV1Api().list_namespaced_pod; got {list_func!r}"
        )
    if type(api).__name__ == "CustomObjectsApi":
        try:
            group, version, plural = kwargs["group"], kwargs["version"], kwargs["plural"]
        except KeyError as exc:
            raise TypeError(
                "for custom objects pass functools.partial(api.list_namespaced_custom_object "
                "or api.list_cluster_custom_object, group=..., version=..., plural=...)"
            ) from exc
        namespaced = "namespaced" in name
        kind = str(kwargs.get("kind", plural))
        return Resource(group, version, plural, kind, namespaced), api.api_client
    cls = _CLASS_RE.match(type(api).__name__)
    meth = _METHOD_RE.match(name)
    if cls is None or meth is None:
        raise TypeError(f"cannot tell which resource {type(api).__name__}.{name} lists")
    kind = "".join(part.capitalize() for part in meth.group("kind").split("_"))
    group = _GROUPS.get(cls.group("group"), cls.group("group").lower())
    version = cls.group("version").lower()
    gv = f"{group}/{version}" if group else version
    return resource_for(f"{gv}/{kind}"), api.api_client


class _BookmarkTap:
    """Wraps a ListerWatcher to report bookmarks (the engine itself only records them)."""

    def __init__(self, inner: ListerWatcher, on_bookmark: Callable[[WatchEvent], None]) -> None:
        self._inner = inner
        self._on_bookmark = on_bookmark

    def list(self, options: ListOptions) -> ListResult:
        return self._inner.list(options)

    def watch(self, options: ListOptions) -> WatchStream:
        return _TappedStream(self._inner.watch(options), self._on_bookmark)


class _TappedStream:
    def __init__(self, inner: WatchStream, on_bookmark: Callable[[WatchEvent], None]) -> None:
        self._inner = inner
        self._on_bookmark = on_bookmark

    def __iter__(self) -> Iterator[WatchEvent]:
        for ev in self._inner:
            if ev.type == BOOKMARK:
                self._on_bookmark(ev)
            yield ev

    def close(self) -> None:
        self._inner.close()


class SharedInformer:
    """Watches one resource into a local cache and calls handlers per event type.

    Same constructor, methods and callbacks as ``kubernetes.informer.SharedInformer``.
    """

    def __init__(
        self,
        list_func: Callable[..., Any],
        namespace: str | None = None,
        resync_period: float = 0,
        label_selector: str | None = None,
        field_selector: str | None = None,
        key_func: Callable[[Any], str] | None = None,
    ) -> None:
        resource, api_client = _resource_of(list_func)
        self._list_func = list_func
        self._key_func = key_func or meta_namespace_key
        self._handlers: dict[str, list[Callable[[Any], Any]]] = {t: [] for t in _EVENT_TYPES}
        self._handler_lock = threading.Lock()
        self._transport = Transport(api_client)
        from fastinformer.decode import decoder_for

        try:
            decoder = decoder_for(resource, mode="typed")
        except (KeyError, ValueError):
            decoder = decoder_for(resource, mode="dict")
        lw = ListWatch(
            self._transport,
            resource,
            namespace=namespace if resource.namespaced else None,
            label_selector=label_selector,
            field_selector=field_selector,
            decoder=decoder,
        )
        self._informer = SharedIndexInformer(
            _BookmarkTap(lw, self._on_bookmark),
            resync_period=float(resync_period or 0),
            key_func=self._key_func,
            name=f"compat-{resource.plural}",
            watch_error_handler=self._on_watch_error,
        )
        self._cache = ObjectCache(self._informer.get_indexer(), self._key_func)
        self._informer.add_event_handler(
            on_add=lambda obj: self._fire(ADDED, obj),
            on_update=lambda old, new: self._fire(MODIFIED, new),
            on_delete=lambda obj: self._fire(DELETED, unwrap_tombstone(obj)),
            name=f"compat-{resource.plural}",
        )
        self._started = False

    @property
    def cache(self) -> ObjectCache:
        """The :class:`ObjectCache` kept in sync with the server."""
        return self._cache

    @property
    def informer(self) -> SharedIndexInformer:
        """The fastinformer engine underneath (indexes, listers, has_synced...)."""
        return self._informer

    def add_event_handler(self, event_type: str, handler: Callable[[Any], Any]) -> None:
        """Call ``handler(obj)`` for every event of ``event_type`` (ERROR: the exception)."""
        if event_type not in self._handlers:
            known = ", ".join(sorted(self._handlers))
            raise ValueError(f"Unknown event_type {event_type!r}. Use one of: {known}")
        with self._handler_lock:
            self._handlers[event_type].append(handler)

    def remove_event_handler(self, event_type: str, handler: Callable[[Any], Any]) -> None:
        """Deregister ``handler``; no-op when it is not registered."""
        with self._handler_lock, contextlib.suppress(KeyError, ValueError):
            self._handlers[event_type].remove(handler)

    def start(self) -> None:
        """Start watching in background threads; a second call is a no-op."""
        if self._started:
            return
        self._started = True
        self._informer.start()

    def stop(self) -> None:
        """Stop watching and join the threads."""
        self._informer.stop()
        self._transport.close()

    def has_synced(self) -> bool:
        """The initial list has been applied to the cache (fastinformer addition)."""
        return self._informer.has_synced()

    def wait_for_cache_sync(self, timeout: float | None = None) -> bool:
        """Block until synced or timeout (fastinformer addition)."""
        return self._informer.wait_for_cache_sync(timeout)

    def _fire(self, event_type: str, obj: Any) -> None:
        with self._handler_lock:
            handlers = list(self._handlers[event_type])
        for fn in handlers:
            try:
                fn(obj)
            except Exception:
                log.exception("Exception in informer handler for %s", event_type)

    def _on_bookmark(self, ev: WatchEvent) -> None:
        self._fire(BOOKMARK, {"metadata": {"resourceVersion": ev.resource_version}})

    def _on_watch_error(self, _reflector: Any, exc: BaseException) -> None:
        log.warning("watch error on %s: %s", self._informer.name, exc)
        self._fire(ERROR, exc)
