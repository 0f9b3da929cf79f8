"""Generated models: client attribute names, to_dict/to_client_model parity, managedFields,
shared strings, registry and generator determinism."""

from __future__ import annotations

import copy
import gc
import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from fastinformer.models import (
    MODELS,
    MODELS_WITH_MANAGED_FIELDS,
    ConfigMap,
    Deployment,
    Event,
    HTTPGetAction,
    Lease,
    Model,
    Node,
    ObjectMeta,
    ObjectMetaWithManagedFields,
    PartialObjectMetadata,
    Pod,
    PodWithManagedFields,
    Probe,
    Secret,
    Service,
    api_version_of_kind,
    model_for,
    parse_time,
)
from fastinformer.models import base as models_base
from fastinformer.models import generate as generator

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client as k8s  # noqa: E402

RECORDINGS = Path("/work/shared/apiserver-recordings")
GENERATED = Path(generator.__file__).with_name("_generated.py")


def recorded_body(name: str) -> Any:
    path = RECORDINGS / name
    if not path.exists():
        pytest.skip(f"recording {name} not available")
    return json.loads(path.read_text())["body"]


def recorded_pods() -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = recorded_body("23-list-pods-field-selector-nodename-limit3.json")[
        "items"
    ]
    pods += recorded_body("24-list-pods-rv0-limit3-ignored-by-watch-cache.json")["items"]
    pods.append(recorded_body("15-strategic-merge-patch-pod-labels.json"))
    return pods


def without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj.get("metadata", {}).pop("managedFields", None)
    return obj


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def client_decode(obj: dict[str, Any], client_type: str) -> Any:
    """What the kubernetes client decodes from this JSON."""
    return k8s.ApiClient().deserialize(json.dumps(obj), client_type, "application/json")


NODE = {
    "kind": "Node",
    "apiVersion": "v1",
    "metadata": {
        "name": "kwok-node-3",
        "uid": "0b8e4a4c-6a52-4c8e-9b7e-2f2d3f6a9c11",
        "resourceVersion": "4242",
        "creationTimestamp": "2026-11-22T07:00:01Z",
        "labels": {"kubernetes.io/hostname": "kwok-node-3", "type": "kwok"},
        "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        "managedFields": [
            {
                "manager": "kwok",
                "operation": "Update",
                "apiVersion": "v1",
                "time": "2026-11-22T07:00:02Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:status": {"f:conditions": {}}},
                "subresource": "status",
            }
        ],
    },
    "spec": {
        "podCIDR": "10.0.3.0/24",
        "podCIDRs": ["10.0.3.0/24"],
        "providerID": "kwok://kwok-node-3",
        "taints": [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}],
    },
    "status": {
        "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
        "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "lastHeartbeatTime": "2026-11-22T07:20:00Z",
                "lastTransitionTime": "2026-11-22T07:00:02Z",
                "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
            }
        ],
        "addresses": [
            {"type": "InternalIP", "address": "192.168.3.1"},
            {"type": "Hostname", "address": "kwok-node-3"},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
            "kernelVersion": "",
            "osImage": "",
            "containerRuntimeVersion": "",
            "kubeletVersion": "fake",
            "kubeProxyVersion": "fake",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    },
}

DEPLOYMENT = {
    "kind": "Deployment",
    "apiVersion": "apps/v1",
    "metadata": {
        "name": "web",
        "namespace": "ns-1",
        "uid": "7c0f4d39-0c63-4a53-a1c6-0e8d7d7bb3f1",
        "resourceVersion": "9001",
        "generation": 3,
        "creationTimestamp": "2026-11-22T07:01:00Z",
        "labels": {"app": "web"},
        "annotations": {"deployment.kubernetes.io/revision": "2"},
    },
    "spec": {
        "replicas": 3,
        "selector": {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}],
        },
        "template": {
            "metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "registry.example/web:2",
                        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                        "livenessProbe": {
                            "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                            "periodSeconds": 10,
                        },
                        "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}},
                        "startupProbe": {"tcpSocket": {"port": 8080}},
                        "resources": {"requests": {"cpu": "100m"}},
                    }
                ],
                "restartPolicy": "Always",
            },
        },
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1},
        },
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    },
    "status": {
        "observedGeneration": 3,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "lastUpdateTime": "2026-11-22T07:02:00Z",
                "lastTransitionTime": "2026-11-22T07:02:00Z",
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
            }
        ],
    },
}

SERVICE = {
    "kind": "Service",
    "apiVersion": "v1",
    "metadata": {"name": "web", "namespace": "ns-1", "resourceVersion": "77"},
    "spec": {
        "ports": [
            {"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http"},
            {"name": "admin", "protocol": "TCP", "port": 9000, "targetPort": 9000},
        ],
        "selector": {"app": "web"},
        "clusterIP": "10.96.0.10",
        "clusterIPs": ["10.96.0.10"],
        "type": "ClusterIP",
        "sessionAffinity": "None",
    },
    "status": {"loadBalancer": {}},
}

EVENT = {
    "kind": "Event",
    "apiVersion": "v1",
    "metadata": {"name": "web.17a", "namespace": "ns-1", "resourceVersion": "88"},
    "involvedObject": {"kind": "Pod", "namespace": "ns-1", "name": "web-0", "apiVersion": "v1"},
    "reason": "Scheduled",
    "message": "Successfully assigned ns-1/web-0 to kwok-node-3",
    "source": {"component": "default-scheduler"},
    "firstTimestamp": "2026-11-22T07:03:00Z",
    "lastTimestamp": "2026-11-22T07:03:00Z",
    "eventTime": "2026-11-22T07:03:00.123456Z",
    "count": 1,
    "type": "Normal",
    "reportingComponent": "default-scheduler",
    "reportingInstance": "",
}

LEASE = {
    "kind": "Lease",
    "apiVersion": "coordination.k8s.io/v1",
    "metadata": {"name": "controller", "namespace": "kube-system", "resourceVersion": "5"},
    "spec": {
        "holderIdentity": "node-a_1234",
        "leaseDurationSeconds": 15,
        "acquireTime": "2026-11-22T07:00:00.000000Z",
        "renewTime": "2026-11-22T07:05:30.500000Z",
        "leaseTransitions": 2,
    },
}

SECRET = {
    "kind": "Secret",
    "apiVersion": "v1",
    "metadata": {"name": "creds", "namespace": "ns-1", "resourceVersion": "6"},
    "type": "Opaque",
    "data": {"password": "aHVudGVyMg=="},
}

SAMPLES: list[tuple[type[Model], dict[str, Any], str]] = [
    (Node, NODE, "V1Node"),
    (Deployment, DEPLOYMENT, "V1Deployment"),
    (Service, SERVICE, "V1Service"),
    (Event, EVENT, "CoreV1Event"),
    (Lease, LEASE, "V1Lease"),
    (Secret, SECRET, "V1Secret"),
]


def decode(model: type[Model], obj: dict[str, Any]) -> Any:
    return msgspec.json.decode(json.dumps(obj).encode(), type=model)


def test_recorded_pods_expose_the_client_attribute_names() -> None:
    for raw in recorded_pods():
        pod = decode(Pod, raw)
        assert pod.metadata.name == raw["metadata"]["name"]
        assert pod.metadata.resource_version == raw["metadata"]["resourceVersion"]
        assert pod.spec.node_name == raw["spec"]["nodeName"]
        assert pod.status.pod_ip == raw["status"]["podIP"]
        assert pod.status.pod_ips[0].ip == raw["status"]["podIPs"][0]["ip"]
        container = pod.spec.containers[0]
        assert container.image_pull_policy == raw["spec"]["containers"][0]["imagePullPolicy"]
        assert pod.spec.tolerations[1].toleration_seconds == 300


def test_every_model_has_the_client_attributes_and_json_names() -> None:
    models = k8s.models
    for cls in _all_models():
        if cls._client_model is None:
            continue
        client_cls = getattr(models, cls._client_model)
        assert cls._client_fields == tuple(client_cls.openapi_types)
        encoded = {f.name: f.encode_name for f in msgspec.structs.fields(cls)}
        for attr, json_name in client_cls.attribute_map.items():
            if cls is ObjectMeta and attr == "managed_fields":
                assert attr not in encoded
                continue
            assert encoded[attr] == json_name, (cls, attr)


def _all_models() -> list[type[Model]]:
    from fastinformer.models import _generated

    return [
        obj
        for obj in vars(_generated).values()
        if isinstance(obj, type) and issubclass(obj, Model) and obj is not Model
    ]


def test_python_keyword_attributes_keep_the_clients_underscore() -> None:
    probe = msgspec.json.decode(b'{"exec": {"command": ["true"]}}', type=Probe)
    assert probe._exec is not None
    assert probe._exec.command == ["true"]
    assert msgspec.json.decode(msgspec.json.encode(probe)) == {"exec": {"command": ["true"]}}


def test_int_or_string_fields_accept_both_and_reject_other_types() -> None:
    assert msgspec.json.decode(b'{"port": "http"}', type=HTTPGetAction).port == "http"
    assert msgspec.json.decode(b'{"port": 8080}', type=HTTPGetAction).port == 8080
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"port": [1]}', type=HTTPGetAction)


def test_to_dict_equals_the_clients_to_dict_for_recorded_pods() -> None:
    for raw in recorded_pods():
        expected = client_decode(raw, "V1Pod").to_dict()
        assert decode(PodWithManagedFields, raw).to_dict() == expected
        expected["metadata"]["managed_fields"] = None
        assert decode(Pod, raw).to_dict() == expected


@pytest.mark.parametrize(("model", "raw", "client_type"), SAMPLES)
def test_to_dict_equals_the_clients_to_dict(
    model: type[Model], raw: dict[str, Any], client_type: str
) -> None:
    keep = MODELS_WITH_MANAGED_FIELDS[(raw["apiVersion"], raw["kind"])]
    assert decode(keep, raw).to_dict() == client_decode(raw, client_type).to_dict()
    stripped = without_managed_fields(raw)
    assert decode(model, raw).to_dict() == client_decode(stripped, client_type).to_dict()


def test_to_dict_turns_timestamps_into_aware_datetimes() -> None:
    event = decode(Event, EVENT).to_dict()
    assert event["event_time"] == parse_time("2026-11-22T07:03:00.123456Z")
    assert event["event_time"].microsecond == 123456
    assert event["event_time"].utcoffset() is not None
    assert decode(Event, EVENT).event_time == "2026-11-22T07:03:00.123456Z"


def test_parse_time_accepts_offsets_and_z() -> None:
    assert parse_time("2026-11-22T07:03:00Z") == parse_time("2026-11-22T09:03:00+02:00")


@pytest.mark.parametrize(("model", "raw", "client_type"), SAMPLES)
def test_to_client_model_equals_what_the_client_decodes(
    model: type[Model], raw: dict[str, Any], client_type: str
) -> None:
    keep = MODELS_WITH_MANAGED_FIELDS[(raw["apiVersion"], raw["kind"])]
    built = decode(keep, raw).to_client_model()
    assert type(built) is getattr(k8s.models, client_type)
    assert built == client_decode(raw, client_type)
    assert decode(model, raw).to_client_model() == client_decode(
        without_managed_fields(raw), client_type
    )


def test_to_client_model_of_a_pod_has_datetimes_and_nested_models() -> None:
    raw = recorded_pods()[0]
    built = decode(PodWithManagedFields, raw).to_client_model()
    assert built == client_decode(raw, "V1Pod")
    assert isinstance(built.spec.containers[0], k8s.V1Container)
    assert built.metadata.creation_timestamp == parse_time(raw["metadata"]["creationTimestamp"])
    assert (
        built.metadata.managed_fields[0].manager == raw["metadata"]["managedFields"][0]["manager"]
    )


def test_object_meta_drops_managed_fields_and_the_variant_keeps_them() -> None:
    raw = recorded_pods()[0]
    pod = decode(Pod, raw)
    assert type(pod.metadata) is ObjectMeta
    assert pod.metadata.managed_fields is None
    assert "managedFields" not in pod.to_json_dict()["metadata"]
    kept = decode(PodWithManagedFields, raw)
    assert isinstance(kept, Pod)
    assert type(kept.metadata) is ObjectMetaWithManagedFields
    entries = kept.metadata.managed_fields
    assert entries is not None
    assert len(entries) == len(raw["metadata"]["managedFields"])
    assert entries[0].fields_v1 == raw["metadata"]["managedFields"][0]["fieldsV1"]
    assert kept.to_json_dict()["metadata"]["managedFields"] == raw["metadata"]["managedFields"]


def test_wire_form_is_what_the_server_sent_minus_dropped_fields_and_nulls() -> None:
    for raw in recorded_pods():
        expected = without_nulls(without_managed_fields(raw))
        pod = decode(Pod, raw)
        assert pod.to_json_dict() == expected
        assert json.loads(pod.to_json()) == expected
    for model, raw, _ in SAMPLES:
        assert decode(model, raw).to_json_dict() == without_nulls(without_managed_fields(raw))


def test_metadata_only_objects_decode_as_partial_object_metadata() -> None:
    for raw in recorded_body("27-list-metadata-only.json")["items"]:
        obj = decode(PartialObjectMetadata, raw)
        assert obj.kind == "PartialObjectMetadata"
        assert obj.metadata.name == raw["metadata"]["name"]
        assert obj.to_dict()["metadata"]["managed_fields"] is None
        with pytest.raises(TypeError, match="no model for PartialObjectMetadata"):
            obj.to_client_model()


def test_a_minimal_bookmark_object_decodes_into_every_kind() -> None:
    bookmark = b'{"kind":"X","metadata":{"resourceVersion":"12","creationTimestamp":null}}'
    for model in [*MODELS.values(), *MODELS_WITH_MANAGED_FIELDS.values()]:
        obj: Any = msgspec.json.decode(bookmark, type=model)
        assert obj.metadata.resource_version == "12"


def test_models_are_not_tracked_by_the_garbage_collector() -> None:
    pod = decode(Pod, recorded_pods()[0])
    assert not gc.is_tracked(pod)
    assert not gc.is_tracked(pod.spec.containers[0])


def test_repetitive_strings_are_shared_between_decoded_objects() -> None:
    first, second = (decode(Pod, raw) for raw in recorded_pods()[:2])
    c1, c2 = first.spec.containers[0], second.spec.containers[0]
    assert c1.termination_message_path is c2.termination_message_path
    assert first.status.conditions[0].type is second.status.conditions[0].type
    assert first.metadata.labels["tier"] is second.metadata.labels["tier"]
    assert c1.resources.requests["cpu"] is c2.resources.requests["cpu"]
    # Values unique to one object stay out of the cache.
    assert first.metadata.uid not in models_base.SHARED
    assert first.metadata.name not in models_base.SHARED


def test_shared_strings_cache_is_emptied_past_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models_base, "SHARED_LIMIT", 3)
    models_base.SHARED.update({f"value-{i}": f"value-{i}" for i in range(10)})
    pod = decode(Pod, recorded_pods()[0])
    assert "value-0" not in models_base.SHARED
    assert pod.spec.containers[0].image in models_base.SHARED


def test_registry_maps_api_version_and_kind_to_structs() -> None:
    assert MODELS[("v1", "Pod")] is Pod
    assert MODELS[("v1", "ConfigMap")] is ConfigMap
    assert model_for("apps/v1", "Deployment") is Deployment
    assert model_for("v1", "Pod", keep_managed_fields=True) is PodWithManagedFields
    assert model_for("v1", "Deployment") is None
    assert model_for("example.com/v1", "Widget") is None
    assert api_version_of_kind("Lease") == "coordination.k8s.io/v1"
    assert api_version_of_kind("Widget") is None
    assert set(MODELS) == set(MODELS_WITH_MANAGED_FIELDS)
    for key, model in MODELS_WITH_MANAGED_FIELDS.items():
        assert issubclass(model, MODELS[key])


def test_generator_reproduces_the_checked_in_module(tmp_path: Path) -> None:
    checked_in = GENERATED.read_bytes()
    header = re.search(rb"from kubernetes (\S+)\.\n", checked_in)
    assert header is not None
    if header.group(1).decode() != kubernetes.__version__:
        pytest.skip(f"generated from kubernetes {header.group(1).decode()}")
    out = tmp_path / "generated.py"
    assert generator.main([str(out)]) == 0
    assert out.read_bytes() == checked_in


def test_lists_inside_decoded_models_are_untracked_with_the_compiled_core() -> None:
    from fastinformer._compat import IS_ACCELERATED

    pod = decode(Pod, recorded_pods()[0])
    assert gc.is_tracked(pod.spec.containers) is not IS_ACCELERATED
    assert gc.is_tracked(pod.status.conditions) is not IS_ACCELERATED


def test_annotation_values_are_not_shared() -> None:
    raw = copy.deepcopy(recorded_pods()[0])
    raw["metadata"]["annotations"] = {"example.com/note": "a value unique to this pod"}
    first, second = decode(Pod, raw), decode(Pod, raw)
    note = first.metadata.annotations["example.com/note"]
    assert note is not second.metadata.annotations["example.com/note"]
    assert note not in models_base.SHARED


def test_generated_structs_list_the_fields_they_share() -> None:
    meta = ObjectMeta._shared_fields
    assert {"labels", "namespace", "creation_timestamp", "generate_name"} <= set(meta)
    assert not {"name", "uid", "resource_version", "annotations"} & set(meta)
    assert ObjectMeta._trims_shared and not Pod._trims_shared
    container_type = type(decode(Pod, recorded_pods()[0]).spec.containers[0])
    assert "image" in container_type._shared_fields
