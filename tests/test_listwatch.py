from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from fastinformer.decode import decoder_for
from fastinformer.errors import DecodeError, ExpiredError, ForbiddenError
from fastinformer.listwatch import (
    METADATA_LIST_ACCEPT,
    METADATA_WATCH_ACCEPT,
    ListWatch,
)
from fastinformer.protocol import ListerWatcher, ListOptions, WatchEvent
from fastinformer.resources import Resource
from fastinformer.transport import Transport, TransportError
from tests.fake_apiserver import (
    FakeAPIServer,
    Received,
    Reply,
    WatchReply,
    make_pki,
    recording,
    status_body,
)

CM_PATH = "/api/v1/namespaces/rec/configmaps"
DICTS = decoder_for("v1/ConfigMap", mode="dict")


@pytest.fixture
def server() -> Iterator[FakeAPIServer]:
    with FakeAPIServer() as srv:
        yield srv


@pytest.fixture
def transport(server: FakeAPIServer) -> Transport:
    return Transport(client.Configuration(host=server.url))


def configmaps(transport: Transport, **kwargs: Any) -> ListWatch:
    kwargs.setdefault("decoder", DICTS)
    return ListWatch(transport, "configmaps", namespace="rec", **kwargs)


def watch_reply(name: str, **kwargs: Any) -> WatchReply:
    return WatchReply.from_events(recording(name)["watch_lines"], **kwargs)


# --- list ---------------------------------------------------------------------------------


def test_list_returns_items_and_list_metadata(server: FakeAPIServer, transport: Transport) -> None:
    server.routes[CM_PATH] = Reply.from_recording("16-list-page1-limit2")
    page = configmaps(transport).list(ListOptions(limit=2))
    body = recording("16-list-page1-limit2")["body"]
    assert [i["metadata"]["name"] for i in page.items] == ["a", "c0"]
    assert page.resource_version == body["metadata"]["resourceVersion"]
    assert page.continue_ == body["metadata"]["continue"]
    assert page.remaining_item_count == 4


def test_last_page_has_no_continue_token(server: FakeAPIServer, transport: Transport) -> None:
    body = recording("17-list-page2-continue")["body"]
    body["metadata"] = {"resourceVersion": "201238", "continue": ""}
    server.routes[CM_PATH] = Reply(200, body)
    page = configmaps(transport).list(ListOptions(limit=2, continue_="tok"))
    assert (page.continue_, page.remaining_item_count, len(page.items)) == (None, None, 2)


def test_default_decoder_gives_typed_objects_of_the_kind(
    server: FakeAPIServer, transport: Transport
) -> None:
    server.routes[CM_PATH] = lambda r: (
        watch_reply("29-watch-from-rv-add-modify-delete")
        if "watch" in r.query
        else Reply.from_recording("16-list-page1-limit2")
    )
    lw = ListWatch(transport, "configmaps", namespace="rec")
    page = lw.list(ListOptions())
    assert [(i.metadata.name, i.data) for i in page.items] == [
        ("a", {"k": "v2", "p": "1", "q": "2"}),
        ("c0", {"k": "v"}),
    ]
    first = next(iter(lw.watch(ListOptions())))
    assert (first.type, first.object.metadata.name) == ("ADDED", "w1")


def test_metadata_only_default_decoder_gives_partial_object_metadata(
    server: FakeAPIServer, transport: Transport
) -> None:
    server.routes[CM_PATH] = Reply.from_recording("27-list-metadata-only")
    page = ListWatch(transport, "configmaps", namespace="rec", metadata_only=True).list(
        ListOptions()
    )
    assert [type(i).__name__ for i in page.items] == ["PartialObjectMetadata"] * 2
    assert page.items[1].metadata.labels == {"tier": "db"}


def test_list_sends_paging_and_resource_version_options(
    server: FakeAPIServer, transport: Transport
) -> None:
    server.routes[CM_PATH] = Reply(200, {"metadata": {"resourceVersion": "5"}, "items": []})
    opts = ListOptions(
        limit=500, continue_="abc", resource_version="42", resource_version_match="NotOlderThan"
    )
    configmaps(transport).list(opts)
    assert server.received[0].query == {
        "limit": "500",
        "continue": "abc",
        "resourceVersion": "42",
        "resourceVersionMatch": "NotOlderThan",
    }


def test_selectors_and_namespace_are_sent_to_the_server(
    server: FakeAPIServer, transport: Transport
) -> None:
    path = "/apis/apps/v1/namespaces/team-a/deployments"
    server.routes[path] = Reply(200, {"metadata": {"resourceVersion": "5"}, "items": []})
    lw = ListWatch(
        transport,
        "deployments.apps",
        namespace="team-a",
        label_selector="app in (a,b)",
        field_selector="metadata.name!=x",
        decoder=DICTS,
    )
    lw.list(ListOptions(resource_version="0"))
    got = server.received[0]
    assert got.path == path
    assert got.query == {
        "resourceVersion": "0",
        "labelSelector": "app in (a,b)",
        "fieldSelector": "metadata.name!=x",
    }


def test_listwatch_selectors_replace_those_in_the_options_without_mutating_them(
    transport: Transport,
) -> None:
    lw = configmaps(transport, label_selector="app=x")
    original = ListOptions(label_selector="app=y", field_selector="a=b")
    sent = lw.options(original)
    assert (sent.label_selector, sent.field_selector) == ("app=x", "a=b")
    assert original.label_selector == "app=y"


def test_empty_namespace_lists_all_namespaces(server: FakeAPIServer, transport: Transport) -> None:
    server.routes["/api/v1/pods"] = Reply(
        200, {"metadata": {"resourceVersion": "1"}, "items": None}
    )
    page = ListWatch(transport, "pods", namespace="", decoder=DICTS).list(ListOptions())
    assert page.items == [] and page.resource_version == "1"


def test_namespace_for_a_cluster_scoped_resource_is_refused(transport: Transport) -> None:
    with pytest.raises(ValueError, match="cluster-scoped"):
        ListWatch(transport, "nodes", namespace="default")


def test_custom_resource_paths(server: FakeAPIServer, transport: Transport) -> None:
    widgets = Resource("example.com", "v1", "widgets", "Widget", True)
    path = "/apis/example.com/v1/namespaces/ns/widgets"
    server.routes[path] = Reply(200, {"metadata": {"resourceVersion": "1"}, "items": []})
    ListWatch(transport, widgets, namespace="ns", decoder=DICTS).list(ListOptions())
    assert server.received[0].path == path


def test_tweak_list_options_applies_to_list_and_watch(
    server: FakeAPIServer, transport: Transport
) -> None:
    server.routes[CM_PATH] = lambda r: (
        WatchReply([]) if "watch" in r.query else Reply(200, {"items": []})
    )

    def tweak(opts: ListOptions) -> None:
        opts.label_selector = "tweaked=yes"

    lw = configmaps(transport, label_selector="app=x", tweak_list_options=tweak)
    lw.list(ListOptions())
    list(lw.watch(ListOptions()))
    assert [r.query["labelSelector"] for r in server.received] == ["tweaked=yes", "tweaked=yes"]


def test_tweak_returning_new_options_is_used(transport: Transport) -> None:
    lw = configmaps(transport, tweak_list_options=lambda o: ListOptions(limit=7))
    assert lw.options(ListOptions(limit=1)).limit == 7


def test_tweak_returning_something_else_is_a_type_error(transport: Transport) -> None:
    lw = configmaps(transport, tweak_list_options=lambda o: {"limit": 1})
    with pytest.raises(TypeError, match="ListOptions or None"):
        lw.options(ListOptions())


def test_list_error_raises_api_error(server: FakeAPIServer, transport: Transport) -> None:
    server.routes[CM_PATH] = Reply.from_recording("25-list-exact-too-old-410")
    with pytest.raises(ExpiredError, match="too old"):
        configmaps(transport).list(
            ListOptions(resource_version="1", resource_version_match="Exact")
        )


def test_malformed_list_body_is_a_decode_error(server: FakeAPIServer, transport: Transport) -> None:
    server.routes[CM_PATH] = Reply(200, b'{"items": [}')
    with pytest.raises(DecodeError):
        configmaps(transport).list(ListOptions())


def test_metadata_only_asks_for_partial_object_metadata(
    server: FakeAPIServer, transport: Transport
) -> None:
    server.routes[CM_PATH] = lambda r: (
        WatchReply([]) if "watch" in r.query else Reply.from_recording("27-list-metadata-only")
    )
    lw = configmaps(transport, metadata_only=True)
    page = lw.list(ListOptions(limit=2))
    list(lw.watch(ListOptions()))
    accepts = [r.headers["accept"] for r in server.received]
    assert accepts == [METADATA_LIST_ACCEPT, METADATA_WATCH_ACCEPT]
    assert page.items[0]["kind"] == "PartialObjectMetadata"


def test_plain_mode_asks_for_json(server: FakeAPIServer, transport: Transport) -> None:
    server.routes[CM_PATH] = Reply(200, {"items": []})
    configmaps(transport).list(ListOptions())
    assert server.received[0].headers["accept"] == "application/json"


def test_listwatch_satisfies_the_lister_watcher_protocol(transport: Transport) -> None:
    lw: ListerWatcher = configmaps(transport)
    assert "configmaps" in repr(lw)


# --- watch --------------------------------------------------------------------------------


def test_watch_yields_recorded_events_in_order(server: FakeAPIServer, transport: Transport) -> None:
    server.routes[CM_PATH] = watch_reply("29-watch-from-rv-add-modify-delete")
    opts = ListOptions(resource_version="201239", allow_watch_bookmarks=True, timeout_seconds=4)
    events = list(configmaps(transport).watch(opts))
    lines = recording("29-watch-from-rv-add-modify-delete")["watch_lines"]
    assert [e.type for e in events] == [line["type"] for line in lines]
    assert [e.resource_version for e in events] == [
        line["object"]["metadata"]["resourceVersion"] for line in lines
    ]
    assert server.received[0].query == {
        "watch": "true",
        "resourceVersion": "201239",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "4",
    }


def test_watch_error_event_carries_the_status(server: FakeAPIServer, transport: Transport) -> None:
    server.routes[CM_PATH] = watch_reply("32-watch-too-old-rv-410")
    (event,) = list(configmaps(transport).watch(ListOptions(resource_version="1000")))
    assert event.type == "ERROR" and event.resource_version == ""
    assert (event.object["code"], event.object["reason"]) == (410, "Expired")


def test_watch_refused_on_open_raises_api_error(
    server: FakeAPIServer, transport: Transport
) -> None:
    server.routes[CM_PATH] = Reply(403, status_body(403, "Forbidden", "configmaps is forbidden"))
    with pytest.raises(ForbiddenError, match="forbidden"):
        configmaps(transport).watch(ListOptions())


def test_initial_events_end_bookmark_is_flagged(
    server: FakeAPIServer, transport: Transport
) -> None:
    bookmark = {
        "type": "BOOKMARK",
        "object": {
            "kind": "ConfigMap",
            "apiVersion": "v1",
            "metadata": {
                "resourceVersion": "9",
                "annotations": {"k8s.io/initial-events-end": "true"},
            },
        },
    }
    server.routes[CM_PATH] = WatchReply.from_events([bookmark])
    (event,) = list(configmaps(transport).watch(ListOptions(send_initial_events=True)))
    assert (event.type, event.resource_version, event.initial_events_end) == ("BOOKMARK", "9", True)


@pytest.mark.parametrize(
    "line", [b'{"type":"ADDED","object":{"metadata":', b'{"type":"EXPLODED","object":{}}', b"[]"]
)
def test_malformed_watch_line_is_a_decode_error(
    server: FakeAPIServer, transport: Transport, line: bytes
) -> None:
    server.routes[CM_PATH] = WatchReply([line + b"\n"])
    with pytest.raises(DecodeError):
        list(configmaps(transport).watch(ListOptions()))


def test_unterminated_last_line_is_a_decode_error_not_a_silent_drop(
    server: FakeAPIServer, transport: Transport
) -> None:
    first = json.dumps({"type": "ADDED", "object": {"metadata": {"name": "a"}}}).encode()
    server.routes[CM_PATH] = WatchReply([first + b"\n", b'{"type":"ADDED","object":{"meta'])
    seen: list[WatchEvent] = []
    with pytest.raises(DecodeError):
        for event in configmaps(transport).watch(ListOptions()):
            seen.append(event)
    assert len(seen) == 1


def test_connection_dropped_mid_watch_raises_transport_error(
    server: FakeAPIServer, transport: Transport
) -> None:
    first = json.dumps({"type": "ADDED", "object": {"metadata": {"name": "a"}}}).encode()
    server.routes[CM_PATH] = WatchReply([first + b"\n", b'{"type":'], abort=True)
    seen: list[WatchEvent] = []
    with pytest.raises(TransportError):
        for event in configmaps(transport).watch(ListOptions()):
            seen.append(event)
    assert [e.object["metadata"]["name"] for e in seen] == ["a"]


def _held_watch_events() -> list[dict[str, Any]]:
    return [{"type": "ADDED", "object": {"metadata": {"name": "a", "resourceVersion": "2"}}}]


def _close_blocked_watch(server: FakeAPIServer, transport: Transport) -> list[WatchEvent]:
    server.routes[CM_PATH] = WatchReply.from_events(_held_watch_events(), hold=True)
    stream = configmaps(transport).watch(ListOptions())
    seen: list[WatchEvent] = []
    first = threading.Event()
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            for event in stream:
                seen.append(event)
                first.set()
        except BaseException as exc:  # recorded for the assertion below
            errors.append(exc)

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    assert first.wait(10), "the first event never arrived"
    stream.close()  # the server is still holding the connection open
    reader.join(2.0)  # deadlock guard: without close() the server holds the watch for 30 s
    assert not reader.is_alive(), "close() did not end the blocked watch"
    assert errors == []
    return seen


def test_close_from_another_thread_ends_a_blocked_watch(
    server: FakeAPIServer, transport: Transport
) -> None:
    seen = _close_blocked_watch(server, transport)
    assert [e.object["metadata"]["name"] for e in seen] == ["a"]


def test_close_ends_a_blocked_watch_over_tls(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    with FakeAPIServer(pki.server_context()) as srv:
        cfg = client.Configuration(host=srv.url)
        cfg.ssl_ca_cert = str(pki.ca_cert)
        seen = _close_blocked_watch(srv, Transport(cfg))
    assert len(seen) == 1


def test_close_before_iterating_yields_nothing(server: FakeAPIServer, transport: Transport) -> None:
    server.routes[CM_PATH] = WatchReply.from_events(_held_watch_events(), hold=True)
    stream = configmaps(transport).watch(ListOptions())
    stream.close()
    stream.close()
    assert list(stream) == [] and stream.closed


def test_watch_stream_iterates_only_once(server: FakeAPIServer, transport: Transport) -> None:
    server.routes[CM_PATH] = WatchReply.from_events(_held_watch_events())
    stream = configmaps(transport).watch(ListOptions())
    events = iter(stream)
    next(events)
    with pytest.raises(RuntimeError, match="only once"):
        list(stream)
    stream.close()


def test_connection_is_reused_after_a_watch_ends(
    server: FakeAPIServer, transport: Transport
) -> None:
    ports: list[int] = []

    def route(r: Received) -> Reply | WatchReply:
        return WatchReply.from_events(_held_watch_events())

    server.routes[CM_PATH] = route
    lw = configmaps(transport)
    for _ in range(2):
        list(lw.watch(ListOptions()))
        pool = transport.pool.connection_from_url(server.url)
        ports.append(pool.num_connections)
    assert ports == [1, 1]


# --- against the embedded simulator -------------------------------------------------------


def test_pages_and_watch_against_the_simulator_over_tls_with_a_token() -> None:
    sim_module = pytest.importorskip("fastinformer.sim")
    with sim_module.Simulator(tls=True) as sim:
        sim.populate(nodes=2, pods=25, namespaces=2)
        transport = Transport(sim.kube_configuration())
        lw = ListWatch(transport, "pods")
        opts = ListOptions(limit=10)
        names: list[str] = []
        while True:
            page = lw.list(opts)
            names += [p.metadata.name for p in page.items]
            if page.continue_ is None:
                break
            opts = ListOptions(limit=10, continue_=page.continue_)
        assert sorted(names) == sorted(f"pod-{i}" for i in range(25))

        stream = lw.watch(ListOptions(resource_version=page.resource_version, timeout_seconds=30))
        seen: list[WatchEvent] = []
        arrived = threading.Event()

        def consume() -> None:
            for event in stream:
                seen.append(event)
                arrived.set()

        reader = threading.Thread(target=consume, daemon=True)
        reader.start()
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "new-pod"},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
        }
        transport.request("POST", "/api/v1/namespaces/ns-0/pods", body=pod)
        assert arrived.wait(10), "the watch did not deliver the created pod"
        stream.close()
        reader.join(5)
        assert not reader.is_alive()
        assert [(e.type, e.object.metadata.name) for e in seen] == [("ADDED", "new-pod")]


# --- reusing unchanged fields across watch events -------------------------------------------


def _cm_events(count: int, data: dict[str, str]) -> list[dict[str, Any]]:
    """``count`` MODIFIED events of one ConfigMap: new resourceVersion, same ``data``."""
    return [
        {"type": "MODIFIED", "object": {
            "kind": "ConfigMap", "apiVersion": "v1",
            "metadata": {"name": "cm", "namespace": "rec", "uid": "u1",
                         "resourceVersion": str(10 + i)},
            "data": data}}
        for i in range(count)
    ]


def only_object(lw: ListWatch, options: ListOptions) -> Any:
    """The object of the one event a watch sends (the stream is read to its end)."""
    (event,) = list(lw.watch(options))
    return event.object


def typed_configmaps(transport: Transport, **kwargs: Any) -> ListWatch:
    return ListWatch(transport, "configmaps", namespace="rec", **kwargs)


def test_watch_events_of_one_object_share_its_unchanged_fields(
    server: FakeAPIServer, transport: Transport
) -> None:
    server.routes[CM_PATH] = WatchReply.from_events(_cm_events(3, {"k": "v"}))
    events = list(typed_configmaps(transport).watch(ListOptions(resource_version="1")))
    assert [e.object.metadata.resource_version for e in events] == ["10", "11", "12"]
    assert events[0].object.data == {"k": "v"}
    assert events[1].object.data is events[0].object.data
    assert events[2].object.data is events[0].object.data


def test_reuse_can_be_turned_off(server: FakeAPIServer, transport: Transport) -> None:
    server.routes[CM_PATH] = WatchReply.from_events(_cm_events(2, {"k": "v"}))
    lw = typed_configmaps(transport, reuse_unchanged=False)
    events = list(lw.watch(ListOptions(resource_version="1")))
    assert events[1].object.data == events[0].object.data
    assert events[1].object.data is not events[0].object.data


def test_the_memo_lasts_across_watches_and_a_list_empties_it(
    server: FakeAPIServer, transport: Transport
) -> None:
    lw = typed_configmaps(transport)
    server.routes[CM_PATH] = WatchReply.from_events(_cm_events(1, {"k": "v"}))
    first = only_object(lw, ListOptions(resource_version="1"))
    server.routes[CM_PATH] = WatchReply.from_events(_cm_events(1, {"k": "v"}))
    again = only_object(lw, ListOptions(resource_version="10"))
    assert again.data is first.data
    server.routes[CM_PATH] = Reply(200, {"kind": "ConfigMapList", "apiVersion": "v1",
                                         "metadata": {"resourceVersion": "20"}, "items": []})
    lw.list(ListOptions())
    server.routes[CM_PATH] = WatchReply.from_events(_cm_events(1, {"k": "v"}))
    after = only_object(lw, ListOptions(resource_version="20"))
    assert after.data == first.data
    assert after.data is not first.data


def test_a_streaming_list_empties_the_memo(server: FakeAPIServer, transport: Transport) -> None:
    lw = typed_configmaps(transport)
    server.routes[CM_PATH] = WatchReply.from_events(_cm_events(1, {"k": "v"}))
    first = only_object(lw, ListOptions(resource_version="1"))
    server.routes[CM_PATH] = WatchReply.from_events(_cm_events(1, {"k": "v"}))
    streamed = list(lw.watch(ListOptions(send_initial_events=True, resource_version="")))
    assert streamed[0].object.data is not first.data
