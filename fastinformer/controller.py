"""Controller: informers feed a rate-limited workqueue of keys; worker threads reconcile them.

What a controller guarantees (the workqueue's semantics, see :mod:`fastinformer.workqueue`):

* a key is never reconciled by two workers at once; a key changed while it is being
  reconciled is reconciled once more afterwards;
* ``reconcile(key)`` returning None or ``Result()`` means done: the key's failure history
  is forgotten; ``Result(requeue_after=s)`` reconciles it again after ``s`` seconds;
  ``Result(requeue=True)`` and any exception requeue it with the rate limiter
  (exponential per-key backoff, overall token bucket); exceptions are logged with the key;
* workers start only once every watched informer's cache has synced and each handler has
  seen its initial list; :meth:`Controller.stop` lets in-flight and queued work finish
  (``shut_down_with_drain``).

Event sources, as controller-runtime's builder: :meth:`Controller.watch_primary` (For:
the object's own key), :meth:`Controller.watch_owned` (Owns: the key of the owner named by
the object's ``ownerReferences`` entry with ``controller: true`` and the given kind) and
:meth:`Controller.watch_mapped` (Watches with a map function returning keys).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from fastinformer.clock import REAL_CLOCK, Clock
from fastinformer.informer import HandlerRegistration, SharedIndexInformer, unwrap_tombstone
from fastinformer.keys import meta_namespace_key
from fastinformer.metrics import track_queue
from fastinformer.resources import Resource, resource_for
from fastinformer.workqueue import RateLimitingQueue
from fastinformer.workqueue.metrics import MetricsProvider
from fastinformer.workqueue.rate_limiters import RateLimiterLike

__all__ = [
    "Controller",
    "MapFunc",
    "Predicate",
    "Reconciler",
    "Result",
    "owner_key_func",
]

log = logging.getLogger("fastinformer.controller")

Predicate = Callable[[Any], bool]
"""Decides whether an object's event is enqueued at all."""

MapFunc = Callable[[Any], Iterable[str]]
"""Maps an object to the keys it should enqueue."""


@dataclass(frozen=True, slots=True)
class Result:
    """What a reconcile asks for next: nothing (the default), a rate-limited requeue
    (``requeue=True``), or a plain requeue after ``requeue_after`` seconds (which wins)."""

    requeue: bool = False
    requeue_after: float | None = None

    def __post_init__(self) -> None:
        after = self.requeue_after
        if after is not None and (
            isinstance(after, bool) or not isinstance(after, int | float) or not after >= 0
        ):
            raise ValueError(f"requeue_after must be None or >= 0 seconds, got {after!r}")


class Reconciler(Protocol):
    """``reconcile(key)``: bring the object named by ``key`` to its desired state."""

    def __call__(self, key: str) -> Result | None: ...


def _get(obj: Any, attr: str, json_name: str) -> Any:
    """A field of a dict (JSON name) or of a typed object (attribute name)."""
    if isinstance(obj, dict):
        return obj.get(json_name)
    return getattr(obj, attr, None)


def _group_of(api_version: str) -> str:
    group, _, _ = api_version.rpartition("/")
    return group


def owner_key_func(owner: Resource) -> MapFunc:
    """A map function giving the key of the controlling owner of kind ``owner`` (or none).

    The owner is the ``ownerReferences`` entry with ``controller: true`` whose kind and
    API group are ``owner``'s; its key is ``namespace/name`` (the owned object's
    namespace) for a namespaced owner, ``name`` otherwise.
    """
    kind, group, namespaced = owner.kind, owner.group, owner.namespaced

    def keys(obj: Any) -> list[str]:
        meta = _get(obj, "metadata", "metadata")
        if meta is None:
            return []
        refs = _get(meta, "owner_references", "ownerReferences") or ()
        for ref in refs:
            if not _get(ref, "controller", "controller"):
                continue
            if _get(ref, "kind", "kind") != kind:
                continue
            if _group_of(_get(ref, "api_version", "apiVersion") or "") != group:
                continue
            name = _get(ref, "name", "name")
            if not name:
                return []
            if not namespaced:
                return [name]
            namespace = _get(meta, "namespace", "namespace")
            return [f"{namespace}/{name}"] if namespace else []
        return []

    return keys


def _primary_keys(obj: Any) -> list[str]:
    return [meta_namespace_key(obj)]


class _Source:
    """One watched informer, how its objects map to keys, and its handler registration."""

    def __init__(
        self,
        informer: SharedIndexInformer,
        map_func: MapFunc,
        predicate: Predicate | None,
        label: str,
    ) -> None:
        self.informer = informer
        self.map_func = map_func
        self.predicate = predicate
        self.label = label
        self.registration: HandlerRegistration | None = None


class Controller:
    """Reconciles keys taken from a rate-limited workqueue with ``workers`` threads.

    ``reconcile(key) -> Result | None`` is called with ``"namespace/name"`` (or ``"name"``)
    keys. ``rate_limiter`` defaults to client-go's default controller rate limiter; the
    queue is named after the controller, so workqueue metrics are recorded when a
    metrics provider is installed (see :func:`fastinformer.metrics.enable_prometheus_metrics`).
    Lifecycle: add sources, then :meth:`start` (non-blocking) and :meth:`stop`, or
    :meth:`run` (blocking). A controller runs once; it cannot be restarted.
    """

    def __init__(
        self,
        name: str,
        reconcile: Reconciler | Callable[[str], Result | None],
        *,
        workers: int = 1,
        rate_limiter: RateLimiterLike | None = None,
        clock: Clock | None = None,
        metrics_provider: MetricsProvider | None = None,
        cache_sync_timeout: float | None = None,
    ) -> None:
        if not name or not isinstance(name, str):
            raise ValueError("a controller needs a non-empty name")
        if not callable(reconcile):
            raise TypeError(f"reconcile must be callable, got {reconcile!r}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an int >= 1, got {workers!r}")
        self.name = name
        self.workers = workers
        self._reconcile = reconcile
        self._clock = clock or REAL_CLOCK
        self._cache_sync_timeout = cache_sync_timeout
        self.queue = RateLimitingQueue(rate_limiter, name, clock, metrics_provider)
        self._sources: list[_Source] = []
        self._lock = threading.Lock()
        self._started = False
        self._stopping = threading.Event()
        self._workers_started = threading.Event()
        self._threads: list[threading.Thread] = []
        self._untrack_queue: Callable[[], None] | None = None

    # -- sources ---------------------------------------------------------------------

    def watch_primary(
        self, informer: SharedIndexInformer, *, predicate: Predicate | None = None
    ) -> Controller:
        """Enqueue the key of every object of ``informer`` that changes (controller-runtime
        ``For``). Returns the controller, for chaining."""
        return self._add_source(informer, _primary_keys, predicate, "primary")

    def watch_owned(
        self,
        informer: SharedIndexInformer,
        owner: Resource | str,
        *,
        predicate: Predicate | None = None,
    ) -> Controller:
        """Enqueue the key of the controlling owner of every object of ``informer`` that
        changes (controller-runtime ``Owns``). ``owner``: the owner's resource
        (``"apps/v1/replicasets"``, ``"ReplicaSet"``, a :class:`Resource`)."""
        res = resource_for(owner) if isinstance(owner, str) else owner
        return self._add_source(informer, owner_key_func(res), predicate, f"owned-by-{res.kind}")

    def watch_mapped(
        self,
        informer: SharedIndexInformer,
        map_func: MapFunc,
        *,
        predicate: Predicate | None = None,
    ) -> Controller:
        """Enqueue every key ``map_func(obj)`` returns for each object of ``informer`` that
        changes (controller-runtime ``Watches`` with a map function)."""
        if not callable(map_func):
            raise TypeError(f"map_func must be callable, got {map_func!r}")
        return self._add_source(informer, map_func, predicate, "mapped")

    def _add_source(
        self,
        informer: SharedIndexInformer,
        map_func: MapFunc,
        predicate: Predicate | None,
        label: str,
    ) -> Controller:
        if predicate is not None and not callable(predicate):
            raise TypeError(f"predicate must be callable, got {predicate!r}")
        with self._lock:
            if self._started:
                raise RuntimeError(f"controller {self.name}: add sources before start()")
            self._sources.append(_Source(informer, map_func, predicate, label))
        return self

    # -- queue -----------------------------------------------------------------------

    def enqueue(self, key: str) -> None:
        """Queue ``key`` for reconciliation (deduplicated with keys already queued)."""
        self.queue.add(key)

    def enqueue_after(self, key: str, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds."""
        self.queue.add_after(key, delay)

    def _enqueue_for(self, source: _Source, *objs: Any) -> None:
        """Enqueue the keys of ``objs`` (tombstones are unwrapped) that pass ``source``'s
        predicate; keys shared by several objects are added once."""
        try:
            keys: set[str] = set()
            for obj in objs:
                obj = unwrap_tombstone(obj)
                if source.predicate is None or source.predicate(obj):
                    keys.update(source.map_func(obj))
        except Exception:
            log.exception(
                "controller %s: mapping a %s event to keys failed", self.name, source.label
            )
            return
        add = self.queue.add
        for key in keys:
            add(key)

    def _register_locked(self, source: _Source) -> None:
        def on_add(obj: Any) -> None:
            self._enqueue_for(source, obj)

        def on_update(old: Any, new: Any) -> None:
            self._enqueue_for(source, old, new)

        def on_delete(obj: Any) -> None:
            self._enqueue_for(source, obj)

        source.registration = source.informer.add_event_handler(
            on_add=on_add,
            on_update=on_update,
            on_delete=on_delete,
            name=f"{self.name}-{source.label}",
        )

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Register handlers, start the informers (idempotent for each), and start the
        workers once every cache has synced. Non-blocking. Raises if already started."""
        with self._lock:
            if self._started:
                raise RuntimeError(f"controller {self.name} was already started")
            if self._stopping.is_set():
                raise RuntimeError(f"controller {self.name} was stopped; it cannot start")
            if not self._sources:
                raise RuntimeError(f"controller {self.name} watches nothing: add a source")
            self._started = True
            for source in self._sources:
                self._register_locked(source)
            self._untrack_queue = track_queue(self.queue)  # metrics refresh its gauges
        for source in self._sources:
            source.informer.start()
        starter = threading.Thread(
            target=self._start_workers, name=f"fastinformer-controller-{self.name}", daemon=True
        )
        starter.start()

    def _start_workers(self) -> None:
        if not self.wait_for_cache_sync(self._cache_sync_timeout):
            if not self._stopping.is_set():
                log.error(
                    "controller %s: caches did not sync within %s s; not starting workers",
                    self.name,
                    self._cache_sync_timeout,
                )
            return
        with self._lock:
            if self._stopping.is_set():
                return
            for i in range(self.workers):
                t = threading.Thread(
                    target=self._work, name=f"fastinformer-controller-{self.name}-{i}", daemon=True
                )
                t.start()
                self._threads.append(t)
            self._workers_started.set()
        log.info("controller %s: caches synced; %d workers started", self.name, self.workers)

    def has_synced(self) -> bool:
        """Every source's informer has synced and its handler has seen its initial list."""
        return all(
            s.registration is not None and s.registration.has_synced() for s in self._sources
        )

    def wait_for_cache_sync(self, timeout: float | None = None) -> bool:
        """Block until :meth:`has_synced` (True), or ``timeout`` seconds / :meth:`stop` (False)."""
        deadline = None if timeout is None else self._clock.now() + timeout
        while not self.has_synced():
            if self._stopping.is_set():
                return False
            if deadline is not None and self._clock.now() >= deadline:
                return False
            self._stopping.wait(0.01)
        return True

    def workers_started(self) -> bool:
        """The caches synced and the worker threads are running."""
        return self._workers_started.is_set()

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Stop taking events, let the workers finish every queued and in-flight key
        (``shut_down_with_drain``), and join them. Informers keep running (their owner, e.g.
        the factory, stops them). Returns False if work was still in flight after
        ``timeout`` seconds. Idempotent."""
        self._stopping.set()
        for source in self._sources:
            if source.registration is not None:
                source.registration.remove()
        drained = self.queue.shut_down_with_drain(timeout)
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            if t is not threading.current_thread():
                t.join(timeout)
        with self._lock:
            untrack, self._untrack_queue = self._untrack_queue, None
        if untrack is not None:
            untrack()
        return drained

    def run(self, stop: threading.Event) -> None:
        """Start, block until ``stop`` is set, then :meth:`stop`."""
        self.start()
        stop.wait()
        self.stop()

    # -- workers ---------------------------------------------------------------------

    def _work(self) -> None:
        queue = self.queue
        while True:
            key, shutdown = queue.get()
            if shutdown:
                return
            try:
                self._process(key)
            except Exception:  # a bug in the requeue logic must not kill the worker
                log.exception("controller %s: handling the result for %r failed", self.name, key)
            finally:
                queue.done(key)

    def _process(self, key: str) -> None:
        """Reconcile one key and requeue it as its result asks."""
        queue = self.queue
        try:
            result = self._reconcile(key)
            if result is not None and not isinstance(result, Result):
                raise TypeError(f"reconcile returned {result!r}; expected a Result or None")
        except Exception:
            log.exception(
                "controller %s: reconcile of %r failed (attempt %d)",
                self.name,
                key,
                queue.num_requeues(key) + 1,
            )
            queue.add_rate_limited(key)
            return
        if result is None:
            queue.forget(key)
        elif result.requeue_after is not None and result.requeue_after > 0:
            queue.forget(key)
            queue.add_after(key, result.requeue_after)
        elif result.requeue:
            queue.add_rate_limited(key)
        else:
            queue.forget(key)
