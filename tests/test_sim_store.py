"""The simulator's storage, patches and continue tokens, without HTTP."""

from __future__ import annotations

import gc
import random
from collections.abc import Callable
from typing import Any

import pytest

from fastinformer._compat import core
from fastinformer.sim.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from fastinformer.sim.populate import make_pod
from fastinformer.sim.status import StatusError
from fastinformer.sim.store import (
    DELETED,
    JSON_PATCH,
    MODIFIED,
    STRATEGIC_MERGE_PATCH,
    SimStore,
    StoredObject,
    _encode,
)
from fastinformer.sim.tokens import decode_continue, encode_continue


def cm(name: str, **labels: str) -> dict[str, object]:
    return {"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}


def test_every_write_takes_the_next_global_resource_version() -> None:
    store = SimStore()
    a = store.create("configmaps", cm("a"), "default")
    node = store.create("nodes", {"metadata": {"name": "n"}})
    b = store.patch("configmaps", "a", {"data": {"k": "w"}}, "default")
    gone = store.delete("nodes", "n")
    assert [a.rv + 1, a.rv + 2, a.rv + 3] == [node.rv, b.rv, gone.rv]
    assert store.resource_version == gone.rv


def test_an_update_that_changes_nothing_writes_nothing() -> None:
    store = SimStore()
    a = store.create("configmaps", cm("a"), "default")
    same = store.patch("configmaps", "a", {"data": {"k": "v"}}, "default")
    assert same is a and store.resource_version == a.rv


def test_generation_is_bumped_only_by_spec_changes() -> None:
    store = SimStore()
    dep = {"metadata": {"name": "d"}, "spec": {"replicas": 1}}
    created = store.create("deployments", dep, "default")
    labelled = store.patch("deployments", "d", {"metadata": {"labels": {"x": "1"}}}, "default")
    scaled = store.patch("deployments", "d", {"spec": {"replicas": 3}}, "default")
    status = store.patch("deployments", "d", {"status": {"replicas": 3}}, "default",
                         subresource="status")
    generations = [o.to_dict()["metadata"]["generation"]
                   for o in (created, labelled, scaled, status)]
    assert generations == [1, 1, 2, 2]


def test_main_resource_updates_keep_the_status_and_status_updates_keep_the_spec() -> None:
    store = SimStore()
    store.create("pods", {"metadata": {"name": "p"}, "spec": {"nodeName": "n1"},
                          "status": {"phase": "Pending"}}, "default")
    main = store.patch("pods", "p", {"spec": {"nodeName": "n2"}, "status": {"phase": "Running"}},
                       "default").to_dict()
    assert (main["spec"]["nodeName"], main["status"]["phase"]) == ("n2", "Pending")
    status = store.patch("pods", "p", {"spec": {"nodeName": "n3"}, "status": {"phase": "Running"}},
                         "default", subresource="status").to_dict()
    assert (status["spec"]["nodeName"], status["status"]["phase"]) == ("n2", "Running")


def test_stale_update_conflicts_and_missing_namespace_is_not_found() -> None:
    store = SimStore()
    a = store.create("configmaps", cm("a"), "default")
    store.patch("configmaps", "a", {"data": {"k": "w"}}, "default")
    stale = a.to_dict()
    with pytest.raises(StatusError) as info:
        store.update("configmaps", stale, "default")
    assert (info.value.code, info.value.reason) == (409, "Conflict")
    with pytest.raises(StatusError) as info:
        store.create("configmaps", cm("b"), "nowhere")
    assert info.value.status["message"] == 'namespaces "nowhere" not found'


def test_generate_name_creates_unique_names() -> None:
    store = SimStore()
    names = {store.create("configmaps", {"metadata": {"generateName": "x-"}}, "default").name
             for _ in range(20)}
    assert len(names) == 20 and all(n.startswith("x-") and len(n) == 7 for n in names)


def test_deleting_a_namespace_deletes_its_objects_with_events() -> None:
    store = SimStore()
    store.create("namespaces", {"metadata": {"name": "tmp"}})
    store.create("configmaps", cm("a"), "tmp")
    rv = store.resource_version
    store.delete("namespaces", "tmp")
    events = store.events_after(store.resolve("configmaps"), rv)
    assert events is not None and [e.type for e in events] == [DELETED]
    assert store.list("configmaps", "tmp") == []


def test_pages_at_an_old_version_show_the_state_of_then() -> None:
    store = SimStore()
    for name in ("a", "b", "c", "d"):
        store.create("configmaps", cm(name), "default")
    first = store.page(store.resolve("configmaps"), "default", limit=2)
    store.delete("configmaps", "c", "default")
    store.create("configmaps", cm("bb"), "default")
    store.patch("configmaps", "d", {"data": {"k": "new"}}, "default")
    rest = store.page(store.resolve("configmaps"), "default", at_rv=first.rv,
                      start_key=first.next_key, limit=5)
    assert [o.name for o in first.items] == ["a", "b"] and first.remaining == 2
    assert [o.name for o in rest.items] == ["c", "d"]
    assert rest.items[1].to_dict()["data"] == {"k": "v"}


def test_history_window_compacts_old_versions() -> None:
    store = SimStore(history=3)
    start = store.resource_version
    for i in range(5):
        store.create("configmaps", cm(f"c{i}"), "default")
    assert store.events_after(store.resolve("configmaps"), start) is None
    recent = store.events_after(store.resolve("configmaps"), store.compacted_rv)
    assert recent is not None and len(recent) == 3
    with pytest.raises(StatusError) as info:
        store.page(store.resolve("configmaps"), at_rv=start)
    assert info.value.code == 410


def test_stored_versions_and_events_stay_out_of_the_cyclic_gc() -> None:
    store = SimStore()
    start = store.resource_version
    store.create("configmaps", cm("c", app="a"), "default")
    store.merge("configmaps", "c", {"data": {"k": "w"}}, "default")
    store.delete("configmaps", "c", "default")
    events = store.events_after(store.resolve("configmaps"), start)
    assert events is not None and len(events) == 3
    compiled = core.__name__ == "fastinformer._core"  # the twin cannot untrack
    for event in events:
        assert gc.is_tracked(event) is not compiled
        assert gc.is_tracked(event.obj) is not compiled


def test_load_stores_without_events_and_compacts() -> None:
    store = SimStore()
    before = store.resource_version
    assert store.load("configmaps", [cm(f"x{i}") for i in range(10)]) == 10
    assert store.count("configmaps") == 10 and store.compacted_rv == store.resource_version
    assert store.events_after(store.resolve("configmaps"), before) is None


def test_sample_picks_within_the_namespace() -> None:
    store = SimStore()
    store.create("namespaces", {"metadata": {"name": "other"}})
    store.create("configmaps", cm("a"), "default")
    store.create("configmaps", cm("b"), "other")
    picked = store.sample("configmaps", random.Random(1), "other")
    assert picked is not None and picked.name == "b"


def test_selector_leaving_event_is_a_modification_in_history() -> None:
    store = SimStore()
    store.create("configmaps", cm("a", tier="web"), "default")
    rv = store.resource_version
    store.patch("configmaps", "a", {"metadata": {"labels": {"tier": "db"}}}, "default",
                patch_type=STRATEGIC_MERGE_PATCH)
    events = store.events_after(store.resolve("configmaps"), rv)
    assert events is not None and [e.type for e in events] == [MODIFIED]
    line = b"".join(events[0].parts(DELETED, False, from_prev=True))
    assert b'"tier":"web"' in line and f'"resourceVersion":"{events[0].rv}"'.encode() in line


# Spliced writes (merge, stamped deletes) -----------------------------------------------


def kwok_pod_store() -> tuple[SimStore, StoredObject]:
    """A store holding one kwok pod (its metadata ends with managedFields)."""
    store = SimStore()
    pod = make_pod(7, "kwok-node-0", "default")
    pod["metadata"]["annotations"] = {"a": "1"}
    stored = store.create("pods", pod, "default")
    assert stored.managed_start, "kwok pods are stored with managedFields split off"
    return store, stored


def reencoded(stored: StoredObject) -> StoredObject:
    """What encoding the decoded object afresh gives (the reference for spliced writes)."""
    return _encode(stored.rtype, stored.to_dict(), stored.rv)


def assert_same_encoding(stored: StoredObject) -> None:
    fresh = reencoded(stored)
    assert stored.item == fresh.item
    assert (stored.meta_start, stored.meta_end, stored.managed_start, stored.status_tail) == (
        fresh.meta_start, fresh.meta_end, fresh.managed_start, fresh.status_tail)
    assert (stored.fields, stored.labels, stored.key) == (fresh.fields, fresh.labels, fresh.key)


@pytest.mark.parametrize("patch", [
    {"status": {"phase": "Failed", "message": "x"}},
    {"metadata": {"labels": {"churn": "v1"}, "annotations": {"b": "2"}}},
    {"metadata": {"labels": {"app": None}, "annotations": None}},
    {"metadata": {"annotations": {"t": "1.5"}}, "status": {"podIP": None}},
    {"spec": {"nodeName": "kwok-node-9"}, "kind": "Ignored", "apiVersion": "v0"},
    {"metadata": {"name": "renamed", "namespace": "elsewhere", "finalizers": ["f"]}},
    {"status": None, "metadata": {"labels": {"x": "y"}}},
    {"status": {"conditions": None}, "spec": {"priority": 5}, "extra": [1, {"a": None}]},
])
def test_merge_gives_what_a_full_merge_patch_gives(patch: dict[str, Any]) -> None:
    store, old = kwok_pod_store()
    expected = merge_patch(old.to_dict(), patch)
    for fixed in ("kind", "apiVersion"):
        expected[fixed] = old.to_dict()[fixed]
    expected["metadata"].update(
        {k: old.to_dict()["metadata"][k] for k in ("name", "namespace", "uid")})
    new = store.merge("pods", old.name, patch, "default")
    expected["metadata"]["resourceVersion"] = str(new.rv)
    assert new.rv == old.rv + 1 and new.to_dict() == expected
    assert_same_encoding(new)
    assert store.get_stored("pods", old.name, "default") is new


def test_field_selector_values_follow_every_kind_of_write() -> None:
    store, pod = kwok_pod_store()
    name = pod.name
    current = store.get("pods", name, "default")
    assert current is not None
    del current["metadata"]["resourceVersion"]  # an unconditional update
    writes: list[Callable[[], StoredObject]] = [
        lambda: store.patch("pods", name, {"spec": {"nodeName": "n2"}}, "default"),
        lambda: store.patch("pods", name, {"status": {"phase": "Failed"}}, "default",
                            subresource="status"),
        lambda: store.patch("pods", name, [{"op": "add", "path": "/spec/hostNetwork",
                                           "value": True}], "default", patch_type=JSON_PATCH),
        lambda: store.merge("pods", name, {"status": {"podIP": "10.9.9.9"}}, "default"),
        lambda: store.merge("pods", name, {"status": {"message": "same fields"}}, "default"),
        lambda: store.update("pods", {**current, "spec": {"nodeName": "n3"}}, "default"),
    ]
    seen = []
    for write in writes:
        stored = write()
        assert_same_encoding(stored)
        seen.append(dict(zip(stored.rtype.field_names, stored.fields, strict=True)))
    assert [f["spec.nodeName"] for f in seen] == ["n2", "n2", "n2", "n2", "n2", "n3"]
    assert [f["status.phase"] for f in seen][:2] == ["Running", "Failed"]
    assert [f["spec.hostNetwork"] for f in seen] == ["false"] * 2 + ["true"] * 3 + ["false"]
    assert seen[3]["status.podIP"] == "10.9.9.9"


def test_merge_of_objects_without_managed_fields_or_status() -> None:
    store = SimStore()
    store.create("configmaps", cm("a", x="1"), "default")
    for patch in ({"data": {"k": "w"}}, {"metadata": {"labels": {"x": None}}},
                  {"status": {"phase": "odd"}}, {"data": None, "status": None}):
        new = store.merge("configmaps", "a", patch, "default")
        assert new.rv == store.resource_version and not new.managed_start
        assert_same_encoding(new)
    assert store.get("configmaps", "a", "default") == {
        "kind": "ConfigMap", "apiVersion": "v1", "metadata": new.to_dict()["metadata"]}


def test_merge_that_changes_nothing_writes_nothing() -> None:
    store, old = kwok_pod_store()
    assert store.merge("pods", old.name, {"metadata": {"annotations": {"a": "1"}}},
                       "default") is old
    assert store.resource_version == old.rv


def test_merge_bumps_the_generation_on_spec_changes_only() -> None:
    store = SimStore()
    store.create("deployments", {"metadata": {"name": "d"}, "spec": {"replicas": 1}}, "default")
    status = store.merge("deployments", "d", {"status": {"replicas": 1}}, "default")
    scaled = store.merge("deployments", "d", {"spec": {"replicas": 2}}, "default")
    assert [o.to_dict()["metadata"]["generation"] for o in (status, scaled)] == [1, 2]


def test_merge_honours_preconditions_and_refuses_non_objects() -> None:
    store, old = kwok_pod_store()
    with pytest.raises(StatusError) as info:
        store.merge("pods", old.name, {"metadata": {"resourceVersion": "1"}}, "default")
    assert info.value.code == 409
    with pytest.raises(StatusError) as info:
        store.merge("pods", old.name, {"metadata": None}, "default")
    assert info.value.code == 422
    with pytest.raises(TypeError):
        store.merge("pods", old.name, [{"op": "remove"}], "default")  # type: ignore[arg-type]
    assert store.get_stored("pods", old.name, "default") is old


def test_stamped_delete_carries_the_annotation_in_its_event() -> None:
    store, old = kwok_pod_store()
    last = store.delete("pods", old.name, "default", annotate={"sent-at": "12.5"})
    events = store.events_after(store.resolve("pods"), old.rv)
    assert events is not None and [(e.type, e.obj) for e in events] == [(DELETED, last)]
    meta = last.to_dict()["metadata"]
    assert meta["annotations"] == {"a": "1", "sent-at": "12.5"}
    assert meta["resourceVersion"] == str(last.rv)
    assert_same_encoding(last)


def test_a_deletion_splices_its_resource_version_even_when_it_grows_a_digit() -> None:
    store = SimStore(start_rv=990)
    pod = store.create("pods", make_pod(1, "kwok-node-0", "default"), "default")
    cmap = store.create("configmaps", cm("a"), "default")
    for i in range(10):
        store.create("configmaps", cm(f"other-{i}"), "default")
    assert cmap.rv < 1000 <= store.resource_version
    for last in (store.delete("configmaps", "a", "default"),
                 store.delete("pods", pod.name, "default")):
        assert last.to_dict()["metadata"]["resourceVersion"] == str(last.rv)
        assert_same_encoding(last)


def test_a_batch_notifies_listeners_once_at_its_end() -> None:
    store = SimStore()
    calls: list[int] = []
    store.subscribe(lambda: calls.append(store.resource_version))
    with store.batch():
        store.create("configmaps", cm("a"), "default")
        with store.batch():
            store.create("configmaps", cm("b"), "default")
        store.patch("configmaps", "a", {"data": {"k": "w"}}, "default")
        assert calls == []
    store.create("configmaps", cm("c"), "default")
    assert calls == [store.resource_version - 1, store.resource_version]


# Patches --------------------------------------------------------------------------------


def test_merge_patch_deletes_with_null_and_replaces_lists() -> None:
    doc = {"a": {"b": 1, "c": 2}, "l": [1, 2]}
    assert merge_patch(doc, {"a": {"b": None}, "l": [3]}) == {"a": {"c": 2}, "l": [3]}
    assert doc == {"a": {"b": 1, "c": 2}, "l": [1, 2]}


def test_json_patch_applies_every_operation_and_fails_cleanly() -> None:
    doc = {"data": {"k": "v"}, "list": [1, 2]}
    ops = [{"op": "add", "path": "/data/q", "value": "2"},
           {"op": "replace", "path": "/data/k", "value": "w"},
           {"op": "add", "path": "/list/-", "value": 3},
           {"op": "move", "from": "/data/q", "path": "/moved"},
           {"op": "copy", "from": "/moved", "path": "/copied"},
           {"op": "test", "path": "/copied", "value": "2"},
           {"op": "remove", "path": "/list/0"}]
    assert json_patch(doc, ops) == {"data": {"k": "w"}, "list": [2, 3], "moved": "2",
                                    "copied": "2"}
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "remove", "path": "/nope"}])
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "test", "path": "/data/k", "value": "x"}])


def test_strategic_merge_patch_merges_containers_by_name() -> None:
    pod = {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}],
                    "tolerations": [{"key": "x"}]},
           "metadata": {"finalizers": ["f1"]}}
    patch = {"spec": {"containers": [{"name": "b", "image": "2"}, {"name": "c", "image": "3"},
                                     {"name": "a", "$patch": "delete"}],
                      "tolerations": [{"key": "y"}],
                      "$setElementOrder/containers": [{"name": "b"}, {"name": "c"}]},
             "metadata": {"finalizers": ["f2"]}}
    result = strategic_merge_patch(pod, patch)
    assert result["spec"]["containers"] == [{"name": "b", "image": "2"},
                                            {"name": "c", "image": "3"}]
    assert result["spec"]["tolerations"] == [{"key": "y"}]
    assert result["metadata"]["finalizers"] == ["f1", "f2"]


def test_strategic_merge_patch_directives() -> None:
    doc = {"spec": {"a": 1, "b": 2}, "keep": {"x": 1}}
    assert strategic_merge_patch(doc, {"spec": {"$patch": "replace", "c": 3}}) == {
        "spec": {"c": 3}, "keep": {"x": 1}}
    assert strategic_merge_patch(doc, {"spec": {"$retainKeys": ["b"], "b": 5}}) == {
        "spec": {"b": 5}, "keep": {"x": 1}}


# Continue tokens ------------------------------------------------------------------------


def test_continue_tokens_round_trip_and_match_the_server_format() -> None:
    token = encode_continue("c0", 201238)
    assert token == "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MjAxMjM4LCJzdGFydCI6ImMwXHUwMDAwIn0"
    assert decode_continue(token) == ("c0", 201238)


@pytest.mark.parametrize(("token", "message"), [
    ("garbage", "invalid character '\\u0081' looking for beginning of value"),
    (encode_continue("x", 0), "incorrect encoded start resourceVersion"),
    ("eyJ2IjoidjIifQ", "server does not recognize this encoded version"),
])
def test_bad_continue_tokens_are_refused_with_the_server_wording(token: str, message: str) -> None:
    with pytest.raises(StatusError) as info:
        decode_continue(token)
    assert info.value.code == 400
    assert info.value.status["message"].startswith("invalid continue token: continue key is not")
    assert message in info.value.status["message"]
