"""compat: fastinformer.compat.SharedInformer is a drop-in for kubernetes.informer.SharedInformer.

The scenarios users of ``kubernetes.informer`` rely on run against both implementations
on the embedded simulator; fastinformer-only guarantees are tested separately below.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes.informer
import pytest
from kubernetes import client

from fastinformer import compat
from fastinformer.sim import Simulator
from tests.fake_listwatch import wait_for

IMPLEMENTATIONS = {"kubernetes": kubernetes.informer, "fastinformer": compat}


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(bookmark_interval=0.3) as s:
        yield s


@pytest.fixture
def api(sim: Simulator) -> Iterator[client.CoreV1Api]:
    api_client = client.ApiClient(sim.kube_configuration())
    yield client.CoreV1Api(api_client)
    api_client.close()


_counter = iter(range(1_000_000))


@pytest.fixture
def ns(api: client.CoreV1Api) -> str:
    name = f"compat-{next(_counter)}"
    api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def impl(request: pytest.FixtureRequest) -> Any:
    return IMPLEMENTATIONS[request.param]


class Seen:
    """Thread-safe record of (event type, name) pairs and the objects."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, str]] = []
        self.objects: list[Any] = []

    def handler(self, etype: str) -> Callable[[Any], None]:
        def record(obj: Any) -> None:
            with self.lock:
                self.events.append((etype, _name(obj)))
                self.objects.append(obj)

        return record

    def names(self, etype: str) -> list[str]:
        with self.lock:
            return [n for t, n in self.events if t == etype]


def _name(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("metadata", {}).get("name", ""))
    return str(obj.metadata.name)


def cm(name: str, labels: dict[str, str] | None = None, **data: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {}), data=data or {"k": "v"}
    )


def started(informer: Any) -> Any:
    informer.start()
    return informer


def stop(informer: Any, sim: Simulator) -> None:
    """Stop an informer; kubernetes.informer only notices stop() when its watch yields,
    so the simulator drops watch connections until the informer has stopped."""
    t = threading.Thread(target=informer.stop)
    t.start()
    while t.is_alive():
        sim.faults.drop_watches()
        t.join(0.2)


def test_pre_existing_objects_fire_added_and_fill_the_cache(
    impl: Any, sim: Simulator, api: client.CoreV1Api, ns: str
) -> None:
    for n in ("a", "b"):
        api.create_namespaced_config_map(ns, cm(n))
    inf = impl.SharedInformer(api.list_namespaced_config_map, namespace=ns)
    seen = Seen()
    inf.add_event_handler(impl.ADDED, seen.handler("ADDED"))
    started(inf)
    try:
        assert wait_for(lambda: sorted(seen.names("ADDED")) == ["a", "b"])
        assert sorted(inf.cache.list_keys()) == [f"{ns}/a", f"{ns}/b"]
        cached = inf.cache.get_by_key(f"{ns}/a")
        assert cached.metadata.name == "a" and cached.data == {"k": "v"}
        assert inf.cache.get(cached) is not None
    finally:
        stop(inf, sim)


def test_add_modify_delete_while_running_fire_in_order(
    impl: Any, sim: Simulator, api: client.CoreV1Api, ns: str
) -> None:
    inf = impl.SharedInformer(api.list_namespaced_config_map, namespace=ns)
    seen = Seen()
    for etype in ("ADDED", "MODIFIED", "DELETED"):
        inf.add_event_handler(getattr(impl, etype), seen.handler(etype))
    started(inf)
    try:
        time.sleep(0.5)  # let the watch open; the sequence below is then observed live
        api.create_namespaced_config_map(ns, cm("x"))
        assert wait_for(lambda: seen.names("ADDED") == ["x"])
        api.patch_namespaced_config_map("x", ns, {"data": {"k": "v2"}})
        assert wait_for(lambda: seen.names("MODIFIED") == ["x"])
        api.delete_namespaced_config_map("x", ns)
        assert wait_for(lambda: seen.names("DELETED") == ["x"])
        with seen.lock:
            modified = seen.objects[1]
        assert modified.data == {"k": "v2"}
        assert inf.cache.list() == []
    finally:
        stop(inf, sim)


def test_selectors_and_namespace_filter_on_the_server(
    impl: Any, sim: Simulator, api: client.CoreV1Api, ns: str
) -> None:
    api.create_namespaced_config_map(ns, cm("web", {"app": "web"}))
    api.create_namespaced_config_map(ns, cm("db", {"app": "db"}))
    api.create_namespaced_config_map("default", cm(f"elsewhere-{ns}", {"app": "web"}))
    sim.clear_requests()
    inf = impl.SharedInformer(
        api.list_namespaced_config_map,
        namespace=ns,
        label_selector="app=web",
        field_selector="metadata.name!=nothing",
    )
    seen = Seen()
    inf.add_event_handler(impl.ADDED, seen.handler("ADDED"))
    started(inf)
    try:
        assert wait_for(lambda: seen.names("ADDED") == ["web"])
        assert inf.cache.list_keys() == [f"{ns}/web"]
        reqs = [r for r in sim.requests if r.path.endswith(f"/namespaces/{ns}/configmaps")]
        assert reqs, "no request reached the namespaced path"
        assert all(r.query.get("labelSelector") == "app=web" for r in reqs)
        assert all(r.query.get("fieldSelector") == "metadata.name!=nothing" for r in reqs)
    finally:
        stop(inf, sim)


def test_handler_exceptions_are_swallowed_and_other_handlers_still_run(
    impl: Any, sim: Simulator, api: client.CoreV1Api, ns: str
) -> None:
    def boom(obj: Any) -> None:
        raise RuntimeError("handler bug")

    api.create_namespaced_config_map(ns, cm("a"))
    inf = impl.SharedInformer(api.list_namespaced_config_map, namespace=ns)
    seen = Seen()
    inf.add_event_handler(impl.ADDED, boom)
    inf.add_event_handler(impl.ADDED, seen.handler("ADDED"))
    started(inf)
    try:
        assert wait_for(lambda: seen.names("ADDED") == ["a"])
    finally:
        stop(inf, sim)


def test_handlers_can_be_added_and_removed_while_running(
    impl: Any, sim: Simulator, api: client.CoreV1Api, ns: str
) -> None:
    inf = impl.SharedInformer(api.list_namespaced_config_map, namespace=ns)
    first, second = Seen(), Seen()
    h1 = first.handler("ADDED")
    inf.add_event_handler(impl.ADDED, h1)
    started(inf)
    try:
        time.sleep(0.5)
        api.create_namespaced_config_map(ns, cm("one"))
        assert wait_for(lambda: first.names("ADDED") == ["one"])
        inf.remove_event_handler(impl.ADDED, h1)
        inf.remove_event_handler(impl.ADDED, h1)  # no-op
        inf.add_event_handler(impl.ADDED, second.handler("ADDED"))
        api.create_namespaced_config_map(ns, cm("two"))
        assert wait_for(lambda: second.names("ADDED") == ["two"])
        assert first.names("ADDED") == ["one"]
    finally:
        stop(inf, sim)


def test_unknown_event_type_is_refused(impl: Any, api: client.CoreV1Api) -> None:
    inf = impl.SharedInformer(api.list_config_map_for_all_namespaces)
    with pytest.raises(ValueError):
        inf.add_event_handler("SOMETHING", print)


def test_relist_after_410_fires_deleted_for_objects_that_vanished(
    api: client.CoreV1Api, sim: Simulator, ns: str
) -> None:
    api.create_namespaced_config_map(ns, cm("keep"))
    api.create_namespaced_config_map(ns, cm("gone"))
    inf = compat.SharedInformer(api.list_namespaced_config_map, namespace=ns)
    seen = Seen()
    inf.add_event_handler(compat.DELETED, seen.handler("DELETED"))
    inf.add_event_handler(compat.ERROR, seen.handler("ERROR"))
    started(inf)
    try:
        assert inf.wait_for_cache_sync(10)
        time.sleep(0.3)
        # The deletion happens while no watch is open, then history is compacted: the
        # informer only learns of it by relisting after the 410 its next watch gets.
        def refused() -> int:
            return sum(f.startswith("500 watch") for f in sim.faults.injected)

        before = refused()
        sim.faults.fail_next(500, count=10_000, verb="watch")
        sim.faults.drop_watches()
        assert wait_for(lambda: refused() > before)
        api.delete_namespaced_config_map("gone", ns)
        sim.store.compact()
        sim.faults.clear()
        assert wait_for(lambda: seen.names("DELETED") == ["gone"], timeout=20)
        assert inf.cache.list_keys() == [f"{ns}/keep"]
    finally:
        sim.faults.clear()
        stop(inf, sim)


def test_bookmarks_reach_bookmark_handlers(
    sim: Simulator, api: client.CoreV1Api, ns: str
) -> None:
    inf = compat.SharedInformer(api.list_namespaced_config_map, namespace=ns)
    bookmarks: list[Any] = []
    inf.add_event_handler(compat.BOOKMARK, bookmarks.append)
    started(inf)
    try:
        api.create_namespaced_config_map(ns, cm("a"))
        assert wait_for(lambda: len(bookmarks) >= 1, timeout=15)
        assert bookmarks[0]["metadata"]["resourceVersion"].isdigit()
    finally:
        stop(inf, sim)


def test_resync_fires_modified_for_cached_objects(
    sim: Simulator, api: client.CoreV1Api, ns: str
) -> None:
    api.create_namespaced_config_map(ns, cm("a"))
    inf = compat.SharedInformer(api.list_namespaced_config_map, namespace=ns, resync_period=1)
    seen = Seen()
    inf.add_event_handler(compat.MODIFIED, seen.handler("MODIFIED"))
    started(inf)
    try:
        assert wait_for(lambda: len(seen.names("MODIFIED")) >= 2, timeout=15)
        assert set(seen.names("MODIFIED")) == {"a"}
    finally:
        stop(inf, sim)


def test_list_functions_of_other_apis_and_scopes_resolve(sim: Simulator) -> None:
    api_client = client.ApiClient(sim.kube_configuration())
    try:
        core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
        custom = client.CustomObjectsApi(api_client)
        cases = {
            core.list_node: ("nodes", False),
            core.list_pod_for_all_namespaces: ("pods", True),
            apps.list_namespaced_deployment: ("deployments", True),
            client.CoordinationV1Api(api_client).list_namespaced_lease: ("leases", True),
        }
        for func, (plural, namespaced) in cases.items():
            res, _ = compat._resource_of(func)
            assert (res.plural, res.namespaced) == (plural, namespaced)
        partial = functools.partial(
            custom.list_cluster_custom_object, group="example.com", version="v1", plural="widgets"
        )
        res, _ = compat._resource_of(partial)
        assert (res.group, res.version, res.plural, res.namespaced) == (
            "example.com",
            "v1",
            "widgets",
            False,
        )
    finally:
        api_client.close()


def test_a_plain_function_is_refused_with_a_clear_error() -> None:
    with pytest.raises(TypeError, match="bound list method"):
        compat.SharedInformer(lambda **kw: None)
