"""Decoders: lists and watch events in typed and dict mode, errors, transforms, GC pause."""

from __future__ import annotations

import copy
import gc
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import msgspec
import pytest

from fastinformer._compat import core
from fastinformer.decode import (
    DecodeMode,
    ObjectDecoder,
    decoder_for,
    freeze_gc,
    gc_paused,
    resource_version_of,
)
from fastinformer.errors import DecodeError
from fastinformer.models import ConfigMap, Deployment, Event, Pod, PodWithManagedFields
from fastinformer.protocol import Decoder, ListMeta, WatchEvent
from fastinformer.protocol import resource_version_of as protocol_resource_version_of

RECORDINGS = Path("/work/shared/apiserver-recordings")


def recording(name: str) -> dict[str, Any]:
    path = RECORDINGS / name
    if not path.exists():
        pytest.skip(f"recording {name} not available")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def body_bytes(name: str) -> bytes:
    return json.dumps(recording(name)["body"]).encode()


def watch_lines(name: str) -> list[bytes]:
    return [json.dumps(line).encode() for line in recording(name)["watch_lines"]]


def pod_list(count: int) -> bytes:
    """A PodList of ``count`` ~4.4 KB pods built from the recorded ones, names varied."""
    base = recording("23-list-pods-field-selector-nodename-limit3.json")["body"]
    items = []
    for i in range(count):
        pod = copy.deepcopy(base["items"][i % len(base["items"])])
        pod["metadata"]["name"] = f"pod-{i}"
        pod["metadata"]["resourceVersion"] = str(1000 + i)
        items.append(pod)
    body = {"kind": "PodList", "apiVersion": "v1", "metadata": base["metadata"], "items": items}
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.fixture(params=["typed", "dict"])
def mode(request: pytest.FixtureRequest) -> DecodeMode:
    return cast(DecodeMode, request.param)


def name_of(obj: Any) -> str:
    return str(obj["metadata"]["name"] if isinstance(obj, dict) else obj.metadata.name)


def managed_fields_of(obj: Any) -> Any:
    if isinstance(obj, dict):
        return obj["metadata"].get("managedFields")
    return obj.metadata.managed_fields


def test_decoder_satisfies_the_decoder_protocol() -> None:
    decoder: Decoder = decoder_for("Pod")
    assert isinstance(decoder, ObjectDecoder)


def test_decode_list_returns_items_and_list_meta_of_recorded_pods(mode: DecodeMode) -> None:
    for name in (
        "23-list-pods-field-selector-nodename-limit3.json",
        "24-list-pods-rv0-limit3-ignored-by-watch-cache.json",
    ):
        raw = recording(name)["body"]
        items, meta = decoder_for("Pod", mode).decode_list(body_bytes(name))
        assert [name_of(i) for i in items] == [i["metadata"]["name"] for i in raw["items"]]
        assert meta == ListMeta(
            raw["metadata"]["resourceVersion"],
            raw["metadata"].get("continue"),
            raw["metadata"].get("remainingItemCount"),
        )
        assert all(managed_fields_of(i) is None for i in items)


def test_decode_list_typed_mode_gives_generated_structs() -> None:
    items, _ = decoder_for("Pod").decode_list(pod_list(5))
    assert all(type(i) is Pod for i in items)
    assert items[3].metadata.name == "pod-3"
    assert items[3].spec.containers[0].image_pull_policy == "IfNotPresent"


def test_decode_list_reads_remaining_item_count_and_continue(mode: DecodeMode) -> None:
    raw = recording("16-list-page1-limit2.json")["body"]
    _, meta = decoder_for("ConfigMap", mode).decode_list(body_bytes("16-list-page1-limit2.json"))
    assert meta.continue_ == raw["metadata"]["continue"]
    assert meta.remaining_item_count == raw["metadata"]["remainingItemCount"]


def test_metadata_only_lists_decode_as_partial_object_metadata(mode: DecodeMode) -> None:
    decoder = decoder_for("meta.k8s.io/v1/PartialObjectMetadata", mode)
    items, meta = decoder.decode_list(body_bytes("27-list-metadata-only.json"))
    assert len(items) == 2
    assert meta.remaining_item_count == 4
    assert all(managed_fields_of(i) is None for i in items)


def test_keep_managed_fields_keeps_them_in_both_modes(mode: DecodeMode) -> None:
    decoder = decoder_for("Pod", mode, keep_managed_fields=True)
    items, _ = decoder.decode_list(pod_list(2))
    for item in items:
        entries = managed_fields_of(item)
        assert entries is not None and len(entries) == 2
    if mode == "typed":
        assert all(type(i) is PodWithManagedFields for i in items)


def test_an_empty_list_has_no_items(mode: DecodeMode) -> None:
    data = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"5"},"items":[]}'
    assert decoder_for("Pod", mode).decode_list(data) == ([], ListMeta("5"))
    data = b'{"kind":"PodList","metadata":{"resourceVersion":"5"},"items":null}'
    assert decoder_for("Pod", mode).decode_list(data) == ([], ListMeta("5"))


def test_a_status_body_is_not_taken_for_an_empty_list(mode: DecodeMode) -> None:
    with pytest.raises(DecodeError, match="got a Status: 410 Expired"):
        decoder_for("ConfigMap", mode).decode_list(body_bytes("25-list-exact-too-old-410.json"))


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b"[]", b'{"items": {}}', b'{"items": [1, 2]}', b"not json", b'{"items":[{"x":'],
)
def test_malformed_lists_raise_decode_error_with_a_sample(mode: DecodeMode, data: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        decoder_for("Pod", mode).decode_list(data)
    assert info.value.sample == data[:200]


def test_a_list_with_items_of_the_wrong_shape_is_rejected_in_typed_mode() -> None:
    data = b'{"items":[{"metadata":{"name":5}}]}'
    with pytest.raises(DecodeError, match=r"metadata\.name"):
        decoder_for("Pod").decode_list(data)


def test_watch_events_of_every_recorded_type_decode_in_both_modes(mode: DecodeMode) -> None:
    decoder = decoder_for("ConfigMap", mode)
    for name in (
        "29-watch-from-rv-add-modify-delete.json",
        "30-watch-rv0-initial-state.json",
        "31-watch-label-selector-enter-leave.json",
    ):
        for raw, line in zip(recording(name)["watch_lines"], watch_lines(name), strict=True):
            event = decoder.decode_event(line)
            assert isinstance(event, WatchEvent)
            assert event.type == raw["type"]
            assert event.resource_version == raw["object"]["metadata"]["resourceVersion"]
            assert resource_version_of(event.object) == event.resource_version
            assert protocol_resource_version_of(event.object) == event.resource_version
            assert event.initial_events_end is False
            if mode == "typed":
                assert type(event.object) is ConfigMap
            else:
                assert "managedFields" not in event.object["metadata"]
            if raw["type"] != "BOOKMARK":
                assert name_of(event.object) == raw["object"]["metadata"]["name"]


def test_recorded_sequence_is_added_modified_deleted_bookmark() -> None:
    lines = watch_lines("29-watch-from-rv-add-modify-delete.json")
    types = [decoder_for("ConfigMap").decode_event(line).type for line in lines]
    assert types == ["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]


def test_bookmarks_are_minimal_objects_even_for_kinds_with_required_fields(
    mode: DecodeMode,
) -> None:
    line = (
        b'{"type":"BOOKMARK","object":{"kind":"Event","apiVersion":"v1",'
        b'"metadata":{"resourceVersion":"77","creationTimestamp":null}}}'
    )
    event = decoder_for("Event", mode).decode_event(line)
    assert event.type == "BOOKMARK"
    assert event.resource_version == "77"
    assert event.initial_events_end is False
    if mode == "typed":
        assert type(event.object) is Event
        assert event.object.involved_object is None


def test_initial_events_end_bookmark_is_flagged(mode: DecodeMode) -> None:
    line = (
        b'{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":'
        b'{"resourceVersion":"900","annotations":{"k8s.io/initial-events-end":"true"}}}}'
    )
    event = decoder_for("Pod", mode).decode_event(line)
    assert event.initial_events_end is True
    assert event.resource_version == "900"
    other = line.replace(b'"true"', b'"false"')
    assert decoder_for("Pod", mode).decode_event(other).initial_events_end is False


def test_error_events_carry_the_status_as_a_dict(mode: DecodeMode) -> None:
    (line,) = watch_lines("32-watch-too-old-rv-410.json")
    for kind in ("Pod", "ConfigMap"):
        event = decoder_for(kind, mode).decode_event(line)
        assert event.type == "ERROR"
        assert event.resource_version == ""
        assert event.object["code"] == 410
        assert event.object["reason"] == "Expired"


def test_typed_events_decode_full_pods_without_managed_fields() -> None:
    pod = json.loads(pod_list(1))["items"][0]
    line = json.dumps({"type": "MODIFIED", "object": pod}).encode()
    event = decoder_for("Pod").decode_event(line)
    pod_obj = event.object
    assert type(pod_obj) is Pod
    assert pod_obj.metadata is not None
    assert pod_obj.metadata.managed_fields is None
    assert event.resource_version == pod["metadata"]["resourceVersion"]
    kept = decoder_for("Pod", keep_managed_fields=True).decode_event(line)
    assert len(kept.object.metadata.managed_fields) == 2


def test_dict_events_keep_managed_fields_when_asked() -> None:
    pod = json.loads(pod_list(1))["items"][0]
    line = json.dumps({"type": "ADDED", "object": pod}).encode()
    event = decoder_for("Pod", "dict", keep_managed_fields=True).decode_event(line)
    assert event.object["metadata"]["managedFields"] == pod["metadata"]["managedFields"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"", "truncated"),
        (b"\n", "truncated"),
        (b'{"type":"ADDED","object":{"metadata":{"name":"a"}', "truncated"),
        (b'{"type":"ADDED","object":', "truncated"),
        (b"garbage", "malformed"),
        (b'{"type":"FOO","object":{}}', "FOO"),
        (b'{"type":"added","object":{}}', "added"),
        (b'{"object":{}}', "type"),
        (b'{"type":"ADDED"}', "object"),
        (b'{"type":"ADDED","object":null}', "null"),
        (b'{"type":"ERROR","object":"boom"}', "str"),
        (b"[1]", "array"),
        (b'{"type":"BOOKMARK","object":{"metadata":{}}}', "resourceVersion"),
    ],
)
def test_bad_watch_lines_raise_decode_error_with_a_short_sample(
    mode: DecodeMode, line: bytes, message: str
) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        decoder_for("Pod", mode).decode_event(line)
    assert info.value.sample == line[:200]


def test_decode_error_sample_is_at_most_200_bytes(mode: DecodeMode) -> None:
    line = b'{"type":"ADDED","object":{"metadata":{"name":"' + b"x" * 1000
    with pytest.raises(DecodeError) as info:
        decoder_for("Pod", mode).decode_event(line)
    assert info.value.sample == line[:200]
    assert len(str(info.value)) < 400


def test_transform_applies_to_list_items_and_object_events_only(mode: DecodeMode) -> None:
    seen: list[Any] = []

    def tag(obj: Any) -> Any:
        seen.append(obj)
        return ("transformed", name_of(obj))

    decoder = decoder_for("ConfigMap", mode, transform=tag)
    items, _ = decoder.decode_list(body_bytes("16-list-page1-limit2.json"))
    assert items == [("transformed", "a"), ("transformed", "c0")]
    events = [
        decoder.decode_event(x) for x in watch_lines("29-watch-from-rv-add-modify-delete.json")
    ]
    assert [e.object[0] if e.type != "BOOKMARK" else None for e in events] == [
        "transformed",
        "transformed",
        "transformed",
        None,
    ]
    assert events[1].resource_version == "201241"
    (error,) = watch_lines("32-watch-too-old-rv-410.json")
    assert isinstance(decoder.decode_event(error).object, dict)
    assert len(seen) == 5


def test_decoders_are_built_once_per_resource_and_options() -> None:
    assert decoder_for("Pod") is decoder_for("v1/Pod")
    assert decoder_for("Pod") is decoder_for(SimpleNamespace(group="", version="v1", kind="Pod"))
    assert decoder_for("Pod") is not decoder_for("Pod", "dict")
    assert decoder_for("Pod") is not decoder_for("Pod", keep_managed_fields=True)
    assert decoder_for("Pod", transform=str) is decoder_for("Pod", transform=str)
    assert decoder_for("Pod", transform=str) is not decoder_for("Pod", transform=repr)


def test_resources_kinds_and_api_version_pairs_resolve_to_the_same_model() -> None:
    resource = SimpleNamespace(group="apps", version="v1", plural="deployments", kind="Deployment")
    for spec in ("Deployment", "apps/v1/Deployment", resource):
        decoder = decoder_for(spec)
        assert decoder.model is Deployment
        assert (decoder.api_version, decoder.kind, decoder.mode) == (
            "apps/v1",
            "Deployment",
            "typed",
        )


def test_resource_names_resolve_through_the_resources_table() -> None:
    pytest.importorskip("fastinformer.resources")
    assert decoder_for("pods").model is Pod


def test_a_struct_type_is_decoded_into_directly() -> None:
    class Slim(msgspec.Struct):
        metadata: dict[str, Any]

    decoder = decoder_for(Slim)
    items, _ = decoder.decode_list(pod_list(2))
    assert [type(i) for i in items] == [Slim, Slim]
    assert items[0].metadata["name"] == "pod-0"


def test_kinds_without_a_model_decode_as_dicts_in_typed_mode() -> None:
    decoder = decoder_for("example.com/v1/Widget")
    assert decoder.mode == "dict"
    assert decoder.model is None
    items, _ = decoder.decode_list(b'{"items":[{"metadata":{"name":"w","managedFields":[]}}]}')
    assert items == [{"metadata": {"name": "w"}}]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        decoder_for("Pod", "yaml")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="decoder_for"):
        decoder_for(42)


@pytest.fixture
def gc_enabled() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_gc_paused_disables_the_gc_and_restores_it(gc_enabled: None) -> None:
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_gc_paused_leaves_a_disabled_gc_disabled(gc_enabled: None) -> None:
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()


def test_gc_paused_reenables_only_after_the_last_overlapping_pause(gc_enabled: None) -> None:
    inside = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with gc_paused():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    with gc_paused():
        thread.start()
        assert inside.wait(10)
    assert not gc.isenabled()
    release.set()
    thread.join(10)
    assert gc.isenabled()


def test_gc_paused_moves_what_it_allocated_to_the_oldest_generation(gc_enabled: None) -> None:
    with gc_paused():
        marker = [[i] for i in range(1000)]
    assert gc.get_count()[0] < 100
    assert any(obj is marker for obj in gc.get_objects(generation=2))


def test_gc_paused_promotes_once_at_the_outermost_exit_only_when_asked(
    gc_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze"))
    with gc_paused(promote=False):
        pass
    assert calls == []
    with gc_paused(promote=False):
        with gc_paused():
            pass
        assert calls == []
    assert calls == ["freeze", "unfreeze"]


def test_gc_paused_leaves_objects_the_application_froze_frozen(gc_enabled: None) -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with gc_paused():
            marker = [[i] for i in range(10)]
        assert gc.get_freeze_count() == frozen
        assert marker
    finally:
        gc.unfreeze()


def test_decode_list_restores_the_gc_even_when_decoding_fails(gc_enabled: None) -> None:
    with pytest.raises(DecodeError):
        decoder_for("Pod").decode_list(b"{")
    assert gc.isenabled()
    decoder_for("Pod").decode_list(pod_list(3))
    assert gc.isenabled()


def test_resource_version_of_reads_typed_and_dict_objects() -> None:
    items, _ = decoder_for("Pod").decode_list(pod_list(1))
    assert resource_version_of(items[0]) == "1000"
    assert resource_version_of({"metadata": {"resourceVersion": "7"}}) == "7"
    assert resource_version_of({"metadata": None}) == ""
    assert resource_version_of(object()) == ""


def test_decoded_objects_are_not_tracked_by_the_gc_with_the_compiled_core(
    mode: DecodeMode,
) -> None:
    from fastinformer._compat import IS_ACCELERATED

    decoder = decoder_for("Pod", mode=mode)
    items, _ = decoder.decode_list(pod_list(3))
    raw_pods = recording("23-list-pods-field-selector-nodename-limit3.json")["body"]["items"]
    lines = [json.dumps({"type": "MODIFIED", "object": pod}).encode() for pod in raw_pods]
    events = [decoder.decode_event(line).object for line in lines]
    for obj in [*items, *events]:
        containers = obj["spec"]["containers"] if mode == "dict" else obj.spec.containers
        assert gc.is_tracked(containers) is not IS_ACCELERATED
        if mode == "dict":
            assert gc.is_tracked(obj) is not IS_ACCELERATED
            assert gc.is_tracked(obj["metadata"]) is not IS_ACCELERATED


def test_freeze_gc_moves_what_is_alive_to_the_permanent_generation() -> None:
    alive = [[i] for i in range(100)]
    try:
        freeze_gc()
        assert gc.get_freeze_count() >= len(alive)
        assert not any(o is alive[0] for o in gc.get_objects())
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0


def test_a_promoting_pause_thaws_what_freeze_gc_froze(gc_enabled: None) -> None:
    try:
        freeze_gc()
        assert gc.get_freeze_count() > 0
        with gc_paused(promote=False):
            pass
        assert gc.get_freeze_count() > 0
        with gc_paused():
            pass
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()


def test_freeze_gc_during_a_pause_freezes_when_the_pause_ends(gc_enabled: None) -> None:
    try:
        with gc_paused():
            alive = [[i] for i in range(100)]
            with gc_paused():
                freeze_gc()
                assert gc.get_freeze_count() == 0  # not yet: still paused
            assert gc.get_freeze_count() == 0 and not gc.isenabled()
        assert gc.isenabled()
        assert gc.get_freeze_count() >= len(alive)  # frozen, not thawed by the promotion
        assert not any(o is alive[0] for o in gc.get_objects())
        with gc_paused(promote=False):
            pass
        assert gc.get_freeze_count() >= len(alive)  # a pause without a freeze asked: kept
    finally:
        gc.unfreeze()


# --- reusing unchanged fields ---------------------------------------------------------------


def _pod_event(etype: str, name: str, rv: int, **changes: Any) -> bytes:
    """A watch line for a realistic pod; ``changes`` override top-level fields."""
    base = recording("23-list-pods-field-selector-nodename-limit3.json")["body"]["items"][0]
    pod = copy.deepcopy(base)
    pod["metadata"]["name"] = name
    pod["metadata"]["uid"] = f"uid-{name}"
    pod["metadata"]["resourceVersion"] = str(rv)
    pod.update(changes)
    return json.dumps({"type": etype, "object": pod}, separators=(",", ":")).encode()


def test_decoders_reuse_the_large_top_level_fields_unless_told_otherwise() -> None:
    assert decoder_for("v1/Pod").reusable_fields == ("spec", "status")
    assert decoder_for("v1/ConfigMap").reusable_fields == ("binary_data", "data")
    assert decoder_for("v1/Pod", mode="dict").reusable_fields == ("spec", "status")
    assert decoder_for("v1/ConfigMap", mode="dict").reusable_fields == ("binaryData", "data")
    assert decoder_for("example.com/v1/Widget").reusable_fields == ("spec", "status")
    assert decoder_for("v1/Pod", transform=lambda o: o).reusable_fields == ()
    assert decoder_for("v1/Pod", mode="dict", keep_managed_fields=True).reusable_fields == ()


def test_reusing_decode_equals_the_plain_decode() -> None:
    dec = decoder_for("v1/Pod")
    memo: dict[Any, Any] = {}
    for rv, etype in enumerate(["ADDED", "MODIFIED", "MODIFIED", "DELETED"]):
        line = _pod_event(etype, "p", rv)
        assert dec.decode_event_reusing(line, memo) == dec.decode_event(line)


def test_an_unchanged_field_is_the_previous_versions_object() -> None:
    dec = decoder_for("v1/Pod")
    memo: dict[Any, Any] = {}
    first = dec.decode_event_reusing(_pod_event("ADDED", "p", 1), memo).object
    second = dec.decode_event_reusing(_pod_event("MODIFIED", "p", 2), memo).object
    assert second.metadata.resource_version == "2"
    assert second.spec is first.spec
    assert second.status is first.status
    assert second.metadata is not first.metadata


def test_a_changed_field_is_decoded_again_and_the_rest_reused() -> None:
    dec = decoder_for("v1/Pod")
    memo: dict[Any, Any] = {}
    first = dec.decode_event_reusing(_pod_event("ADDED", "p", 1), memo).object
    status = msgspec.to_builtins(first.status)
    status["phase"] = "Failed"
    line = _pod_event("MODIFIED", "p", 2, status=json.loads(json.dumps(status)))
    line = line.replace(b'"podIP"', b'"podIP"')  # same keys, one value changed
    second = dec.decode_event_reusing(line, memo).object
    assert second.status.phase == "Failed"
    assert second.status is not first.status
    assert second.spec is first.spec
    assert second == dec.decode_event(line).object


def test_one_byte_of_difference_is_enough_to_decode_again() -> None:
    dec = decoder_for("v1/Pod")
    memo: dict[Any, Any] = {}
    first = dec.decode_event_reusing(_pod_event("ADDED", "p", 1), memo).object
    image = first.spec.containers[0].image
    line = _pod_event("MODIFIED", "p", 2).replace(image.encode(), (image[:-1] + "X").encode())
    second = dec.decode_event_reusing(line, memo).object
    assert second.spec is not first.spec
    assert second.spec.containers[0].image == image[:-1] + "X"


def test_objects_are_told_apart_by_uid_or_namespace_and_name() -> None:
    dec = decoder_for("v1/Pod")
    memo: dict[Any, Any] = {}
    a = dec.decode_event_reusing(_pod_event("ADDED", "a", 1), memo).object
    b = dec.decode_event_reusing(_pod_event("ADDED", "b", 2), memo).object
    assert set(memo) == {"uid-a", "uid-b"}
    assert b.spec is not a.spec
    no_uid = _pod_event("ADDED", "c", 3).replace(b'"uid":"uid-c",', b"")
    c = dec.decode_event_reusing(no_uid, memo).object
    assert c.metadata.uid is None
    assert (c.metadata.namespace, "c") in memo


def test_a_delete_forgets_the_object() -> None:
    dec = decoder_for("v1/Pod")
    memo: dict[Any, Any] = {}
    dec.decode_event_reusing(_pod_event("ADDED", "p", 1), memo)
    assert len(memo) == 1
    deleted = dec.decode_event_reusing(_pod_event("DELETED", "p", 2), memo)
    assert deleted.type == "DELETED"
    assert memo == {}


def test_bookmark_error_and_malformed_lines_take_the_plain_path() -> None:
    dec = decoder_for("v1/Pod")
    memo: dict[Any, Any] = {}
    bookmark = b'{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":' \
        b'{"resourceVersion":"9","annotations":{"k8s.io/initial-events-end":"true"}}}}'
    event = dec.decode_event_reusing(bookmark, memo)
    assert event.type == "BOOKMARK"
    assert event.initial_events_end
    error = b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},' \
        b'"status":"Failure","message":"too old","reason":"Expired","code":410}}'
    assert dec.decode_event_reusing(error, memo).object["code"] == 410
    with pytest.raises(DecodeError):
        dec.decode_event_reusing(_pod_event("MODIFIED", "p", 1)[:-40], memo)
    with pytest.raises(DecodeError):
        dec.decode_event_reusing(b'{"type":"MOVED","object":{"metadata":{"name":"x"}}}', memo)
    with pytest.raises(DecodeError):
        dec.decode_event_reusing(_pod_event("MODIFIED", "p", 1, spec={"containers": 3}), memo)
    assert memo == {}


def test_a_decoder_without_reusable_fields_decodes_plainly() -> None:
    dec = decoder_for("v1/Pod", mode="dict", keep_managed_fields=True)
    memo: dict[Any, Any] = {}
    line = _pod_event("MODIFIED", "p", 1)
    assert dec.decode_event_reusing(line, memo) == dec.decode_event(line)
    assert memo == {}


# --- reusing unchanged fields in dict mode ----------------------------------------------------


def _widget_event(etype: str, name: str, rv: int, **changes: Any) -> bytes:
    """A watch line for a custom resource with metadata, spec and status."""
    widget: dict[str, Any] = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "resourceVersion": str(rv),
            "labels": {"app": "w"},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"size": 3, "parts": [{"name": "a"}]},
        "status": {"ready": True},
    }
    widget.update(changes)
    return json.dumps({"type": etype, "object": widget}, separators=(",", ":")).encode()


@pytest.mark.parametrize("kind", ["v1/Pod", "example.com/v1/Widget"])
def test_dict_mode_reusing_decode_equals_the_plain_decode(kind: str) -> None:
    dec = decoder_for(kind, mode="dict")
    event = _pod_event if kind == "v1/Pod" else _widget_event
    memo: dict[Any, Any] = {}
    for rv, etype in enumerate(["ADDED", "MODIFIED", "MODIFIED", "DELETED"]):
        line = event(etype, "p", rv)
        got, plain = dec.decode_event_reusing(line, memo), dec.decode_event(line)
        assert got == plain
        assert list(got.object) == list(plain.object)
        assert "managedFields" not in got.object["metadata"]
    assert memo == {}


def test_dict_mode_reuses_unchanged_fields_and_decodes_changed_ones() -> None:
    dec = decoder_for("example.com/v1/Widget", mode="dict")
    memo: dict[Any, Any] = {}
    first = dec.decode_event_reusing(_widget_event("ADDED", "w", 1), memo).object
    second = dec.decode_event_reusing(_widget_event("MODIFIED", "w", 2), memo).object
    assert second["spec"] is first["spec"] and second["status"] is first["status"]
    assert second["metadata"] is not first["metadata"]
    assert second["metadata"]["resourceVersion"] == "2"
    line = _widget_event("MODIFIED", "w", 3, status={"ready": False})
    third = dec.decode_event_reusing(line, memo).object
    assert third["status"] == {"ready": False} and third["spec"] is first["spec"]
    assert third == dec.decode_event(line).object


def test_dict_mode_keeps_absent_fields_absent_and_null_ones_null() -> None:
    dec = decoder_for("example.com/v1/Widget", mode="dict")
    memo: dict[Any, Any] = {}
    line = _widget_event("ADDED", "w", 1, status=None)
    line = line.replace(b',"spec":{"size":3,"parts":[{"name":"a"}]}', b"")
    got = dec.decode_event_reusing(line, memo).object
    assert "spec" not in got and got["status"] is None
    assert got == dec.decode_event(line).object


def test_dict_mode_metadata_keeps_the_servers_key_order() -> None:
    dec = decoder_for("example.com/v1/Widget", mode="dict")
    got = dec.decode_event_reusing(_widget_event("ADDED", "w", 1), {}).object
    assert list(got["metadata"]) == ["name", "namespace", "uid", "resourceVersion", "labels"]


def test_dict_mode_objects_the_shell_cannot_read_are_decoded_whole() -> None:
    dec = decoder_for("example.com/v1/Gadget", mode="dict")
    memo: dict[Any, Any] = {}
    other_top = _widget_event("ADDED", "a", 1, data={"k": "v"})
    other_meta = _widget_event("ADDED", "b", 2).replace(b'"labels"', b'"futureField":1,"labels"')
    for line in (other_top, other_meta):
        got = dec.decode_event_reusing(line, memo)
        assert got == dec.decode_event(line)
    assert memo == {}


def test_dict_mode_gives_up_after_many_objects_in_a_row_it_cannot_read() -> None:
    dec = ObjectDecoder("example.com/v1", "Sprocket", None)
    memo: dict[Any, Any] = {}
    readable = _widget_event("ADDED", "r", 1)
    for i in range(63):
        dec.decode_event_reusing(_widget_event("MODIFIED", "x", i, data={"i": i}), memo)
    dec.decode_event_reusing(readable, memo)  # one readable object starts the count again
    assert "uid-r" in memo
    for i in range(64):
        dec.decode_event_reusing(_widget_event("MODIFIED", "x", i, data={"i": i}), memo)
    memo.clear()
    got = dec.decode_event_reusing(_widget_event("MODIFIED", "r", 99), memo)
    assert got.object["metadata"]["resourceVersion"] == "99"
    assert memo == {}  # no longer tried


def test_dict_mode_error_events_do_not_count_against_the_shell() -> None:
    dec = ObjectDecoder("example.com/v1", "Sprocket", None)
    error = b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},' \
        b'"status":"Failure","message":"too old","reason":"Expired","code":410}}'
    for _ in range(100):
        assert dec.decode_event_reusing(error, {}).type == "ERROR"
    memo: dict[Any, Any] = {}
    dec.decode_event_reusing(_widget_event("ADDED", "w", 1), memo)
    assert "uid-w" in memo
    with pytest.raises(DecodeError):
        dec.decode_event_reusing(_widget_event("ADDED", "w", 2)[:-30], memo)


def test_dict_mode_objects_are_untracked_by_the_gc_when_compiled() -> None:
    dec = decoder_for("v1/Pod", mode="dict")
    memo: dict[Any, Any] = {}
    got = dec.decode_event_reusing(_pod_event("ADDED", "p", 1), memo).object
    compiled = core.__name__ == "fastinformer._core"
    for part in (got, got["metadata"], got["spec"], got["status"]):
        assert gc.is_tracked(part) is not compiled


# --- cutting lines before decoding -------------------------------------------------------------


def test_reusing_decoders_cut_lines_by_default_only_with_a_simd_scan() -> None:
    assert decoder_for("v1/Pod").cuts_lines is (core.scan_level() > 0)
    assert decoder_for("example.com/v1/Widget", mode="dict").cuts_lines is (
        core.scan_level() > 0
    )
    assert not decoder_for("v1/Pod", transform=lambda o: o).cuts_lines
    assert ObjectDecoder("v1", "Pod", Pod, cut_lines=True).cuts_lines
    assert not ObjectDecoder("v1", "Pod", Pod, cut_lines=False).cuts_lines


CUT_CASES = [("v1", "Pod", Pod), ("v1", "Pod", None), ("example.com/v1", "Widget", None)]


@pytest.fixture(params=[True, False], ids=["cut", "whole"])
def cut_lines(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.mark.parametrize(("api_version", "kind", "model"), CUT_CASES)
def test_cut_and_whole_lines_decode_alike_and_reuse_alike(
    cut_lines: bool, api_version: str, kind: str, model: Any
) -> None:
    dec = ObjectDecoder(api_version, kind, model, cut_lines=cut_lines)
    event = _widget_event if kind == "Widget" else _pod_event
    memo: dict[Any, Any] = {}
    previous = None
    for rv, etype in enumerate(["ADDED", "MODIFIED", "MODIFIED"]):
        line = event(etype, "p", rv)
        got = dec.decode_event_reusing(line, memo)
        assert got == dec.decode_event(line)
        spec = got.object.spec if model is not None else got.object["spec"]
        if previous is not None:
            assert spec is previous
        previous = spec
    dec.decode_event_reusing(event("DELETED", "p", 9), memo)
    assert memo == {}


def test_pretty_printed_and_reordered_lines_are_cut_like_compact_ones(cut_lines: bool) -> None:
    dec = ObjectDecoder("v1", "Pod", Pod, cut_lines=cut_lines)
    compact = json.loads(_pod_event("ADDED", "p", 1))
    pretty = json.dumps({"object": compact["object"], "type": "ADDED"}, indent=2).encode()
    memo: dict[Any, Any] = {}
    first = dec.decode_event_reusing(pretty, memo)
    assert first == dec.decode_event(pretty)
    again = dec.decode_event_reusing(pretty, memo)
    assert again.object.spec is first.object.spec


def test_lines_the_cutter_refuses_are_decoded_whole(cut_lines: bool) -> None:
    dec = ObjectDecoder("v1", "Pod", Pod, cut_lines=cut_lines)
    memo: dict[Any, Any] = {}
    escaped = _pod_event("ADDED", "p", 1).replace(b'"spec":', b'"sp\\u0065c":')
    got = dec.decode_event_reusing(escaped, memo)
    assert got == dec.decode_event(escaped)
    assert got.object.spec is not None
    with pytest.raises(DecodeError):
        dec.decode_event_reusing(_pod_event("MODIFIED", "p", 2)[:-1], memo)


def test_typed_decoders_keeping_managed_fields_do_not_cut_them(cut_lines: bool) -> None:
    dec = ObjectDecoder("v1", "Pod", PodWithManagedFields, True, cut_lines=cut_lines)
    line = _pod_event("ADDED", "p", 1)
    got = dec.decode_event_reusing(line, {})
    assert got == dec.decode_event(line)
    assert got.object.metadata.managed_fields


def test_a_cut_drops_managed_fields_unread_and_a_whole_decode_reads_them(
    cut_lines: bool,
) -> None:
    dec = ObjectDecoder("v1", "Pod", Pod, cut_lines=cut_lines)
    line = _pod_event("ADDED", "p", 1).replace(b'"managedFields":[', b'"managedFields":[nul,')
    if cut_lines:  # documented: only strings and brackets are checked in what is dropped
        assert dec.decode_event_reusing(line, {}).object.metadata.name == "p"
    else:
        with pytest.raises(DecodeError):
            dec.decode_event_reusing(line, {})
    with pytest.raises(DecodeError):
        dec.decode_event_reusing(line.replace(b'"managedFields":[', b'"managedFields":[{'), {})


def test_cut_lines_reuse_unchanged_metadata_containers() -> None:
    dec = ObjectDecoder("v1", "Pod", Pod, cut_lines=True)
    memo: dict[Any, Any] = {}
    first = dec.decode_event_reusing(_pod_event("ADDED", "p", 1), memo).object
    second = dec.decode_event_reusing(_pod_event("MODIFIED", "p", 2), memo).object
    assert first.metadata.labels and first.metadata.annotations
    assert second.metadata.labels is first.metadata.labels
    assert second.metadata.annotations is first.metadata.annotations
    assert second.metadata.resource_version == "2"
    assert dec.reusable_fields == ("spec", "status")


def test_changed_labels_are_decoded_with_their_strings_shared() -> None:
    from fastinformer.models import base as models_base

    dec = ObjectDecoder("v1", "Pod", Pod, cut_lines=True)
    memo: dict[Any, Any] = {}
    first = dec.decode_event_reusing(_pod_event("ADDED", "p", 1), memo).object
    line = _pod_event("MODIFIED", "p", 2)
    app = first.metadata.labels["app"]
    line = line.replace(f'"app":"{app}"'.encode(), b'"app":"relabelled-by-a-test"')
    second = dec.decode_event_reusing(line, memo).object
    assert second == dec.decode_event(line).object
    assert second.metadata.labels["app"] == "relabelled-by-a-test"
    assert second.metadata.labels is not first.metadata.labels
    assert second.metadata.labels["app"] is models_base.SHARED["relabelled-by-a-test"]
    assert second.metadata.annotations is first.metadata.annotations
    if core.__name__ == "fastinformer._core":
        assert not gc.is_tracked(second.metadata.labels)
