"""The resource types the simulator serves and the discovery documents describing them.

A :class:`ResourceType` says how one group/version/resource is addressed, which field
selectors the real API server accepts for it (and in which words it refuses the others),
and whether it has a ``status`` subresource or a ``metadata.generation``.
:class:`Registry` holds them and renders ``/api``, ``/api/v1``, ``/apis`` and
``/apis/{group}/{version}`` the way kube-apiserver does.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

FieldGetter = Callable[[Mapping[str, Any]], "str | None"]

_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
_STATUS_VERBS = ("get", "patch", "update")


def _path(*names: str) -> FieldGetter:
    """A getter for a nested field; booleans render as Go does (``true``/``false``)."""

    def get(obj: Mapping[str, Any]) -> str | None:
        cur: Any = obj
        for name in names:
            if not isinstance(cur, Mapping):
                return ""
            cur = cur.get(name)
        if cur is None:
            return ""
        if isinstance(cur, bool):
            return "true" if cur else "false"
        return str(cur)

    return get


def _meta_fields() -> dict[str, FieldGetter]:
    return {
        "metadata.name": _path("metadata", "name"),
        "metadata.namespace": _path("metadata", "namespace"),
    }


@dataclass(frozen=True)
class ResourceType:
    """One served group/version/resource.

    ``field_getters`` maps every supported field selector to a getter. ``custom_field_error``
    selects the wording of the 400 for other fields: kinds with their own field label
    conversion answer ``field label not supported: X``, the others list the metadata fields.
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    has_status: bool = True
    has_generation: bool = False
    builtin: bool = True
    custom_field_error: bool = False
    field_getters: Mapping[str, FieldGetter] = field(
        default_factory=_meta_fields, hash=False, compare=False
    )

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, ``group/version`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @cached_property
    def field_names(self) -> tuple[str, ...]:
        """Supported field selectors, in the order stored objects keep their values."""
        return tuple(self.field_getters)

    @cached_property
    def field_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.field_names)}

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def field_error(self, name: str) -> str:
        """The API server's message refusing field selector ``name`` for this kind."""
        if self.custom_field_error:
            return f"field label not supported: {name}"
        return f'"{name}" is not a known field selector: only "metadata.name", "metadata.namespace"'


def _with_meta(extra: Mapping[str, FieldGetter]) -> dict[str, FieldGetter]:
    fields = _meta_fields()
    fields.update(extra)
    return fields


_POD_FIELDS = _with_meta(
    {
        "spec.nodeName": _path("spec", "nodeName"),
        "spec.restartPolicy": _path("spec", "restartPolicy"),
        "spec.schedulerName": _path("spec", "schedulerName"),
        "spec.serviceAccountName": _path("spec", "serviceAccountName"),
        "spec.hostNetwork": _path("spec", "hostNetwork"),
        "status.phase": _path("status", "phase"),
        "status.podIP": _path("status", "podIP"),
        "status.nominatedNodeName": _path("status", "nominatedNodeName"),
    }
)


def _host_network(obj: Mapping[str, Any]) -> str | None:
    spec = obj.get("spec")
    value = spec.get("hostNetwork") if isinstance(spec, Mapping) else None
    return "true" if value is True else "false"


_POD_FIELDS["spec.hostNetwork"] = _host_network


def _unschedulable(obj: Mapping[str, Any]) -> str | None:
    spec = obj.get("spec")
    value = spec.get("unschedulable") if isinstance(spec, Mapping) else None
    return "true" if value is True else "false"


_NODE_FIELDS = _with_meta({"spec.unschedulable": _unschedulable})
_NAMESPACE_FIELDS = _with_meta({"status.phase": _path("status", "phase")})
_EVENT_FIELDS = _with_meta(
    {
        "involvedObject.kind": _path("involvedObject", "kind"),
        "involvedObject.namespace": _path("involvedObject", "namespace"),
        "involvedObject.name": _path("involvedObject", "name"),
        "involvedObject.uid": _path("involvedObject", "uid"),
        "involvedObject.apiVersion": _path("involvedObject", "apiVersion"),
        "involvedObject.resourceVersion": _path("involvedObject", "resourceVersion"),
        "involvedObject.fieldPath": _path("involvedObject", "fieldPath"),
        "reason": _path("reason"),
        "reportingComponent": _path("reportingComponent"),
        "source": _path("source", "component"),
        "type": _path("type"),
    }
)
_REPLICASET_FIELDS = _with_meta({"status.replicas": _path("status", "replicas")})

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "pods", "Pod", True, ("po",), ("all",),
                 custom_field_error=True, field_getters=_POD_FIELDS),
    ResourceType("", "v1", "nodes", "Node", False, ("no",),
                 custom_field_error=True, field_getters=_NODE_FIELDS),
    ResourceType("", "v1", "namespaces", "Namespace", False, ("ns",),
                 custom_field_error=True, field_getters=_NAMESPACE_FIELDS),
    ResourceType("", "v1", "configmaps", "ConfigMap", True, ("cm",), has_status=False),
    ResourceType("", "v1", "services", "Service", True, ("svc",), ("all",)),
    ResourceType("", "v1", "events", "Event", True, ("ev",), has_status=False,
                 custom_field_error=True, field_getters=_EVENT_FIELDS),
    ResourceType("apps", "v1", "deployments", "Deployment", True, ("deploy",), ("all",),
                 has_generation=True),
    ResourceType("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), ("all",),
                 has_generation=True, custom_field_error=True, field_getters=_REPLICASET_FIELDS),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True, has_status=False),
)


def _storage_hash(rtype: ResourceType) -> str:
    digest = hashlib.sha256(f"{rtype.api_version}/{rtype.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


class Registry:
    """The set of served resource types (thread-safe; types may be added while serving)."""

    def __init__(self, types: Iterable[ResourceType] = BUILTIN_TYPES) -> None:
        self._lock = threading.Lock()
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        for rtype in types:
            self.add(rtype)

    def add(self, rtype: ResourceType) -> ResourceType:
        """Serve ``rtype``; re-adding the same group/version/plural replaces it."""
        with self._lock:
            self._by_path[(rtype.group, rtype.version, rtype.plural)] = rtype
        return rtype

    def register(
        self,
        group: str,
        version: str,
        plural: str,
        kind: str,
        namespaced: bool = True,
        *,
        short_names: Iterable[str] = (),
        has_status: bool = True,
    ) -> ResourceType:
        """Serve a custom resource (items of its lists keep kind/apiVersion, no SMP)."""
        if not plural or plural != plural.lower() or "/" in plural:
            raise ValueError(f"invalid resource plural {plural!r}: lowercase, no '/'")
        if not kind or not version:
            raise ValueError("kind and version are required")
        return self.add(
            ResourceType(
                group, version, plural, kind, namespaced, tuple(short_names),
                has_status=has_status, has_generation=True, builtin=False,
            )
        )

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def types(self) -> list[ResourceType]:
        with self._lock:
            return list(self._by_path.values())

    def by_kind(self, kind: str, api_version: str | None = None) -> ResourceType | None:
        """The type serving ``kind`` (and ``api_version`` when given)."""
        for rtype in self.types():
            if rtype.kind == kind and (api_version is None or rtype.api_version == api_version):
                return rtype
        return None

    def group_versions(self) -> dict[str, list[str]]:
        """Versions of every non-core group, in registration order."""
        groups: dict[str, list[str]] = {}
        for rtype in self.types():
            if rtype.group:
                versions = groups.setdefault(rtype.group, [])
                if rtype.version not in versions:
                    versions.append(rtype.version)
        return groups

    # Discovery documents ------------------------------------------------------------------

    def api_versions(self, server_address: str) -> dict[str, Any]:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
            ],
        }

    def api_group_list(self) -> dict[str, Any]:
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [self.api_group(name) for name in self.group_versions()],
        }

    def api_group(self, group: str) -> dict[str, Any] | None:
        versions = self.group_versions().get(group)
        if not versions:
            return None
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": entries, "preferredVersion": entries[0]}

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        """The ``APIResourceList`` of one group/version, or None when nothing is served there."""
        types = sorted(
            (t for t in self.types() if t.group == group and t.version == version),
            key=lambda t: t.plural,
        )
        if not types:
            return None
        resources: list[dict[str, Any]] = []
        for rtype in types:
            entry: dict[str, Any] = {
                "name": rtype.plural,
                "singularName": "",
                "namespaced": rtype.namespaced,
                "kind": rtype.kind,
                "verbs": list(_VERBS),
            }
            if rtype.kind == "Namespace":
                entry["verbs"] = [v for v in _VERBS if v != "deletecollection"]
            if rtype.short_names:
                entry["shortNames"] = list(rtype.short_names)
            if rtype.categories:
                entry["categories"] = list(rtype.categories)
            entry["storageVersionHash"] = _storage_hash(rtype)
            resources.append(entry)
            if rtype.has_status:
                resources.append(
                    {
                        "name": f"{rtype.plural}/status",
                        "singularName": "",
                        "namespaced": rtype.namespaced,
                        "kind": rtype.kind,
                        "verbs": list(_STATUS_VERBS),
                    }
                )
        doc: dict[str, Any] = {"kind": "APIResourceList"}
        if group:
            doc["apiVersion"] = "v1"
        doc["groupVersion"] = f"{group}/{version}" if group else version
        doc["resources"] = resources
        return doc
