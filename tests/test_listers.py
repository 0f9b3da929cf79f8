"""listers: namespace, label-selector and index queries over an indexer, on both cores."""

from __future__ import annotations

from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from fastinformer.errors import NotFoundError
from fastinformer.listers import Lister, labels_of
from fastinformer.selectors import SelectorError, parse_label_selector


def pod(ns: str, name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name, "labels": labels}}


@pytest.fixture
def lister(core: ModuleType) -> Lister:
    idx = core.Indexer(indexers={"app": core.label_index_func("app")})
    for p in (
        pod("a", "web-1", app="web", tier="front"),
        pod("a", "db-1", app="db"),
        pod("b", "web-2", app="web", tier="back"),
        pod("b", "bare"),
    ):
        idx.add(p)
    return Lister(idx, "pods")


def names(objs: list[Any]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objs)


def test_list_without_selector_returns_everything(lister: Lister) -> None:
    assert names(lister.list()) == ["bare", "db-1", "web-1", "web-2"]
    assert names(lister.list("")) == names(lister.list())


def test_list_filters_with_the_server_grammar(lister: Lister) -> None:
    assert names(lister.list("app=web")) == ["web-1", "web-2"]
    assert names(lister.list("app in (web,db),tier!=back")) == ["db-1", "web-1"]
    assert names(lister.list("!app")) == ["bare"]
    assert names(lister.list(parse_label_selector("tier"))) == ["web-1", "web-2"]
    assert names(lister.list({"app": "db"})) == ["db-1"]


def test_namespace_lister_lists_and_gets_within_one_namespace(lister: Lister) -> None:
    assert names(lister.namespace("a").list()) == ["db-1", "web-1"]
    assert names(lister.namespace("b").list("app=web")) == ["web-2"]
    assert lister.namespace("a").get("web-1")["metadata"]["name"] == "web-1"
    assert lister.namespace("nowhere").list() == []


def test_get_of_a_missing_object_raises_not_found_like_the_server(lister: Lister) -> None:
    with pytest.raises(NotFoundError) as err:
        lister.namespace("a").get("web-2")
    assert err.value.code == 404 and str(err.value.message) == 'pods "web-2" not found'
    with pytest.raises(NotFoundError):
        lister.get("node-1")


def test_by_index_uses_custom_indexes_and_selectors(lister: Lister) -> None:
    assert names(lister.by_index("app", "web")) == ["web-1", "web-2"]
    assert names(lister.by_index("app", "web", "tier=back")) == ["web-2"]


def test_bad_selectors_and_arguments_are_refused(lister: Lister) -> None:
    with pytest.raises(SelectorError):
        lister.list("app in web")
    with pytest.raises(ValueError):
        lister.namespace("")
    with pytest.raises(TypeError):
        lister.list(42)  # type: ignore[arg-type]


def test_typed_objects_are_queried_by_attribute(core: ModuleType) -> None:
    idx = core.Indexer()
    obj = SimpleNamespace(
        metadata=SimpleNamespace(namespace="x", name="n", labels={"app": "web"})
    )
    idx.add(obj)
    lst = Lister(idx, "pods")
    assert lst.namespace("x").list("app=web") == [obj]
    assert labels_of(obj) == {"app": "web"}
    assert labels_of({"metadata": None}) is None
