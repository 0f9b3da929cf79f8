"""Keys: meta_namespace_key and split_meta_namespace_key on both cores."""

from __future__ import annotations

import pickle
from types import ModuleType, SimpleNamespace
from typing import Any

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


# -- typed objects: the compiled core reads plain slots directly, per type ----------------


def test_key_of_generated_typed_objects(core: ModuleType) -> None:
    from fastinformer.models import Node, ObjectMeta, Pod

    assert core.meta_namespace_key(Pod(metadata=ObjectMeta(namespace="ns", name="a"))) == "ns/a"
    assert core.meta_namespace_key(Node(metadata=ObjectMeta(name="n1"))) == "n1"
    assert core.meta_namespace_key(Pod(metadata=ObjectMeta(namespace="", name="b"))) == "b"


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.Pod(),
        lambda m: m.Pod(metadata=m.ObjectMeta(namespace="ns")),
        lambda m: m.Pod(metadata=m.ObjectMeta(namespace="ns", name="")),
        lambda m: m.Pod(metadata=m.ObjectMeta(namespace=3, name="a")),
        lambda m: m.Pod(metadata=m.ObjectMeta(name=b"a")),
    ],
)
def test_key_of_generated_object_without_a_usable_name_raises_key_func_error(
    core: ModuleType, make: Any
) -> None:
    from fastinformer import models

    with pytest.raises(KeyFuncError):
        core.meta_namespace_key(make(models))


class _SlotMeta:
    __slots__ = ("name", "namespace")

    def __init__(self, name: str, namespace: str | None = None) -> None:
        self.name = name
        if namespace is not None:
            self.namespace = namespace


def _slotted_kind(n_before: int) -> type:
    """A class keeping ``metadata`` in a slot after ``n_before`` other slots."""
    before = tuple(f"f{i}" for i in range(n_before))
    return type(f"Kind{n_before}", (), {"__slots__": (*before, "metadata")})


def test_key_of_objects_of_many_slot_layouts_reads_each_objects_own_slot(
    core: ModuleType,
) -> None:
    kinds = [_slotted_kind(n) for n in range(24)]
    objs = []
    for i, kind in enumerate(kinds):
        obj = kind()
        for j in range(i):
            setattr(obj, f"f{j}", SimpleNamespace(name="wrong", namespace="wrong"))
        obj.metadata = _SlotMeta(f"n{i}", f"ns{i}")
        objs.append(obj)
    for _ in range(3):  # cached layouts included
        assert [core.meta_namespace_key(o) for o in objs] == [f"ns{i}/n{i}" for i in range(24)]


def test_key_of_object_whose_metadata_slot_is_unset_raises_key_func_error(
    core: ModuleType,
) -> None:
    kind = _slotted_kind(2)
    assert core.meta_namespace_key(_set(kind(), _SlotMeta("a"))) == "a"
    with pytest.raises(KeyFuncError):
        core.meta_namespace_key(kind())
    assert core.meta_namespace_key(_set(kind(), _SlotMeta("b", "ns"))) == "ns/b"


def _set(obj: Any, md: Any) -> Any:
    obj.metadata = md
    return obj


def test_key_follows_a_metadata_attribute_replaced_on_the_class(core: ModuleType) -> None:
    kind = _slotted_kind(1)
    obj = _set(kind(), _SlotMeta("a", "ns"))
    assert core.meta_namespace_key(obj) == "ns/a"
    slot = kind.metadata  # type: ignore[attr-defined]
    kind.metadata = property(lambda self: _SlotMeta("other", "x"))  # type: ignore[attr-defined]
    try:
        assert core.meta_namespace_key(obj) == "x/other"
    finally:
        kind.metadata = slot  # type: ignore[attr-defined]
    assert core.meta_namespace_key(obj) == "ns/a"


def test_key_of_objects_computing_metadata_in_python(core: ModuleType) -> None:
    class ByProperty:
        @property
        def metadata(self) -> SimpleNamespace:
            return SimpleNamespace(name="p", namespace="ns")

    class ByGetattr:
        def __getattr__(self, name: str) -> Any:
            if name == "metadata":
                return SimpleNamespace(name="g", namespace=None)
            raise AttributeError(name)

    class SlotsAndGetattribute:
        __slots__ = ("metadata",)

        def __getattribute__(self, name: str) -> Any:
            if name == "metadata":
                return SimpleNamespace(name="ga", namespace="ns")
            return object.__getattribute__(self, name)

    for _ in range(2):
        assert core.meta_namespace_key(ByProperty()) == "ns/p"
        assert core.meta_namespace_key(ByGetattr()) == "g"
        assert core.meta_namespace_key(SlotsAndGetattribute()) == "ns/ga"
