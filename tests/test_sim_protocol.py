"""The simulator's HTTP protocol checked against real kube-apiserver recordings.

Every request of a recording is replayed against a simulator holding the same objects (the
namespace is even called ``rec-32487``), and statuses, kinds, reasons, messages, list
metadata and watch event sequences are compared; names of uids, timestamps and
resourceVersion values are not.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from fastinformer.sim import Simulator

RECORDINGS = Path("/work/shared/apiserver-recordings")
NS = "rec-32487"


def recording(name: str) -> dict[str, Any]:
    path = next(RECORDINGS.glob(f"{name}*.json"), None)
    if path is None:
        pytest.skip(f"recording {name} is not available")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


class Client:
    """A tiny HTTP client for raw protocol checks."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(10))

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        accept: str = "application/json",
        token: str | None = "default",
    ) -> tuple[int, dict[str, str], Any]:
        headers = {"Accept": accept, "Content-Type": content_type}
        token = self.sim.token if token == "default" else token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        resp = self.http.request(method, self.sim.url + path, body=data, headers=headers)
        payload = json.loads(resp.data) if resp.data else None
        return resp.status, dict(resp.headers), payload

    def watch(self, path: str) -> list[dict[str, Any]]:
        """Every line of a watch (the path sets timeoutSeconds), decoded."""
        headers = {"Authorization": f"Bearer {self.sim.token}"}
        resp = self.http.request("GET", self.sim.url + path, headers=headers,
                                 preload_content=True)
        assert resp.status == 200, resp.data
        return [json.loads(line) for line in resp.data.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(too_large_rv_wait=0.2, bookmark_interval=60.0) as simulator:
        store = simulator.store
        store.create("namespaces", {"metadata": {"name": NS}})
        store.create("configmaps", {"metadata": {"name": "a", "labels": {"app": "x"}},
                                    "data": {"k": "v"}}, NS)
        for i in range(5):
            tier = "web" if i % 2 else "db"
            store.create("configmaps", {"metadata": {"name": f"c{i}", "labels": {"tier": tier}},
                                        "data": {"k": "v"}}, NS)
        simulator.populate(nodes=8, pods=40, namespaces=8, seed=1)
        yield simulator


@pytest.fixture(scope="module")
def client(sim: Simulator) -> Client:
    return Client(sim)


def assert_same_error(got: tuple[int, dict[str, str], Any], rec: dict[str, Any]) -> None:
    status, headers, body = got
    assert status == rec["status"]
    assert headers["Content-Type"] == rec["headers"]["Content-Type"]
    assert body == rec["body"]


def names(body: dict[str, Any]) -> list[str]:
    return [item["metadata"]["name"] for item in body["items"]]


def token_payload(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    return decoded


# Discovery ----------------------------------------------------------------------------------


def test_version_has_the_fields_clients_read(client: Client) -> None:
    status, _, body = client.call("GET", "/version")
    assert status == 200
    assert set(body) == set(recording("01")["body"])


def test_core_group_discovery_matches_the_recording(client: Client) -> None:
    assert client.call("GET", "/api")[2]["kind"] == recording("02")["body"]["kind"]
    status, _, body = client.call("GET", "/api/v1")
    rec = recording("03")["body"]
    assert status == 200
    assert set(body) == set(rec)
    recorded = {r["name"]: r for r in rec["resources"]}
    served = {r["name"]: r for r in body["resources"]}
    for name in ("pods", "pods/status", "nodes", "nodes/status", "namespaces",
                 "namespaces/status", "configmaps", "services", "services/status", "events"):
        expected = {k: v for k, v in recorded[name].items() if k != "storageVersionHash"}
        got = {k: v for k, v in served[name].items() if k != "storageVersionHash"}
        assert got == expected, name


@pytest.mark.parametrize(("rec", "path", "names_"), [
    ("05", "/apis/apps/v1", ("deployments", "deployments/status", "replicasets")),
    ("06", "/apis/coordination.k8s.io/v1", ("leases",)),
])
def test_group_version_discovery_matches_the_recording(
    client: Client, rec: str, path: str, names_: tuple[str, ...]
) -> None:
    status, _, body = client.call("GET", path)
    recorded = recording(rec)["body"]
    assert status == 200
    assert (body["kind"], body["apiVersion"], body["groupVersion"]) == (
        recorded["kind"], recorded["apiVersion"], recorded["groupVersion"])
    recorded_by_name = {r["name"]: r for r in recorded["resources"]}
    served = {r["name"]: r for r in body["resources"]}
    for name in names_:
        drop = {"storageVersionHash"}
        assert {k: v for k, v in served[name].items() if k not in drop} == {
            k: v for k, v in recorded_by_name[name].items() if k not in drop}


def test_group_list_has_the_recorded_shape(client: Client) -> None:
    status, _, body = client.call("GET", "/apis")
    recorded = recording("04")["body"]
    assert status == 200 and body["kind"] == recorded["kind"]
    apps = next(g for g in body["groups"] if g["name"] == "apps")
    assert apps == next(g for g in recorded["groups"] if g["name"] == "apps")


# Writes ---------------------------------------------------------------------------------


def test_namespace_creation_adds_the_server_defaults(client: Client) -> None:
    rec = recording("07")
    status, _, body = client.call("POST", "/api/v1/namespaces", {"metadata": {"name": "made"}})
    assert status == rec["status"]
    assert body["metadata"]["labels"] == {"kubernetes.io/metadata.name": "made"}
    assert (body["spec"], body["status"]) == (rec["body"]["spec"], rec["body"]["status"])


def test_create_duplicate_and_missing_answer_like_the_server(client: Client) -> None:
    rec = recording("08")
    status, _, body = client.call("POST", f"/api/v1/namespaces/{NS}/configmaps",
                                  {**rec["request"]["body"], "metadata": {"name": "made"}})
    assert status == 201
    assert [body["kind"], body["apiVersion"], list(body)] == [
        rec["body"]["kind"], rec["body"]["apiVersion"], list(rec["body"])]
    assert list(body["metadata"]) == ["name", "namespace", "uid", "resourceVersion",
                                      "creationTimestamp"]
    assert_same_error(client.call("POST", f"/api/v1/namespaces/{NS}/configmaps",
                                  recording("09")["request"]["body"]), recording("09"))
    assert_same_error(client.call("GET", recording("10")["request"]["path"]), recording("10"))


def test_update_with_a_stale_resource_version_conflicts(client: Client) -> None:
    path = f"/api/v1/namespaces/{NS}/configmaps"
    _, _, created = client.call("POST", path, {"metadata": {"name": "upd"}, "data": {"k": "v"}})
    old_rv = created["metadata"]["resourceVersion"]
    put = {"metadata": {"name": "upd", "resourceVersion": old_rv}, "data": {"k": "v2"}}
    status, _, updated = client.call("PUT", f"{path}/upd", put)
    assert status == 200 and int(updated["metadata"]["resourceVersion"]) > int(old_rv)
    assert updated["data"] == {"k": "v2"}
    rec = recording("12")
    stale = {"metadata": {"name": "a", "resourceVersion": old_rv}, "data": {"k": "v"}}
    assert_same_error(client.call("PUT", f"{path}/a", stale), rec)


def test_patches_of_every_type_give_the_recorded_data(client: Client) -> None:
    path = f"/api/v1/namespaces/{NS}/configmaps"
    client.call("POST", path, {"metadata": {"name": "p", "labels": {"app": "x"}},
                               "data": {"k": "v2"}})
    status, _, merged = client.call("PATCH", f"{path}/p", recording("13")["request"]["body"],
                                    content_type="application/merge-patch+json")
    assert status == 200 and merged["data"] == recording("13")["body"]["data"]
    status, _, patched = client.call("PATCH", f"{path}/p", recording("14")["request"]["body"],
                                     content_type="application/json-patch+json")
    assert status == 200 and patched["data"] == recording("14")["body"]["data"]


def test_strategic_merge_patch_merges_pod_labels(client: Client, sim: Simulator) -> None:
    pod = sim.store.get_stored("pods", "pod-0", "ns-0").to_dict()
    status, _, body = client.call("PATCH", "/api/v1/namespaces/ns-0/pods/pod-0",
                                  recording("15")["request"]["body"],
                                  content_type="application/strategic-merge-patch+json")
    assert status == 200
    assert body["metadata"]["labels"] == {**pod["metadata"]["labels"], "rec": "1"}
    assert body["spec"] == pod["spec"]


def test_delete_answers_a_success_status(client: Client) -> None:
    path = f"/api/v1/namespaces/{NS}/configmaps"
    _, _, created = client.call("POST", path, {"metadata": {"name": "gone"}})
    status, _, body = client.call("DELETE", f"{path}/gone")
    rec = recording("34")
    assert status == rec["status"]
    assert body == {**rec["body"], "details": {"name": "gone", "kind": "configmaps",
                                               "uid": created["metadata"]["uid"]}}
    assert client.call("GET", f"{path}/gone")[0] == 404


# Lists ----------------------------------------------------------------------------------


def test_pagination_reports_continue_and_remaining_items(client: Client) -> None:
    rec1, rec2 = recording("16"), recording("17")
    path = f"/api/v1/namespaces/{NS}/configmaps?labelSelector=app%20in%20(x)%2Ctier&limit=2"
    assert client.call("GET", path)[2]["items"] == []
    status, _, page1 = client.call("GET", f"/api/v1/namespaces/{NS}/configmaps?limit=2")
    assert status == 200 and names(page1)[:1] == ["a"]
    assert set(page1["metadata"]) == set(rec1["body"]["metadata"])
    token = token_payload(page1["metadata"]["continue"])
    assert set(token) == {"v", "rv", "start"} and token["v"] == "meta.k8s.io/v1"
    assert token["start"] == names(page1)[-1] + "\x00"
    total = page1["metadata"]["remainingItemCount"] + 2
    _, _, page2 = client.call("GET", f"/api/v1/namespaces/{NS}/configmaps?limit=2&continue="
                              + page1["metadata"]["continue"])
    assert set(page2["metadata"]) == set(rec2["body"]["metadata"])
    assert page2["metadata"]["remainingItemCount"] == total - 4
    assert page2["metadata"]["resourceVersion"] == page1["metadata"]["resourceVersion"]
    assert names(page2)[0] > names(page1)[-1]


def test_malformed_continue_token_is_a_bad_request(client: Client) -> None:
    rec = recording("18")
    assert_same_error(client.call("GET", rec["request"]["path"]), rec)


def test_label_selectors_are_evaluated_by_the_server(client: Client) -> None:
    rec = recording("19")
    status, _, body = client.call("GET", rec["request"]["path"])
    assert status == 200 and names(body) == names(rec["body"])
    assert set(body["metadata"]) == set(rec["body"]["metadata"])
    assert_same_error(client.call("GET", recording("20")["request"]["path"]), recording("20"))


def test_field_selectors_are_evaluated_and_unknown_fields_refused(client: Client) -> None:
    rec = recording("21")
    status, _, body = client.call("GET", rec["request"]["path"])
    assert status == 200 and names(body) == names(rec["body"])
    assert_same_error(client.call("GET", recording("22")["request"]["path"]), recording("22"))
    status, _, body = client.call("GET", "/api/v1/pods?fieldSelector=spec.nodeNam%3Dx")
    assert (status, body["message"]) == (400, "field label not supported: spec.nodeNam")


def test_pod_field_selector_with_limit_paginates_without_a_count(
    client: Client, sim: Simulator
) -> None:
    rec = recording("23")
    status, _, body = client.call("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dkwok-node-"
                                  "1&limit=1")
    assert status == 200 and len(body["items"]) == 1
    assert set(body["metadata"]) == set(rec["body"]["metadata"])
    assert body["items"][0]["spec"]["nodeName"] == "kwok-node-1"
    on_node = [p for p in sim.store.list("pods") if p["spec"]["nodeName"] == "kwok-node-1"]
    seen, cont = [body["items"][0]["metadata"]["name"]], body["metadata"].get("continue")
    while cont:
        _, _, page = client.call("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dkwok-node-1"
                                 f"&limit=1&continue={cont}")
        seen += names(page)
        cont = page["metadata"].get("continue")
    assert sorted(seen) == sorted(p["metadata"]["name"] for p in on_node)


def test_resource_version_zero_ignores_limit(client: Client, sim: Simulator) -> None:
    rec = recording("24")
    status, _, body = client.call("GET", "/api/v1/namespaces/ns-0/pods?resourceVersion=0&limit=3")
    assert status == 200 and len(body["items"]) == sim.store.count("pods") // 8
    assert set(body["metadata"]) == set(rec["body"]["metadata"])


def test_exact_list_of_a_compacted_version_is_expired(client: Client) -> None:
    assert_same_error(client.call("GET", recording("25")["request"]["path"]), recording("25"))


def test_exact_list_serves_the_state_at_that_version(client: Client) -> None:
    path = f"/api/v1/namespaces/{NS}/configmaps"
    client.call("POST", path, {"metadata": {"name": "then"}, "data": {"v": "1"}})
    _, _, before = client.call("GET", path)
    rv = before["metadata"]["resourceVersion"]
    client.call("PATCH", f"{path}/then", {"data": {"v": "2"}},
                content_type="application/merge-patch+json")
    client.call("DELETE", f"{path}/c4")
    status, _, at_rv = client.call("GET", f"{path}?resourceVersion={rv}&resourceVersionMatch=Exact")
    assert status == 200 and at_rv == before
    client.call("POST", path, {"metadata": {"name": "c4", "labels": {"tier": "db"}},
                               "data": {"k": "v"}})


def test_future_not_older_than_answers_timeout_with_retry_after(client: Client) -> None:
    rec = recording("26")
    status, headers, body = client.call("GET", rec["request"]["path"])
    assert status == 504 and headers["Retry-After"] == rec["headers"]["Retry-After"]
    current = body["message"].rsplit(" ", 1)[-1]
    expected = rec["body"]["message"].rsplit(" ", 1)[0] + " " + current
    assert body == {**rec["body"], "message": expected}


def test_a_watch_from_a_future_version_answers_too_large_after_waiting(
    client: Client, sim: Simulator
) -> None:
    current = sim.store.resource_version
    future = current + 1000
    path = f"/api/v1/namespaces/{NS}/configmaps?watch=true&timeoutSeconds=2"
    path += f"&resourceVersion={future}"
    started = time.monotonic()
    status, headers, body = client.call("GET", path)
    assert time.monotonic() - started >= 0.2  # the simulator's too_large_rv_wait
    assert status == 504 and headers["Retry-After"] == "1"
    assert body["reason"] == "Timeout"
    assert body["message"].startswith(f"Timeout: Too large resource version: {future}")
    streaming = path + "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
    status, _, body = client.call("GET", streaming + "&allowWatchBookmarks=true")
    assert status == 504 and body["reason"] == "Timeout"


def test_a_watch_from_the_next_version_waits_for_it(client: Client, sim: Simulator) -> None:
    path = f"/api/v1/namespaces/{NS}/configmaps"
    current = sim.store.resource_version

    def write() -> None:
        client.call("POST", path, {"metadata": {"name": "soon"}, "data": {"v": "1"}})
        client.call("PATCH", f"{path}/soon", {"data": {"v": "2"}},
                    content_type="application/merge-patch+json")

    writer = threading.Timer(0.05, write)  # once the watch below waits for current + 1
    writer.start()
    try:
        lines = client.watch(f"{path}?watch=true&resourceVersion={current + 1}&timeoutSeconds=1")
    finally:
        writer.join()
        client.call("DELETE", f"{path}/soon")
    assert [(e["type"], e["object"]["data"]) for e in lines] == [("MODIFIED", {"v": "2"})]


def test_metadata_only_lists_are_partial_object_metadata(client: Client) -> None:
    rec = recording("27")
    accept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
    status, _, body = client.call("GET", rec["request"]["path"], accept=accept)
    assert status == 200
    assert (body["kind"], body["apiVersion"]) == (rec["body"]["kind"], rec["body"]["apiVersion"])
    assert set(body["metadata"]) == set(rec["body"]["metadata"])
    item = body["items"][0]
    assert list(item) == list(rec["body"]["items"][0])
    assert (item["kind"], item["apiVersion"]) == ("PartialObjectMetadata", "meta.k8s.io/v1")


def test_a_bad_token_is_unauthorized(client: Client) -> None:
    rec = recording("28")
    assert_same_error(client.call("GET", rec["request"]["path"], token="wrong"), rec)
    assert_same_error(client.call("GET", rec["request"]["path"], token=None), rec)


def test_expired_continue_token_offers_an_inconsistent_continuation(
    client: Client, sim: Simulator
) -> None:
    path = f"/api/v1/namespaces/{NS}/configmaps?limit=2"
    _, _, page1 = client.call("GET", path)
    sim.store.create("configmaps", {"metadata": {"name": "zz"}}, NS)
    sim.store.compact()
    status, _, body = client.call("GET", f"{path}&continue={page1['metadata']['continue']}")
    assert (status, body["reason"], body["code"]) == (410, "Expired", 410)
    assert body["message"].startswith("The provided continue parameter is too old")
    assert token_payload(body["metadata"]["continue"])["rv"] == -1
    status, _, rest = client.call("GET", f"{path}&continue={body['metadata']['continue']}")
    assert status == 200 and names(rest)[0] > names(page1)[-1]


def test_list_options_are_validated_like_the_server(client: Client) -> None:
    status, _, body = client.call("GET", f"/api/v1/namespaces/{NS}/configmaps"
                                  "?resourceVersionMatch=Exact")
    assert (status, body["reason"]) == (422, "Invalid")
    assert body["message"] == ('ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: '
                               "Forbidden: resourceVersionMatch is forbidden unless "
                               "resourceVersion is provided")


# Watches --------------------------------------------------------------------------------


def test_watch_from_a_version_sees_add_modify_delete_then_a_bookmark(
    client: Client, sim: Simulator
) -> None:
    rec = recording("29")
    rv = sim.store.resource_version
    path = f"/api/v1/namespaces/{NS}/configmaps"
    client.call("POST", path, {"metadata": {"name": "w1"}, "data": {"k": "v"}})
    client.call("PATCH", f"{path}/w1", {"data": {"z": "1"}},
                content_type="application/merge-patch+json")
    client.call("DELETE", f"{path}/w1")
    lines = client.watch(f"{path}?watch=1&resourceVersion={rv}&allowWatchBookmarks=true"
                         "&timeoutSeconds=1")
    assert [e["type"] for e in lines] == [e["type"] for e in rec["watch_lines"]]
    added, modified, deleted, bookmark = lines
    assert list(added["object"]) == list(rec["watch_lines"][0]["object"])
    assert deleted["object"]["data"] == modified["object"]["data"] == {"k": "v", "z": "1"}
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in lines]
    assert rvs[0] < rvs[1] < rvs[2] <= rvs[3]
    assert bookmark["object"] == {**rec["watch_lines"][3]["object"],
                                  "metadata": {"resourceVersion": str(rvs[3]),
                                               "creationTimestamp": None}}


def test_watch_from_zero_replays_current_state_as_added(client: Client, sim: Simulator) -> None:
    lines = client.watch(f"/api/v1/namespaces/{NS}/configmaps?watch=1&resourceVersion=0"
                         "&timeoutSeconds=1")
    assert {e["type"] for e in lines} == {"ADDED"}
    assert sorted(e["object"]["metadata"]["name"] for e in lines) == sorted(
        o["metadata"]["name"] for o in sim.store.list("configmaps", NS))


def test_selector_watch_turns_entering_and_leaving_into_added_and_deleted(
    client: Client, sim: Simulator
) -> None:
    rec = recording("31")
    rv = sim.store.resource_version
    path = f"/api/v1/namespaces/{NS}/configmaps/c0"
    for tier in ("web", "db"):
        client.call("PATCH", path, {"metadata": {"labels": {"tier": tier}}},
                    content_type="application/strategic-merge-patch+json")
    lines = client.watch(f"/api/v1/namespaces/{NS}/configmaps?watch=1&labelSelector=tier%3Dweb"
                         f"&timeoutSeconds=1&resourceVersion={rv}")
    assert [e["type"] for e in lines] == [e["type"] for e in rec["watch_lines"]]
    entered, left = lines
    assert entered["object"]["metadata"]["labels"] == left["object"]["metadata"]["labels"]
    assert int(left["object"]["metadata"]["resourceVersion"]) == sim.store.get_stored(
        "configmaps", "c0", NS).rv


def test_watch_from_a_compacted_version_gets_one_expired_error_event(client: Client) -> None:
    rec = recording("32")
    lines = client.watch("/api/v1/pods?watch=1&resourceVersion=1&timeoutSeconds=3")
    assert len(lines) == 1 and lines[0]["type"] == "ERROR"
    status = lines[0]["object"]
    expected = rec["watch_lines"][0]["object"]
    assert {k: v for k, v in status.items() if k != "message"} == {
        k: v for k, v in expected.items() if k != "message"}
    assert status["message"].startswith("too old resource version: 1 (")


def test_quiet_watch_with_bookmarks_sends_nothing_before_its_timeout(
    client: Client, sim: Simulator
) -> None:
    rv = sim.store.resource_version
    lines = client.watch(f"/api/v1/namespaces/{NS}/configmaps?watch=1&resourceVersion={rv}"
                         "&allowWatchBookmarks=true&timeoutSeconds=1")
    assert lines == recording("33")["watch_lines"]


def test_streaming_list_ends_initial_events_with_an_annotated_bookmark(
    client: Client, sim: Simulator
) -> None:
    lines = client.watch(f"/api/v1/namespaces/{NS}/configmaps?watch=1&sendInitialEvents=true"
                         "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
                         "&resourceVersion=&timeoutSeconds=1")
    current = sim.store.list("configmaps", NS)
    assert [e["type"] for e in lines] == ["ADDED"] * len(current) + ["BOOKMARK"]
    bookmark = lines[-1]["object"]["metadata"]
    assert bookmark["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(bookmark["resourceVersion"]) >= max(
        int(o["metadata"]["resourceVersion"]) for o in current)


def test_streaming_list_without_bookmarks_is_invalid(client: Client) -> None:
    status, _, body = client.call("GET", f"/api/v1/namespaces/{NS}/configmaps?watch=1"
                                  "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan")
    assert (status, body["reason"]) == (422, "Invalid")


def test_metadata_only_watch_sends_partial_objects(client: Client, sim: Simulator) -> None:
    headers = {"Authorization": f"Bearer {sim.token}",
               "Accept": "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"}
    resp = client.http.request("GET", sim.url + f"/api/v1/namespaces/{NS}/configmaps?watch=1"
                               "&timeoutSeconds=1", headers=headers)
    lines = [json.loads(x) for x in resp.data.splitlines()]
    assert lines and all(e["object"]["kind"] == "PartialObjectMetadata" for e in lines)
    assert all("data" not in e["object"] for e in lines)
