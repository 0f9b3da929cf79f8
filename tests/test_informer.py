"""SharedIndexInformer on a scripted lister-watcher: cache, handlers, buffers, relists."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from fastinformer.errors import ApiError
from fastinformer.informer import SharedIndexInformer, unwrap_tombstone
from fastinformer.keys import DeletedFinalStateUnknown
from fastinformer.protocol import resource_version_of
from tests.fake_listwatch import FakeListerWatcher, StreamFault, wait_for

FAST = {"use_streaming_list": False}


class Recorder:
    """Collects what a handler saw, in order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, Any, Any]] = []
        self.last: dict[str, Any] = {}

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None:
        with self.lock:
            self.events.append(("add", obj, is_in_initial_list))
            self.last[obj["metadata"]["name"]] = obj

    def on_update(self, old: Any, new: Any) -> None:
        with self.lock:
            self.events.append(("update", old, new))
            self.last[new["metadata"]["name"]] = new

    def on_delete(self, obj: Any) -> None:
        with self.lock:
            self.events.append(("delete", obj, None))
            self.last.pop(unwrap_tombstone(obj)["metadata"]["name"], None)

    def kinds(self) -> list[str]:
        with self.lock:
            return [e[0] for e in self.events]


@pytest.fixture
def lw() -> FakeListerWatcher:
    return FakeListerWatcher()


@pytest.fixture
def informer(lw: FakeListerWatcher) -> Iterator[SharedIndexInformer]:
    inf = SharedIndexInformer(lw, name="test", reflector_options=FAST)
    yield inf
    inf.stop()


def names(objs: list[Any]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objs)


def test_informer_lists_existing_objects_and_flags_them_initial(
    lw: FakeListerWatcher, informer: SharedIndexInformer
) -> None:
    lw.create("a")
    lw.create("b")
    rec = Recorder()
    reg = informer.add_event_handler(rec)
    informer.start()
    assert informer.wait_for_cache_sync(10)
    assert wait_for(reg.has_synced)
    assert names(informer.get_store().list()) == ["a", "b"]
    assert sorted((e[1]["metadata"]["name"], e[2]) for e in rec.events) == [
        ("a", True),
        ("b", True),
    ]


def test_events_while_running_reach_the_cache_and_the_handler_in_order(
    lw: FakeListerWatcher, informer: SharedIndexInformer
) -> None:
    rec = Recorder()
    informer.add_event_handler(rec)
    informer.start()
    assert informer.wait_for_cache_sync(10)
    assert lw.wait_for_open_watch()
    lw.create("x", {"v": "1"})
    lw.update("x", {"v": "2"})
    lw.delete("x")
    lw.create("y")
    assert wait_for(lambda: "y" in rec.last)
    assert names(informer.get_store().list()) == ["y"]
    # x may be folded (add+update+delete cancel out) but never seen out of order.
    xs = [e[0] for e in rec.events if unwrap_tombstone(e[1] or e[2])["metadata"]["name"] == "x"]
    assert xs in ([], ["add", "update", "delete"], ["add", "delete"], ["delete"])


def test_on_add_with_one_parameter_gets_only_the_object(
    lw: FakeListerWatcher, informer: SharedIndexInformer
) -> None:
    seen: list[Any] = []
    lw.create("a")
    informer.add_event_handler(on_add=seen.append)
    informer.start()
    assert wait_for(lambda: len(seen) == 1)
    assert seen[0]["metadata"]["name"] == "a"


def test_handler_added_after_start_gets_synthetic_initial_adds(
    lw: FakeListerWatcher, informer: SharedIndexInformer
) -> None:
    for n in "abc":
        lw.create(n)
    informer.start()
    assert informer.wait_for_cache_sync(10)
    rec = Recorder()
    reg = informer.add_event_handler(rec)
    assert wait_for(reg.has_synced)
    assert sorted(e[1]["metadata"]["name"] for e in rec.events) == ["a", "b", "c"]
    assert all(e[0] == "add" and e[2] is True for e in rec.events)


def test_a_slow_handler_blocks_neither_the_cache_nor_other_handlers(
    lw: FakeListerWatcher, informer: SharedIndexInformer
) -> None:
    gate = threading.Event()
    slow_calls: list[Any] = []

    def slow(obj: Any) -> None:
        slow_calls.append(obj)
        gate.wait(10)

    fast = Recorder()
    slow_reg = informer.add_event_handler(on_add=slow)
    informer.add_event_handler(fast)
    informer.start()
    assert informer.wait_for_cache_sync(10)
    assert lw.wait_for_open_watch()
    for i in range(20):
        lw.create(f"o{i}")
    assert wait_for(lambda: len(fast.events) == 20)
    assert len(informer.get_store().list()) == 20
    assert len(slow_calls) == 1
    assert slow_reg.pending() == 19
    gate.set()
    assert wait_for(lambda: len(slow_calls) == 20)


def test_a_blocked_handler_buffers_one_note_per_key_under_an_update_storm(
    lw: FakeListerWatcher, informer: SharedIndexInformer
) -> None:
    gate = threading.Event()
    updates: list[tuple[Any, Any]] = []
    started = threading.Event()

    def on_add(obj: Any) -> None:
        if obj["metadata"]["name"] == "blocker":
            started.set()
            gate.wait(10)

    lw.create("hot", {"v": "0"})
    reg = informer.add_event_handler(
        on_add=on_add, on_update=lambda old, new: updates.append((old, new))
    )
    informer.start()
    assert informer.wait_for_cache_sync(10)
    assert lw.wait_for_open_watch()
    lw.create("blocker")
    assert started.wait(10)
    for i in range(1, 1001):
        lw.update("hot", {"v": str(i)})
    assert wait_for(lambda: informer.get_store().get_by_key("default/hot")["data"]["v"] == "1000")
    assert reg.pending() == 1
    gate.set()
    assert wait_for(lambda: len(updates) == 1 and reg.idle())
    old, new = updates[0]
    assert old["data"]["v"] == "0" and new["data"]["v"] == "1000"


def test_handler_exceptions_are_logged_and_isolated(
    lw: FakeListerWatcher, informer: SharedIndexInformer, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(obj: Any) -> None:
        raise RuntimeError("handler bug")

    rec = Recorder()
    informer.add_event_handler(on_add=boom, name="buggy")
    informer.add_event_handler(rec)
    lw.create("a")
    lw.create("b")
    with caplog.at_level(logging.ERROR, logger="fastinformer.informer"):
        informer.start()
        assert wait_for(lambda: len(rec.events) == 2)
        assert wait_for(
            lambda: sum("buggy raised" in r.getMessage() for r in caplog.records) == 2
        )
    assert "buggy" in caplog.text


def test_relist_after_410_delivers_tombstones_for_vanished_objects(
    lw: FakeListerWatcher, informer: SharedIndexInformer
) -> None:
    for n in ("keep", "gone"):
        lw.create(n)
    rec = Recorder()
    informer.add_event_handler(rec)
    informer.start()
    assert informer.wait_for_cache_sync(10)
    assert lw.wait_for_open_watch()
    # The deletion happens while the watch is down and the history is compacted.
    lw.fail_next_watch(ApiError(500, "InternalError", "down"))
    lw.end_watches()
    lw.delete("gone")
    lw.compact()
    assert wait_for(lambda: any(e[0] == "delete" for e in rec.events), timeout=15)
    deletes = [e[1] for e in rec.events if e[0] == "delete"]
    assert len(deletes) == 1
    assert isinstance(deletes[0], DeletedFinalStateUnknown) or deletes[0]["metadata"][
        "name"
    ] == "gone"
    assert unwrap_tombstone(deletes[0])["metadata"]["name"] == "gone"
    assert names(informer.get_store().list()) == ["keep"]
    # "keep" did not change: the relist must not report it as an update.
    assert "update" not in rec.kinds()


def test_transform_runs_before_the_cache(lw: FakeListerWatcher) -> None:
    def strip(obj: Any) -> Any:
        return {"metadata": obj["metadata"], "slim": True}

    inf = SharedIndexInformer(lw, transform=strip, reflector_options=FAST)
    try:
        lw.create("a", {"big": "x" * 100})
        inf.start()
        assert inf.wait_for_cache_sync(10)
        assert lw.wait_for_open_watch()
        lw.create("b")
        assert wait_for(lambda: len(inf.get_store().list()) == 2)
        assert all(o == {"metadata": o["metadata"], "slim": True} for o in inf.get_store().list())
    finally:
        inf.stop()


def test_removed_handler_receives_nothing_more(
    lw: FakeListerWatcher, informer: SharedIndexInformer
) -> None:
    rec = Recorder()
    other = Recorder()
    reg = informer.add_event_handler(rec)
    informer.add_event_handler(other)
    informer.start()
    assert informer.wait_for_cache_sync(10)
    assert lw.wait_for_open_watch()
    informer.remove_event_handler(reg)
    informer.remove_event_handler(reg)  # idempotent
    lw.create("late")
    assert wait_for(lambda: len(other.events) == 1)
    assert rec.events == []


def test_cache_is_not_synced_while_the_server_refuses_to_list(
    lw: FakeListerWatcher, informer: SharedIndexInformer
) -> None:
    lw.fail_next_list(*[ApiError(403, "Forbidden", "no")] * 50)
    informer.start()
    assert informer.wait_for_cache_sync(0.5) is False
    assert informer.has_synced() is False


def test_indexers_added_after_sync_index_the_cached_objects(
    lw: FakeListerWatcher, informer: SharedIndexInformer
) -> None:
    lw.create("a", {"team": "red"})
    lw.create("b", {"team": "blue"})
    informer.start()
    assert informer.wait_for_cache_sync(10)
    informer.add_indexers({"team": lambda o: [o["data"].get("team", "")]})
    assert names(informer.get_indexer().by_index("team", "red")) == ["a"]
    assert names(informer.get_indexer().by_index("namespace", "default")) == ["a", "b"]


def _resyncing(lw: FakeListerWatcher, **options: Any) -> tuple[SharedIndexInformer, Recorder, Any]:
    """An informer with a 30 s resync on a fake clock, started and synced on one object
    ``a`` that its handler has seen added; returns it, the handler and the clock."""
    from fastinformer.clock import FakeClock

    clock = FakeClock()
    inf = SharedIndexInformer(
        lw, resync_period=30.0, clock=clock, reflector_options=FAST, **options
    )
    rec = Recorder()
    inf.add_event_handler(rec)
    lw.create("a")
    inf.start()
    assert inf.wait_for_cache_sync(10)
    assert wait_for(lambda: rec.kinds() == ["add"])
    return inf, rec, clock


def test_resync_redelivers_cached_objects_as_updates(lw: FakeListerWatcher) -> None:
    inf, rec, clock = _resyncing(lw)
    try:
        clock.step(31.0)
        assert wait_for(lambda: rec.kinds() == ["add", "update"])
        _, old, new = rec.events[1]
        assert old is new or resource_version_of(old) == resource_version_of(new)
    finally:
        inf.stop()


def test_deltas_are_applied_by_the_thread_that_queued_them(lw: FakeListerWatcher) -> None:
    appliers: list[str] = []

    def by_thread(obj: Any) -> list[str]:  # an index function runs as deltas are applied
        appliers.append(threading.current_thread().name)
        return []

    inf, rec, clock = _resyncing(lw, name="t", indexers={"thread": by_thread})
    try:
        assert lw.wait_for_open_watch()
        lw.update("a", {"v": "2"})
        assert wait_for(lambda: rec.kinds() == ["add", "update"])
        assert set(appliers) == {"fastinformer-t-reflector"}
        clock.step(31.0)  # a resync: queued and applied by the reflector's supervisor
        assert wait_for(lambda: rec.kinds() == ["add", "update", "update"])
        assert appliers[-1] != "fastinformer-t-reflector"
        threads = [t.name for t in threading.enumerate() if t.name.startswith("fastinformer-t-")]
        assert threads == ["fastinformer-t-reflector"]
    finally:
        inf.stop()


def test_an_error_applying_one_key_is_logged_and_the_others_are_applied(
    lw: FakeListerWatcher, caplog: pytest.LogCaptureFixture
) -> None:
    def picky(obj: Any) -> list[str]:
        if obj["metadata"]["name"] == "bad":
            raise ValueError("cannot index this one")
        return [obj["metadata"]["name"]]

    inf = SharedIndexInformer(lw, name="t", indexers={"name": picky}, reflector_options=FAST)
    for name in ("a", "bad", "c"):
        lw.create(name)
    try:
        inf.start()
        assert inf.wait_for_cache_sync(10)
        assert wait_for(lambda: names(inf.get_store().list()) == ["a", "c"])
        assert lw.wait_for_open_watch()
        lw.create("d")
        assert wait_for(lambda: names(inf.get_store().list()) == ["a", "c", "d"])
    finally:
        inf.stop()
    failures = [r for r in caplog.records if "failed to process deltas" in r.getMessage()]
    assert len(failures) == 1 and "cannot index this one" in (failures[0].exc_text or "")


def test_handler_without_callbacks_is_refused(informer: SharedIndexInformer) -> None:
    with pytest.raises(ValueError):
        informer.add_event_handler()
    with pytest.raises(TypeError):
        informer.add_event_handler(on_add=42)  # type: ignore[arg-type]


def test_stopped_informer_cannot_be_restarted(informer: SharedIndexInformer) -> None:
    informer.start()
    informer.stop()
    informer.stop()
    with pytest.raises(RuntimeError):
        informer.start()


def _record_freezes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Replace the GC freeze the informer calls with a counter (the real one would
    freeze the test process)."""
    import fastinformer.informer as informer_module

    calls: list[int] = []
    monkeypatch.setattr(informer_module, "freeze_gc", lambda: calls.append(1))
    return calls


def test_gc_is_frozen_once_the_initial_list_is_in_the_cache(
    lw: FakeListerWatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _record_freezes(monkeypatch)
    for n in ("a", "b", "c"):
        lw.create(n)
    informer = SharedIndexInformer(lw, name="test", reflector_options=FAST)
    rec = Recorder()
    registration = informer.add_event_handler(rec)
    informer.start()
    try:
        assert informer.wait_for_cache_sync(10)
        assert wait_for(lambda: calls == [1])
        assert lw.wait_for_open_watch()
        # the initial adds are delivered: a pending add of "a" would absorb its update
        assert wait_for(registration.has_synced)
        lw.create("d")
        lw.update("a", {"v": "2"})
        assert wait_for(lambda: rec.kinds().count("update") == 1)
        assert calls == [1]  # watch events do not freeze again
    finally:
        informer.stop()


def test_gc_is_frozen_again_after_a_relist(
    lw: FakeListerWatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _record_freezes(monkeypatch)
    lw.create("keep")
    informer = SharedIndexInformer(lw, name="test", reflector_options=FAST)
    informer.start()
    try:
        assert informer.wait_for_cache_sync(10)
        assert wait_for(lambda: len(calls) == 1)
        assert lw.wait_for_open_watch()
        lw.create("new")  # an event first: a 410 then relists without a backoff
        assert wait_for(lambda: len(informer.get_store().list()) == 2)
        assert lw.inject(StreamFault.error(410, "Expired", "too old resource version")) == 1
        assert wait_for(lambda: len(calls) == 2, timeout=15)
        assert names(informer.get_store().list()) == ["keep", "new"]
    finally:
        informer.stop()


def test_gc_freeze_can_be_turned_off(
    lw: FakeListerWatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _record_freezes(monkeypatch)
    lw.create("a")
    informer = SharedIndexInformer(lw, name="test", reflector_options=FAST, gc_freeze=False)
    rec = Recorder()
    informer.add_event_handler(rec)
    informer.start()
    try:
        assert informer.wait_for_cache_sync(10)
        assert lw.wait_for_open_watch()
        lw.create("b")  # handled after the initial list: the freeze point has passed
        assert wait_for(lambda: rec.kinds().count("add") == 2)
        assert calls == []
    finally:
        informer.stop()


def test_a_handler_thread_waiting_for_notes_is_woken_by_each_new_key(
    lw: FakeListerWatcher, informer: SharedIndexInformer
) -> None:
    rec = Recorder()
    reg = informer.add_event_handler(rec)
    informer.start()
    assert informer.wait_for_cache_sync(10)
    assert lw.wait_for_open_watch()
    for i in range(5):
        assert wait_for(reg.idle)
        lw.create(f"o{i}")
        assert wait_for(lambda i=i: len(rec.events) == i + 1)
    assert rec.kinds() == ["add"] * 5
