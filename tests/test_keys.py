"""Keys: meta_namespace_key and split_meta_namespace_key on both cores."""

from __future__ import annotations

import pickle
from types import ModuleType, SimpleNamespace

import pytest

from fastinformer.errors import KeyFuncError


def test_key_of_namespaced_dict_is_namespace_slash_name(core: ModuleType) -> None:
    assert core.meta_namespace_key({"metadata": {"namespace": "ns", "name": "a"}}) == "ns/a"


def test_key_of_cluster_scoped_dict_is_the_name(core: ModuleType) -> None:
    assert core.meta_namespace_key({"metadata": {"name": "node-1"}}) == "node-1"
    assert core.meta_namespace_key({"metadata": {"name": "n", "namespace": ""}}) == "n"
    assert core.meta_namespace_key({"metadata": {"name": "n", "namespace": None}}) == "n"


def test_key_of_typed_object_uses_attribute_access(core: ModuleType) -> None:
    obj = SimpleNamespace(metadata=SimpleNamespace(namespace="default", name="web"))
    assert core.meta_namespace_key(obj) == "default/web"
    cluster = SimpleNamespace(metadata=SimpleNamespace(name="n1"))
    assert core.meta_namespace_key(cluster) == "n1"


def test_key_of_kubernetes_client_model(core: ModuleType) -> None:
    from kubernetes.client import V1ObjectMeta, V1Pod

    pod = V1Pod(metadata=V1ObjectMeta(namespace="kube-system", name="dns"))
    assert core.meta_namespace_key(pod) == "kube-system/dns"


def test_key_of_tombstone_is_its_key(core: ModuleType) -> None:
    tomb = core.DeletedFinalStateUnknown("ns/gone", {"metadata": {"name": "other"}})
    assert core.meta_namespace_key(tomb) == "ns/gone"


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"metadata": None},
        {"metadata": {}},
        {"metadata": {"name": ""}},
        {"metadata": {"name": 3}},
        {"metadata": {"name": "a", "namespace": 7}},
        SimpleNamespace(),
        SimpleNamespace(metadata=SimpleNamespace(name=None)),
        42,
    ],
)
def test_key_of_object_without_a_name_raises_key_func_error(core: ModuleType, obj: object) -> None:
    with pytest.raises(KeyFuncError):
        core.meta_namespace_key(obj)


def test_key_func_error_is_a_value_error() -> None:
    assert issubclass(KeyFuncError, ValueError)


@pytest.mark.parametrize(
    ("key", "parts"),
    [("ns/name", ("ns", "name")), ("name", ("", "name")), ("a-b/c.d", ("a-b", "c.d"))],
)
def test_split_key_returns_namespace_and_name(
    core: ModuleType, key: str, parts: tuple[str, str]
) -> None:
    assert core.split_meta_namespace_key(key) == parts


@pytest.mark.parametrize("key", ["", "a/b/c", "/name", "ns/"])
def test_split_key_rejects_malformed_keys(core: ModuleType, key: str) -> None:
    with pytest.raises(KeyFuncError):
        core.split_meta_namespace_key(key)


def test_split_key_rejects_non_strings(core: ModuleType) -> None:
    with pytest.raises(TypeError):
        core.split_meta_namespace_key(None)


def test_split_is_the_inverse_of_key(core: ModuleType) -> None:
    for md in ({"namespace": "x", "name": "y"}, {"name": "z"}):
        ns, name = core.split_meta_namespace_key(core.meta_namespace_key({"metadata": md}))
        assert (ns, name) == (md.get("namespace", ""), md["name"])


def test_tombstone_compares_pickles_and_reprs(core: ModuleType) -> None:
    a = core.DeletedFinalStateUnknown("ns/a", {"v": 1})
    assert a == core.DeletedFinalStateUnknown("ns/a", {"v": 1})
    assert a != core.DeletedFinalStateUnknown("ns/a", {"v": 2})
    assert a.key == "ns/a" and a.obj == {"v": 1}
    assert "ns/a" in repr(a)
    assert pickle.loads(pickle.dumps(a)) == a
    assert hash(a) == hash(core.DeletedFinalStateUnknown("ns/a", None))
