"""NotificationBuffer and DeltaDistributor, against the compiled core and the pure twin."""

from __future__ import annotations

import gc
import threading
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastinformer.keys import DeletedFinalStateUnknown

ADD, UPDATE, DELETE = 0, 1, 2


def pod(name: str, rv: str = "1", ns: str = "default") -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name, "resourceVersion": rv}}


def drain(buf: Any) -> list[tuple[int, Any, Any, bool]]:
    """Everything pending, in delivery order (take() blocks when empty, so count first)."""
    out = []
    while buf.pending():
        out.append(buf.take())
    return out


# -- NotificationBuffer ---------------------------------------------------------------------


def test_notes_come_out_in_key_arrival_order(core: ModuleType) -> None:
    buf = core.NotificationBuffer()
    for name in ("a", "b", "c"):
        buf.put(name, core.NOTE_ADD, None, name, False)
    assert [n[2] for n in drain(buf)] == ["a", "b", "c"]


def test_add_then_update_becomes_one_add_of_the_newest(core: ModuleType) -> None:
    buf = core.NotificationBuffer()
    buf.put("k", ADD, None, "v1", True)
    buf.put("k", UPDATE, "v1", "v2", False)
    assert drain(buf) == [(ADD, None, "v2", True)]


def test_updates_merge_keeping_the_first_old_and_the_newest_new(core: ModuleType) -> None:
    buf = core.NotificationBuffer()
    buf.put("k", UPDATE, "v1", "v2", False)
    buf.put("k", UPDATE, "v2", "v3", False)
    buf.put("k", UPDATE, "v3", "v4", False)
    assert drain(buf) == [(UPDATE, "v1", "v4", False)]


def test_add_then_delete_leaves_nothing_for_the_key(core: ModuleType) -> None:
    buf = core.NotificationBuffer()
    buf.put("k", ADD, None, "v1", True)
    buf.put("j", ADD, None, "w1", False)
    buf.put("k", DELETE, None, "v1", False)
    assert buf.pending() == 1
    assert drain(buf) == [(ADD, None, "w1", False)]
    buf.prime()
    assert buf.synced()  # the dropped initial add no longer counts


def test_update_then_delete_becomes_the_delete_of_the_final_state(core: ModuleType) -> None:
    buf = core.NotificationBuffer()
    buf.put("k", UPDATE, "v1", "v2", False)
    buf.put("k", DELETE, None, "v3", False)
    assert drain(buf) == [(DELETE, None, "v3", False)]


def test_delete_then_add_stays_two_notes_delivered_together(core: ModuleType) -> None:
    buf = core.NotificationBuffer()
    buf.put("k", DELETE, None, "old", False)
    buf.put("j", ADD, None, "j1", False)
    buf.put("k", ADD, None, "new", False)
    buf.put("k", UPDATE, "new", "newer", False)
    assert drain(buf) == [
        (DELETE, None, "old", False),
        (ADD, None, "newer", False),
        (ADD, None, "j1", False),
    ]


def test_a_key_notified_again_after_it_emptied_goes_to_the_back(core: ModuleType) -> None:
    buf = core.NotificationBuffer()
    buf.put("k", ADD, None, "k1", False)
    buf.put("j", ADD, None, "j1", False)
    buf.put("k", DELETE, None, "k1", False)
    buf.put("k", ADD, None, "k2", False)
    assert [n[2] for n in drain(buf)] == ["j1", "k2"]


def test_repeated_deletes_and_adds_still_hold_at_most_two_notes(core: ModuleType) -> None:
    buf = core.NotificationBuffer()
    for kind in (DELETE, DELETE, ADD, ADD, UPDATE, DELETE, DELETE):
        buf.put("k", kind, None, kind, False)
    assert drain(buf) == [(DELETE, None, DELETE, False)]
    for kind in (DELETE, UPDATE, ADD):
        buf.put("k", kind, None, kind, False)
    assert drain(buf) == [(DELETE, None, DELETE, False), (UPDATE, None, ADD, False)]


def test_buffer_holds_at_most_two_notes_per_key_under_a_storm(core: ModuleType) -> None:
    buf = core.NotificationBuffer()
    for i in range(1000):
        buf.put(f"k{i % 10}", UPDATE, i - 1, i, False)
    got = drain(buf)
    assert len(got) == 10
    assert got[0] == (UPDATE, -1, 990, False)


def test_synced_needs_prime_and_every_initial_note_handled(core: ModuleType) -> None:
    buf = core.NotificationBuffer()
    buf.put("a", ADD, None, "a", True)
    buf.put("b", ADD, None, "b", True)
    assert not buf.synced()
    buf.prime()
    buf.take()
    assert not buf.synced()  # "a" is being handled
    buf.take()
    assert not buf.synced()  # "b" is being handled
    buf.put("c", ADD, None, "c", False)
    buf.take()  # finishing "b" counts it
    assert buf.synced()


def test_idle_is_false_while_a_note_is_being_handled(core: ModuleType) -> None:
    buf = core.NotificationBuffer()
    assert buf.idle()
    buf.put("a", ADD, None, "a", False)
    assert not buf.idle()
    buf.take()
    assert buf.pending() == 0
    assert not buf.idle()
    buf.stop()
    assert buf.take() is None
    assert buf.idle()


def test_stop_drops_pending_notes_and_ignores_later_puts(core: ModuleType) -> None:
    buf = core.NotificationBuffer()
    buf.put("a", ADD, None, "a", True)
    buf.stop()
    assert buf.is_stopped()
    assert buf.pending() == 0
    buf.put("b", ADD, None, "b", False)
    assert buf.pending() == 0
    assert buf.take() is None


def test_take_blocks_until_a_put_from_another_thread(core: ModuleType) -> None:
    buf = core.NotificationBuffer()
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(buf.take()))
    t.start()
    buf.put("a", ADD, None, "a", False)
    t.join(10)
    assert got == [(ADD, None, "a", False)]


def test_stop_wakes_a_blocked_take(core: ModuleType) -> None:
    buf = core.NotificationBuffer()
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(buf.take()))
    t.start()
    buf.stop()
    t.join(10)
    assert not t.is_alive()
    assert got == [None]


def test_put_rejects_a_non_str_key_and_an_unknown_kind(core: ModuleType) -> None:
    buf = core.NotificationBuffer()
    with pytest.raises(TypeError):
        buf.put(1, ADD, None, "x", False)
    with pytest.raises(ValueError):
        buf.put("k", 7, None, "x", False)


def test_run_calls_each_callback_with_its_arguments(core: ModuleType) -> None:
    buf = core.NotificationBuffer()
    calls: list[tuple[Any, ...]] = []
    buf.put("a", ADD, None, "a1", True)
    buf.put("b", UPDATE, "b1", "b2", False)
    buf.put("c", DELETE, None, DeletedFinalStateUnknown("c", "c1"), False)

    def on_delete(obj: Any) -> None:
        calls.append(("delete", obj))
        buf.stop()

    buf.run(lambda o, i: calls.append(("add", o, i)), True,
            lambda o, n: calls.append(("update", o, n)), on_delete, lambda: None)
    assert calls == [("add", "a1", True), ("update", "b1", "b2"),
                     ("delete", DeletedFinalStateUnknown("c", "c1"))]


def test_run_skips_missing_callbacks_and_calls_on_add_without_the_flag(
    core: ModuleType,
) -> None:
    buf = core.NotificationBuffer()
    seen: list[Any] = []
    buf.put("a", UPDATE, "a0", "a1", False)
    buf.put("b", ADD, None, "b1", True)

    def on_add(obj: Any) -> None:
        seen.append(obj)
        buf.stop()

    buf.run(on_add, False, None, None, lambda: None)
    assert seen == ["b1"]


def test_run_reports_a_failing_callback_and_goes_on(core: ModuleType) -> None:
    buf = core.NotificationBuffer()
    errors: list[str] = []
    seen: list[Any] = []
    buf.put("a", ADD, None, "bad", False)
    buf.put("b", ADD, None, "good", False)

    def on_add(obj: Any) -> None:
        if obj == "bad":
            raise RuntimeError("boom")
        seen.append(obj)
        buf.stop()

    def on_error() -> None:
        import sys

        errors.append(str(sys.exc_info()[1]))

    buf.run(on_add, False, None, None, on_error)
    assert errors == ["boom"]
    assert seen == ["good"]


def test_run_lets_a_base_exception_end_the_loop_and_stays_consistent(core: ModuleType) -> None:
    buf = core.NotificationBuffer()
    buf.put("a", ADD, None, "a", True)
    buf.prime()

    def on_add(obj: Any) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        buf.run(on_add, False, None, None, lambda: None)
    assert buf.idle()
    assert buf.synced()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from([ADD, UPDATE, DELETE])),
                max_size=40))
def test_compiled_and_twin_buffers_deliver_the_same(ops: list[tuple[str, int]]) -> None:
    from tests.conftest import CORES

    outs = []
    for mod in CORES.values():
        if mod is None:
            continue
        buf = mod.NotificationBuffer()
        for i, (key, kind) in enumerate(ops):
            buf.put(key, kind, None if kind != UPDATE else i - 1, i, i % 3 == 0)
        buf.prime()
        got = drain(buf)
        if buf.pending() == 0 and got:
            buf.stop()
        outs.append((got, buf.synced()))
    assert all(o == outs[0] for o in outs)
    assert len(outs[0][0]) <= 2 * len({key for key, _ in ops})


def test_pending_notes_are_untracked_by_the_gc_when_compiled(core: ModuleType) -> None:
    compiled = core.__name__ != "fastinformer._core_py"
    buf = core.NotificationBuffer()
    buf.put("a", core.NOTE_ADD, None, pod("a"), False)
    buf.put("a", core.NOTE_DELETE, None, pod("a"), False)
    buf.put("a", core.NOTE_ADD, None, pod("a", "2"), False)
    inside: list[Any] = []
    frontier: list[Any] = [buf]
    for _ in range(4):  # the buffer, its containers, the slots, their notes
        frontier = [r for o in frontier for r in gc.get_referents(o) if not isinstance(r, type)]
        inside += frontier
    slots = [o for o in inside if type(o).__name__ == "_Slot"]
    assert slots
    assert all(gc.is_tracked(slot) is not compiled for slot in slots)
    assert [n[2] for n in drain(buf)] == [pod("a", "2")]


# -- DeltaDistributor -----------------------------------------------------------------------


def make(core: ModuleType, buffers: int = 1) -> tuple[Any, Any, list[Any]]:
    indexer = core.Indexer()
    dist = core.DeltaDistributor(indexer)
    bufs = [core.NotificationBuffer() for _ in range(buffers)]
    dist.buffers = tuple(bufs)
    return dist, indexer, bufs


def test_distributor_adds_new_objects_and_flags_the_initial_list(core: ModuleType) -> None:
    dist, indexer, (buf,) = make(core)
    a = pod("a")
    dist([core.Delta("Replaced", a)], True)
    assert indexer.get_by_key("default/a") is a
    assert drain(buf) == [(ADD, None, a, True)]
    assert dist.full_list_applied


def test_distributor_updates_with_the_cached_object_as_old(core: ModuleType) -> None:
    dist, indexer, (buf,) = make(core)
    a1, a2 = pod("a", "1"), pod("a", "2")
    dist([core.Delta("Added", a1)], False)
    drain(buf)
    dist([core.Delta("Updated", a2)], False)
    assert indexer.get_by_key("default/a") is a2
    assert drain(buf) == [(UPDATE, a1, a2, False)]
    assert not dist.full_list_applied


def test_distributor_deletes_and_passes_tombstones_through(core: ModuleType) -> None:
    dist, indexer, (buf,) = make(core)
    a = pod("a")
    dist([core.Delta("Added", a)], False)
    drain(buf)
    tomb = core.DeletedFinalStateUnknown("default/a", a)
    dist([core.Delta("Deleted", tomb)], False)
    assert indexer.get_by_key("default/a") is None
    assert drain(buf) == [(DELETE, None, tomb, False)]


def test_distributor_skips_a_relisted_object_with_the_same_resource_version(
    core: ModuleType,
) -> None:
    dist, indexer, (buf,) = make(core)
    dist([core.Delta("Added", pod("a", "5"))], False)
    drain(buf)
    same, newer = pod("a", "5"), pod("b", "1")
    dist([core.Delta("Replaced", same)], False)
    assert indexer.get_by_key("default/a") is same  # the cache still takes it
    assert buf.pending() == 0
    dist([core.Delta("Added", newer)], False)
    dist([core.Delta("Replaced", pod("a", "6"))], False)
    assert [n[0] for n in drain(buf)] == [ADD, UPDATE]
    assert dist.full_list_applied


def test_distributor_applies_a_batch_in_order_to_every_buffer(core: ModuleType) -> None:
    dist, indexer, bufs = make(core, buffers=3)
    a1, a2 = pod("a", "1"), pod("a", "2")
    dist([core.Delta("Added", a1), core.Delta("Updated", a2), core.Delta("Deleted", a2)], False)
    assert len(indexer) == 0
    for buf in bufs:
        assert drain(buf) == []  # add+update+delete merge into nothing


def test_distributor_uses_its_key_function_with_any_indexer(core: ModuleType) -> None:
    def by_name(obj: Any) -> str:
        return str(obj["metadata"]["name"])

    indexer = core.Indexer(by_name)
    dist = core.DeltaDistributor(indexer, by_name)
    buf = core.NotificationBuffer()
    dist.buffers = (buf,)
    dist([core.Delta("Added", pod("a"))], False)
    assert indexer.get_by_key("a") is not None
    assert drain(buf)[0][0] == ADD


def test_distributor_works_with_a_duck_typed_indexer(core: ModuleType) -> None:
    class Dictionary:
        def __init__(self) -> None:
            self.items: dict[str, Any] = {}

        def get_by_key(self, key: str) -> Any:
            return self.items.get(key)

        def add(self, obj: Any) -> None:
            self.items[core.meta_namespace_key(obj)] = obj

        update = add

        def delete(self, obj: Any) -> None:
            self.items.pop(core.meta_namespace_key(obj), None)

    store = Dictionary()
    dist = core.DeltaDistributor(store)
    buf = core.NotificationBuffer()
    dist.buffers = [buf]
    dist([core.Delta("Added", pod("a", "1")), core.Delta("Updated", pod("a", "2"))], False)
    assert store.items["default/a"]["metadata"]["resourceVersion"] == "2"
    assert drain(buf)[0][2]["metadata"]["resourceVersion"] == "2"


def test_distributor_takes_its_lock_around_a_batch(core: ModuleType) -> None:
    lock = threading.RLock()
    dist = core.DeltaDistributor(core.Indexer(), lock=lock)
    seen: list[bool] = []

    class Probe:
        def __init__(self) -> None:
            self.items: dict[str, Any] = {}

        def get_by_key(self, key: str) -> Any:
            seen.append(lock._is_owned())  # type: ignore[attr-defined]
            return None

        def add(self, obj: Any) -> None:
            pass

    dist = core.DeltaDistributor(Probe(), lock=lock)
    dist([core.Delta("Added", pod("a"))], False)
    assert seen == [True]
    assert dist.lock is lock


def test_distributor_rejects_buffers_of_the_wrong_type(core: ModuleType) -> None:
    dist = core.DeltaDistributor(core.Indexer())
    with pytest.raises(TypeError):
        dist.buffers = (object(),)
    with pytest.raises(TypeError):
        core.DeltaDistributor(core.Indexer(), key_func=42)


def test_distributor_keeps_indexes_right_for_typed_objects(core: ModuleType) -> None:
    from fastinformer.models import ObjectMeta, Pod, PodSpec

    def typed(rv: str, app: str, node: str) -> Pod:
        return Pod(metadata=ObjectMeta(namespace="ns", name="p", resource_version=rv,
                                       labels={"app": app}),
                   spec=PodSpec(node_name=node))

    indexer = core.Indexer(indexers={"app": core.label_index_func("app"),
                                     "node": core.node_name_index_func})
    dist = core.DeltaDistributor(indexer)
    buf = core.NotificationBuffer()
    dist.buffers = (buf,)
    first, moved = typed("1", "web", "n1"), typed("2", "api", "n1")
    dist([core.Delta("Added", first)], False)
    dist([core.Delta("Updated", moved)], False)
    assert indexer.by_index("app", "web") == []
    assert indexer.by_index("app", "api") == [moved]
    assert indexer.by_index("node", "n1") == [moved]
    assert indexer.by_index("namespace", "ns") == [moved]
    assert drain(buf) == [(ADD, None, moved, False)]
    dist([core.Delta("Deleted", core.DeletedFinalStateUnknown("ns/p", moved))], False)
    assert len(indexer) == 0 and indexer.by_index("app", "api") == []
