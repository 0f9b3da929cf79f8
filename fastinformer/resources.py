"""Which API resource to list and watch, and the URL path that serves it.

:class:`Resource` names one group/version/resource; :func:`resource_for` resolves the
spellings users type (``"pods"``, ``"Pod"``, ``"po"``, ``"v1/pods"``,
``"apps/v1/deployments"``, ``"deployments.apps"``) against a table of built-in kinds.
Custom resources are named by constructing a :class:`Resource` directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["BUILTIN_RESOURCES", "Resource", "resource_for"]

# RFC 1123 label: what the API server accepts as a namespace name.
_NAMESPACE_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# Lower-case resource names and groups: DNS-style, no path separators.
_PLURAL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_GROUP_RE = re.compile(r"([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_VERSION_RE = re.compile(r"v[0-9]+((alpha|beta)[0-9]+)?")
_KIND_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*")

_CUSTOM_HINT = (
    "name a custom resource with Resource(group='example.com', version='v1', "
    "plural='widgets', kind='Widget', namespaced=True)"
)


@dataclass(frozen=True, slots=True)
class Resource:
    """One API resource: ``group`` ("" for the core group), ``version``, lower-case ``plural``,
    ``kind`` and whether its objects live in namespaces. Immutable and hashable."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    def __post_init__(self) -> None:
        if self.group and not _GROUP_RE.fullmatch(self.group):
            raise ValueError(f"invalid API group {self.group!r} (expected e.g. 'apps')")
        if not _VERSION_RE.fullmatch(self.version):
            raise ValueError(f"invalid API version {self.version!r} (expected e.g. 'v1')")
        if not _PLURAL_RE.fullmatch(self.plural):
            raise ValueError(f"invalid resource name {self.plural!r} (expected e.g. 'pods')")
        if not _KIND_RE.fullmatch(self.kind):
            raise ValueError(f"invalid kind {self.kind!r} (expected e.g. 'Pod')")

    @property
    def group_version(self) -> str:
        """``"v1"`` for the core group, ``"apps/v1"`` otherwise (an object's apiVersion)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def api_path(self, namespace: str | None = None) -> str:
        """The collection URL path, scoped to ``namespace`` when given.

        ``None`` or ``""`` means all namespaces. A namespace for a cluster-scoped
        resource, or one that is not a valid namespace name, raises ValueError.
        """
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if not namespace:
            return f"{root}/{self.plural}"
        if not self.namespaced:
            raise ValueError(f"{self.plural} are cluster-scoped; namespace {namespace!r} given")
        if not _NAMESPACE_RE.fullmatch(namespace):
            raise ValueError(f"invalid namespace name {namespace!r}")
        return f"{root}/namespaces/{namespace}/{self.plural}"

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _r(
    gv: str, plural: str, kind: str, namespaced: bool, *short: str
) -> tuple[Resource, tuple[str, ...]]:
    group, _, version = gv.rpartition("/")
    return Resource(group, version, plural, kind, namespaced), short


# Earlier entries win a bare plural or kind: core "events" before events.k8s.io "events".
_TABLE: tuple[tuple[Resource, tuple[str, ...]], ...] = (
    _r("v1", "pods", "Pod", True, "po"),
    _r("v1", "nodes", "Node", False, "no"),
    _r("v1", "namespaces", "Namespace", False, "ns"),
    _r("v1", "configmaps", "ConfigMap", True, "cm"),
    _r("v1", "secrets", "Secret", True),
    _r("v1", "services", "Service", True, "svc"),
    _r("v1", "endpoints", "Endpoints", True, "ep"),
    _r("v1", "events", "Event", True, "ev"),
    _r("v1", "serviceaccounts", "ServiceAccount", True, "sa"),
    _r("v1", "persistentvolumes", "PersistentVolume", False, "pv"),
    _r("v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, "pvc"),
    _r("v1", "replicationcontrollers", "ReplicationController", True, "rc"),
    _r("v1", "resourcequotas", "ResourceQuota", True, "quota"),
    _r("v1", "limitranges", "LimitRange", True, "limits"),
    _r("v1", "podtemplates", "PodTemplate", True),
    _r("apps/v1", "deployments", "Deployment", True, "deploy"),
    _r("apps/v1", "replicasets", "ReplicaSet", True, "rs"),
    _r("apps/v1", "statefulsets", "StatefulSet", True, "sts"),
    _r("apps/v1", "daemonsets", "DaemonSet", True, "ds"),
    _r("apps/v1", "controllerrevisions", "ControllerRevision", True),
    _r("batch/v1", "jobs", "Job", True),
    _r("batch/v1", "cronjobs", "CronJob", True, "cj"),
    _r("coordination.k8s.io/v1", "leases", "Lease", True),
    _r("networking.k8s.io/v1", "ingresses", "Ingress", True, "ing"),
    _r("networking.k8s.io/v1", "ingressclasses", "IngressClass", False),
    _r("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", True, "netpol"),
    _r("discovery.k8s.io/v1", "endpointslices", "EndpointSlice", True),
    _r("rbac.authorization.k8s.io/v1", "roles", "Role", True),
    _r("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding", True),
    _r("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", False),
    _r("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _r("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget", True, "pdb"),
    _r("autoscaling/v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, "hpa"),
    _r("storage.k8s.io/v1", "storageclasses", "StorageClass", False, "sc"),
    _r("storage.k8s.io/v1", "csidrivers", "CSIDriver", False),
    _r("storage.k8s.io/v1", "csinodes", "CSINode", False),
    _r("storage.k8s.io/v1", "volumeattachments", "VolumeAttachment", False),
    _r("scheduling.k8s.io/v1", "priorityclasses", "PriorityClass", False, "pc"),
    _r("node.k8s.io/v1", "runtimeclasses", "RuntimeClass", False),
    _r(
        "certificates.k8s.io/v1",
        "certificatesigningrequests",
        "CertificateSigningRequest",
        False,
        "csr",
    ),
    _r(
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        "crd",
        "crds",
    ),
    _r(
        "admissionregistration.k8s.io/v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        False,
    ),
    _r(
        "admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        False,
    ),
    _r("events.k8s.io/v1", "events", "Event", True),
)

BUILTIN_RESOURCES: tuple[Resource, ...] = tuple(res for res, _ in _TABLE)
"""The built-in resources :func:`resource_for` knows, in lookup-priority order."""


def _build_index() -> tuple[dict[str, Resource], dict[tuple[str, str], Resource]]:
    """``by_name``: plural, lower-case kind and short names (first entry wins);
    ``by_group``: (plural or lower-case kind, group)."""
    by_name: dict[str, Resource] = {}
    by_group: dict[tuple[str, str], Resource] = {}
    for res, short in _TABLE:
        for name in (res.plural, res.kind.lower(), *short):
            by_name.setdefault(name, res)
            by_group.setdefault((name, res.group), res)
    return by_name, by_group


_BY_NAME, _BY_GROUP = _build_index()


def _unknown(name: str, why: str = "not a built-in resource") -> ValueError:
    return ValueError(f"unknown resource {name!r}: {why}; {_CUSTOM_HINT}")


def resource_for(name: str | Resource) -> Resource:
    """Resolve a resource name, or return a :class:`Resource` unchanged.

    Accepted spellings: plural (``"pods"``), kind (``"Pod"``, case-insensitive),
    kubectl short name (``"po"``), ``"v1/pods"``, ``"apps/v1/deployments"``,
    ``"deployments.apps"`` and ``"deployments.v1.apps"``. Unknown names raise
    ValueError explaining how to name a custom resource.
    """
    if isinstance(name, Resource):
        return name
    if not isinstance(name, str):
        raise TypeError(f"resource must be a str or a Resource, not {type(name).__name__}")
    text = name.strip()
    if not text:
        raise _unknown(name, "empty name")
    if "/" in text:
        return _resolve_path_form(name, text)
    head, dot, rest = text.partition(".")
    key = head.lower()
    if not dot:
        res = _BY_NAME.get(key)
        if res is None:
            raise _unknown(name)
        return res
    # "deployments.apps" or "deployments.v1.apps" (plural.version.group).
    version, vdot, group = rest.partition(".")
    if vdot and _VERSION_RE.fullmatch(version):
        res = _BY_GROUP.get((key, group))
        if res is not None and res.version != version:
            raise _unknown(name, f"the built-in table knows {res.group_version}, not {version}")
    else:
        res = _BY_GROUP.get((key, rest))
    if res is None:
        raise _unknown(name)
    return res


def _resolve_path_form(name: str, text: str) -> Resource:
    """``"v1/pods"`` or ``"apps/v1/deployments"``."""
    parts = text.split("/")
    if len(parts) == 2:
        group, version, plural = "", parts[0], parts[1]
    elif len(parts) == 3:
        group, version, plural = parts
    else:
        raise _unknown(name, "expected 'version/plural' or 'group/version/plural'")
    res = _BY_GROUP.get((plural.lower(), group))
    if res is None:
        raise _unknown(name)
    if res.version != version:
        raise _unknown(name, f"the built-in table knows {res.group_version}, not {version}")
    return res
