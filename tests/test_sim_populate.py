"""Population generator and HTTP populator (against a scripted fake and the simulator)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from kubernetes.client import ApiClient, Configuration

from fastinformer.errors import ApiError
from fastinformer.selectors import parse_label_selector
from fastinformer.sim.populate import (
    POPULATED_LABEL,
    ZONES,
    HttpPopulator,
    PopulateProgress,
    Population,
    generate,
    make_namespace,
    make_node,
    make_pod,
    node_ip,
    pod_ip,
)


def compact_size(obj: Any) -> int:
    return len(json.dumps(obj, separators=(",", ":")))


# Keys of the pods the real kube-apiserver returned in apiserver-recordings/23 and 24, minus
# what the server assigns (uid, resourceVersion, creationTimestamp).
RECORDED_METADATA_KEYS = {"name", "namespace", "labels", "managedFields"}
RECORDED_SPEC_KEYS = {
    "containers", "restartPolicy", "terminationGracePeriodSeconds", "dnsPolicy", "nodeName",
    "securityContext", "schedulerName", "tolerations", "priority", "enableServiceLinks",
    "preemptionPolicy",
}  # fmt: skip
RECORDED_STATUS_KEYS = {
    "phase", "conditions", "hostIP", "podIP", "podIPs", "startTime", "containerStatuses",
    "qosClass",
}  # fmt: skip
RECORDED_CONTAINER_STATUS_KEYS = {
    "name", "state", "lastState", "ready", "restartCount", "image", "imageID", "started",
}  # fmt: skip


# ---------------------------------------------------------------------------- namespaces, nodes


def test_make_namespace_is_a_plain_namespace_body() -> None:
    assert make_namespace("ns-3") == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "ns-3"},
    }


def test_make_node_looks_like_a_kwok_fake_node() -> None:
    node = make_node(7, seed=0)
    meta = node["metadata"]
    assert meta["name"] == "kwok-node-7"
    assert meta["labels"]["kubernetes.io/hostname"] == "kwok-node-7"
    assert meta["labels"]["kubernetes.io/role"] == "agent"
    assert meta["labels"]["type"] == "kwok"
    assert meta["labels"]["beta.kubernetes.io/arch"] == "amd64"
    assert meta["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert node["spec"]["taints"] == [
        {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}
    ]
    status = node["status"]
    ready = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"
    assert {c["type"] for c in status["conditions"]} >= {"MemoryPressure", "DiskPressure"}
    assert status["capacity"]["pods"] == status["allocatable"]["pods"] == "110"
    assert {"type": "InternalIP", "address": node_ip(7)} in status["addresses"]
    assert status["nodeInfo"]["kubeletVersion"] == "fake"
    assert "uid" not in meta and "resourceVersion" not in meta


def test_nodes_spread_over_three_zones_and_are_deterministic() -> None:
    zones = [make_node(i, seed=5)["metadata"]["labels"]["topology.kubernetes.io/zone"]
             for i in range(6)]  # fmt: skip
    assert set(zones) == set(ZONES)
    assert zones[:3] == zones[3:]
    assert make_node(4, seed=5) == make_node(4, seed=5)
    a, b = make_node(4, seed=5)["status"]["nodeInfo"], make_node(4, seed=6)["status"]["nodeInfo"]
    assert a["systemUUID"] != b["systemUUID"]


def test_node_and_pod_ips_are_distinct_and_ordered() -> None:
    assert node_ip(0) == "172.16.0.1"
    assert len({node_ip(i) for i in range(70_000)}) == 70_000
    assert pod_ip(0) == "10.0.0.1"
    assert len({pod_ip(i) for i in range(0, 16_000_000, 997)}) == len(range(0, 16_000_000, 997))


# ---------------------------------------------------------------------------- pods


@pytest.mark.parametrize(
    ("index", "namespace"), [(0, "ns-0"), (10007, "ns-7"), (99_999, "ns-99"), (1_234_567, "x")]
)
def test_kwok_pods_are_about_four_kilobytes_of_compact_json(index: int, namespace: str) -> None:
    size = compact_size(make_pod(index, f"kwok-node-{index % 500}", namespace, seed=3))
    assert 3800 <= size <= 4600


def test_full_pods_are_bigger_but_bounded() -> None:
    size = compact_size(make_pod(12, "kwok-node-1", "ns-1", detail="full"))
    assert 5500 <= size <= 6800


@pytest.mark.parametrize("detail", ["kwok", "full"])
def test_pods_have_the_shape_of_the_recorded_pods(detail: Any) -> None:
    pod = make_pod(10007, "kwok-node-7", "ns-7", seed=0, detail=detail)
    assert pod["apiVersion"] == "v1" and pod["kind"] == "Pod"
    assert set(pod["metadata"]) >= RECORDED_METADATA_KEYS
    assert set(pod["spec"]) >= RECORDED_SPEC_KEYS
    assert set(pod["status"]) >= RECORDED_STATUS_KEYS
    for status in pod["status"]["containerStatuses"]:
        assert set(status) >= RECORDED_CONTAINER_STATUS_KEYS
        assert status["state"]["running"]["startedAt"].endswith("Z")
        assert status["ready"] is True and status["restartCount"] == 0
    assert not {"uid", "resourceVersion", "creationTimestamp"} & set(pod["metadata"])


def test_pod_metadata_names_its_replicaset_and_labels() -> None:
    pod = make_pod(5, "kwok-node-2", "ns-1", seed=9)
    meta = pod["metadata"]
    assert meta["name"] == "pod-5" and meta["namespace"] == "ns-1"
    labels = meta["labels"]
    assert set(labels) == {"app", "tier", "pod-template-hash"}
    (owner,) = meta["ownerReferences"]
    assert owner["kind"] == "ReplicaSet" and owner["controller"] is True
    assert owner["name"] == f"{labels['app']}-{labels['pod-template-hash']}"
    kcm, kubelet = meta["managedFields"]
    assert (kcm["manager"], kcm["operation"]) == ("kube-controller-manager", "Update")
    assert f'k:{{"uid":"{owner["uid"]}"}}' in kcm["fieldsV1"]["f:metadata"]["f:ownerReferences"]
    assert "f:spec" in kcm["fieldsV1"] and "subresource" not in kcm
    assert (kubelet["manager"], kubelet["subresource"]) == ("kubelet", "status")
    pod_ips = kubelet["fieldsV1"]["f:status"]["f:podIPs"]
    assert f'k:{{"ip":"{pod["status"]["podIP"]}"}}' in pod_ips


def test_pod_spec_and_status_follow_the_node_and_index() -> None:
    pod = make_pod(41, "kwok-node-3", "ns-2", seed=1)
    spec, status = pod["spec"], pod["status"]
    assert spec["nodeName"] == "kwok-node-3"
    assert status["hostIP"] == node_ip(3)
    assert status["podIP"] == pod_ip(41) and status["podIPs"] == [{"ip": pod_ip(41)}]
    assert status["phase"] == "Running"
    assert [c["type"] for c in status["conditions"]] == [
        "Initialized", "Ready", "ContainersReady", "PodScheduled",
    ]  # fmt: skip
    keys = {(t["key"], t["effect"]) for t in spec["tolerations"]}
    assert keys == {
        ("kwok.x-k8s.io/node", "NoSchedule"),
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
    }
    main, proxy = spec["containers"]
    assert len(main["env"]) >= 2 and main["ports"][0]["containerPort"] == 8080
    assert set(main["resources"]) == {"limits", "requests"}
    assert proxy["resources"]["requests"]


def test_full_pods_carry_mounts_ports_env_and_runtime_ids_on_both_containers() -> None:
    pod = make_pod(41, "kwok-node-3", "ns-2", seed=1, detail="full")
    for container in pod["spec"]["containers"]:
        assert container["env"] and container["ports"] and container["volumeMounts"]
        assert set(container["resources"]) == {"limits", "requests"}
    mounted = {m["name"] for c in pod["spec"]["containers"] for m in c["volumeMounts"]}
    assert mounted == {v["name"] for v in pod["spec"]["volumes"]}
    ids = [s["containerID"] for s in pod["status"]["containerStatuses"]]
    assert all(i.startswith("containerd://") and len(i) == 13 + 64 for i in ids)
    assert len(set(ids)) == 2
    assert all("@sha256:" in s["imageID"] for s in pod["status"]["containerStatuses"])


def test_names_needing_json_escapes_survive_the_template() -> None:
    pod = make_pod(1, 'node "quoted"\\', "ns\u00e9", seed=0)
    assert pod["spec"]["nodeName"] == 'node "quoted"\\'
    assert pod["metadata"]["namespace"] == "ns\u00e9"


def test_unknown_detail_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown pod detail"):
        make_pod(1, "n", "ns", detail="huge")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- generate


def test_generate_is_deterministic_by_seed() -> None:
    assert generate(3, 50, 4, seed=7) == generate(3, 50, 4, seed=7)
    assert generate(3, 50, 4, seed=7).pods != generate(3, 50, 4, seed=8).pods


def test_generate_spreads_pods_over_namespaces_and_nodes_round_robin() -> None:
    population = generate(nodes=4, pods=40, namespaces=5, seed=1)
    assert [n["metadata"]["name"] for n in population.namespaces] == [f"ns-{k}" for k in range(5)]
    assert [n["metadata"]["name"] for n in population.nodes] == [f"kwok-node-{k}" for k in range(4)]
    for i, pod in enumerate(population.pods):
        assert pod["metadata"]["namespace"] == f"ns-{i % 5}"
        assert pod["spec"]["nodeName"] == f"kwok-node-{i % 4}"
        assert pod == make_pod(i, f"kwok-node-{i % 4}", f"ns-{i % 5}", seed=1)


def test_generate_random_placement_is_seeded_and_uses_every_node() -> None:
    a = generate(5, 200, 2, seed=3, placement="random")
    b = generate(5, 200, 2, seed=3, placement="random")
    nodes = [p["spec"]["nodeName"] for p in a.pods]
    assert nodes == [p["spec"]["nodeName"] for p in b.pods]
    assert set(nodes) == {f"kwok-node-{k}" for k in range(5)}
    assert nodes != [f"kwok-node-{i % 5}" for i in range(200)]


def test_generated_pod_ips_and_names_are_unique() -> None:
    pods = generate(10, 3000, 7, seed=2).pods
    assert len({p["status"]["podIP"] for p in pods}) == 3000
    assert len({(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods}) == 3000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 5, 1), "at least one node and one namespace"),
        ((1, 5, 0), "at least one node and one namespace"),
        ((1, -1, 1), "negative"),
    ],
)
def test_generate_rejects_impossible_shapes(args: tuple[int, int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(*args)


def test_generate_without_pods_needs_no_nodes() -> None:
    population = generate(0, 0, 2)
    assert population == Population(namespaces=population.namespaces, nodes=[], pods=[])
    assert len(population.namespaces) == 2


# ---------------------------------------------------------------------------- fake API server


@dataclass
class FakeApiServer:
    """A scripted stand-in for the API server: stores objects, records every request.

    ``failures`` maps (method, kind) to a list of (status, headers) answered first;
    ``drop_status`` makes creates store ``{"phase": "Pending"}`` as a real server does.
    """

    drop_status: bool = False
    failures: dict[tuple[str, str], list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, str, str]] = field(default_factory=list)  # m, path, sel, type
    url: str = ""

    def _locate(self, path: str) -> tuple[str, str, str]:
        parts = path.strip("/").split("/")[2:]  # after api/v1
        namespace = ""
        if parts[0] == "namespaces" and len(parts) >= 3:
            namespace, parts = parts[1], parts[2:]
        kind = parts[0]
        name = parts[1] if len(parts) > 1 else ""
        return kind, namespace, name

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(
            (
                request.method,
                request.path,
                request.query.get("labelSelector", ""),
                request.headers.get("Content-Type", ""),
            )
        )
        assert request.headers.get("Authorization") == "Bearer test-token"
        kind, namespace, name = self._locate(request.path)
        scripted = self.failures.get((request.method, kind))
        if scripted:
            code, headers = scripted.pop(0)
            return web.json_response(
                {"kind": "Status", "status": "Failure", "reason": "Scripted", "code": code,
                 "message": f"scripted {code}"},
                status=code,
                headers=headers,
            )  # fmt: skip
        if request.method == "POST":
            body = await request.json()
            key = (kind, namespace, body["metadata"]["name"])
            if key in self.objects:
                return web.json_response(
                    {"kind": "Status", "reason": "AlreadyExists", "code": 409}, status=409
                )
            stored = dict(body)
            if self.drop_status and "status" in stored:
                stored["status"] = {"phase": "Pending"}
            self.objects[key] = stored
            return web.json_response(stored, status=201)
        if request.method == "PATCH" and request.path.endswith("/status"):
            status_name = request.path.rstrip("/").split("/")[-2]
            stored = self.objects[(kind, namespace, status_name)]
            stored["status"] = (await request.json())["status"]
            return web.json_response(stored)
        selector = parse_label_selector(request.query.get("labelSelector", ""))
        matching = [
            key
            for key, obj in self.objects.items()
            if key[0] == kind
            and (not namespace or key[1] == namespace)
            and selector.matches(obj["metadata"].get("labels"))
        ]
        if request.method == "GET":
            items = [self.objects[k] for k in matching]
            return web.json_response({"kind": "List", "metadata": {}, "items": items})
        if request.method == "DELETE" and not name:
            if kind == "nodes":
                return web.json_response({"kind": "Status", "code": 405}, status=405)
            return web.json_response({"items": [self.objects.pop(k) for k in matching]})
        if request.method == "DELETE":
            obj = self.objects.pop((kind, namespace, name), None)
            if obj is None:
                return web.json_response({"kind": "Status", "code": 404}, status=404)
            return web.json_response(obj)
        return web.json_response({"kind": "Status", "code": 405}, status=405)


@pytest.fixture
def fake() -> Iterator[FakeApiServer]:
    server = FakeApiServer()
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield server
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


def client_for(url: str) -> ApiClient:
    config = Configuration(host=url)
    config.api_key = {"BearerToken": "test-token"}
    config.api_key_prefix = {"BearerToken": "Bearer"}
    return ApiClient(config)


def test_populator_creates_everything_labelled_in_order(fake: FakeApiServer) -> None:
    population = generate(2, 6, 2, seed=0)
    seen: list[PopulateProgress] = []
    populator = HttpPopulator(client_for(fake.url), concurrency=3, progress=seen.append)
    result = populator.populate(population)
    assert result.created == {"namespaces": 2, "nodes": 2, "pods": 6}
    assert result.status_updates == 0 and result.retries == 0
    posts = [path for method, path, _, _ in fake.requests if method == "POST"]
    assert posts[:2] == ["/api/v1/namespaces"] * 2
    assert posts[2:4] == ["/api/v1/nodes"] * 2
    assert sorted(posts[4:]) == sorted(f"/api/v1/namespaces/ns-{i % 2}/pods" for i in range(6))
    assert all(o["metadata"]["labels"][POPULATED_LABEL] == "true" for o in fake.objects.values())
    stored = fake.objects[("pods", "ns-1", "pod-3")]
    assert stored["status"] == population.pods[3]["status"]
    assert POPULATED_LABEL not in population.pods[3]["metadata"]["labels"]  # input untouched
    assert seen[-1] == PopulateProgress("pods", 6, 6)
    assert [p.done for p in seen if p.phase == "nodes"] == [1, 2]


def test_populator_skips_objects_that_already_exist(fake: FakeApiServer) -> None:
    populator = HttpPopulator(client_for(fake.url), concurrency=2)
    populator.populate(generate(1, 2, 1))
    result = populator.populate(generate(1, 3, 1))
    assert result.created == {"namespaces": 0, "nodes": 0, "pods": 1}
    assert result.skipped == {"namespaces": 1, "nodes": 1, "pods": 2}


def test_populator_retries_throttling_and_server_errors_with_backoff(
    fake: FakeApiServer,
) -> None:
    fake.failures[("POST", "pods")] = [(429, {"Retry-After": "3"}), (503, {}), (500, {})]
    sleeps: list[float] = []
    populator = HttpPopulator(
        client_for(fake.url), concurrency=1, backoff=0.5, max_backoff=0.75, sleep=sleeps.append
    )
    result = populator.populate(generate(1, 1, 1))
    assert result.created["pods"] == 1
    assert result.retries == 3
    assert sleeps == [3.0, 0.75, 0.75]


def test_populator_gives_up_after_max_attempts(fake: FakeApiServer) -> None:
    fake.failures[("POST", "nodes")] = [(503, {})] * 5
    populator = HttpPopulator(
        client_for(fake.url), concurrency=1, max_attempts=3, sleep=lambda s: None
    )
    with pytest.raises(ApiError) as info:
        populator.populate(generate(1, 1, 1))
    assert info.value.code == 503 and info.value.message == "scripted 503"
    assert len(fake.failures[("POST", "nodes")]) == 2


def test_populator_raises_client_errors_at_once(fake: FakeApiServer) -> None:
    fake.failures[("POST", "namespaces")] = [(400, {})]
    populator = HttpPopulator(client_for(fake.url), concurrency=2, sleep=lambda s: None)
    with pytest.raises(ApiError) as info:
        populator.populate(generate(1, 1, 1))
    assert info.value.code == 400 and info.value.reason == "Scripted"
    assert not any(method == "POST" and "pods" in path for method, path, _, _ in fake.requests)


def test_populator_patches_status_when_the_server_drops_it_on_create(
    fake: FakeApiServer,
) -> None:
    fake.drop_status = True
    population = generate(1, 3, 1, seed=4)
    result = HttpPopulator(client_for(fake.url), concurrency=2).populate(population)
    assert result.status_updates == 4  # one node and three pods
    patches = [(p, ct) for m, p, _, ct in fake.requests if m == "PATCH"]
    assert ("/api/v1/namespaces/ns-0/pods/pod-2/status", "application/merge-patch+json") in patches
    assert fake.objects[("pods", "ns-0", "pod-2")]["status"] == population.pods[2]["status"]


def test_cleanup_deletes_exactly_the_labelled_objects(fake: FakeApiServer) -> None:
    foreign = {"metadata": {"name": "keep", "namespace": "ns-0", "labels": {"a": "b"}}}
    fake.objects[("pods", "ns-0", "keep")] = foreign
    fake.objects[("namespaces", "", "other")] = {"metadata": {"name": "other"}}
    fake.objects[("nodes", "", "real-node")] = {"metadata": {"name": "real-node"}}
    populator = HttpPopulator(client_for(fake.url), concurrency=2)
    populator.populate(generate(2, 5, 2))
    deleted = populator.cleanup()
    assert deleted == {"pods": 5, "nodes": 2, "namespaces": 2}
    assert set(fake.objects) == {
        ("pods", "ns-0", "keep"),
        ("namespaces", "", "other"),
        ("nodes", "", "real-node"),
    }
    selectors = {q for m, _, q, _ in fake.requests if m in ("DELETE", "GET") and q}
    assert selectors == {"fastinformer.io/populated=true"}


def test_populator_refuses_objects_without_a_name(fake: FakeApiServer) -> None:
    bad = Population(namespaces=[{"metadata": {}}], nodes=[], pods=[])
    with pytest.raises(ValueError, match=r"metadata\.name"):
        HttpPopulator(client_for(fake.url)).populate(bad)


# ---------------------------------------------------------------------------- simulator


def test_populator_round_trips_against_the_simulator() -> None:
    sim_module = pytest.importorskip("fastinformer.sim")
    population = generate(3, 20, 2, seed=11)
    with (
        sim_module.Simulator() as sim,
        HttpPopulator(kubeconfig=sim.kubeconfig_path, concurrency=4) as populator,
    ):
        result = populator.populate(population)
        assert result.created == {"namespaces": 2, "nodes": 3, "pods": 20}
        again = populator.populate(population)
        assert again.skipped == {"namespaces": 2, "nodes": 3, "pods": 20}
        assert populator.cleanup() == {"pods": 20, "nodes": 3, "namespaces": 2}
        assert populator.cleanup() == {"pods": 0, "nodes": 0, "namespaces": 0}
