"""Clients nobody here wrote against the simulator: the official kubernetes Python client
and kubectl (skipped when /usr/bin/kubectl is absent)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from fastinformer.sim import Simulator

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(tls=True) as simulator:
        simulator.populate(nodes=3, pods=30, namespaces=3, seed=7)
        yield simulator


@pytest.fixture(scope="module")
def core(sim: Simulator) -> client.CoreV1Api:
    return client.CoreV1Api(client.ApiClient(sim.kube_configuration()))


def test_client_lists_pods_across_namespaces_with_pagination(core: client.CoreV1Api) -> None:
    first = core.list_pod_for_all_namespaces(limit=7)
    seen = [p.metadata.name for p in first.items]
    assert first.metadata.remaining_item_count == 23
    token = first.metadata._continue
    while token:
        page = core.list_pod_for_all_namespaces(limit=7, _continue=token)
        seen += [p.metadata.name for p in page.items]
        token = page.metadata._continue
    assert len(seen) == len(set(seen)) == 30


def test_client_selectors_reach_the_server(core: client.CoreV1Api, sim: Simulator) -> None:
    sim.clear_requests()
    pods = core.list_namespaced_pod("ns-1", field_selector="spec.nodeName=kwok-node-2")
    assert all(p.spec.node_name == "kwok-node-2" for p in pods.items)
    app = pods.items[0].metadata.labels["app"] if pods.items else "none"
    labelled = core.list_namespaced_pod("ns-1", label_selector=f"app={app}")
    assert all(p.metadata.labels["app"] == app for p in labelled.items)
    recorded = [(r.path, r.query) for r in sim.requests]
    by_node = {"fieldSelector": "spec.nodeName=kwok-node-2"}
    assert ("/api/v1/namespaces/ns-1/pods", by_node) in recorded
    assert ("/api/v1/namespaces/ns-1/pods", {"labelSelector": f"app={app}"}) in recorded


def test_client_create_patch_delete_round_trip(core: client.CoreV1Api) -> None:
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="rt", labels={"a": "1"}),
                              data={"k": "v"})
    created = core.create_namespaced_config_map("default", body)
    patched = core.patch_namespaced_config_map("rt", "default",
                                               {"metadata": {"labels": {"b": "2"}}})
    assert patched.metadata.labels == {"a": "1", "b": "2"}
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map("default", body)
    assert info.value.status == 409
    core.delete_namespaced_config_map("rt", "default")
    with pytest.raises(ApiException) as info:
        core.read_namespaced_config_map("rt", "default")
    assert info.value.status == 404


def test_client_watch_resumes_from_its_last_version(core: client.CoreV1Api) -> None:
    listed = core.list_namespaced_config_map("default")
    rv = listed.metadata.resource_version
    for i in range(3):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"w{i}"}})
    stream = watch.Watch()
    events = [(e["type"], e["object"].metadata.name)
              for e in stream.stream(core.list_namespaced_config_map, "default",
                                     resource_version=rv, timeout_seconds=1)]
    assert events == [("ADDED", "w0"), ("ADDED", "w1"), ("ADDED", "w2")]
    core.delete_namespaced_config_map("w1", "default")
    resumed = [(e["type"], e["object"].metadata.name)
               for e in stream.stream(core.list_namespaced_config_map, "default",
                                      resource_version=stream.resource_version,
                                      timeout_seconds=1)]
    assert resumed == [("DELETED", "w1")]


def test_client_sees_410_for_a_compacted_version(core: client.CoreV1Api, sim: Simulator) -> None:
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", {"metadata": {"name": "old"}})
    sim.store.compact()
    with pytest.raises(ApiException) as info:
        core.list_namespaced_config_map("default", resource_version=rv,
                                        resource_version_match="Exact")
    assert info.value.status == 410
    raw = core.list_namespaced_config_map("default", watch=True, resource_version=rv,
                                          timeout_seconds=1, _preload_content=False)
    assert b'"code":410' in raw.data


def test_client_gets_403_where_a_namespace_is_forbidden(
    core: client.CoreV1Api, sim: Simulator
) -> None:
    rule = sim.forbid(namespace="ns-2", verbs=["list"])
    try:
        with pytest.raises(ApiException) as info:
            core.list_namespaced_pod("ns-2")
        assert info.value.status == 403
        message = json.loads(info.value.body)["message"]
        assert message == (f'pods is forbidden: User "{sim.config.user}" cannot list resource '
                           '"pods" in API group "" in the namespace "ns-2"')
        assert core.list_namespaced_pod("ns-0").items
    finally:
        sim.server.deny_rules.remove(rule)


# kubectl ------------------------------------------------------------------------------------


def kubectl(sim: Simulator, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    if not Path(KUBECTL).exists():
        pytest.skip("kubectl is not installed")
    return subprocess.run([KUBECTL, "--kubeconfig", sim.kubeconfig_path, *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_kubectl_gets_pods_in_every_namespace_in_chunks(sim: Simulator) -> None:
    sim.clear_requests()
    result = kubectl(sim, "get", "pods", "-A", "--chunk-size=8", "-o", "name")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) == sim.store.count("pods")
    limits = [r.query.get("limit") for r in sim.requests if r.path == "/api/v1/pods"]
    assert len(limits) >= 4 and set(limits) == {"8"}


def test_kubectl_label_and_field_selectors(sim: Simulator) -> None:
    pod = sim.store.list("pods", "ns-0")[0]
    node, app = pod["spec"]["nodeName"], pod["metadata"]["labels"]["app"]
    by_field = kubectl(sim, "get", "pods", "-n", "ns-0", "--field-selector",
                       f"spec.nodeName={node}", "-o", "name")
    by_label = kubectl(sim, "get", "pods", "-n", "ns-0", "-l", f"app={app}", "-o", "name")
    assert by_field.returncode == 0 and by_label.returncode == 0, by_field.stderr + by_label.stderr
    expected_field = {f"pod/{p['metadata']['name']}" for p in sim.store.list("pods", "ns-0")
                      if p["spec"]["nodeName"] == node}
    expected_label = {f"pod/{p['metadata']['name']}" for p in sim.store.list("pods", "ns-0")
                      if p["metadata"]["labels"].get("app") == app}
    assert set(by_field.stdout.split()) == expected_field
    assert set(by_label.stdout.split()) == expected_label


def test_kubectl_watch_sees_a_change(sim: Simulator) -> None:
    def change() -> None:
        time.sleep(1.0)
        sim.store.create("configmaps", {"metadata": {"name": "seen-by-kubectl"}}, "default")

    thread = threading.Thread(target=change)
    thread.start()
    result = kubectl(sim, "get", "configmaps", "-w", "--request-timeout=3s", "-o", "name")
    thread.join()
    assert "configmap/seen-by-kubectl" in result.stdout, result.stderr


def test_kubectl_applies_and_deletes_a_configmap(sim: Simulator, tmp_path: Path) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n"
                        "  namespace: default\ndata:\n  a: b\n")
    assert kubectl(sim, "apply", "-f", str(manifest)).returncode == 0
    manifest.write_text(manifest.read_text().replace("a: b", "a: c"))
    result = kubectl(sim, "apply", "-f", str(manifest))
    assert result.returncode == 0, result.stderr
    assert "configured" in result.stdout
    stored = sim.store.get("configmaps", "applied", "default")
    assert stored is not None and stored["data"] == {"a": "c"}
    result = kubectl(sim, "delete", "-f", str(manifest))
    assert result.returncode == 0, result.stderr
    assert sim.store.get("configmaps", "applied", "default") is None
