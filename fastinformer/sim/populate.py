"""kwok-style populations (namespaces, fake nodes, realistic pods) and an HTTP populator.

Everything generated is a pure function of its arguments and ``seed``: the same call gives
the same objects, byte for byte. Pods look like what a real cluster returns for a
ReplicaSet's pods on kwok nodes (two containers, env, ports, volume mounts, tolerations,
owner reference, a Running status, kube-controller-manager and kubelet managedFields),
about 4.2 KB of compact JSON each, but without what the server assigns (uid,
resourceVersion, creationTimestamp): they are bodies a client would POST.

:class:`HttpPopulator` creates a :class:`Population` on any cluster (kwok clusters in
practice) and removes it again with :meth:`HttpPopulator.cleanup`.
"""

from __future__ import annotations

import gc
import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final, Literal
from urllib.parse import quote, urlencode

import orjson

from fastinformer.errors import ApiError, api_error

__all__ = [
    "POPULATED_LABEL",
    "ZONES",
    "HttpPopulator",
    "PopulateProgress",
    "PopulateResult",
    "Population",
    "generate",
    "make_namespace",
    "make_node",
    "make_pod",
    "node_ip",
    "pod_ip",
]

POPULATED_LABEL: Final = "fastinformer.io/populated"
ZONES: Final = ("zone-a", "zone-b", "zone-c")
TIERS: Final = ("web", "api", "cache", "worker", "db")
APPS_PER_NAMESPACE: Final = 8
BASE_TIME: Final = 1_700_000_000  # 2023-11-14T22:13:20Z, the clock every population starts at

_MASK64: Final = (1 << 64) - 1
_HASH_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"  # what pod-template-hash values use


def _mix(*parts: int) -> int:
    """A 64-bit splitmix-style hash of integers: cheap, stable across runs and platforms."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = (h ^ (part & _MASK64)) * 0xBF58476D1CE4E5B9 & _MASK64
        h = (h ^ (h >> 31)) * 0x94D049BB133111EB & _MASK64
        h ^= h >> 29
    return h


def _str_seed(s: str) -> int:
    return int.from_bytes(s.encode()[:24].ljust(24, b"\0"), "little") ^ len(s)


def _uuid(h: int, g: int) -> str:
    x = f"{h:016x}{g:016x}"
    return f"{x[:8]}-{x[8:12]}-4{x[13:16]}-{'89ab'[int(x[16], 16) & 3]}{x[17:20]}-{x[20:32]}"


@lru_cache(maxsize=64)
def _day(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))


def _timestamp(epoch: int) -> str:
    """RFC 3339 in UTC with second precision, as the API server writes times."""
    day, seconds = divmod(epoch, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{_day(day)}T{hours:02d}:{minutes:02d}:{seconds:02d}Z"


def node_ip(index: int) -> str:
    """InternalIP of ``kwok-node-<index>``: 172.16.0.0/12 in order, from 172.16.0.1."""
    n = index + 1
    return f"172.{16 + (n >> 16)}.{(n >> 8) & 255}.{n & 255}"


def pod_ip(index: int) -> str:
    """podIP of ``pod-<index>``: 10.0.0.0/8 in order, from 10.0.0.1 (unique below 16M)."""
    n = index + 1
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


_KWOK_NODE_RE: Final = re.compile(r"kwok-node-(\d+)")


@lru_cache(maxsize=4096)
def _host_ip(node_name: str) -> str:
    m = _KWOK_NODE_RE.fullmatch(node_name)
    return node_ip(int(m.group(1)) if m else _mix(_str_seed(node_name)) % 60000)


# --------------------------------------------------------------------------------------------
# Namespaces and nodes


def make_namespace(name: str) -> dict[str, Any]:
    """A Namespace body as a client POSTs it."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def make_node(index: int, seed: int = 0) -> dict[str, Any]:
    """A kwok fake node ``kwok-node-<index>`` with the labels, taint and Ready status kwok uses.

    Zones rotate over :data:`ZONES` (shifted by ``seed``); ids and boot times derive from
    ``seed`` and ``index``.
    """
    name = f"kwok-node-{index}"
    h = _mix(seed, index, 0x6E6F6465)
    created = _timestamp(BASE_TIME + h % 600)
    heartbeat = _timestamp(BASE_TIME + 3600 + h % 60)
    conditions = [
        _node_condition(kind, "False", reason, message, heartbeat, created)
        for kind, reason, message in (
            ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory"),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ("NetworkUnavailable", "RouteCreated", "RouteController created a route"),
        )
    ]
    conditions.append(
        _node_condition(
            "Ready", "True", "KubeletReady", "kubelet is posting ready status", heartbeat, created
        )
    )
    resources = {"cpu": "32", "ephemeral-storage": "1Ti", "memory": "256Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/role": "agent",
                "node-role.kubernetes.io/agent": "",
                "topology.kubernetes.io/zone": ZONES[(index + seed) % len(ZONES)],
                "type": "kwok",
            },
            "annotations": {
                "kwok.x-k8s.io/node": "fake",
                "node.alpha.kubernetes.io/ttl": "0",
            },
        },
        "spec": {
            "podCIDR": f"10.{index % 256}.0.0/24",
            "taints": [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}],
        },
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "phase": "Running",
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": node_ip(index)},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": f"{h:016x}{_mix(h, 1):016x}",
                "systemUUID": _uuid(_mix(h, 2), _mix(h, 3)),
                "bootID": _uuid(_mix(h, 4), _mix(h, 5)),
                "kernelVersion": "5.15.0-kwok",
                "osImage": "kwok fake node",
                "containerRuntimeVersion": "containerd://1.7.0",
                "kubeletVersion": "fake",
                "kubeProxyVersion": "fake",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def _node_condition(
    kind: str, status: str, reason: str, message: str, heartbeat: str, transition: str
) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "lastHeartbeatTime": heartbeat,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message,
    }


# --------------------------------------------------------------------------------------------
# Pods: one JSON template, per-pod values substituted with %-formatting, decoded by orjson


def _mark(name: str) -> str:
    return f"@@{name}@@"


def _fields(*names: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    tree: dict[str, Any] = {".": {}} if extra is not None else {}
    tree.update({f"f:{n}": {} for n in names})
    tree.update(extra or {})
    return tree


def _keyed(key: str, value: str) -> str:
    return "k:" + orjson.dumps({key: value}).decode()


def _container_fields(
    env: list[str], ports: list[int], mounts: list[str], limits: bool
) -> dict[str, Any]:
    """The FieldsV1 of one container as the server records them (keys sorted)."""
    tree: dict[str, Any] = {".": {}}
    if env:
        tree["f:env"] = {
            ".": {},
            **{_keyed("name", e): _fields("name", "value", extra={}) for e in env},
        }
    tree.update(_fields("image", "imagePullPolicy", "name"))
    if ports:
        tree["f:ports"] = {
            ".": {},
            **{
                "k:" + orjson.dumps({"containerPort": p, "protocol": "TCP"}).decode(): _fields(
                    "containerPort", "protocol", extra={}
                )
                for p in ports
            },
        }
    resources: dict[str, Any] = {".": {}}
    if limits:
        resources["f:limits"] = _fields("cpu", "memory", extra={})
    resources["f:requests"] = _fields("cpu", "memory", extra={})
    tree["f:resources"] = resources
    tree.update(_fields("terminationMessagePath", "terminationMessagePolicy"))
    if mounts:
        tree["f:volumeMounts"] = {
            ".": {},
            **{_keyed("mountPath", m): _fields("mountPath", "name", extra={}) for m in mounts},
        }
    return tree


PodDetail = Literal["kwok", "full"]
"""``kwok``: what a kwok cluster returns, ~4.5 KB, the shape of the recorded pods plus an
owner reference. ``full``: what a kubelet-backed node returns, ~6.1 KB: adds volumes and
mounts, a port, env and limits on the sidecar, a third env entry, imageID digests and
containerIDs."""

_CONDITION_TYPES: Final = ("Initialized", "Ready", "ContainersReady", "PodScheduled")
_CONTAINER_DEFAULTS: Final = {
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
    "imagePullPolicy": "IfNotPresent",
}
_PROXY_IMAGE: Final = "registry.example/proxy:1.0"
_PROXY_IMAGE_ID: Final = "registry.example/proxy@sha256:" + "3c5a9e07" * 8


def _pod_template(full: bool) -> dict[str, Any]:
    """The pod with ``@@name@@`` markers where per-pod values go (see :data:`PodDetail`)."""
    m = _mark
    created, started, ready = m("created"), m("started"), m("ready")
    main_env = [("MODE", "production"), ("SHARD", m("shard"))]
    if full:
        main_env.append(("LOG_LEVEL", "info"))
    proxy_env = [("UPSTREAM", "127.0.0.1:8080")] if full else []
    main_mounts = [("config", "/etc/app"), ("cache", "/var/cache/app")] if full else []
    proxy_mounts = [("config", "/etc/app")] if full else []
    proxy_ports = [9090] if full else []

    def container(
        name: str,
        image: str,
        env: list[tuple[str, str]],
        ports: list[int],
        limits: dict[str, str] | None,
        requests: dict[str, str],
        mounts: list[tuple[str, str]],
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "image": image}
        if ports:
            body["ports"] = [{"containerPort": p, "protocol": "TCP"} for p in ports]
        if env:
            body["env"] = [{"name": k, "value": v} for k, v in env]
        body["resources"] = (
            {"limits": limits, "requests": requests} if limits else {"requests": requests}
        )
        if mounts:
            body["volumeMounts"] = [{"name": n, "mountPath": path} for n, path in mounts]
        body.update(_CONTAINER_DEFAULTS)
        return body

    def container_status(name: str, image: str, image_id: str, cid: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": name,
            "state": {"running": {"startedAt": started}},
            "lastState": {},
            "ready": True,
            "restartCount": 0,
            "image": image,
            "imageID": image_id if full else "",
        }
        if full:
            body["containerID"] = "containerd://" + cid
        body["started"] = True
        return body

    volumes_fields: dict[str, Any] = {".": {}}
    volumes: list[dict[str, Any]] = []
    if full:
        volumes_fields[_keyed("name", "cache")] = _fields("emptyDir", "name", extra={})
        volumes_fields[_keyed("name", "config")] = {
            ".": {},
            "f:configMap": _fields("defaultMode", "name", extra={}),
            "f:name": {},
        }
        volumes = [
            {"name": "config", "configMap": {"name": m("app") + "-config", "defaultMode": 420}},
            {"name": "cache", "emptyDir": {}},
        ]
    spec_fields: dict[str, Any] = {
        "f:metadata": {
            "f:labels": _fields("app", "pod-template-hash", "tier", extra={}),
            "f:ownerReferences": {".": {}, _keyed("uid", m("rs_uid")): {}},
        },
        "f:spec": {
            "f:containers": {
                _keyed("name", "main"): _container_fields(
                    [e for e, _ in main_env], [8080], [path for _, path in main_mounts], True
                ),
                _keyed("name", "proxy"): _container_fields(
                    [e for e, _ in proxy_env],
                    proxy_ports,
                    [path for _, path in proxy_mounts],
                    full,
                ),
            },
            **_fields(
                "dnsPolicy",
                "enableServiceLinks",
                "restartPolicy",
                "schedulerName",
                "securityContext",
                "terminationGracePeriodSeconds",
                "tolerations",
            ),
        },
    }
    if full:
        spec_fields["f:spec"]["f:volumes"] = volumes_fields
    status_fields = {
        "f:conditions": {
            ".": {},
            **{
                _keyed("type", t): _fields(
                    "lastProbeTime", "lastTransitionTime", "status", "type", extra={}
                )
                for t in sorted(_CONDITION_TYPES)
            },
        },
        "f:containerStatuses": {},
        "f:hostIP": {},
        "f:phase": {},
        "f:podIP": {},
        "f:podIPs": {".": {}, _keyed("ip", m("pod_ip")): _fields("ip", extra={})},
        "f:startTime": {},
    }
    metadata: dict[str, Any] = {
        "name": m("name"),
        "namespace": m("namespace"),
        "labels": {"app": m("app"), "pod-template-hash": m("hash"), "tier": m("tier")},
    }
    if full:
        metadata["annotations"] = {"kwok.x-k8s.io/fake": "true"}
    metadata["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": m("rs_name"),
            "uid": m("rs_uid"),
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    metadata["managedFields"] = [
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "v1",
            "time": created,
            "fieldsType": "FieldsV1",
            "fieldsV1": spec_fields,
        },
        {
            "manager": "kubelet",
            "operation": "Update",
            "apiVersion": "v1",
            "time": ready,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": status_fields},
            "subresource": "status",
        },
    ]
    spec: dict[str, Any] = {"volumes": volumes} if full else {}
    spec["containers"] = [
        container(
            "main",
            m("image"),
            main_env,
            [8080],
            {"cpu": "1", "memory": "512Mi"},
            {"cpu": m("cpu"), "memory": m("memory")},
            main_mounts,
        ),
        container(
            "proxy",
            _PROXY_IMAGE,
            proxy_env,
            proxy_ports,
            {"cpu": "100m", "memory": "64Mi"} if full else None,
            {"cpu": "10m", "memory": "32Mi"},
            proxy_mounts,
        ),
    ]
    spec.update(
        {
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "nodeName": m("node"),
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"},
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
            ],
            "priority": 0,
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
        }
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
        "status": {
            "phase": "Running",
            "conditions": [
                {
                    "type": t,
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": created if t == "PodScheduled" else ready,
                }
                for t in _CONDITION_TYPES
            ],
            "hostIP": m("host_ip"),
            "podIP": m("pod_ip"),
            "podIPs": [{"ip": m("pod_ip")}],
            "startTime": created,
            "containerStatuses": [
                container_status("main", m("image"), m("image_id"), m("cid_main")),
                container_status("proxy", _PROXY_IMAGE, _PROXY_IMAGE_ID, m("cid_proxy")),
            ],
            "qosClass": "Burstable",
        },
    }


_MARK_RE: Final = re.compile(r"@@([a-z_]+)@@")


@lru_cache(maxsize=2)
def _pod_format(detail: PodDetail) -> str:
    """The template as JSON text with ``%(name)s`` slots (literal ``%`` doubled)."""
    if detail not in ("kwok", "full"):
        raise ValueError(f"unknown pod detail {detail!r}: use 'kwok' or 'full'")
    text = orjson.dumps(_pod_template(detail == "full")).decode().replace("%", "%%")
    return _MARK_RE.sub(r"%(\1)s", text)


_SAFE_JSON_RE: Final = re.compile(r'[^"\\\x00-\x1f\x7f-\uffff]*')


@lru_cache(maxsize=4096)
def _json_inner(s: str) -> str:
    """``s`` as it appears between the quotes of a JSON string."""
    if _SAFE_JSON_RE.fullmatch(s):
        return s
    return orjson.dumps(s).decode()[1:-1]


_CPU: Final = ("100m", "250m", "500m")
_MEMORY: Final = ("128Mi", "256Mi", "384Mi")


@lru_cache(maxsize=4096)
def _app_values(seed: int, namespace: str, app_index: int) -> dict[str, str]:
    """Per (namespace, app) values: the ReplicaSet and its image, shared by its pods."""
    h = _mix(seed, _str_seed(namespace), app_index, 0x617070)
    hash_chars = []
    x = h
    for _ in range(10):
        x, r = divmod(x, len(_HASH_ALPHABET))
        hash_chars.append(_HASH_ALPHABET[r])
    template_hash = "".join(hash_chars)
    app = f"app-{app_index}"
    return {
        "app": app,
        "tier": TIERS[app_index % len(TIERS)],
        "hash": template_hash,
        "rs_name": f"{app}-{template_hash}",
        "rs_uid": _uuid(_mix(h, 1), _mix(h, 2)),
        "image": f"registry.example/{app}:v1.{h % 9}",
        "image_id": f"registry.example/{app}@sha256:"
        f"{_mix(h, 3):016x}{_mix(h, 4):016x}{_mix(h, 5):016x}{_mix(h, 6):016x}",
        "cpu": _CPU[app_index % 3],
        "memory": _MEMORY[(app_index // 3) % 3],
    }


def _pod_values(index: int, node_name: str, namespace: str, seed: int) -> dict[str, str]:
    h = _mix(seed, index, 0x706F64)
    values = dict(_app_values(seed, namespace, h % APPS_PER_NAMESPACE))
    created = BASE_TIME + 3600 + index // 8 + (h >> 8) % 60
    digest = hashlib.blake2b(h.to_bytes(8, "little"), digest_size=64).hexdigest()
    values.update(
        name=f"pod-{index}",
        namespace=_json_inner(namespace),
        node=_json_inner(node_name),
        host_ip=_host_ip(node_name),
        pod_ip=pod_ip(index),
        shard=str(index % 16),
        created=_timestamp(created),
        started=_timestamp(created + 2 + (h >> 16) % 5),
        ready=_timestamp(created + 8 + (h >> 24) % 5),
        cid_main=digest[:64],
        cid_proxy=digest[64:],
    )
    return values


def make_pod(
    index: int, node_name: str, namespace: str, seed: int = 0, *, detail: PodDetail = "kwok"
) -> dict[str, Any]:
    """``pod-<index>`` of one of the namespace's ReplicaSets, Running on ``node_name``.

    The app (``app-<k>``, k < :data:`APPS_PER_NAMESPACE`) and timings derive from ``seed``
    and ``index``; IPs from ``index`` and the node. About 4.2 KB of compact JSON.
    """
    pod: dict[str, Any] = orjson.loads(
        _pod_format(detail) % _pod_values(index, node_name, namespace, seed)
    )
    return pod


# --------------------------------------------------------------------------------------------
# Populations


@dataclass(frozen=True)
class Population:
    """Objects to create, in creation order: namespaces, then nodes, then pods."""

    namespaces: list[dict[str, Any]]
    nodes: list[dict[str, Any]]
    pods: list[dict[str, Any]]


def generate(
    nodes: int,
    pods: int,
    namespaces: int = 10,
    seed: int = 0,
    *,
    placement: Literal["round-robin", "random"] = "round-robin",
    detail: PodDetail = "kwok",
) -> Population:
    """``nodes`` kwok nodes, namespaces ``ns-0``..``ns-<namespaces-1>`` and ``pods`` pods.

    Pod ``i`` is ``make_pod(i, node, f"ns-{i % namespaces}", seed, detail=detail)`` with
    node ``kwok-node-<i % nodes>`` (``round-robin``) or one drawn from ``seed``
    (``random``). Same arguments, same output. The cyclic garbage collector is paused
    while the pods are built (they hold no cycles), which keeps this linear.
    """
    if min(nodes, pods, namespaces) < 0:
        raise ValueError("counts must not be negative")
    if pods and (nodes < 1 or namespaces < 1):
        raise ValueError("pods need at least one node and one namespace")
    if placement not in ("round-robin", "random"):
        raise ValueError(f"unknown placement {placement!r}: use 'round-robin' or 'random'")
    ns_names = [f"ns-{k}" for k in range(namespaces)]
    node_names = [f"kwok-node-{k}" for k in range(nodes)]
    fmt = _pod_format(detail)
    loads = orjson.loads
    values = _pod_values
    pod_list: list[dict[str, Any]] = []
    append = pod_list.append
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(pods):
            if placement == "round-robin":
                node = node_names[i % nodes]
            else:
                node = node_names[_mix(seed, i, 0x6E) % nodes]
            append(loads(fmt % values(i, node, ns_names[i % namespaces], seed)))
    finally:
        if gc_was_enabled:
            gc.enable()
    return Population(
        namespaces=[make_namespace(n) for n in ns_names],
        nodes=[make_node(k, seed) for k in range(nodes)],
        pods=pod_list,
    )


# --------------------------------------------------------------------------------------------
# HTTP populator


@dataclass(frozen=True)
class PopulateProgress:
    """Reported after each object: ``phase`` is namespaces, nodes, pods or cleanup."""

    phase: str
    done: int
    total: int


@dataclass
class PopulateResult:
    """What :meth:`HttpPopulator.populate` did, per kind (``namespaces``/``nodes``/``pods``)."""

    created: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    status_updates: int = 0
    retries: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class _Kind:
    phase: str
    plural: str
    namespaced: bool


_NAMESPACES: Final = _Kind("namespaces", "namespaces", False)
_NODES: Final = _Kind("nodes", "nodes", False)
_PODS: Final = _Kind("pods", "pods", True)
_RETRYABLE: Final = frozenset({429, 500, 502, 503, 504})


def _collection_path(kind: _Kind, namespace: str | None) -> str:
    if kind.namespaced and namespace:
        return f"/api/v1/namespaces/{quote(namespace, safe='')}/{kind.plural}"
    return f"/api/v1/{kind.plural}"


class HttpPopulator:
    """Creates populations over HTTP with ``concurrency`` threads; removes them by label.

    Give an ``api_client`` (``kubernetes.client.ApiClient``) or a ``kubeconfig`` path and
    optional ``context``. Every object created carries ``fastinformer.io/populated=true``;
    409 AlreadyExists is skipped; 429 and 5xx are retried with exponential backoff
    (honouring Retry-After) up to ``max_attempts``. When the server drops ``status`` on
    create (a real kube-apiserver does), a merge PATCH of ``/status`` follows.
    ``progress`` is called from worker threads, one call at a time.
    """

    def __init__(
        self,
        api_client: Any = None,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        concurrency: int = 8,
        progress: Callable[[PopulateProgress], None] | None = None,
        max_attempts: int = 8,
        backoff: float = 0.1,
        max_backoff: float = 10.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._owns_client = api_client is None
        if api_client is None:
            from kubernetes import config

            api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context
            )
        self._client = api_client
        self._host = str(api_client.configuration.host).rstrip("/")
        self.concurrency = concurrency
        self.progress = progress
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self._sleep = sleep
        self._lock = threading.Lock()
        self._retries = 0

    # ---------------------------------------------------------------- HTTP

    def _request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        content_type: str = "application/json",
        query: Mapping[str, str] | None = None,
        ok_codes: Iterable[int] = (),
    ) -> tuple[int, Any]:
        """Send with retries; returns (status, decoded JSON body or None).

        Raises the matching :class:`ApiError` for any other non-2xx answer.
        """
        import urllib3

        url = self._host + path + ("?" + urlencode(query) if query else "")
        headers: dict[str, str] = dict(self._client.default_headers)
        headers["Accept"] = "application/json"
        if body is not None:
            headers["Content-Type"] = content_type
        self._client.update_params_for_auth(headers, [], ["BearerToken"], path, method, None)
        accepted = frozenset(ok_codes)
        delay = self.backoff
        for attempt in range(1, self.max_attempts + 1):
            retry_after: float | None = None
            try:
                resp = self._client.rest_client.pool_manager.request(
                    method, url, body=body, headers=headers, timeout=self.timeout, retries=False
                )
            except urllib3.exceptions.HTTPError as exc:
                if attempt == self.max_attempts:
                    raise ApiError(0, "ConnectionError", str(exc)) from exc
            else:
                data = orjson.loads(resp.data) if resp.data else None
                if 200 <= resp.status < 300 or resp.status in accepted:
                    return resp.status, data
                error = _error_from(resp.status, data, resp.headers.get("Retry-After"))
                if resp.status not in _RETRYABLE or attempt == self.max_attempts:
                    raise error
                retry_after = error.retry_after
            with self._lock:
                self._retries += 1
            self._sleep(retry_after if retry_after is not None else delay)
            delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")  # pragma: no cover

    # ---------------------------------------------------------------- populate

    def populate(self, population: Population) -> PopulateResult:
        """Create the namespaces, then the nodes, then the pods; returns counts.

        Stops at the first error that retries cannot fix and raises it (objects already
        created stay; :meth:`cleanup` removes them).
        """
        started = time.monotonic()
        result = PopulateResult()
        self._retries = 0
        for kind, objects in (
            (_NAMESPACES, population.namespaces),
            (_NODES, population.nodes),
            (_PODS, population.pods),
        ):
            self._create_all(kind, objects, result)
        result.retries = self._retries
        result.seconds = time.monotonic() - started
        return result

    def _create_all(
        self, kind: _Kind, objects: list[dict[str, Any]], result: PopulateResult
    ) -> None:
        result.created[kind.phase] = 0
        result.skipped[kind.phase] = 0
        total = len(objects)

        def create(obj: dict[str, Any]) -> None:
            created, status_updated = self._create_one(kind, obj)
            with self._lock:
                if created:
                    result.created[kind.phase] += 1
                else:
                    result.skipped[kind.phase] += 1
                result.status_updates += status_updated
                if self.progress is not None:
                    done = result.created[kind.phase] + result.skipped[kind.phase]
                    self.progress(PopulateProgress(kind.phase, done, total))

        self._run_parallel(create, objects)

    def _create_one(self, kind: _Kind, obj: dict[str, Any]) -> tuple[bool, bool]:
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{kind.phase}: object without metadata.name")
        namespace = meta.get("namespace") if kind.namespaced else None
        labeled = {
            **obj,
            "metadata": {**meta, "labels": {**(meta.get("labels") or {}), POPULATED_LABEL: "true"}},
        }
        path = _collection_path(kind, namespace or "default")
        code, answer = self._request("POST", path, orjson.dumps(labeled), ok_codes=(409,))
        if code == 409:
            return False, False
        status = obj.get("status")
        if not status or _status_kept(status, (answer or {}).get("status")):
            return True, False
        self._request(
            "PATCH",
            f"{path}/{quote(name, safe='')}/status",
            orjson.dumps({"status": status}),
            content_type="application/merge-patch+json",
        )
        return True, True

    def _run_parallel(self, func: Callable[[Any], None], items: Iterable[Any]) -> None:
        """Run ``func`` over ``items`` on ``concurrency`` threads; re-raise the first error."""
        source: Iterator[Any] = iter(items)
        source_lock = threading.Lock()
        errors: list[BaseException] = []

        def worker() -> None:
            while not errors:
                with source_lock:
                    item = next(source, _DONE)
                if item is _DONE:
                    return
                try:
                    func(item)
                except BaseException as exc:  # handed to the caller below
                    errors.append(exc)
                    return

        threads = [
            threading.Thread(target=worker, name=f"populate-{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    # ---------------------------------------------------------------- cleanup

    def cleanup(self) -> dict[str, int]:
        """Delete every pod, node and namespace labelled ``fastinformer.io/populated=true``.

        Pods go per namespace with one delete-collection call each (listing and deleting
        one by one where the server refuses that), then nodes, then the labelled
        namespaces. Returns how many objects of each kind the server reported deleted.
        """
        selector = {"labelSelector": f"{POPULATED_LABEL}=true"}
        deleted = {"pods": 0, "nodes": 0, "namespaces": 0}
        all_namespaces = [item["metadata"]["name"] for item in self._list(_NAMESPACES, None, None)]
        for ns in all_namespaces:
            deleted["pods"] += self._delete_collection(_PODS, ns, selector)
        deleted["nodes"] += self._delete_collection(_NODES, None, selector)
        labelled = [item["metadata"]["name"] for item in self._list(_NAMESPACES, None, selector)]
        deleted["namespaces"] += self._delete_each(_NAMESPACES, None, labelled)
        return deleted

    def _list(
        self, kind: _Kind, namespace: str | None, query: Mapping[str, str] | None
    ) -> Iterator[dict[str, Any]]:
        params = dict(query or {})
        params["limit"] = "500"
        while True:
            _, data = self._request("GET", _collection_path(kind, namespace), query=params)
            yield from data.get("items") or []
            token = (data.get("metadata") or {}).get("continue")
            if not token:
                return
            params["continue"] = token

    def _delete_collection(
        self, kind: _Kind, namespace: str | None, selector: Mapping[str, str]
    ) -> int:
        path = _collection_path(kind, namespace)
        code, data = self._request("DELETE", path, query=selector, ok_codes=(404, 405))
        if code in (404, 405):
            names = [item["metadata"]["name"] for item in self._list(kind, namespace, selector)]
            return self._delete_each(kind, namespace, names)
        items = (data or {}).get("items")
        return len(items) if isinstance(items, list) else 0

    def _delete_each(self, kind: _Kind, namespace: str | None, names: list[str]) -> int:
        path = _collection_path(kind, namespace)
        done: list[int] = [0]

        def delete(name: str) -> None:
            code, _ = self._request("DELETE", f"{path}/{quote(name, safe='')}", ok_codes=(404,))
            with self._lock:
                if code != 404:
                    done[0] += 1
                if self.progress is not None:
                    self.progress(PopulateProgress("cleanup", done[0], len(names)))

        self._run_parallel(delete, names)
        return done[0]

    def close(self) -> None:
        """Close the API client if this populator created it from a kubeconfig."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> HttpPopulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_DONE: Final = object()


def _status_kept(sent: Mapping[str, Any], got: Any) -> bool:
    """Whether the created object kept the status we sent (the server's defaults aside)."""
    if not isinstance(got, Mapping):
        return False
    return all(got.get(key) == value for key, value in sent.items())


def _error_from(code: int, data: Any, retry_after: str | None) -> ApiError:
    reason = message = ""
    if isinstance(data, Mapping) and data.get("kind") == "Status":
        reason = str(data.get("reason") or "")
        message = str(data.get("message") or "")
    seconds: float | None = None
    if retry_after:
        try:
            seconds = max(0.0, float(retry_after))
        except ValueError:
            seconds = None
    return api_error(code, reason, message, retry_after=seconds)
