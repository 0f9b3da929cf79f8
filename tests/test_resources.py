from __future__ import annotations

import dataclasses

import pytest

from fastinformer.resources import BUILTIN_RESOURCES, Resource, resource_for

PODS = Resource("", "v1", "pods", "Pod", True)
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment", True)


def test_core_namespaced_path_uses_api_prefix() -> None:
    assert PODS.api_path("default") == "/api/v1/namespaces/default/pods"


def test_grouped_path_uses_apis_prefix() -> None:
    assert DEPLOYMENTS.api_path() == "/apis/apps/v1/deployments"
    assert DEPLOYMENTS.api_path("kube-system") == "/apis/apps/v1/namespaces/kube-system/deployments"


def test_empty_namespace_means_all_namespaces() -> None:
    assert PODS.api_path("") == "/api/v1/pods"


def test_namespace_for_cluster_scoped_resource_is_refused() -> None:
    nodes = resource_for("nodes")
    assert nodes.api_path() == "/api/v1/nodes"
    with pytest.raises(ValueError, match="cluster-scoped"):
        nodes.api_path("default")


@pytest.mark.parametrize("bad", ["a/b", "..", "Default", "ns?x=1", "-x", "a" * 64])
def test_invalid_namespace_names_cannot_reach_the_url(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid namespace"):
        PODS.api_path(bad)


def test_resource_is_frozen_and_hashable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PODS.plural = "nodes"  # type: ignore[misc]
    assert {PODS, Resource("", "v1", "pods", "Pod", True)} == {PODS}


@pytest.mark.parametrize(
    ("field", "value"),
    [("group", "Apps"), ("version", "1"), ("plural", "Pods"), ("plural", "a/b"), ("kind", "1x")],
)
def test_malformed_resource_fields_are_refused(field: str, value: str) -> None:
    kwargs = dataclasses.asdict(DEPLOYMENTS) | {field: value}
    with pytest.raises(ValueError, match="invalid"):
        Resource(**kwargs)


def test_group_version_is_the_objects_api_version() -> None:
    assert PODS.group_version == "v1"
    assert DEPLOYMENTS.group_version == "apps/v1"


@pytest.mark.parametrize(
    "name",
    ["pods", "Pod", "pod", "po", "v1/pods", " pods ", "POD"],
)
def test_pod_spellings_resolve_to_core_pods(name: str) -> None:
    assert resource_for(name) == PODS


@pytest.mark.parametrize(
    "name",
    [
        "deployments",
        "Deployment",
        "deploy",
        "apps/v1/deployments",
        "deployments.apps",
        "deployments.v1.apps",
        "Deployment.apps",
    ],
)
def test_deployment_spellings_resolve_to_apps_v1(name: str) -> None:
    assert resource_for(name) == DEPLOYMENTS


@pytest.mark.parametrize(
    ("name", "group", "version", "kind", "namespaced"),
    [
        ("nodes", "", "v1", "Node", False),
        ("namespaces", "", "v1", "Namespace", False),
        ("configmaps", "", "v1", "ConfigMap", True),
        ("persistentvolumes", "", "v1", "PersistentVolume", False),
        ("persistentvolumeclaims", "", "v1", "PersistentVolumeClaim", True),
        ("cronjobs", "batch", "v1", "CronJob", True),
        ("leases", "coordination.k8s.io", "v1", "Lease", True),
        ("ingresses", "networking.k8s.io", "v1", "Ingress", True),
        ("clusterroles", "rbac.authorization.k8s.io", "v1", "ClusterRole", False),
        ("rolebindings", "rbac.authorization.k8s.io", "v1", "RoleBinding", True),
    ],
)
def test_builtin_table_has_correct_group_kind_and_scope(
    name: str, group: str, version: str, kind: str, namespaced: bool
) -> None:
    res = resource_for(name)
    assert (res.group, res.version, res.kind, res.namespaced) == (group, version, kind, namespaced)


def test_bare_events_means_core_events_and_the_group_form_picks_events_k8s_io() -> None:
    assert resource_for("events").group == ""
    assert resource_for("events.events.k8s.io").group == "events.k8s.io"
    assert resource_for("events.k8s.io/v1/events").group == "events.k8s.io"


def test_a_resource_is_returned_unchanged() -> None:
    crd = Resource("example.com", "v1alpha1", "widgets", "Widget", True)
    assert resource_for(crd) is crd
    assert crd.api_path("ns1") == "/apis/example.com/v1alpha1/namespaces/ns1/widgets"


@pytest.mark.parametrize("name", ["widgets", "widgets.example.com", "example.com/v1/widgets", ""])
def test_unknown_names_explain_how_to_name_a_custom_resource(name: str) -> None:
    with pytest.raises(ValueError, match=r"unknown resource .*Resource\(group="):
        resource_for(name)


def test_a_known_resource_under_a_wrong_version_is_refused() -> None:
    with pytest.raises(ValueError, match="knows apps/v1, not v1beta1"):
        resource_for("apps/v1beta1/deployments")
    with pytest.raises(ValueError, match="knows apps/v1, not v2"):
        resource_for("deployments.v2.apps")


def test_a_known_plural_in_the_wrong_group_is_unknown() -> None:
    with pytest.raises(ValueError, match="unknown resource"):
        resource_for("apps/v1/pods")


def test_non_string_names_are_a_type_error() -> None:
    with pytest.raises(TypeError):
        resource_for(42)  # type: ignore[arg-type]


def test_every_builtin_resolves_by_its_group_form() -> None:
    for res in BUILTIN_RESOURCES:
        form = f"{res.plural}.{res.group}" if res.group else f"{res.version}/{res.plural}"
        assert resource_for(form) == res
        assert resource_for(f"{res.group_version}/{res.plural}") == res
