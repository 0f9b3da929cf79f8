"""Store / indexer: ThreadSafeStore, Indexer and the built-in index functions, on both cores."""

from __future__ import annotations

import gc
import random
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from types import ModuleType, SimpleNamespace
from typing import Any, cast

import msgspec
import pytest

from fastinformer.errors import FastInformerError, IndexerConflictError, KeyFuncError


def pod(
    name: str,
    ns: str | None = "default",
    labels: dict[str, str] | None = None,
    node: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A pod-like dict."""
    md: dict[str, Any] = {"name": name}
    if ns is not None:
        md["namespace"] = ns
    if labels is not None:
        md["labels"] = labels
    obj: dict[str, Any] = {"metadata": md, "spec": {}}
    if node is not None:
        obj["spec"]["nodeName"] = node
    obj.update(extra)
    return obj


def typed_pod(
    name: str, ns: str | None = "default", labels: dict[str, str] | None = None, node: str = ""
) -> SimpleNamespace:
    """A pod as an attribute-style object (the kubernetes client's attribute names)."""
    return SimpleNamespace(
        metadata=SimpleNamespace(name=name, namespace=ns, labels=labels),
        spec=SimpleNamespace(node_name=node),
    )


def names(objs: list[Any]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objs)


def app_store(core: ModuleType) -> Any:
    return core.ThreadSafeStore({"app": core.label_index_func("app")})


@pytest.fixture
def in_thread() -> Iterator[Callable[[Callable[[], Any]], None]]:
    """Run a callable in a thread and fail (instead of hanging) if it deadlocks."""
    threads: list[threading.Thread] = []

    def run(fn: Callable[[], Any]) -> None:
        t = threading.Thread(target=fn, daemon=True)
        threads.append(t)
        t.start()
        t.join(10)
        assert not t.is_alive(), "deadlock: the call did not return"

    yield run


# -- plain store: CRUD --------------------------------------------------------------------


def test_added_object_is_returned_by_get_and_listed(core: ModuleType) -> None:
    store = core.ThreadSafeStore()
    a = pod("a")
    store.add("default/a", a)
    assert store.get("default/a") is a
    assert store.list() == [a]
    assert store.list_keys() == ["default/a"]


def test_get_of_a_missing_key_is_none(core: ModuleType) -> None:
    assert core.ThreadSafeStore().get("nope") is None


def test_update_replaces_the_object_under_the_same_key(core: ModuleType) -> None:
    store = core.ThreadSafeStore()
    store.add("k", pod("a", labels={"v": "1"}))
    newer = pod("a", labels={"v": "2"})
    store.update("k", newer)
    assert store.get("k") is newer
    assert len(store) == 1


def test_delete_removes_the_object_and_ignores_unknown_keys(core: ModuleType) -> None:
    store = core.ThreadSafeStore()
    store.add("k", pod("a"))
    store.delete("k")
    store.delete("k")
    store.delete("never-there")
    assert store.get("k") is None
    assert len(store) == 0
    assert store.list() == []


def test_len_and_contains_reflect_the_stored_keys(core: ModuleType) -> None:
    store = core.ThreadSafeStore()
    store.add("a", 1)
    store.add("b", 2)
    assert len(store) == 2
    assert "a" in store
    assert "c" not in store
    assert 3 not in store


def test_list_and_list_keys_return_independent_snapshots(core: ModuleType) -> None:
    store = core.ThreadSafeStore()
    store.add("a", 1)
    objs, keys = store.list(), store.list_keys()
    objs.append(99)
    keys.append("zz")
    store.add("b", 2)
    assert objs == [1, 99]
    assert keys == ["a", "zz"]
    assert sorted(store.list()) == [1, 2]
    assert sorted(store.list_keys()) == ["a", "b"]


def test_non_string_key_is_rejected_and_nothing_is_stored(core: ModuleType) -> None:
    store = core.ThreadSafeStore()
    with pytest.raises(TypeError):
        store.add(1, pod("a"))
    with pytest.raises(TypeError):
        store.replace({1: pod("a")})
    assert len(store) == 0


def test_queries_with_non_string_keys_names_or_values_are_type_errors(core: ModuleType) -> None:
    store = app_store(core)
    calls: list[Callable[[], Any]] = [
        lambda: store.get(1),
        lambda: store.delete(None),
        lambda: store.by_index("app", None),
        lambda: store.index_keys("app", 3),
        lambda: store.by_index(None, "web"),
        lambda: store.list_index_func_values(b"app"),
        lambda: store.index(1, {}),
        lambda: core.Indexer().get_by_key(1),
    ]
    for call in calls:
        with pytest.raises(TypeError, match="must be str"):
            call()


def test_string_subclasses_work_as_keys_names_and_values(core: ModuleType) -> None:
    class Name(str):
        pass

    store = core.ThreadSafeStore({"v": lambda o: [Name(o["v"])]})
    store.add(Name("k"), {"v": "x"})
    assert store.get("k") == {"v": "x"}
    assert store.index_keys(Name("v"), Name("x")) == ["k"]
    assert store.by_index("v", "x") == [{"v": "x"}]
    assert core.label_index_func(Name("app"))(pod("a", labels={"app": "web"})) == ["web"]


def test_repr_shows_size_and_index_names(core: ModuleType) -> None:
    store = app_store(core)
    store.add("a", pod("a"))
    assert repr(store) == "ThreadSafeStore(items=1, indexes=['app'])"


# -- indexes --------------------------------------------------------------------------------


def test_by_index_finds_objects_added_under_a_value(core: ModuleType) -> None:
    store = app_store(core)
    store.add("a", pod("a", labels={"app": "web"}))
    store.add("b", pod("b", labels={"app": "web"}))
    store.add("c", pod("c", labels={"app": "db"}))
    store.add("d", pod("d"))
    assert names(store.by_index("app", "web")) == ["a", "b"]
    assert names(store.by_index("app", "db")) == ["c"]
    assert store.by_index("app", "cache") == []
    assert sorted(store.index_keys("app", "web")) == ["a", "b"]
    assert store.index_keys("app", "cache") == []
    assert sorted(store.list_index_func_values("app")) == ["db", "web"]


def test_update_moves_the_object_to_its_new_index_value(core: ModuleType) -> None:
    store = app_store(core)
    store.add("a", pod("a", labels={"app": "web"}))
    store.update("a", pod("a", labels={"app": "db"}))
    assert store.by_index("app", "web") == []
    assert names(store.by_index("app", "db")) == ["a"]
    assert store.list_index_func_values("app") == ["db"]


def test_update_with_unchanged_index_values_serves_the_new_object(core: ModuleType) -> None:
    store = app_store(core)
    store.add("a", pod("a", labels={"app": "web"}, status="old"))
    store.update("a", pod("a", labels={"app": "web"}, status="new"))
    (found,) = store.by_index("app", "web")
    assert found["status"] == "new"


def test_update_that_drops_a_label_removes_the_object_from_that_index(core: ModuleType) -> None:
    store = app_store(core)
    store.add("a", pod("a", labels={"app": "web"}))
    store.update("a", pod("a", labels={}))
    assert store.by_index("app", "web") == []
    assert store.list_index_func_values("app") == []
    store.update("a", pod("a", labels={"app": "web"}))
    assert names(store.by_index("app", "web")) == ["a"]


def test_delete_removes_the_object_from_every_index(core: ModuleType) -> None:
    store = core.ThreadSafeStore(
        {"app": core.label_index_func("app"), "node": core.node_name_index_func}
    )
    store.add("a", pod("a", labels={"app": "web"}, node="n1"))
    store.add("b", pod("b", labels={"app": "web"}, node="n2"))
    store.delete("a")
    assert names(store.by_index("app", "web")) == ["b"]
    assert store.by_index("node", "n1") == []
    assert store.list_index_func_values("node") == ["n2"]


def test_empty_buckets_are_freed_when_their_last_object_leaves(core: ModuleType) -> None:
    store = app_store(core)
    for i in range(5):
        store.add(f"k{i}", pod(f"p{i}", labels={"app": f"app-{i}"}))
    assert len(store.list_index_func_values("app")) == 5
    for i in range(5):
        store.delete(f"k{i}")
    assert store.list_index_func_values("app") == []


def test_churn_over_many_values_does_not_grow_the_number_of_buckets(core: ModuleType) -> None:
    rng = random.Random(7)
    store = core.ThreadSafeStore(
        {"app": core.label_index_func("app"), "node": core.node_name_index_func}
    )
    for step in range(3000):
        key = f"k{rng.randrange(20)}"
        if rng.random() < 0.2:
            store.delete(key)
        else:
            # Values never repeat: without freeing, the indexes would hold ~2400 buckets.
            store.update(key, pod(key, labels={"app": f"app-{step}"}, node=f"node-{step}"))
    live = len(store)
    assert len(store.list_index_func_values("app")) == live
    assert len(store.list_index_func_values("node")) == live
    assert live <= 20


def test_multi_value_index_function_files_the_object_under_each_value_once(
    core: ModuleType,
) -> None:
    store = core.ThreadSafeStore({"tag": lambda o: o["tags"]})
    store.add("a", {"tags": ["x", "y", "x", "y"]})
    store.add("b", {"tags": ["y"]})
    assert len(store.by_index("tag", "x")) == 1
    assert len(store.by_index("tag", "y")) == 2
    assert sorted(store.index_keys("tag", "y")) == ["a", "b"]
    store.update("a", {"tags": ["z", "y"]})
    assert store.by_index("tag", "x") == []
    assert sorted(store.list_index_func_values("tag")) == ["y", "z"]
    store.delete("a")
    assert sorted(store.list_index_func_values("tag")) == ["y"]


def test_index_function_may_return_a_tuple_or_any_iterable_of_strings(core: ModuleType) -> None:
    store = core.ThreadSafeStore({"t": lambda o: tuple(o), "g": lambda o: (v for v in o)})
    store.add("a", ["p", "q"])
    assert store.index_keys("t", "q") == ["a"]
    assert store.index_keys("g", "p") == ["a"]


def test_index_returns_objects_sharing_any_value_with_the_given_object(core: ModuleType) -> None:
    store = core.ThreadSafeStore({"tag": lambda o: o["tags"]})
    store.add("a", {"tags": ["x"]})
    store.add("b", {"tags": ["y", "x"]})
    store.add("c", {"tags": ["z"]})
    found = store.index("tag", {"tags": ["x", "y"]})
    assert sorted(o["tags"][0] for o in found) == ["x", "y"]
    assert len(store.index("tag", {"tags": ["z"]})) == 1
    assert store.index("tag", {"tags": []}) == []
    assert store.index("tag", {"tags": ["nothing"]}) == []


def test_unknown_index_name_raises_index_not_found_error(core: ModuleType) -> None:
    store = app_store(core)
    store.add("a", pod("a", labels={"app": "web"}))
    calls: list[Callable[[], Any]] = [
        lambda: store.by_index("nope", "web"),
        lambda: store.index_keys("nope", "web"),
        lambda: store.index("nope", pod("a")),
        lambda: store.list_index_func_values("nope"),
    ]
    for call in calls:
        with pytest.raises(core.IndexNotFoundError) as info:
            call()
        err: Any = info.value
        assert err.name == "nope"
        assert "'nope'" in str(err) and "'app'" in str(err)
        assert isinstance(err, KeyError)
        assert isinstance(err, FastInformerError)


def test_get_indexers_returns_a_copy_of_the_registered_functions(core: ModuleType) -> None:
    app = core.label_index_func("app")
    store = core.ThreadSafeStore({"app": app})
    got = store.get_indexers()
    assert got == {"app": app}
    got["other"] = app
    assert list(store.get_indexers()) == ["app"]


def test_indexers_must_be_callables_under_string_names(core: ModuleType) -> None:
    with pytest.raises(TypeError):
        core.ThreadSafeStore({"app": "not callable"})
    with pytest.raises(TypeError):
        core.ThreadSafeStore({1: core.namespace_index_func})
    store = core.ThreadSafeStore()
    with pytest.raises(TypeError):
        store.add_indexers({"x": 3})
    assert store.get_indexers() == {}


# -- index function errors -----------------------------------------------------------------


def failing_on(marker: str) -> Callable[[Any], list[str]]:
    def index_func(obj: Any) -> list[str]:
        if obj.get("bad") == marker:
            raise RuntimeError("index function failed")
        return [obj["v"]]

    return index_func


def test_failing_index_function_on_add_stores_nothing(core: ModuleType) -> None:
    store = core.ThreadSafeStore({"ok": lambda o: [o["v"]], "v": failing_on("yes")})
    with pytest.raises(RuntimeError, match="index function failed"):
        store.add("a", {"v": "1", "bad": "yes"})
    assert len(store) == 0
    assert store.list_index_func_values("ok") == []


def test_failing_index_function_on_update_keeps_the_old_object_and_entries(
    core: ModuleType,
) -> None:
    store = core.ThreadSafeStore({"ok": lambda o: [o["v"]], "v": failing_on("yes")})
    old = {"v": "1"}
    store.add("a", old)
    with pytest.raises(RuntimeError):
        store.update("a", {"v": "2", "bad": "yes"})
    assert store.get("a") is old
    assert store.index_keys("ok", "1") == ["a"]
    assert store.index_keys("v", "1") == ["a"]
    assert store.list_index_func_values("ok") == ["1"]


@pytest.mark.parametrize("result", ["abc", b"abc", None, 42, [1], ["a", None]])
def test_index_function_returning_anything_but_strings_is_a_type_error(
    core: ModuleType, result: Any
) -> None:
    store = core.ThreadSafeStore({"bad": lambda o: result})
    with pytest.raises(TypeError, match="index function"):
        store.add("a", {})
    assert len(store) == 0


def test_index_function_may_read_the_store_during_a_write(
    core: ModuleType, in_thread: Callable[[Callable[[], Any]], None]
) -> None:
    store: Any = None

    def peeking(obj: Any) -> list[str]:
        return [str(len(store.list()))]

    store = core.ThreadSafeStore({"size": peeking})
    in_thread(lambda: store.add("a", {}))
    in_thread(lambda: store.update("a", {}))
    in_thread(lambda: store.replace({"b": {}}))
    assert store.list_keys() == ["b"]


def test_finaliser_of_a_dropped_object_may_read_the_store(
    core: ModuleType, in_thread: Callable[[Callable[[], Any]], None]
) -> None:
    seen: list[int] = []
    store = core.ThreadSafeStore({"ns": core.namespace_index_func})

    class Noisy(dict[str, Any]):
        def __del__(self) -> None:
            seen.append(len(store.list()))

    def cycle() -> None:
        store.add("a", Noisy(pod("a")))
        store.update("a", Noisy(pod("a")))  # drops the first
        store.delete("a")  # drops the second
        store.add("b", Noisy(pod("b")))
        store.replace({})  # drops the third

    in_thread(cycle)
    assert len(seen) == 3


class Ref(dict[str, Any]):
    """A dict that can be weakly referenced."""


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Prove that memory is freed by reference counting alone."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@pytest.mark.usefixtures("no_gc")
def test_objects_are_freed_as_soon_as_the_store_lets_go_of_them(core: ModuleType) -> None:
    store = core.ThreadSafeStore({"ns": core.namespace_index_func})
    objs = [Ref(pod(f"p{i}")) for i in range(4)]
    refs = [weakref.ref(o) for o in objs]
    for i, o in enumerate(objs):
        store.add(f"k{i}", o)
    del objs, o
    store.update("k0", pod("new"))
    store.delete("k1")
    assert [r() is None for r in refs] == [True, True, False, False]
    store.replace({})
    assert refs[2]() is None
    store.add("k3", Ref(pod("last")))
    last = weakref.ref(store.get("k3"))
    del store
    assert refs[3]() is None
    assert last() is None


# -- add_indexers ---------------------------------------------------------------------------


def test_add_indexers_indexes_the_objects_already_stored(core: ModuleType) -> None:
    store = core.ThreadSafeStore()
    store.add("a", pod("a", labels={"app": "web"}, node="n1"))
    store.add("b", pod("b", labels={"app": "db"}, node="n1"))
    store.add_indexers({"app": core.label_index_func("app")})
    store.add_indexers({"node": core.node_name_index_func})
    assert names(store.by_index("app", "web")) == ["a"]
    assert names(store.by_index("node", "n1")) == ["a", "b"]
    store.update("a", pod("a", labels={"app": "db"}, node="n2"))
    assert names(store.by_index("app", "db")) == ["a", "b"]
    assert names(store.by_index("node", "n2")) == ["a"]
    store.delete("b")
    assert store.list_index_func_values("node") == ["n2"]
    assert list(store.get_indexers()) == ["app", "node"]


def test_add_indexers_with_a_registered_name_raises_conflict_and_changes_nothing(
    core: ModuleType,
) -> None:
    store = app_store(core)
    store.add("a", pod("a", labels={"app": "web"}, node="n1"))
    with pytest.raises(IndexerConflictError, match="app"):
        store.add_indexers({"node": core.node_name_index_func, "app": lambda o: []})
    assert list(store.get_indexers()) == ["app"]
    with pytest.raises(core.IndexNotFoundError):
        store.by_index("node", "n1")


def test_add_indexers_whose_function_raises_changes_nothing(core: ModuleType) -> None:
    store = app_store(core)
    store.add("a", {"v": "1"})
    store.add("b", {"v": "2", "bad": "yes"})
    with pytest.raises(RuntimeError):
        store.add_indexers({"v": failing_on("yes")})
    assert list(store.get_indexers()) == ["app"]
    store.add_indexers({"v": lambda o: [o["v"]]})
    assert store.index_keys("v", "2") == ["b"]


@pytest.mark.parametrize("write", ["update", "replace"])
def test_indexer_added_while_a_write_computes_its_values_is_honoured(
    core: ModuleType, write: str
) -> None:
    store: Any = None
    added: list[str] = []

    def adds_an_indexer_once(obj: Any) -> list[str]:
        if not added:
            added.append("late")
            store.add_indexers({"late": lambda o: ["late-" + o["v"]]})
        return [obj["v"]]

    store = core.ThreadSafeStore({"v": adds_an_indexer_once})
    if write == "update":
        store.update("a", {"v": "1"})
    else:
        store.replace({"a": {"v": "1"}})
    assert store.index_keys("v", "1") == ["a"]
    assert store.index_keys("late", "late-1") == ["a"]


# -- replace ------------------------------------------------------------------------------


def test_replace_swaps_the_content_and_rebuilds_every_index(core: ModuleType) -> None:
    store = app_store(core)
    store.add("old", pod("old", labels={"app": "legacy"}))
    store.replace({"a": pod("a", labels={"app": "web"}), "b": pod("b", labels={"app": "db"})}, "42")
    assert sorted(store.list_keys()) == ["a", "b"]
    assert store.get("old") is None
    assert sorted(store.list_index_func_values("app")) == ["db", "web"]
    assert names(store.by_index("app", "web")) == ["a"]
    store.replace({})
    assert len(store) == 0
    assert store.list_index_func_values("app") == []


def test_replace_copies_the_given_mapping(core: ModuleType) -> None:
    store = core.ThreadSafeStore()
    items = {"a": 1}
    store.replace(items)
    items["b"] = 2
    assert store.list_keys() == ["a"]


def test_replace_with_a_failing_index_function_keeps_the_old_content(core: ModuleType) -> None:
    store = core.ThreadSafeStore({"v": failing_on("yes")})
    store.add("a", {"v": "1"})
    with pytest.raises(RuntimeError):
        store.replace({"b": {"v": "2"}, "c": {"v": "3", "bad": "yes"}})
    assert store.list_keys() == ["a"]
    assert store.list_index_func_values("v") == ["1"]


# -- built-in index functions ---------------------------------------------------------------


def test_namespace_index_func_reads_dicts_and_typed_objects(core: ModuleType) -> None:
    f = core.namespace_index_func
    assert f(pod("a", ns="team")) == ["team"]
    assert f(pod("node-1", ns=None)) == [""]
    assert f(typed_pod("a", ns="team")) == ["team"]
    assert f(typed_pod("node-1", ns=None)) == [""]
    with pytest.raises(TypeError):
        f({"spec": {}})
    with pytest.raises(TypeError):
        f(pod("a", ns=7))  # type: ignore[arg-type]


def test_label_index_func_returns_the_label_value_or_nothing(core: ModuleType) -> None:
    f = core.label_index_func("app")
    assert f(pod("a", labels={"app": "web", "x": "y"})) == ["web"]
    assert f(pod("a", labels={"app": ""})) == [""]
    assert f(pod("a", labels={"x": "y"})) == []
    assert f(pod("a")) == []
    assert f({"metadata": {"name": "a", "labels": None}}) == []
    assert f({}) == []
    assert f(typed_pod("a", labels={"app": "web"})) == ["web"]
    assert f(typed_pod("a", labels=None)) == []
    assert f.label_key == "app"
    assert "app" in repr(f)
    with pytest.raises(TypeError):
        f(pod("a", labels={"app": 3}))  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        core.label_index_func(None)


def test_node_name_index_func_reads_node_name_or_nothing(core: ModuleType) -> None:
    f = core.node_name_index_func
    assert f(pod("a", node="n1")) == ["n1"]
    assert f(pod("a")) == []
    assert f(pod("a", node="")) == []
    assert f({"metadata": {"name": "a"}}) == []
    assert f(typed_pod("a", node="n2")) == ["n2"]
    assert f(typed_pod("a", node="")) == []
    assert f(SimpleNamespace(metadata=None)) == []


def test_builtin_index_functions_read_kubernetes_client_models(core: ModuleType) -> None:
    from kubernetes.client import V1ObjectMeta, V1Pod, V1PodSpec

    obj = V1Pod(
        metadata=V1ObjectMeta(namespace="kube-system", name="dns", labels={"k8s-app": "dns"}),
        spec=V1PodSpec(containers=[], node_name="n7"),
    )
    assert core.namespace_index_func(obj) == ["kube-system"]
    assert core.label_index_func("k8s-app")(obj) == ["dns"]
    assert core.node_name_index_func(obj) == ["n7"]


class Meta(msgspec.Struct):
    name: str
    namespace: str | None = None
    labels: dict[str, str] | None = None


class Spec(msgspec.Struct):
    node_name: str | None = None


class Pod(msgspec.Struct):
    metadata: Meta
    spec: Spec | None = None


def test_indexer_indexes_msgspec_structs(core: ModuleType) -> None:
    indexer = core.Indexer(
        indexers={"app": core.label_index_func("app"), "node": core.node_name_index_func}
    )
    indexer.add(Pod(Meta("a", "ns1", {"app": "web"}), Spec("n1")))
    indexer.add(Pod(Meta("b", "ns1", {"app": "db"}), None))
    indexer.add(Pod(Meta("node-1")))
    assert sorted(indexer.list_keys()) == ["node-1", "ns1/a", "ns1/b"]
    assert [p.metadata.name for p in indexer.by_index("app", "web")] == ["a"]
    assert [p.metadata.name for p in indexer.by_index("node", "n1")] == ["a"]
    assert sorted(indexer.list_index_func_values("namespace")) == ["", "ns1"]


# -- Indexer ------------------------------------------------------------------------------


def test_indexer_keys_objects_by_namespace_and_name(core: ModuleType) -> None:
    indexer = core.Indexer()
    a = pod("a", ns="ns1")
    indexer.add(a)
    indexer.add(pod("node-1", ns=None))
    assert sorted(indexer.list_keys()) == ["node-1", "ns1/a"]
    assert indexer.get_by_key("ns1/a") is a
    assert indexer.get(pod("a", ns="ns1")) is a
    assert indexer.get(pod("a", ns="other")) is None
    assert "ns1/a" in indexer
    assert len(indexer) == 2
    assert indexer.key_func is core.meta_namespace_key


def test_indexer_always_has_the_namespace_index(core: ModuleType) -> None:
    indexer = core.Indexer(indexers={"app": core.label_index_func("app")})
    assert list(indexer.get_indexers()) == [core.NAMESPACE_INDEX, "app"]
    assert core.NAMESPACE_INDEX == "namespace"
    indexer.add(pod("a", ns="ns1"))
    indexer.add(pod("b", ns="ns1"))
    indexer.add(pod("c", ns="ns2"))
    assert names(indexer.by_index("namespace", "ns1")) == ["a", "b"]
    assert names(indexer.index("namespace", pod("x", ns="ns2"))) == ["c"]
    assert sorted(indexer.index_keys("namespace", "ns1")) == ["ns1/a", "ns1/b"]
    assert "Indexer(items=3" in repr(indexer)


def test_indexer_namespace_entry_replaces_the_default_function(core: ModuleType) -> None:
    def upper(obj: Any) -> list[str]:
        return [obj["metadata"]["namespace"].upper()]

    indexer = core.Indexer(indexers={"namespace": upper})
    indexer.add(pod("a", ns="ns1"))
    assert indexer.list_index_func_values("namespace") == ["NS1"]
    with pytest.raises(IndexerConflictError):
        indexer.add_indexers({"namespace": core.namespace_index_func})


def test_indexer_update_and_delete_keep_indexes_right(core: ModuleType) -> None:
    indexer = core.Indexer(indexers={"node": core.node_name_index_func})
    indexer.add(pod("a", node="n1"))
    indexer.update(pod("a", node="n2"))
    assert indexer.by_index("node", "n1") == []
    assert names(indexer.by_index("node", "n2")) == ["a"]
    indexer.delete(pod("a"))
    assert len(indexer) == 0
    assert indexer.list_index_func_values("node") == []
    assert indexer.list_index_func_values("namespace") == []


def test_indexer_delete_accepts_a_tombstone(core: ModuleType) -> None:
    indexer = core.Indexer()
    indexer.add(pod("a", ns="ns1"))
    indexer.delete(core.DeletedFinalStateUnknown("ns1/a", pod("a", ns="ns1")))
    assert len(indexer) == 0


def test_indexer_replace_keys_each_item_and_resync_changes_nothing(core: ModuleType) -> None:
    indexer = core.Indexer()
    indexer.add(pod("old"))
    indexer.replace([pod("a", ns="x"), pod("b", ns="y")], "7")
    indexer.resync()
    assert sorted(indexer.list_keys()) == ["x/a", "y/b"]
    assert sorted(indexer.list_index_func_values("namespace")) == ["x", "y"]
    assert names(indexer.list()) == ["a", "b"]


def test_indexer_with_custom_key_func(core: ModuleType) -> None:
    indexer = core.Indexer(key_func=lambda o: o["metadata"]["uid"])
    obj = pod("a")
    obj["metadata"]["uid"] = "u-1"
    indexer.add(obj)
    assert indexer.list_keys() == ["u-1"]
    assert indexer.get(obj) is obj


def test_indexer_key_func_errors_change_nothing(core: ModuleType) -> None:
    indexer = core.Indexer()
    with pytest.raises(KeyFuncError):
        indexer.add({"metadata": {}})
    with pytest.raises(KeyFuncError):
        indexer.replace([pod("a"), {"metadata": {}}])
    assert len(indexer) == 0
    bad = core.Indexer(key_func=lambda o: 5)
    with pytest.raises(TypeError, match="key_func"):
        bad.add(pod("a"))
    with pytest.raises(TypeError):
        core.Indexer(key_func="nope")


def test_indexer_add_indexers_reindexes_existing_objects(core: ModuleType) -> None:
    indexer = core.Indexer()
    indexer.add(pod("a", labels={"app": "web"}))
    indexer.add_indexers({"app": core.label_index_func("app")})
    assert names(indexer.by_index("app", "web")) == ["a"]


# -- concurrency ----------------------------------------------------------------------------


def test_readers_never_see_an_object_and_its_index_entries_disagree(core: ModuleType) -> None:
    """Writers move objects between ``gen`` values; readers check every bucket they read."""
    n_keys, n_gens, n_writes, n_reads = 50, 4, 6000, 1500
    store = core.ThreadSafeStore({"gen": core.label_index_func("gen")})
    for k in range(n_keys):
        store.add(f"k{k}", {"metadata": {"labels": {"gen": "0"}}, "gen": "0", "key": f"k{k}"})
    errors: list[str] = []
    done = threading.Event()

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(n_writes):
            key = f"k{rng.randrange(n_keys)}"
            gen = str(rng.randrange(n_gens))
            if rng.random() < 0.1:
                store.delete(key)
            store.update(key, {"metadata": {"labels": {"gen": gen}}, "gen": gen, "key": key})

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        reads = 0
        while reads < n_reads or not done.is_set():
            gen = str(rng.randrange(n_gens))
            objs = store.by_index("gen", gen)
            keys = store.index_keys("gen", gen)
            bad = [o["key"] for o in objs if o["gen"] != gen]
            if bad or len(set(keys)) != len(keys):
                errors.append(f"gen {gen}: {bad} {keys}")
            reads += 1
            if reads > 50 * n_reads:
                break

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        writers = [threading.Thread(target=writer, args=(s,)) for s in (1, 2)]
        readers = [threading.Thread(target=reader, args=(s,)) for s in (3, 4)]
        for t in writers + readers:
            t.start()
        for t in writers:
            t.join(60)
        done.set()
        for t in readers:
            t.join(60)
    finally:
        sys.setswitchinterval(old)
    assert not any(t.is_alive() for t in writers + readers), "threads did not finish"
    assert errors == []
    # Every stored object is in exactly the bucket of its own gen.
    for gen in map(str, range(n_gens)):
        assert all(o["gen"] == gen for o in store.by_index("gen", gen))
    total = sum(len(store.index_keys("gen", g)) for g in store.list_index_func_values("gen"))
    assert total == len(store)


# -- FieldSharer / untrack_tree ------------------------------------------------------------


class _Shared(msgspec.Struct, gc=False):
    """A struct with shared and unshared fields, as the generated models declare them."""

    _shared_fields = ("image", "tags", "labels")

    image: str | None = None
    name: str | None = None
    tags: list[str] | None = None
    labels: dict[str, str] | None = None
    children: list[Any] | None = None


class _Trimming(msgspec.Struct, gc=False):
    _trims_shared = True

    value: str | None = None


def _fresh(text: str) -> str:
    """An equal but distinct str object."""
    return "".join(list(text))


def _is_compiled(core: ModuleType) -> bool:
    return core.__name__ != "fastinformer._core_py"


def test_field_sharer_gives_listed_fields_the_copy_kept_in_its_dict(core: ModuleType) -> None:
    strings: dict[Any, Any] = {}
    sharer = core.FieldSharer(strings)
    first = _Shared(image=_fresh("nginx:1"), name=_fresh("web"))
    second = _Shared(image=_fresh("nginx:1"), name=_fresh("web"))
    assert first.image is not second.image
    sharer.share(first)
    sharer.share(second)
    assert first.image is second.image is strings["nginx:1"]
    assert first.name is not second.name  # not listed: left alone
    assert "web" not in strings


def test_field_sharer_shares_list_items_and_dict_values(core: ModuleType) -> None:
    sharer = core.FieldSharer({})
    objs = [
        _Shared(tags=[_fresh("a"), _fresh("b"), cast(str, 3)], labels={"app": _fresh("shop")})
        for _ in range(2)
    ]
    for obj in objs:
        sharer.share(obj)
    assert objs[0].tags is not None and objs[1].tags is not None
    assert objs[0].labels is not None and objs[1].labels is not None
    assert objs[0].tags[1] is objs[1].tags[1]
    assert cast(Any, objs[0].tags[2]) == 3
    assert objs[0].labels["app"] is objs[1].labels["app"]


def test_field_sharer_calls_trim_before_sharing_for_classes_that_ask(core: ModuleType) -> None:
    strings: dict[Any, Any] = {"old": "old"}
    calls: list[int] = []

    def trim() -> None:
        calls.append(len(strings))
        strings.clear()

    sharer = core.FieldSharer(strings, trim)
    sharer.share(_Shared(image="x"))
    assert calls == []
    sharer.share(_Trimming(value="v"))
    assert calls == [2]
    assert strings == {}  # _Trimming lists no shared field


def test_field_sharer_untracks_containers_only_when_compiled(core: ModuleType) -> None:
    sharer = core.FieldSharer({})
    obj = _Shared(tags=["a"], children=[_Shared(), {"k": ["v"]}], labels={"a": "b"})
    holder = _Shared(children=[[]])  # a list holding a tracked (not yet untracked) list
    assert gc.is_tracked(obj.tags)
    sharer.share(obj)
    compiled = _is_compiled(core)
    assert gc.is_tracked(obj.tags) is not compiled
    assert gc.is_tracked(obj.children) is not compiled
    sharer.share(holder)
    assert gc.is_tracked(holder.children) is not compiled


def test_field_sharer_refuses_objects_that_are_not_structs(core: ModuleType) -> None:
    sharer = core.FieldSharer({})
    with pytest.raises(TypeError, match="msgspec Structs"):
        sharer.share(SimpleNamespace(image="x"))
    with pytest.raises(TypeError):
        core.FieldSharer({}, trim=42)


def test_untrack_tree_leaves_containers_holding_tracked_objects_tracked(
    core: ModuleType,
) -> None:
    class Node:
        pass

    tree: dict[str, Any] = {"a": [{"b": ["c"]}, ("d", 1)], "e": {"f": None}}
    compiled = _is_compiled(core)
    assert core.untrack_tree(tree) is compiled
    assert gc.is_tracked(tree["a"]) is not compiled
    assert gc.is_tracked(tree["a"][0]["b"]) is not compiled
    assert core.untrack_tree("text") is True
    holder = [[], Node()]
    assert core.untrack_tree(holder) is False
    assert gc.is_tracked(holder)
    assert gc.is_tracked(holder[0]) is not compiled  # the empty list itself can go
    deep: list[Any] = []
    for _ in range(100):
        deep = [deep]
    assert core.untrack_tree(deep) is False  # deeper than the limit: left tracked
    assert gc.is_tracked(deep)


def test_untrack_object_untracks_a_record_whatever_it_holds_when_compiled(
    core: ModuleType,
) -> None:
    class Record:
        __slots__ = ("child",)

        def __init__(self) -> None:
            self.child: list[Any] = [[]]

    record = Record()
    compiled = _is_compiled(core)
    assert core.untrack_object(record) is compiled
    assert gc.is_tracked(record) is not compiled
    assert gc.is_tracked(record.child)  # only the object itself
    assert core.untrack_object("text") is True
    assert core.untrack_object(record) is compiled  # already done: no change


# -- typed objects and the Indexer's one-read path -----------------------------------------
#
# With the default key function the compiled Indexer reads an object's metadata once for
# the key and the built-in indexes, and reads typed objects' plain slots directly. These
# tests hold both cores to the same results for every shape the fast path special-cases.


def three_index_indexer(core: ModuleType, **kwargs: Any) -> Any:
    return core.Indexer(
        indexers={"app": core.label_index_func("app"), "node": core.node_name_index_func},
        **kwargs,
    )


def index_contents(indexer: Any) -> dict[str, dict[str, list[str]]]:
    """``{index name: {value: sorted keys}}`` of every index."""
    return {
        name: {v: sorted(indexer.index_keys(name, v)) for v in indexer.list_index_func_values(name)}
        for name in indexer.get_indexers()
    }


def decoded_pods(dicts: list[dict[str, Any]]) -> list[Any]:
    """``dicts`` decoded into the generated ``Pod`` structs, as the informer stores them."""
    import orjson

    from fastinformer.decode import decoder_for

    body = orjson.dumps({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": dicts})
    items, _ = decoder_for("pods").decode_list(body)
    return items


def sample_pod_dicts() -> list[dict[str, Any]]:
    return [
        pod("a", ns="ns1", labels={"app": "web"}, node="n1"),
        pod("b", ns="ns1", labels={"app": "db", "tier": "x"}, node="n2"),
        pod("c", ns="ns2", labels={"tier": "x"}, node=""),
        pod("d", ns="ns2"),
        pod("e", ns=None, labels={"app": "web"}, node="n1"),
    ]


EXPECTED_SAMPLE = {
    "namespace": {"": ["e"], "ns1": ["ns1/a", "ns1/b"], "ns2": ["ns2/c", "ns2/d"]},
    "app": {"web": ["e", "ns1/a"], "db": ["ns1/b"]},
    "node": {"n1": ["e", "ns1/a"], "n2": ["ns1/b"]},
}


def test_indexer_files_generated_typed_pods_as_it_files_their_dicts(core: ModuleType) -> None:
    dicts = sample_pod_dicts()
    typed = decoded_pods(dicts)
    assert type(typed[0]).__name__ == "Pod" and typed[0].spec.node_name == "n1"
    for objs in (dicts, typed):
        for fill in ("add", "replace"):
            indexer = three_index_indexer(core)
            if fill == "add":
                for obj in objs:
                    indexer.add(obj)
            else:
                indexer.replace(objs)
            assert index_contents(indexer) == EXPECTED_SAMPLE
            assert sorted(indexer.list_keys()) == ["e", "ns1/a", "ns1/b", "ns2/c", "ns2/d"]
            assert indexer.get_by_key("ns1/a") is objs[0]
            same_app = indexer.index("app", objs[4])
            assert sorted(map(id, same_app)) == sorted([id(objs[0]), id(objs[4])])


def test_indexer_update_moves_typed_pods_between_index_values(core: ModuleType) -> None:
    from fastinformer.models import ObjectMeta, Pod, PodSpec

    indexer = three_index_indexer(core)
    first = Pod(
        metadata=ObjectMeta(namespace="ns", name="a", labels={"app": "web"}),
        spec=PodSpec(node_name="n1"),
    )
    indexer.add(first)
    moved = Pod(
        metadata=ObjectMeta(namespace="ns", name="a", labels={"app": "db"}),
        spec=PodSpec(node_name="n2"),
    )
    indexer.update(moved)
    assert index_contents(indexer) == {
        "namespace": {"ns": ["ns/a"]},
        "app": {"db": ["ns/a"]},
        "node": {"n2": ["ns/a"]},
    }
    # The same struct mutated in place and updated again (structs are mutable).
    moved.metadata.labels = None  # type: ignore[union-attr]
    moved.spec.node_name = ""  # type: ignore[union-attr]
    indexer.update(moved)
    assert index_contents(indexer) == {"namespace": {"ns": ["ns/a"]}, "app": {}, "node": {}}
    assert indexer.get_by_key("ns/a") is moved


def test_indexer_files_cluster_scoped_typed_objects_under_the_empty_namespace(
    core: ModuleType,
) -> None:
    from fastinformer.models import Node, ObjectMeta

    indexer = three_index_indexer(core)
    indexer.add(Node(metadata=ObjectMeta(name="n1", labels={"app": "edge"})))
    indexer.add(Node(metadata=ObjectMeta(name="n2", namespace="")))
    assert index_contents(indexer) == {
        "namespace": {"": ["n1", "n2"]},
        "app": {"edge": ["n1"]},
        "node": {},
    }


def test_indexer_leaves_typed_pods_without_labels_or_node_out_of_those_indexes(
    core: ModuleType,
) -> None:
    from fastinformer.models import ObjectMeta, Pod, PodSpec

    indexer = three_index_indexer(core)
    indexer.add(Pod(metadata=ObjectMeta(namespace="ns", name="no-spec")))
    indexer.add(Pod(metadata=ObjectMeta(namespace="ns", name="no-node"), spec=PodSpec()))
    indexer.add(Pod(metadata=ObjectMeta(namespace="ns", name="empty"), spec=PodSpec(node_name="")))
    indexer.add(Pod(metadata=ObjectMeta(namespace="ns", name="other", labels={"x": "y"})))
    assert index_contents(indexer) == {
        "namespace": {"ns": ["ns/empty", "ns/no-node", "ns/no-spec", "ns/other"]},
        "app": {},
        "node": {},
    }


def test_indexer_refuses_typed_objects_without_metadata_or_name(core: ModuleType) -> None:
    from fastinformer.models import ObjectMeta, Pod

    indexer = three_index_indexer(core)
    kept = Pod(metadata=ObjectMeta(namespace="ns", name="a", labels={"app": "web"}))
    indexer.add(kept)
    for bad in (Pod(), Pod(metadata=ObjectMeta(namespace="ns")), None, 42):
        for write in (indexer.add, indexer.update):
            with pytest.raises(KeyFuncError):
                write(bad)
    assert indexer.list() == [kept]
    assert index_contents(indexer)["app"] == {"web": ["ns/a"]}


@pytest.mark.parametrize("typed", [False, True], ids=["dict", "typed"])
def test_indexer_update_with_non_str_index_values_keeps_the_old_object(
    core: ModuleType, typed: bool
) -> None:
    indexer = three_index_indexer(core)
    old = pod("a", ns="ns", labels={"app": "web"}, node="n1")
    indexer.add(decoded_pods([old])[0] if typed else old)
    before = (indexer.list(), index_contents(indexer))
    bad_label = pod("a", ns="ns", labels={"app": "web"}, node="n1")
    bad_node = pod("a", ns="ns", labels={"app": "web"}, node="n1")
    if typed:
        bad_label, bad_node = decoded_pods([bad_label, bad_node])
        bad_label.metadata.labels["app"] = 5
        bad_node.spec.node_name = 7
    else:
        bad_label["metadata"]["labels"]["app"] = 5
        bad_node["spec"]["nodeName"] = 7
    with pytest.raises(TypeError, match="label 'app' is not a string"):
        indexer.update(bad_label)
    with pytest.raises(TypeError, match="nodeName is not a string"):
        indexer.update(bad_node)
    assert (indexer.list(), index_contents(indexer)) == before


def test_indexer_update_with_a_non_str_namespace_is_a_key_func_error(core: ModuleType) -> None:
    from fastinformer.models import ObjectMeta, Pod

    indexer = three_index_indexer(core)
    with pytest.raises(KeyFuncError):
        indexer.add(Pod(metadata=ObjectMeta(namespace=5, name="a")))  # type: ignore[arg-type]
    with pytest.raises(KeyFuncError):
        indexer.add(pod("a", ns=5))  # type: ignore[arg-type]
    assert len(indexer) == 0


class PodDict(dict[str, Any]):
    """A dict subclass (the fast path is for exact dicts; subclasses take the other)."""


def test_indexer_files_dict_subclasses_like_dicts(core: ModuleType) -> None:
    indexer = three_index_indexer(core)
    for obj in sample_pod_dicts():
        indexer.add(PodDict(obj))
    assert index_contents(indexer) == EXPECTED_SAMPLE
    assert all(type(o) is PodDict for o in indexer.list())


def test_indexer_add_of_a_tombstone_is_a_type_error_and_stores_nothing(
    core: ModuleType,
) -> None:
    indexer = three_index_indexer(core)
    with pytest.raises(TypeError, match="no metadata"):
        indexer.add(core.DeletedFinalStateUnknown("ns/a", pod("a", ns="ns")))
    assert len(indexer) == 0


def test_indexer_with_custom_key_func_files_typed_pods(core: ModuleType) -> None:
    typed = decoded_pods(sample_pod_dicts())
    indexer = three_index_indexer(core, key_func=lambda obj: f"key-{obj.metadata.name}")
    for obj in typed:
        indexer.update(obj)
    assert index_contents(indexer) == {
        "namespace": {"": ["key-e"], "ns1": ["key-a", "key-b"], "ns2": ["key-c", "key-d"]},
        "app": {"web": ["key-a", "key-e"], "db": ["key-b"]},
        "node": {"n1": ["key-a", "key-e"], "n2": ["key-b"]},
    }


def test_indexer_custom_namespace_indexer_replaces_the_default_for_typed_pods(
    core: ModuleType,
) -> None:
    def by_name_prefix(obj: Any) -> list[str]:
        return [obj.metadata.name[:1].upper()]

    indexer = core.Indexer(
        indexers={"namespace": by_name_prefix, "app": core.label_index_func("app")}
    )
    for obj in decoded_pods(sample_pod_dicts()):
        indexer.add(obj)
    contents = index_contents(indexer)
    assert contents["namespace"] == {
        "A": ["ns1/a"],
        "B": ["ns1/b"],
        "C": ["ns2/c"],
        "D": ["ns2/d"],
        "E": ["e"],
    }
    assert contents["app"] == {"web": ["e", "ns1/a"], "db": ["ns1/b"]}


def test_builtin_index_functions_read_metadata_after_a_custom_function_replaced_it(
    core: ModuleType,
) -> None:
    def relabel(obj: Any) -> list[str]:
        obj["metadata"] = {**obj["metadata"], "labels": {"app": "relabelled"}}
        return []

    indexer = core.Indexer(indexers={"relabel": relabel, "app": core.label_index_func("app")})
    indexer.add(pod("a", ns="ns", labels={"app": "web"}))
    assert indexer.list_index_func_values("app") == ["relabelled"]


class SlotPod:
    """A pod keeping metadata and spec in slots, as generated models do."""

    __slots__ = ("metadata", "spec")

    def __init__(self, metadata: Any, spec: Any) -> None:
        self.metadata = metadata
        self.spec = spec


class SlotMeta:
    __slots__ = ("labels", "name", "namespace")

    def __init__(self, name: str, namespace: str, labels: dict[str, str] | None) -> None:
        self.name, self.namespace, self.labels = name, namespace, labels


def test_indexer_follows_attributes_replaced_on_the_class(core: ModuleType) -> None:
    indexer = three_index_indexer(core)
    obj = SlotPod(SlotMeta("a", "ns", {"app": "web"}), SimpleNamespace(node_name="n1"))
    indexer.add(obj)
    slot = SlotMeta.__dict__["labels"]
    setattr(SlotMeta, "labels", property(lambda self: {"app": "from-property"}))  # noqa: B010
    try:
        indexer.update(obj)
        assert index_contents(indexer)["app"] == {"from-property": ["ns/a"]}
    finally:
        setattr(SlotMeta, "labels", slot)  # noqa: B010
    indexer.update(obj)
    assert index_contents(indexer)["app"] == {"web": ["ns/a"]}


def test_indexer_reads_unset_slots_as_absent(core: ModuleType) -> None:
    indexer = three_index_indexer(core)
    md = SlotMeta("a", "ns", None)
    del md.labels
    obj = SlotPod(md, None)
    del obj.spec
    indexer.add(obj)
    assert index_contents(indexer) == {"namespace": {"ns": ["ns/a"]}, "app": {}, "node": {}}


def relabel_first(obj: Any) -> list[str]:
    """An index function that replaces the object's labels and spec before the built-in
    indexes read them (it is registered before them), and indexes nothing."""
    if isinstance(obj, dict):
        obj["metadata"]["labels"] = {"app": "relabelled"}
        obj["spec"] = {"nodeName": "moved"}
    else:
        obj.metadata.labels = {"app": "relabelled"}
        obj.spec.node_name = "moved"
    return []


@pytest.mark.parametrize("typed", [False, True], ids=["dict", "typed"])
def test_built_in_indexes_read_what_an_earlier_index_function_left_in_the_object(
    core: ModuleType, typed: bool
) -> None:
    # The built-in index functions must see the object as the user function left it, not
    # labels or a spec read before it ran (a store that reads fields ahead must drop them).
    indexer = core.Indexer(
        indexers={
            "relabel": relabel_first,
            "app": core.label_index_func("app"),
            "node": core.node_name_index_func,
        }
    )
    first, second = (pod("a", ns="ns", labels={"app": "web"}, node="n1") for _ in range(2))
    if typed:
        first, second = decoded_pods([first, second])
    indexer.add(first)
    indexer.update(second)
    contents = index_contents(indexer)
    assert contents["app"] == {"relabelled": ["ns/a"]}
    assert contents["node"] == {"moved": ["ns/a"]}


@pytest.mark.parametrize(
    ("metadata_extra", "spec", "app", "node"),
    [
        ({}, {}, [], []),
        ({"labels": None}, None, [], []),
        ({"labels": {}}, {"nodeName": None}, [], []),
        ({"labels": {"app": "web"}}, {"nodeName": "n1"}, ["web"], ["n1"]),
        ({"labels": {"tier": "x"}}, {"nodeName": ""}, [], []),
    ],
)
def test_updates_of_dicts_missing_labels_or_spec_index_them_as_adds_do(
    core: ModuleType,
    metadata_extra: dict[str, Any],
    spec: Any,
    app: list[str],
    node: list[str],
) -> None:
    def shaped() -> dict[str, Any]:
        obj: dict[str, Any] = {"metadata": {"namespace": "ns", "name": "a", **metadata_extra}}
        if spec is not None:
            obj["spec"] = dict(spec)
        return obj

    added, updated = three_index_indexer(core), three_index_indexer(core)
    added.add(shaped())
    updated.add(pod("a", ns="ns", labels={"app": "old"}, node="n0"))
    updated.update(shaped())
    for indexer in (added, updated):
        contents = index_contents(indexer)
        assert sorted(contents["app"]) == app
        assert sorted(contents["node"]) == node
    store = core.ThreadSafeStore(
        {"app": core.label_index_func("app"), "node": core.node_name_index_func}
    )
    store.add("ns/a", pod("a", ns="ns", labels={"app": "old"}, node="n0"))
    store.update("ns/a", shaped())
    assert sorted(store.list_index_func_values("app")) == app
    assert sorted(store.list_index_func_values("node")) == node


def test_label_index_reads_labels_held_in_a_mapping_that_is_not_a_dict(core: ModuleType) -> None:
    from types import MappingProxyType

    indexer = three_index_indexer(core)
    obj = pod("a", ns="ns", node="n1")
    obj["metadata"]["labels"] = MappingProxyType({"app": "web"})
    indexer.add(pod("a", ns="ns", labels={"app": "old"}))
    indexer.update(obj)
    assert index_contents(indexer)["app"] == {"web": ["ns/a"]}
