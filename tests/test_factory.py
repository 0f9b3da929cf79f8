"""factory: one informer per resource, shared transport, options pushed to the server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fastinformer.factory import SharedInformerFactory
from fastinformer.models import Pod
from fastinformer.protocol import ListOptions
from fastinformer.resources import Resource
from fastinformer.sim import Simulator


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        s.populate(nodes=3, pods=30, namespaces=3, seed=7)
        yield s


@pytest.fixture
def factory(sim: Simulator) -> Iterator[SharedInformerFactory]:
    f = SharedInformerFactory(sim.kube_configuration())
    yield f
    f.shutdown()


def test_the_same_resource_gives_the_same_informer(factory: SharedInformerFactory) -> None:
    inf = factory.pods()
    assert factory.informer_for("pods") is inf
    assert factory.informer_for("v1/pods") is inf
    assert factory.informer_for("Pod") is inf
    assert factory.deployments() is factory.informer_for("deployments.apps")


def test_started_informers_sync_typed_objects(factory: SharedInformerFactory) -> None:
    pods, nodes = factory.pods(), factory.nodes()
    factory.start()
    synced = factory.wait_for_cache_sync(30)
    assert set(synced.values()) == {True} and len(synced) == 2
    cached = pods.get_store().list()
    assert len(cached) == 30 and isinstance(cached[0], Pod)
    assert cached[0].spec.node_name.startswith("kwok-node-")
    assert len(nodes.get_store().list()) == 3
    lister = factory.lister_for("pods")
    assert len(lister.namespace("ns-0").list()) == 10


def test_every_common_kind_has_an_accessor_that_syncs(factory: SharedInformerFactory) -> None:
    infs = [
        factory.pods(),
        factory.nodes(),
        factory.namespaces(),
        factory.config_maps(),
        factory.services(),
        factory.deployments(),
        factory.replica_sets(),
        factory.leases(),
    ]
    factory.start()
    assert all(factory.wait_for_cache_sync(30).values())
    assert all(i.has_synced() for i in infs)


def test_namespace_and_tweaks_reach_the_server(sim: Simulator) -> None:
    def tweak(opts: ListOptions) -> ListOptions:
        opts.label_selector = "app=nothing-matches"
        return opts

    sim.clear_requests()
    f = SharedInformerFactory(sim.kube_configuration(), namespace="ns-1", tweak_list_options=tweak)
    try:
        inf = f.pods()
        f.start()
        assert f.wait_for_cache_sync(30) == {Resource("", "v1", "pods", "Pod", True): True}
        assert inf.get_store().list() == []
        reqs = [r for r in sim.requests if "/pods" in r.path]
        assert reqs and all(r.path.startswith("/api/v1/namespaces/ns-1/pods") for r in reqs)
        assert all(r.query.get("labelSelector") == "app=nothing-matches" for r in reqs)
    finally:
        f.shutdown()


def test_dict_mode_and_transform_apply_to_every_informer(sim: Simulator) -> None:
    def slim(obj: dict[str, Any]) -> dict[str, Any]:
        return {"metadata": obj["metadata"]}

    f = SharedInformerFactory(sim.kube_configuration(), mode="dict", transform=slim)
    try:
        inf = f.pods()
        f.start()
        assert all(f.wait_for_cache_sync(30).values())
        cached = inf.get_store().list()
        assert len(cached) == 30 and all(set(o) == {"metadata"} for o in cached)
    finally:
        f.shutdown()


def test_reuse_of_unchanged_fields_is_off_when_a_transform_is_set(sim: Simulator) -> None:
    plain = SharedInformerFactory(sim.kube_configuration())
    transformed = SharedInformerFactory(sim.kube_configuration(), transform=lambda o: o)
    try:
        assert plain.pods().reflector._lw.reuse_unchanged is True
        assert transformed.pods().reflector._lw.reuse_unchanged is False
    finally:
        plain.shutdown()
        transformed.shutdown()


def test_custom_resources_are_cached_as_dicts(sim: Simulator) -> None:
    sim.register("example.com", "v1", "widgets", "Widget", namespaced=True)
    res = Resource("example.com", "v1", "widgets", "Widget", True)
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "ns-0"},
        "spec": {"size": 3},
    }
    sim.store.create("widgets.example.com", widget, "ns-0")
    f = SharedInformerFactory(sim.kube_configuration())
    try:
        inf = f.informer_for(res)
        f.start()
        assert all(f.wait_for_cache_sync(30).values())
        (w,) = inf.get_store().list()
        assert w["spec"] == {"size": 3}
    finally:
        f.shutdown()


def test_bad_arguments_and_use_after_shutdown_are_refused(sim: Simulator) -> None:
    with pytest.raises(ValueError):
        SharedInformerFactory(sim.kube_configuration(), mode="yaml")
    with pytest.raises(ValueError):
        SharedInformerFactory(sim.kube_configuration(), resync_period=-1)
    f = SharedInformerFactory(sim.kube_configuration())
    with pytest.raises(ValueError):
        f.informer_for("no-such-things")
    f.shutdown()
    f.shutdown()
    with pytest.raises(RuntimeError):
        f.informer_for("pods")


def test_the_gc_policy_reaches_every_informer(sim: Simulator) -> None:
    f = SharedInformerFactory(sim.kube_configuration(), gc_freeze=False)
    try:
        assert f.pods()._gc_freeze is False and f.nodes()._gc_freeze is False
    finally:
        f.shutdown()
    g = SharedInformerFactory(sim.kube_configuration())
    try:
        assert g.pods()._gc_freeze is True
    finally:
        g.shutdown()
