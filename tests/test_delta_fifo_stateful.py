"""DeltaFIFO: the compiled core, the pure twin and a plain reference model agree.

The model keeps, per key, the raw history of deltas (what was queued, nothing
merged) and derives the documented compressed form from it in one pass, which
is a different formulation from the incremental rules of the implementations.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, NamedTuple

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from fastinformer import _core_py
from fastinformer.errors import FIFOClosedError, KeyFuncError, RequeueError
from tests.conftest import CORES

ADDED, UPDATED, DELETED, REPLACED, SYNC = "Added", "Updated", "Deleted", "Replaced", "Sync"
NAMES = ["a", "b", "c", "d"]


class Tomb(NamedTuple):
    key: str
    obj: Any


# A delta of the model, and the comparable form of a real one: (type, object).
Plain = tuple[str, Any]


def pod(name: str, version: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, "v": version}


def key_of(name: str) -> str:
    return f"ns/{name}"


def plain(core: ModuleType, deltas: list[Any] | None) -> list[Plain] | None:
    if deltas is None:
        return None
    out: list[Plain] = []
    for d in deltas:
        obj = d.object
        if isinstance(obj, core.DeletedFinalStateUnknown):
            obj = Tomb(obj.key, obj.obj)
        out.append((d.type, obj))
    return out


# -- the reference model ------------------------------------------------------


def _fold(run: list[Plain]) -> list[Plain]:
    """Deltas folded into one: newest object, newest type that is not Sync (if any)."""
    if not run:
        return []
    types = [t for t, _ in run if t != SYNC]
    return [(types[-1] if types else SYNC, run[-1][1])]


def _squash(run: list[Plain]) -> list[Plain]:
    """A run of non-Deleted deltas: everything up to its first Added, then the rest."""
    first_added = next((i for i, (t, _) in enumerate(run) if t == ADDED), None)
    if first_added is None:
        return _fold(run)
    return _fold(run[: first_added + 1]) + _fold(run[first_added + 1 :])


def normalize(raw: list[Plain], compress: bool) -> list[Plain]:
    """The deltas a FIFO holds for a key whose queued history is ``raw``."""
    if not compress:
        out: list[Plain] = []
        for d in raw:
            if out and d[0] == DELETED and out[-1][0] == DELETED:
                if not isinstance(d[1], Tomb):
                    out[-1] = d
            else:
                out.append(d)
        return out
    runs: list[list[Plain]] = [[]]
    deletions: list[Plain] = []
    for d in raw:
        if d[0] == DELETED:
            deletions.append(d)
            runs.append([])
        else:
            runs[-1].append(d)
    result = _squash(runs[0])
    if deletions:
        chosen = deletions[0]
        for j in range(1, len(deletions)):
            # Adjacent deletions collapse; one after a re-created run keeps the first.
            if not runs[j] and not isinstance(deletions[j][1], Tomb):
                chosen = deletions[j]
        result.append(chosen)
        result.extend(_squash(runs[-1]))
    return result


class ModelFIFO:
    def __init__(self, compress: bool, emit_replaced: bool, known: dict[str, Any]) -> None:
        self.compress = compress
        self.emit_replaced = emit_replaced
        self.known = known
        self.raw: dict[str, list[Plain]] = {}
        self.order: list[str] = []
        self.populated = False
        self.initial = 0
        self.rv = ""

    def deltas(self, key: str) -> list[Plain] | None:
        raw = self.raw.get(key)
        return None if raw is None else normalize(raw, self.compress)

    def queue(self, kind: str, key: str, obj: Any) -> None:
        if key not in self.raw:
            self.raw[key] = []
            self.order.append(key)
        self.raw[key].append((kind, obj))

    def add(self, key: str, obj: Any) -> None:
        self.populated = True
        self.queue(ADDED, key, obj)

    def update(self, key: str, obj: Any) -> None:
        self.populated = True
        self.queue(UPDATED, key, obj)

    def delete(self, key: str, obj: Any) -> None:
        self.populated = True
        if key in self.raw or self.known.get(key) is not None:
            self.queue(DELETED, key, obj)

    def replace(self, items: list[tuple[str, Any]], rv: str) -> None:
        listed = {key for key, _ in items}
        for key, obj in items:
            self.queue(REPLACED if self.emit_replaced else SYNC, key, obj)
        for key in list(self.order):
            newest = normalize(self.raw[key], self.compress)[-1]
            if key in listed or newest[0] == DELETED:
                continue
            last = newest[1].obj if isinstance(newest[1], Tomb) else newest[1]
            self.queue(DELETED, key, Tomb(key, last))
        for key in list(self.known):
            if key not in listed and key not in self.raw:
                self.queue(DELETED, key, Tomb(key, self.known[key]))
        self.rv = rv
        if not self.populated:
            self.populated = True
            self.initial = len(self.raw)

    def resync(self) -> None:
        for key, obj in list(self.known.items()):
            if key not in self.raw:
                self.queue(SYNC, key, obj)

    def pop(self) -> tuple[str, list[Plain], bool]:
        key = self.order.pop(0)
        deltas = normalize(self.raw.pop(key), self.compress)
        initial = not (self.populated and self.initial == 0)
        if self.initial > 0:
            self.initial -= 1
        return key, deltas, initial

    def requeue(self, key: str, deltas: list[Plain]) -> None:
        if key in self.raw:
            self.raw[key] = deltas + self.raw[key]
        else:
            self.raw[key] = list(deltas)
            self.order.insert(0, key)


def apply(known: dict[str, Any], key: str, deltas: list[Plain]) -> None:
    """What an informer's store does with popped deltas."""
    for kind, obj in deltas:
        if kind == DELETED:
            known.pop(key, None)
        else:
            known[key] = obj


class DictKnown:
    """known_objects for a real FIFO, with the same dict as its model twin."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}

    def list_keys(self) -> list[str]:
        return list(self.objects)

    def get_by_key(self, key: str) -> Any | None:
        return self.objects.get(key)


# -- the state machine --------------------------------------------------------


class FIFOsAgree(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.version = 0
        self.cores: list[ModuleType] = []
        self.fifos: list[Any] = []
        self.knowns: list[DictKnown] = []

    @initialize(compress=st.booleans(), emit_replaced=st.booleans())
    def setup(self, compress: bool, emit_replaced: bool) -> None:
        compiled = CORES["c"]
        assert compiled is not None
        self.cores = [compiled, _core_py]
        self.knowns = [DictKnown(), DictKnown()]
        self.fifos = [
            core.DeltaFIFO(
                known_objects=known, compress=compress, emit_delta_type_replaced=emit_replaced
            )
            for core, known in zip(self.cores, self.knowns, strict=True)
        ]
        self.model = ModelFIFO(compress, emit_replaced, {})

    def next_pod(self, name: str) -> dict[str, Any]:
        self.version += 1
        return pod(name, self.version)

    @rule(name=st.sampled_from(NAMES))
    def add(self, name: str) -> None:
        obj = self.next_pod(name)
        for fifo in self.fifos:
            fifo.add(obj)
        self.model.add(key_of(name), obj)

    @rule(name=st.sampled_from(NAMES))
    def update(self, name: str) -> None:
        obj = self.next_pod(name)
        for fifo in self.fifos:
            fifo.update(obj)
        self.model.update(key_of(name), obj)

    @rule(name=st.sampled_from(NAMES), tombstone=st.booleans())
    def delete(self, name: str, tombstone: bool) -> None:
        obj = self.next_pod(name)
        key = key_of(name)
        for core, fifo in zip(self.cores, self.fifos, strict=True):
            fifo.delete(core.DeletedFinalStateUnknown(key, obj) if tombstone else obj)
        self.model.delete(key, Tomb(key, obj) if tombstone else obj)

    @rule(names=st.lists(st.sampled_from(NAMES), max_size=5))
    def replace(self, names: list[str]) -> None:
        items = [self.next_pod(name) for name in names]
        rv = str(self.version)
        for fifo in self.fifos:
            fifo.replace(items, rv)
        self.model.replace([(key_of(n), obj) for n, obj in zip(names, items, strict=True)], rv)

    @rule()
    def resync(self) -> None:
        for fifo in self.fifos:
            fifo.resync()
        self.model.resync()

    @rule()
    def add_without_a_name(self) -> None:
        for fifo in self.fifos:
            with pytest.raises(KeyFuncError):
                fifo.add({"metadata": {"namespace": "ns"}})

    @rule()
    def pop(self) -> None:
        results: list[tuple[str, list[Plain], bool] | None] = []
        for core, fifo, known in zip(self.cores, self.fifos, self.knowns, strict=True):

            def process(deltas: list[Any], initial: bool, core: ModuleType = core) -> Any:
                return plain(core, deltas), initial

            try:
                deltas, initial = fifo.pop(process, timeout=0)
            except TimeoutError:
                results.append(None)
                continue
            key = meta_key(deltas)
            apply(known.objects, key, deltas)
            results.append((key, deltas, initial))
        if not self.model.order:
            assert results == [None, None]
            return
        expected = self.model.pop()
        apply(self.model.known, expected[0], expected[1])
        assert results == [expected, expected]

    @rule(newer=st.booleans(), wrapped=st.booleans())
    def pop_and_requeue(self, newer: bool, wrapped: bool) -> None:
        if not self.model.order:
            return
        key = self.model.order[0]
        obj = self.next_pod(key.split("/")[1])
        for fifo in self.fifos:

            def process(deltas: list[Any], initial: bool, fifo: Any = fifo) -> None:
                if newer:
                    fifo.update(obj)
                raise RequeueError(LookupError("retry") if wrapped else None)

            with pytest.raises(LookupError if wrapped else RequeueError):
                fifo.pop(process)
        popped_key, deltas, _ = self.model.pop()
        if newer:
            self.model.update(key, obj)
        self.model.requeue(popped_key, deltas)

    @rule()
    def pop_failing(self) -> None:
        if not self.model.order:
            return

        def process(deltas: list[Any], initial: bool) -> None:
            raise ArithmeticError("handler bug")

        for fifo in self.fifos:
            with pytest.raises(ArithmeticError):
                fifo.pop(process)
        self.model.pop()

    @invariant()
    def queues_agree(self) -> None:
        if not self.fifos:
            return
        model = self.model
        for core, fifo in zip(self.cores, self.fifos, strict=True):
            assert fifo.list_keys() == model.order
            assert len(fifo) == len(model.order)
            assert fifo.has_synced() == (model.populated and model.initial == 0)
            assert fifo.last_sync_resource_version() == model.rv
            for key in NAMES_KEYS:
                assert plain(core, fifo.get_by_key(key)) == model.deltas(key), key
                if model.compress and key in model.raw:
                    assert len(fifo.get_by_key(key)) <= 5
        assert self.knowns[0].objects == self.knowns[1].objects == model.known

    def teardown(self) -> None:
        for fifo in self.fifos:
            fifo.close()
            with pytest.raises(FIFOClosedError):
                fifo.add(pod("a", 0))


NAMES_KEYS = [key_of(n) for n in NAMES]


def meta_key(deltas: list[Plain]) -> str:
    obj = deltas[-1][1]
    if isinstance(obj, Tomb):
        return obj.key
    return key_of(obj["metadata"]["name"])


FIFOsAgree.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)

if CORES["c"] is None:
    TestFIFOsAgree = pytest.mark.skip(reason="compiled core not built")(FIFOsAgree.TestCase)
else:
    TestFIFOsAgree = FIFOsAgree.TestCase
