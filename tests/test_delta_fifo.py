"""DeltaFIFO: client-go semantics, compression, requeue, closing; both core implementations."""

from __future__ import annotations

import gc
import pickle
import random
import threading
import time
from types import ModuleType
from typing import Any

import pytest

from fastinformer.errors import FIFOClosedError, KeyFuncError, RequeueError

ADDED, UPDATED, DELETED, REPLACED, SYNC = "Added", "Updated", "Deleted", "Replaced", "Sync"


def pod(name: str, ns: str = "default", **fields: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, **fields}


class FakeKnown:
    """known_objects backed by a dict (what the consumer's store holds)."""

    def __init__(self, *objs: dict[str, Any]) -> None:
        self.objects: dict[str, Any] = {}
        for obj in objs:
            md = obj["metadata"]
            self.objects[f"{md['namespace']}/{md['name']}"] = obj

    def list_keys(self) -> list[str]:
        return list(self.objects)

    def get_by_key(self, key: str) -> Any | None:
        return self.objects.get(key)

    def apply(self, key: str, deltas: list[Any]) -> None:
        """Apply popped deltas the way an informer's store does."""
        for d in deltas:
            if d.type == DELETED:
                self.objects.pop(key, None)
            else:
                self.objects[key] = d.object


def pop_one(fifo: Any) -> tuple[list[Any], bool]:
    return fifo.pop(lambda deltas, initial: (deltas, initial), timeout=10)  # type: ignore[no-any-return]


def pop_all(fifo: Any) -> list[tuple[list[Any], bool]]:
    out = []
    while len(fifo):
        out.append(pop_one(fifo))
    return out


def kinds(deltas: list[Any] | None) -> list[str]:
    assert deltas is not None
    return [d.type for d in deltas]


# -- Delta and DeltaType ------------------------------------------------------


def test_delta_types_carry_client_go_names(core: ModuleType) -> None:
    t = core.DeltaType
    assert (t.ADDED, t.UPDATED, t.DELETED, t.REPLACED, t.SYNC) == (
        ADDED,
        UPDATED,
        DELETED,
        REPLACED,
        SYNC,
    )


def test_delta_compares_by_type_and_object_and_reads_well(core: ModuleType) -> None:
    d = core.Delta(UPDATED, pod("a"))
    assert d == core.Delta(UPDATED, pod("a"))
    assert d != core.Delta(ADDED, pod("a"))
    assert d != core.Delta(UPDATED, pod("b"))
    assert (d.type, d.object) == (UPDATED, pod("a"))
    assert repr(d) == f"Delta('Updated', {pod('a')!r})"
    assert pickle.loads(pickle.dumps(d)) == d


def test_delta_is_immutable_and_unhashable(core: ModuleType) -> None:
    d = core.Delta(ADDED, pod("a"))
    with pytest.raises(AttributeError):
        d.type = UPDATED
    with pytest.raises(AttributeError):
        d.object = None
    with pytest.raises(TypeError):
        hash(d)


def test_deltas_and_their_lists_are_untracked_by_the_gc_when_compiled(
    core: ModuleType,
) -> None:
    compiled = core.__name__ != "fastinformer._core_py"
    assert gc.is_tracked(core.Delta(ADDED, pod("a"))) is not compiled
    fifo = core.DeltaFIFO()
    fifo.add(pod("a"))
    fifo.update(pod("a", labels={"x": "y"}))
    popped: list[Any] = []
    fifo.pop(lambda deltas, initial: popped.append(deltas))
    (deltas,) = popped
    assert [d.type for d in deltas] == [ADDED, UPDATED]
    assert gc.is_tracked(deltas) is not compiled
    assert all(gc.is_tracked(d) is not compiled for d in deltas)


def test_delta_rejects_an_unknown_type(core: ModuleType) -> None:
    with pytest.raises(ValueError, match="unknown delta type"):
        core.Delta("Modified", pod("a"))
    with pytest.raises(TypeError):
        core.Delta(None, pod("a"))


# -- ordering and compression ------------------------------------------------


def test_keys_pop_in_order_of_first_insertion(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    for name in ("c", "a", "b"):
        fifo.add(pod(name))
    fifo.update(pod("c", v=2))
    assert fifo.list_keys() == ["default/c", "default/a", "default/b"]
    popped = [deltas[-1].object["metadata"]["name"] for deltas, _ in pop_all(fifo)]
    assert popped == ["c", "a", "b"]


def test_without_compression_every_delta_is_kept_in_order(core: ModuleType) -> None:
    fifo = core.DeltaFIFO(compress=False)
    fifo.add(pod("a", v=1))
    fifo.update(pod("a", v=2))
    fifo.update(pod("a", v=3))
    fifo.delete(pod("a", v=3))
    fifo.add(pod("a", v=4))
    deltas, _ = pop_one(fifo)
    assert [(d.type, d.object.get("v")) for d in deltas] == [
        (ADDED, 1),
        (UPDATED, 2),
        (UPDATED, 3),
        (DELETED, 3),
        (ADDED, 4),
    ]


def test_consecutive_updates_are_compressed_into_the_newest(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    for v in range(1000):
        fifo.update(pod("a", v=v))
    deltas = fifo.get_by_key("default/a")
    assert deltas == [core.Delta(UPDATED, pod("a", v=999))]


def test_the_added_opening_a_run_is_kept_before_compressed_updates(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.add(pod("a", v=0))
    for v in range(1, 1000):
        fifo.update(pod("a", v=v))
    assert fifo.get_by_key("default/a") == [
        core.Delta(ADDED, pod("a", v=0)),
        core.Delta(UPDATED, pod("a", v=999)),
    ]


def test_a_compressed_sync_keeps_the_type_of_the_update_it_replaces(core: ModuleType) -> None:
    known = FakeKnown()
    fifo = core.DeltaFIFO(known_objects=known, emit_delta_type_replaced=False)
    fifo.update(pod("a", v=1))
    fifo.replace([pod("a", v=2)], "7")
    assert fifo.get_by_key("default/a") == [core.Delta(UPDATED, pod("a", v=2))]


def test_replaced_after_update_is_compressed_into_replaced(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.update(pod("a", v=1))
    fifo.replace([pod("a", v=2)], "7")
    assert fifo.get_by_key("default/a") == [core.Delta(REPLACED, pod("a", v=2))]


@pytest.mark.parametrize("compress", [True, False])
def test_two_consecutive_deletes_collapse_preferring_the_non_tombstone(
    core: ModuleType, compress: bool
) -> None:
    fifo = core.DeltaFIFO(compress=compress)
    fifo.add(pod("a"))
    fifo.delete(pod("a", v="real"))
    fifo.delete(core.DeletedFinalStateUnknown("default/a", pod("a", v="stale")))
    assert fifo.get_by_key("default/a") == [
        core.Delta(ADDED, pod("a")),
        core.Delta(DELETED, pod("a", v="real")),
    ]


@pytest.mark.parametrize("compress", [True, False])
def test_a_real_deletion_replaces_a_queued_tombstone(core: ModuleType, compress: bool) -> None:
    fifo = core.DeltaFIFO(compress=compress)
    fifo.add(pod("a"))
    tombstone = core.DeletedFinalStateUnknown("default/a", pod("a"))
    fifo.delete(tombstone)
    fifo.delete(pod("a", v="real"))
    assert kinds(fifo.get_by_key("default/a")) == [ADDED, DELETED]
    assert fifo.get_by_key("default/a")[-1].object == pod("a", v="real")


def test_create_delete_cycles_fold_into_the_first_deletion(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.add(pod("a", gen=0))
    fifo.delete(pod("a", gen=0))
    for gen in range(1, 100):
        fifo.add(pod("a", gen=gen))
        fifo.update(pod("a", gen=gen, v=1))
        fifo.delete(pod("a", gen=gen, v=1))
    assert fifo.get_by_key("default/a") == [
        core.Delta(ADDED, pod("a", gen=0)),
        core.Delta(DELETED, pod("a", gen=0)),
    ]
    fifo.add(pod("a", gen=100))
    fifo.update(pod("a", gen=100, v=1))
    fifo.update(pod("a", gen=100, v=2))
    assert [(d.type, d.object["gen"]) for d in fifo.get_by_key("default/a")] == [
        (ADDED, 0),
        (DELETED, 0),
        (ADDED, 100),
        (UPDATED, 100),
    ]


def _storm(core: ModuleType, compress: bool, ops: int) -> int:
    """Run a seeded storm of mixed operations on few keys; return the longest delta list."""
    rng = random.Random(20240601)
    known = FakeKnown()
    fifo = core.DeltaFIFO(known_objects=known, compress=compress)
    names = ["a", "b", "c"]
    longest = 0
    for i in range(ops):
        name = rng.choice(names)
        op = rng.random()
        if op < 0.35:
            fifo.update(pod(name, v=i))
        elif op < 0.55:
            fifo.add(pod(name, v=i))
        elif op < 0.75:
            fifo.delete(pod(name, v=i))
        elif op < 0.80:
            fifo.replace([pod(n, v=i) for n in names if rng.random() < 0.5], str(i))
        elif op < 0.85:
            fifo.resync()
        elif op < 0.88 and len(fifo):
            fifo.pop(lambda deltas, _initial: known.apply(meta_key(deltas), deltas))
        for key in fifo.list_keys():
            longest = max(longest, len(fifo.get_by_key(key)))
    return longest


def meta_key(deltas: list[Any]) -> str:
    obj = deltas[-1].object
    if hasattr(obj, "key"):
        return str(obj.key)
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"


def test_compression_bounds_deltas_per_key_under_a_storm_of_mixed_operations(
    core: ModuleType,
) -> None:
    longest = _storm(core, compress=True, ops=10_000)
    assert 4 <= longest <= 5


def test_without_compression_a_storm_accumulates_deltas(core: ModuleType) -> None:
    assert _storm(core, compress=False, ops=2_000) > 5


# -- keys ---------------------------------------------------------------------


def test_a_key_error_raises_and_loses_nothing_already_queued(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.add(pod("a"))
    for method in (fifo.add, fifo.update, fifo.delete):
        with pytest.raises(KeyFuncError):
            method({"metadata": {"namespace": "default"}})
    with pytest.raises(KeyFuncError):
        fifo.replace([pod("b"), {"spec": {}}], "5")
    assert fifo.list_keys() == ["default/a"]
    assert fifo.get_by_key("default/a") == [core.Delta(ADDED, pod("a"))]
    assert fifo.last_sync_resource_version() == ""


def test_a_failed_first_replace_does_not_count_as_the_initial_list(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    with pytest.raises(KeyFuncError):
        fifo.replace([pod("b"), {"spec": {}}], "5")
    assert len(fifo) == 0
    assert not fifo.has_synced()
    fifo.replace([pod("b")], "6")
    assert not fifo.has_synced()
    assert pop_one(fifo)[1] is True
    assert fifo.has_synced()


def test_errors_of_a_custom_key_function_become_key_func_errors(core: ModuleType) -> None:
    def broken(obj: Any) -> str:
        raise LookupError("no key here")

    fifo = core.DeltaFIFO(key_func=broken)
    with pytest.raises(KeyFuncError) as info:
        fifo.add(pod("a"))
    assert isinstance(info.value.__cause__, LookupError)
    with pytest.raises(KeyFuncError, match="expected str"):
        core.DeltaFIFO(key_func=lambda obj: 42).add(pod("a"))
    assert len(fifo) == 0


def test_tombstones_are_keyed_by_their_key_whatever_the_key_function(core: ModuleType) -> None:
    fifo = core.DeltaFIFO(key_func=lambda obj: obj["id"])
    fifo.add({"id": "x"})
    fifo.delete(core.DeletedFinalStateUnknown("x", {"id": "x"}))
    assert kinds(fifo.get_by_key("x")) == [ADDED, DELETED]


def test_the_default_key_is_namespace_slash_name(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.add({"metadata": {"name": "node-1"}})
    fifo.add(pod("p", ns="kube-system"))
    assert fifo.list_keys() == ["node-1", "kube-system/p"]


# -- delete -------------------------------------------------------------------


def test_deleting_a_key_unknown_everywhere_is_ignored(core: ModuleType) -> None:
    fifo = core.DeltaFIFO(known_objects=FakeKnown(pod("other")))
    fifo.delete(pod("a"))
    assert len(fifo) == 0
    assert core.DeltaFIFO().delete(pod("a")) is None


def test_deleting_a_key_held_only_by_known_objects_is_queued(core: ModuleType) -> None:
    fifo = core.DeltaFIFO(known_objects=FakeKnown(pod("a")))
    fifo.delete(pod("a", v="final"))
    assert fifo.get_by_key("default/a") == [core.Delta(DELETED, pod("a", v="final"))]


# -- replace ------------------------------------------------------------------


def test_replace_queues_replaced_for_every_item(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.replace([pod("a"), pod("b")], "10")
    assert fifo.list_keys() == ["default/a", "default/b"]
    assert fifo.get_by_key("default/b") == [core.Delta(REPLACED, pod("b"))]
    assert fifo.last_sync_resource_version() == "10"


def test_replace_queues_sync_when_the_replaced_type_is_disabled(core: ModuleType) -> None:
    fifo = core.DeltaFIFO(emit_delta_type_replaced=False)
    fifo.replace([pod("a")], "10")
    assert fifo.get_by_key("default/a") == [core.Delta(SYNC, pod("a"))]


def test_replace_emits_tombstones_for_known_keys_missing_from_the_list(core: ModuleType) -> None:
    known = FakeKnown(pod("a", v=1), pod("gone", v=1))
    fifo = core.DeltaFIFO(known_objects=known)
    fifo.replace([pod("a", v=2)], "11")
    assert fifo.list_keys() == ["default/a", "default/gone"]
    assert fifo.get_by_key("default/gone") == [
        core.Delta(DELETED, core.DeletedFinalStateUnknown("default/gone", pod("gone", v=1)))
    ]


def test_replace_emits_tombstones_for_keys_only_in_the_queue(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.add(pod("queued", v=1))
    fifo.update(pod("queued", v=2))
    fifo.replace([pod("a")], "12")
    deltas = fifo.get_by_key("default/queued")
    assert kinds(deltas) == [ADDED, UPDATED, DELETED]
    assert deltas[-1].object == core.DeletedFinalStateUnknown("default/queued", pod("queued", v=2))


def test_replace_never_queues_a_second_deletion_for_a_key(core: ModuleType) -> None:
    known = FakeKnown(pod("a", v=1), pod("b", v=1))
    fifo = core.DeltaFIFO(known_objects=known, compress=False)
    fifo.delete(pod("a", v="real"))
    fifo.update(pod("b", v=2))
    fifo.replace([], "13")
    assert fifo.get_by_key("default/a") == [core.Delta(DELETED, pod("a", v="real"))]
    assert fifo.get_by_key("default/b") == [
        core.Delta(UPDATED, pod("b", v=2)),
        core.Delta(DELETED, core.DeletedFinalStateUnknown("default/b", pod("b", v=2))),
    ]


def test_a_tombstone_for_a_missing_known_object_carries_none(core: ModuleType) -> None:
    class Vanishing(FakeKnown):
        def get_by_key(self, key: str) -> Any | None:
            return None

    fifo = core.DeltaFIFO(known_objects=Vanishing(pod("a")))
    fifo.replace([], "1")
    assert fifo.get_by_key("default/a") == [
        core.Delta(DELETED, core.DeletedFinalStateUnknown("default/a", None))
    ]


# -- resync -------------------------------------------------------------------


def test_resync_queues_sync_for_known_objects_with_nothing_pending(core: ModuleType) -> None:
    known = FakeKnown(pod("a"), pod("b"))
    fifo = core.DeltaFIFO(known_objects=known)
    fifo.resync()
    assert fifo.list_keys() == ["default/a", "default/b"]
    assert fifo.get_by_key("default/a") == [core.Delta(SYNC, pod("a"))]


def test_resync_leaves_keys_with_pending_deltas_alone(core: ModuleType) -> None:
    known = FakeKnown(pod("a", v=1), pod("b", v=1))
    fifo = core.DeltaFIFO(known_objects=known, compress=False)
    fifo.update(pod("a", v=2))
    fifo.resync()
    assert fifo.get_by_key("default/a") == [core.Delta(UPDATED, pod("a", v=2))]
    assert fifo.get_by_key("default/b") == [core.Delta(SYNC, pod("b", v=1))]


def test_resync_without_known_objects_does_nothing(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.resync()
    assert len(fifo) == 0
    assert not fifo.has_synced()


# -- has_synced and the initial list -------------------------------------------


def test_has_synced_turns_true_once_the_initial_replace_is_popped(core: ModuleType) -> None:
    known = FakeKnown(pod("stale"))
    fifo = core.DeltaFIFO(known_objects=known)
    assert not fifo.has_synced()
    fifo.replace([pod("a"), pod("b")], "1")
    fifo.add(pod("late"))
    flags = []
    for _ in range(3):
        assert not fifo.has_synced()
        flags.append(pop_one(fifo)[1])
    assert fifo.has_synced()
    assert flags == [True, True, True]  # a, b and the tombstone of "stale"
    assert pop_one(fifo)[1] is False


def test_has_synced_right_after_a_first_add(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.add(pod("a"))
    assert fifo.has_synced()
    fifo.replace([pod("b")], "2")  # not the first call: no initial population
    assert fifo.has_synced()
    assert pop_one(fifo)[1] is False


def test_an_empty_first_replace_is_synced_at_once(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.replace([], "1")
    assert fifo.has_synced()


# -- pop: requeue, errors, results --------------------------------------------


def test_pop_returns_what_process_returns(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.add(pod("a"))
    assert fifo.pop(lambda deltas, initial: ("done", len(deltas))) == ("done", 1)


def test_requeue_puts_the_deltas_back_in_front(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.add(pod("a"))
    fifo.add(pod("b"))

    def fail(deltas: list[Any], initial: bool) -> None:
        raise RequeueError()

    with pytest.raises(RequeueError):
        fifo.pop(fail)
    assert fifo.list_keys() == ["default/a", "default/b"]
    assert fifo.get_by_key("default/a") == [core.Delta(ADDED, pod("a"))]


def test_requeue_reraises_the_wrapped_error(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.add(pod("a"))
    boom = OSError("store unavailable")

    def fail(deltas: list[Any], initial: bool) -> None:
        raise RequeueError(boom)

    with pytest.raises(OSError) as info:
        fifo.pop(fail)
    assert info.value is boom
    assert fifo.list_keys() == ["default/a"]


@pytest.mark.parametrize("compress", [True, False])
def test_requeue_merges_popped_deltas_before_newer_ones(core: ModuleType, compress: bool) -> None:
    fifo = core.DeltaFIFO(compress=compress)
    fifo.add(pod("a", v=1))
    fifo.add(pod("b"))

    def update_then_fail(deltas: list[Any], initial: bool) -> None:
        fifo.update(pod("a", v=2))  # reentrant: the lock is held by this thread
        raise RequeueError()

    with pytest.raises(RequeueError):
        fifo.pop(update_then_fail)
    assert fifo.list_keys() == ["default/b", "default/a"]
    assert fifo.get_by_key("default/a") == [
        core.Delta(ADDED, pod("a", v=1)),
        core.Delta(UPDATED, pod("a", v=2)),
    ]


def test_other_errors_from_process_propagate_and_drop_the_deltas(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.add(pod("a"))

    def fail(deltas: list[Any], initial: bool) -> None:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        fifo.pop(fail)
    assert len(fifo) == 0
    assert fifo.get_by_key("default/a") is None


def test_pop_inside_process_is_refused(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.add(pod("a"))
    fifo.add(pod("b"))
    with pytest.raises(RuntimeError, match="inside a process"):
        fifo.pop(lambda deltas, initial: fifo.pop(lambda d, i: None))
    assert fifo.list_keys() == ["default/b"]


def test_drain_processes_every_queued_key_in_order_without_waiting(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    seen: list[tuple[str, list[str], bool]] = []

    def record(deltas: list[Any], initial: bool) -> None:
        seen.append((deltas[0].object["metadata"]["name"], kinds(deltas), initial))

    assert fifo.drain(record) == 0  # nothing queued: returns at once
    fifo.replace([pod("a"), pod("b")], "1")
    fifo.delete(pod("a"))
    fifo.add(pod("c"))
    assert fifo.drain(record) == 3
    assert seen == [
        ("a", [REPLACED, DELETED], True),
        ("b", [REPLACED], True),
        ("c", [ADDED], False),
    ]
    assert len(fifo) == 0 and fifo.has_synced()
    fifo.close()
    assert fifo.drain(record) == 0


def test_drain_also_processes_keys_queued_while_it_runs(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.add(pod("a"))
    names: list[str] = []

    def requeue_b_once(deltas: list[Any], initial: bool) -> None:
        names.append(deltas[0].object["metadata"]["name"])
        if len(names) == 1:
            fifo.add(pod("b"))  # reentrant: the lock is held by this thread

    assert fifo.drain(requeue_b_once) == 2
    assert names == ["a", "b"]


def test_drain_stops_at_an_error_as_pop_does(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    for name in "abc":
        fifo.add(pod(name))
    boom = OSError("store unavailable")

    def fail_on_b(deltas: list[Any], initial: bool) -> None:
        if deltas[0].object["metadata"]["name"] == "b":
            raise RequeueError(boom)

    with pytest.raises(OSError) as info:
        fifo.drain(fail_on_b)
    assert info.value is boom
    assert fifo.list_keys() == ["default/b", "default/c"]  # a done, b requeued in front

    def explode(deltas: list[Any], initial: bool) -> None:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        fifo.drain(explode)
    assert fifo.list_keys() == ["default/c"]  # b's deltas dropped, as pop drops them


def test_drain_inside_process_is_refused(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.add(pod("a"))
    with pytest.raises(RuntimeError, match="inside a process"):
        fifo.pop(lambda deltas, initial: fifo.drain(lambda d, i: None))


def test_concurrent_drains_never_process_one_key_twice_at_once(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    active: set[str] = set()
    overlaps: list[str] = []
    applied: dict[str, int] = {}
    guard = threading.Lock()

    def apply(deltas: list[Any], initial: bool) -> None:
        key = deltas[0].object["metadata"]["name"]
        with guard:
            if key in active:
                overlaps.append(key)
            active.add(key)
        time.sleep(0)
        with guard:
            active.discard(key)
            applied[key] = deltas[-1].object["v"]

    def produce(offset: int) -> None:
        for v in range(300):
            fifo.update(pod(f"p{(v + offset) % 7}", v=v * 10 + offset))
            fifo.drain(apply)

    threads = [threading.Thread(target=produce, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fifo.drain(apply)
    assert overlaps == []
    assert len(fifo) == 0 and len(applied) == 7


def test_get_by_key_returns_a_copy(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.add(pod("a"))
    fifo.get_by_key("default/a").clear()
    assert len(fifo.get_by_key("default/a")) == 1
    assert fifo.get_by_key("default/missing") is None


# -- blocking, timeouts, closing ----------------------------------------------


def test_pop_times_out_when_nothing_arrives(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    with pytest.raises(TimeoutError):
        fifo.pop(lambda deltas, initial: None, timeout=0.01)
    with pytest.raises(TimeoutError):
        fifo.pop(lambda deltas, initial: None, timeout=0)


def test_pop_with_a_zero_timeout_takes_a_queued_key(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.add(pod("a"))
    assert fifo.pop(lambda deltas, initial: deltas, timeout=0) == [core.Delta(ADDED, pod("a"))]


def test_a_blocked_pop_wakes_when_a_key_is_queued(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    got: list[Any] = []
    consumer = threading.Thread(target=lambda: got.append(pop_one(fifo)))
    consumer.start()
    time.sleep(0.02)  # let it block (the test holds either way)
    fifo.add(pod("a"))
    consumer.join(10)
    assert not consumer.is_alive()
    assert got == [([core.Delta(ADDED, pod("a"))], False)]


def test_each_queued_key_wakes_one_of_several_blocked_pops(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    got: list[str] = []
    consumers = [
        threading.Thread(target=lambda: got.append(meta_key(pop_one(fifo)[0]))) for _ in range(3)
    ]
    for t in consumers:
        t.start()
    time.sleep(0.02)  # let them block (the test holds either way)
    for name in ("a", "b", "c"):
        fifo.add(pod(name))
    for t in consumers:
        t.join(10)
    assert not any(t.is_alive() for t in consumers)
    assert sorted(got) == ["default/a", "default/b", "default/c"]


def test_close_wakes_a_blocked_pop(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            fifo.pop(lambda deltas, initial: None)
        except BaseException as exc:
            errors.append(exc)

    consumer = threading.Thread(target=consume)
    consumer.start()
    time.sleep(0.02)  # let it block (the test holds either way)
    fifo.close()
    consumer.join(10)
    assert not consumer.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], FIFOClosedError)
    assert fifo.is_closed()


def test_a_closed_fifo_refuses_changes_but_drains_what_is_queued(core: ModuleType) -> None:
    fifo = core.DeltaFIFO(known_objects=FakeKnown())
    fifo.add(pod("a"))
    fifo.close()
    for call in (
        lambda: fifo.add(pod("b")),
        lambda: fifo.update(pod("a")),
        lambda: fifo.delete(pod("a")),
        lambda: fifo.replace([], "1"),
        fifo.resync,
    ):
        with pytest.raises(FIFOClosedError):
            call()
    assert pop_one(fifo)[0] == [core.Delta(ADDED, pod("a"))]
    with pytest.raises(FIFOClosedError):
        pop_one(fifo)


def test_process_runs_with_the_lock_held(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    fifo.add(pod("a"))
    producer = threading.Thread(target=lambda: fifo.add(pod("b")))

    def process(deltas: list[Any], initial: bool) -> bool:
        producer.start()
        producer.join(0.05)
        return producer.is_alive()  # blocked on the FIFO lock while we hold it

    assert fifo.pop(process) is True
    producer.join(10)
    assert fifo.list_keys() == ["default/b"]


def test_concurrent_producers_and_consumers_lose_nothing(core: ModuleType) -> None:
    fifo = core.DeltaFIFO()
    seen: list[str] = []
    per_producer = 300

    def produce(prefix: str) -> None:
        for i in range(per_producer):
            fifo.add(pod(f"{prefix}-{i}"))

    def consume() -> None:
        while True:
            try:
                fifo.pop(lambda deltas, initial: seen.append(meta_key(deltas)))
            except FIFOClosedError:
                return

    producers = [threading.Thread(target=produce, args=(p,)) for p in "xyz"]
    consumers = [threading.Thread(target=consume) for _ in range(3)]
    for t in producers + consumers:
        t.start()
    for t in producers:
        t.join(30)
    fifo.close()
    for t in consumers:
        t.join(30)
    assert sorted(seen) == sorted(f"default/{p}-{i}" for p in "xyz" for i in range(per_producer))


# -- construction and the public module -----------------------------------------


def test_bad_constructor_arguments_are_refused(core: ModuleType) -> None:
    with pytest.raises(TypeError):
        core.DeltaFIFO(key_func="name")
    with pytest.raises(TypeError):
        core.DeltaFIFO(known_objects=object())


def test_public_module_exports_the_chosen_core() -> None:
    from fastinformer import delta_fifo
    from fastinformer._compat import core

    assert delta_fifo.DeltaFIFO is core.DeltaFIFO
    assert delta_fifo.Delta is core.Delta
    assert delta_fifo.DeltaType is core.DeltaType


def test_an_indexer_works_as_known_objects(core: ModuleType) -> None:
    indexer = core.Indexer()
    indexer.add(pod("a", v=1))
    indexer.add(pod("b", v=1))
    fifo = core.DeltaFIFO(known_objects=indexer)
    fifo.replace([pod("a", v=2)], "3")
    fifo.resync()
    assert fifo.get_by_key("default/b") == [
        core.Delta(DELETED, core.DeletedFinalStateUnknown("default/b", pod("b", v=1)))
    ]
    assert fifo.get_by_key("default/a") == [core.Delta(REPLACED, pod("a", v=2))]
