"""The compiled store, the pure twin and a trivial model agree on random operation sequences."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fastinformer import _core_py
from fastinformer.errors import IndexerConflictError
from tests.conftest import CORES

COMPILED = CORES["c"]
pytestmark = pytest.mark.skipif(COMPILED is None, reason="compiled core not built")

KEYS = [f"k{i}" for i in range(6)]
TAGS = ["x", "y", "z"]


class IndexFuncFailed(Exception):
    pass


def tags_func(obj: Any) -> list[str]:
    return list(obj["tags"])


def fragile_func(obj: Any) -> list[str]:
    if obj["bad"]:
        raise IndexFuncFailed(obj["metadata"]["name"])
    return [obj["metadata"]["name"]]


# The model: a dict of objects and index functions written independently of the store's.
MODEL_FUNCS: dict[str, Callable[[Any], set[str]]] = {
    "app": lambda o: (
        {o["metadata"]["labels"]["app"]} if "app" in o["metadata"]["labels"] else set()
    ),
    "node": lambda o: {o["spec"]["nodeName"]} if o["spec"].get("nodeName") else set(),
    "namespace": lambda o: {o["metadata"].get("namespace") or ""},
    "tags": lambda o: set(o["tags"]),
    "fragile": lambda o: set(fragile_func(o)),
}


def store_funcs(core: Any) -> dict[str, Any]:
    return {
        "app": core.label_index_func("app"),
        "node": core.node_name_index_func,
        "namespace": core.namespace_index_func,
        "tags": tags_func,
        "fragile": fragile_func,
    }


def make_obj(
    name: str, ns: str | None, app: str | None, node: str, tags: list[str], bad: bool
) -> Any:
    md: dict[str, Any] = {"name": name, "labels": {} if app is None else {"app": app}}
    if ns is not None:
        md["namespace"] = ns
    return {"metadata": md, "spec": {"nodeName": node}, "tags": tags, "bad": bad}


objects = st.builds(
    make_obj,
    name=st.sampled_from(["a", "b", "c"]),
    ns=st.sampled_from(["ns1", "ns2", None]),
    app=st.sampled_from(["web", "db", None]),
    node=st.sampled_from(["n1", "n2", ""]),
    tags=st.lists(st.sampled_from(TAGS), max_size=4),
    bad=st.integers(0, 7).map(lambda i: i == 0),
)


class StoreAgreement(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        assert COMPILED is not None
        self.cores: list[ModuleType] = [COMPILED, _core_py]
        self.stores = [
            core.ThreadSafeStore({"app": store_funcs(core)["app"]}) for core in self.cores
        ]
        self.items: dict[str, Any] = {}
        self.names: list[str] = ["app"]

    def model_values(self, obj: Any, names: list[str]) -> dict[str, set[str]]:
        """Index values of ``obj``; raises IndexFuncFailed like the stores would."""
        return {name: MODEL_FUNCS[name](obj) for name in names}

    def all_raise(self, op: Callable[[Any], None], exc: type[BaseException]) -> None:
        for store in self.stores:
            with pytest.raises(exc):
                op(store)

    @rule(key=st.sampled_from(KEYS), obj=objects)
    def put(self, key: str, obj: Any) -> None:
        try:
            self.model_values(obj, self.names)
        except IndexFuncFailed:
            self.all_raise(lambda s: s.update(key, obj), IndexFuncFailed)
            return
        for store in self.stores:
            store.update(key, obj)
        self.items[key] = obj

    @rule(key=st.sampled_from(KEYS))
    def delete(self, key: str) -> None:
        for store in self.stores:
            store.delete(key)
        self.items.pop(key, None)

    @rule(new=st.dictionaries(st.sampled_from(KEYS), objects, max_size=4))
    def replace(self, new: dict[str, Any]) -> None:
        try:
            for obj in new.values():
                self.model_values(obj, self.names)
        except IndexFuncFailed:
            self.all_raise(lambda s: s.replace(new, "1"), IndexFuncFailed)
            return
        for store in self.stores:
            store.replace(new, "1")
        self.items = dict(new)

    @rule(name=st.sampled_from(sorted(MODEL_FUNCS)))
    def add_indexer(self, name: str) -> None:
        if name in self.names:
            for store, core in zip(self.stores, self.cores, strict=True):
                with pytest.raises(IndexerConflictError):
                    store.add_indexers({name: store_funcs(core)[name]})
            return
        try:
            for obj in self.items.values():
                self.model_values(obj, [name])
        except IndexFuncFailed:
            for store, core in zip(self.stores, self.cores, strict=True):
                with pytest.raises(IndexFuncFailed):
                    store.add_indexers({name: store_funcs(core)[name]})
            return
        for store, core in zip(self.stores, self.cores, strict=True):
            store.add_indexers({name: store_funcs(core)[name]})
        self.names.append(name)

    @precondition(lambda self: bool(self.items))
    @rule(probe=objects, data=st.data())
    def index_by_object(self, probe: Any, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self.names))
        try:
            wanted = MODEL_FUNCS[name](probe)
        except IndexFuncFailed:
            self.all_raise(lambda s: s.index(name, probe), IndexFuncFailed)
            return
        expected = sorted(k for k, o in self.items.items() if MODEL_FUNCS[name](o) & wanted)
        for store in self.stores:
            got = store.index(name, probe)
            assert sorted(id(o) for o in got) == sorted(id(self.items[k]) for k in expected)

    @invariant()
    def stores_agree_with_the_model(self) -> None:
        model_index: dict[str, dict[str, set[str]]] = {n: {} for n in self.names}
        for key, obj in self.items.items():
            for name, values in self.model_values(obj, self.names).items():
                for v in values:
                    model_index[name].setdefault(v, set()).add(key)
        for store in self.stores:
            assert sorted(store.list_keys()) == sorted(self.items)
            assert len(store) == len(self.items)
            for key, obj in self.items.items():
                assert store.get(key) is obj
            assert list(store.get_indexers()) == self.names
            for name in self.names:
                assert sorted(store.list_index_func_values(name)) == sorted(model_index[name])
                for value, keys in model_index[name].items():
                    assert sorted(store.index_keys(name, value)) == sorted(keys)
                    assert sorted(id(o) for o in store.by_index(name, value)) == sorted(
                        id(self.items[k]) for k in keys
                    )


StoreAgreement.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
test_store_agrees_with_the_twin_and_a_model = StoreAgreement.TestCase
