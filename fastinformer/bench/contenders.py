"""The contenders: each way of keeping a local copy of every pod, as it runs in its own process.

Every contender reads the same cluster through the same kubeconfig, keeps (or, for the
limit, decodes) every pod, and counts the update notifications its handler receives. The
process loop of :mod:`fastinformer.bench.contender` drives them and takes every
measurement (time, RSS) the same way for all, so none measures itself.

=====================  ================================================================
name                   what it is
=====================  ================================================================
fastinformer-typed     ``SharedInformerFactory(mode="typed").pods()``: typed structs
fastinformer-dict      the same with ``mode="dict"``: plain dicts
kubernetes-informer    ``kubernetes.informer.SharedInformer(list_pod_for_all_namespaces)``
kubernetes-watch       list with ``_preload_content=False`` + ``json``, then
                       ``kubernetes.watch.Watch`` (``deserialize=False``) into a dict cache
limit                  one GET of the list + msgspec typed decoding, no store (sync only)
sim-wire               the watch read as raw lines, nothing decoded: what the server sends
=====================  ================================================================
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from fastinformer.bench.workloads import (
    LATENCY,
    LISTERS,
    RELIST,
    STAMP_ANNOTATION,
    SYNC,
    THROUGHPUT,
)

__all__ = [
    "CONTENDERS",
    "DEFAULT_CONTENDERS",
    "Contender",
    "ContenderError",
    "UpdateCounter",
    "wait_until",
]

POLL_SECONDS = 0.001
"""How often every contender's readiness condition is checked (the same for all)."""


class ContenderError(RuntimeError):
    """A contender could not do what was asked (timeout, unsupported workload)."""


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` every :data:`POLL_SECONDS`; ContenderError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise ContenderError(f"{what}: not reached within {timeout:g} s")
        time.sleep(POLL_SECONDS)


class UpdateCounter:
    """Counts the update notifications a handler receives while armed, with the
    wire-to-handler latency of those carrying the send-time annotation.

    ``record`` is called from the contender's single handler thread; the process loop
    reads the fields after the workload (a torn read only delays the wait by one poll).
    """

    def __init__(self) -> None:
        self.armed = False
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.latencies: list[float] = []

    def arm(self) -> None:
        """Forget previous counts and start counting."""
        self.armed = False
        self.count = 0
        self.first = self.last = 0.0
        self.latencies = []
        self.armed = True

    def record(self, annotations: Mapping[str, str] | None) -> None:
        """One update handled now; ``annotations`` of the new object (may be None)."""
        if not self.armed:
            return
        now = time.time()
        if not self.count:
            self.first = now
        self.count += 1
        self.last = now
        if annotations:
            stamp = annotations.get(STAMP_ANNOTATION)
            if stamp:
                self.latencies.append(now - float(stamp))

    def record_stamp(self, stamp: float | None) -> None:
        """Like :meth:`record` with the send time already extracted."""
        if not self.armed:
            return
        now = time.time()
        if not self.count:
            self.first = now
        self.count += 1
        self.last = now
        if stamp is not None:
            self.latencies.append(now - stamp)


def load_configuration(kubeconfig: str, context: str | None) -> Any:
    """A ``kubernetes.client.Configuration`` for ``context`` of ``kubeconfig``."""
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, context=context, client_configuration=cfg, persist_config=False
    )
    return cfg


class Contender:
    """One contender in its own process. ``prepare`` does every import and client setup
    (before the baseline RSS is read); ``sync`` starts it and returns once its cache is
    complete (timed by the caller); the rest serves the other workloads."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    workloads: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, kubeconfig: str, context: str | None, sync_timeout: float) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self.sync_timeout = sync_timeout
        self.counter = UpdateCounter()
        self.extra: dict[str, Any] = {}

    def prepare(self) -> None:
        """Imports and clients; nothing listed yet."""

    def sync(self) -> int:
        """Start; block until every object is cached; return how many there are."""
        raise NotImplementedError

    def settle(self) -> None:
        """Wait until the handler has caught up with the initial list (not timed)."""

    def cached_count(self) -> int:
        raise ContenderError(f"{self.name} keeps no cache")

    def cached_resource_version(self, key: str) -> str | None:
        """``metadata.resourceVersion`` of the cached ``namespace/name``, None if absent."""
        raise ContenderError(f"{self.name} keeps no cache")

    def listers(self, seconds: float, params: Mapping[str, Any]) -> dict[str, Any]:
        raise ContenderError(f"{self.name} has no listers")

    def close(self) -> None:
        """Stop every thread (best effort; the process exits next)."""


# fastinformer ----------------------------------------------------------------------------


class FastInformerContender(Contender):
    """fastinformer's shared informer for pods, handler counting updates."""

    name = "fastinformer-typed"
    label = "fastinformer typed"
    workloads = frozenset({SYNC, THROUGHPUT, LATENCY, LISTERS, RELIST})
    mode = "typed"

    def prepare(self) -> None:
        from fastinformer.factory import SharedInformerFactory

        cfg = load_configuration(self.kubeconfig, self.context)
        self.factory = SharedInformerFactory(cfg, mode=self.mode)
        self.informer = self.factory.pods()
        counter = self.counter
        if self.mode == "typed":

            def on_update(old: Any, new: Any) -> None:
                counter.record(new.metadata.annotations)

        else:

            def on_update(old: Any, new: Any) -> None:
                counter.record(new["metadata"].get("annotations"))

        self.registration = self.informer.add_event_handler(on_update=on_update, name="bench")

    def sync(self) -> int:
        self.factory.start()
        wait_until(self.informer.has_synced, self.sync_timeout, "informer.has_synced()")
        return len(self.informer.get_indexer())

    def settle(self) -> None:
        wait_until(self.registration.has_synced, self.sync_timeout, "handler has_synced()")

    def cached_count(self) -> int:
        return len(self.informer.get_indexer())

    def cached_resource_version(self, key: str) -> str | None:
        from fastinformer.protocol import resource_version_of

        obj = self.informer.get_indexer().get_by_key(key)
        return None if obj is None else resource_version_of(obj)

    def listers(self, seconds: float, params: Mapping[str, Any]) -> dict[str, Any]:
        from fastinformer.listers import Lister

        indexer = self.informer.get_indexer()
        started = time.perf_counter()
        self.informer.add_indexers({"node": _node_index_func(self.mode)})
        index_seconds = time.perf_counter() - started
        lister = Lister(indexer, "pods")
        # The values queried come from the cache itself (sorted, then a seeded sample),
        # so that the queries make sense on any cluster.
        rng = random.Random(int(params.get("seed", 0)))
        namespaces = sorted(indexer.list_index_func_values("namespace"))
        nodes = sorted(indexer.list_index_func_values("node"))
        names = sorted(indexer.list_keys())
        if not names or not nodes:
            raise ContenderError("no pods (or none bound to a node) to query")
        names = rng.sample(names, min(len(names), 1000))
        labels: list[str] = list(params["labels"])
        queries: dict[str, Callable[[int], int]] = {
            "by_namespace": lambda i: len(lister.namespace(namespaces[i % len(namespaces)]).list()),
            "by_label": lambda i: len(lister.list(labels[i % len(labels)])),
            "by_namespace_and_label": lambda i: len(
                lister.namespace(namespaces[i % len(namespaces)]).list(labels[i % len(labels)])
            ),
            "by_index": lambda i: len(lister.by_index("node", nodes[i % len(nodes)])),
            "get": lambda i: _get_one(lister, names[i % len(names)]),
        }
        out: dict[str, Any] = {"add_index_seconds": index_seconds,
                               "namespaces": len(namespaces), "nodes": len(nodes)}
        share = seconds / len(queries)
        for query_name, query in queries.items():
            ops = results = 0
            begin = time.perf_counter()
            deadline = begin + share
            while True:
                results += query(ops)
                ops += 1
                if ops % 8 == 0 and time.perf_counter() >= deadline:
                    break
            elapsed = time.perf_counter() - begin
            out[query_name] = {
                "ops": ops, "ops_per_second": ops / elapsed, "mean_results": results / ops,
            }
        return out

    def close(self) -> None:
        self.factory.shutdown()


class FastInformerDictContender(FastInformerContender):
    name = "fastinformer-dict"
    label = "fastinformer dict"
    mode = "dict"


def _get_one(lister: Any, key: str) -> int:
    namespace, _, name = key.partition("/")
    lister.namespace(namespace).get(name)
    return 1


def _node_index_func(mode: str) -> Callable[[Any], list[str]]:
    if mode == "typed":

        def by_node(obj: Any) -> list[str]:
            spec = obj.spec
            node = spec.node_name if spec is not None else None
            return [node] if node else []

    else:

        def by_node(obj: Any) -> list[str]:
            node = (obj.get("spec") or {}).get("nodeName")
            return [node] if node else []

    return by_node


# kubernetes package ----------------------------------------------------------------------


class KubernetesInformerContender(Contender):
    """``kubernetes.informer.SharedInformer``. It has no ``has_synced``: its initial list
    is complete (cache filled, ADDED handlers fired) once it has set its private
    ``_resource_version``, which is what is polled."""

    name = "kubernetes-informer"
    label = "kubernetes.informer"
    workloads = frozenset({SYNC, THROUGHPUT, LATENCY, RELIST})

    def prepare(self) -> None:
        from kubernetes import client
        from kubernetes.informer import MODIFIED, SharedInformer

        cfg = load_configuration(self.kubeconfig, self.context)
        self.api = client.CoreV1Api(client.ApiClient(cfg))
        self.informer = SharedInformer(  # type: ignore[no-untyped-call]
            self.api.list_pod_for_all_namespaces
        )
        counter = self.counter

        def on_update(obj: Any) -> None:
            counter.record(obj.metadata.annotations)

        self.informer.add_event_handler(MODIFIED, on_update)  # type: ignore[no-untyped-call]

    def sync(self) -> int:
        self.informer.start()  # type: ignore[no-untyped-call]
        wait_until(lambda: self.informer._resource_version is not None, self.sync_timeout,
                   "SharedInformer initial list")
        return self.cached_count()

    def cached_count(self) -> int:
        return len(self.informer.cache.list_keys())

    def cached_resource_version(self, key: str) -> str | None:
        obj = self.informer.cache.get_by_key(key)
        return None if obj is None else str(obj.metadata.resource_version)

    def close(self) -> None:
        self.informer._stop_event.set()
        watch = self.informer._watch
        if watch is not None:
            watch.stop()


class KubernetesWatchContender(Contender):
    """The hand-written loop most Python controllers use: LIST with
    ``_preload_content=False`` and ``json.loads`` into a dict keyed ``namespace/name``,
    then ``kubernetes.watch.Watch().stream(..., deserialize=False)`` from the list's
    resourceVersion; relist on 410."""

    name = "kubernetes-watch"
    label = "kubernetes Watch+dict"
    workloads = frozenset({SYNC, THROUGHPUT, LATENCY, RELIST})

    def prepare(self) -> None:
        from kubernetes import client

        cfg = load_configuration(self.kubeconfig, self.context)
        self.api = client.CoreV1Api(client.ApiClient(cfg))
        self.cache: dict[str, dict[str, Any]] = {}
        self.resource_version = ""
        self._stop = threading.Event()
        self._watch: Any = None
        self._rng = random.Random(0)

    def _list(self) -> None:
        resp: Any = self.api.list_pod_for_all_namespaces(_preload_content=False)
        data = json.loads(resp.data)
        self.cache = {_dict_key(item): item for item in data["items"]}
        self.resource_version = data["metadata"]["resourceVersion"]

    def sync(self) -> int:
        self._list()
        threading.Thread(target=self._run, name="bench-watch", daemon=True).start()
        return len(self.cache)

    def _run(self) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        counter = self.counter
        while not self._stop.is_set():
            self._watch = w = watch.Watch()  # type: ignore[no-untyped-call]
            try:
                for event in w.stream(  # type: ignore[no-untyped-call]
                    self.api.list_pod_for_all_namespaces,
                    resource_version=self.resource_version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=self._rng.randrange(300, 600),
                    deserialize=False,
                ):
                    kind = event["type"]
                    obj = event["object"]
                    meta = obj.get("metadata") or {}
                    if kind in ("ADDED", "MODIFIED"):
                        self.cache[_dict_key(obj)] = obj
                        if kind == "MODIFIED":
                            counter.record(meta.get("annotations"))
                    elif kind == "DELETED":
                        self.cache.pop(_dict_key(obj), None)
                    elif kind == "ERROR":
                        raise ApiException(status=obj.get("code"), reason=obj.get("reason"))
                    rv = meta.get("resourceVersion")
                    if rv:
                        self.resource_version = rv
            except ApiException as exc:
                if exc.status == 410:
                    self._list()
                elif not self._stop.is_set():
                    self._stop.wait(1.0)
            except KeyError:
                # Watch.stream(deserialize=False) fails on ERROR events (it reads the
                # "raw_object" key that only deserialized events have): the ERROR of an
                # expired watch ends up here, so relist as for a 410.
                self._list()
            except Exception:
                if not self._stop.is_set():
                    self._stop.wait(1.0)

    def cached_count(self) -> int:
        return len(self.cache)

    def cached_resource_version(self, key: str) -> str | None:
        obj = self.cache.get(key)
        return None if obj is None else str(obj["metadata"]["resourceVersion"])

    def close(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()


def _dict_key(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])


# limit and wire --------------------------------------------------------------------------


class LimitContender(Contender):
    """The floor of any Python informer: one GET of the whole list (``resourceVersion=0``)
    and msgspec decoding into fastinformer's typed structs; nothing stored or indexed."""

    name = "limit"
    label = "limit (GET+msgspec)"
    workloads = frozenset({SYNC})

    def prepare(self) -> None:
        from fastinformer.decode import decoder_for
        from fastinformer.resources import resource_for
        from fastinformer.transport import Transport

        self.transport = Transport(load_configuration(self.kubeconfig, self.context))
        self.decoder = decoder_for(resource_for("pods"), mode="typed")
        self.items: list[Any] = []

    def sync(self) -> int:
        started = time.perf_counter()
        resp = self.transport.request("GET", "/api/v1/pods", query={"resourceVersion": "0"})
        data = resp.data
        fetched = time.perf_counter()
        self.items, _ = self.decoder.decode_list(data)
        self.extra = {
            "fetch_seconds": fetched - started,
            "decode_seconds": time.perf_counter() - fetched,
            "list_bytes": len(data),
            "bytes_per_object_on_wire": len(data) / max(len(self.items), 1),
        }
        del data
        resp.release_conn()
        return len(self.items)

    def close(self) -> None:
        self.transport.close()


_STAMP_NEEDLE = b'"' + STAMP_ANNOTATION.encode() + b'":"'


class WireContender(Contender):
    """Reads the pod watch as raw lines and only counts them (and the send-time stamp):
    the rate and latency of the simulator and the socket alone, no client library."""

    name = "sim-wire"
    label = "server wire (raw)"
    workloads = frozenset({THROUGHPUT, LATENCY})

    def prepare(self) -> None:
        from fastinformer.transport import Transport

        self.transport = Transport(load_configuration(self.kubeconfig, self.context),
                                   stream_read_timeout=None)
        self._response: Any = None

    def sync(self) -> int:
        resp = self.transport.request("GET", "/api/v1/pods", query={"limit": "1"})
        rv = json.loads(resp.data)["metadata"]["resourceVersion"]
        self._response = self.transport.request(
            "GET", "/api/v1/pods",
            query={"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true",
                   "timeoutSeconds": "3600"},
            stream=True,
        )
        threading.Thread(target=self._read, name="bench-wire", daemon=True).start()
        return 0

    def _read(self) -> None:
        from fastinformer.transport import iter_lines

        record = self.counter.record_stamp
        needle = _STAMP_NEEDLE
        try:
            for line in iter_lines(self._response):
                if not line.startswith(b'{"type":"MODIFIED"'):
                    continue
                at = line.find(needle)
                if at < 0:
                    record(None)
                    continue
                start = at + len(needle)
                record(float(line[start:line.index(b'"', start)]))
        except Exception:
            return

    def close(self) -> None:
        from fastinformer.transport import shutdown_response

        if self._response is not None:
            shutdown_response(self._response)
        self.transport.close()


CONTENDERS: dict[str, type[Contender]] = {
    c.name: c
    for c in (
        FastInformerContender,
        FastInformerDictContender,
        KubernetesInformerContender,
        KubernetesWatchContender,
        LimitContender,
        WireContender,
    )
}
DEFAULT_CONTENDERS: tuple[str, ...] = tuple(CONTENDERS)
BASELINE = FastInformerContender.name
"""Ratios are printed against this contender."""
