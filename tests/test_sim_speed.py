"""What keeps the simulator fast, checked as properties (never as timings): watch lines
reference the one stored encoding, backlogs leave in few large chunks, spliced writes
decode only what they touch; and the churn driver's pacing, stamps and figures."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from fastinformer.clock import FakeClock
from fastinformer.sim import Simulator
from fastinformer.sim.churn import CREATE, DELETE, LABELS, STATUS, Churn
from fastinformer.sim.populate import make_pod
from fastinformer.sim.store import MODIFIED, SimStore, StoredObject, watch_parts

STAMP = "fastinformer.io/sent-at"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(token=None) as simulator:
        simulator.populate(nodes=2, pods=20, namespaces=1)
        yield simulator


def read_watch(port: int, path: str, lines: int) -> tuple[list[bytes], list[int]]:
    """Read a watch over a raw socket until ``lines`` lines arrived: (lines, chunk sizes)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: sim\r\n\r\n".encode())
    data = b""
    while data.count(b"}\n") < lines:
        more = sock.recv(1 << 16)
        assert more, "the watch ended early"
        data += more
    sock.close()
    body = data.partition(b"\r\n\r\n")[2]
    sizes: list[int] = []
    payload = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        sizes.append(size)
        payload += body[:size]
        body = body[size + 2:]
    return payload.splitlines(), sizes


def write_backlog(sim: Simulator, count: int) -> int:
    """``count`` status updates; returns the resourceVersion before them."""
    store = sim.store
    rv = store.resource_version
    pods = store.page(store.resolve("pods")).items
    for i in range(count):
        pod = pods[i % len(pods)]
        store.merge("pods", pod.name, {"status": {"message": f"m{rv}-{i}"}}, pod.namespace)
    return rv


# Watch path ---------------------------------------------------------------------------------


def test_watch_lines_reference_the_stored_encoding_without_copying_it() -> None:
    store = SimStore()
    store.create("configmaps", {"metadata": {"name": "a"}}, "default")
    rv = store.resource_version
    stored = store.patch("configmaps", "a", {"data": {"k": "v"}}, "default")
    events = store.events_after(store.resolve("configmaps"), rv)
    assert events is not None
    first, second = watch_parts(events), watch_parts(events)
    views = [p for p in first + second if isinstance(p, memoryview)]
    assert len(views) == 2 and all(v.obj is stored.item for v in views)
    line = b"".join(first)
    assert orjson.loads(line) == {"type": MODIFIED, "object": stored.to_dict()}


def test_serving_watches_encodes_nothing(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = f"/api/v1/pods?watch=1&resourceVersion={write_backlog(sim, 1)}"
    read_watch(sim.port, path, 1)  # fills the per-kind caches of line heads
    rv = write_backlog(sim, 30)
    calls: list[int] = []
    dumps = orjson.dumps

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        return dumps(*args, **kwargs)

    monkeypatch.setattr(orjson, "dumps", counting)
    path = f"/api/v1/pods?watch=1&resourceVersion={rv}"
    first, _ = read_watch(sim.port, path, 30)
    second, _ = read_watch(sim.port, path, 30)
    assert calls == []
    assert first == second and len(first) == 30


def test_a_backlog_leaves_in_one_chunk_per_batch_of_events(sim: Simulator) -> None:
    rv = write_backlog(sim, 300)
    lines, sizes = read_watch(sim.port, f"/api/v1/pods?watch=1&resourceVersion={rv}", 300)
    assert len(lines) == 300 and len(sizes) == 2  # 256 events per write, then the rest
    decoded = [orjson.loads(line) for line in lines]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in decoded]
    assert rvs == list(range(rv + 1, rv + 301))


# Write path ---------------------------------------------------------------------------------


def decode_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the size of everything the store decodes (and forbid full decodes)."""
    sizes: list[int] = []
    loads = orjson.loads

    def recording(data: Any) -> Any:
        sizes.append(len(data))
        return loads(data)

    def refuse(self: StoredObject) -> dict[str, Any]:
        raise AssertionError("a spliced write decoded the whole object")

    monkeypatch.setattr(orjson, "loads", recording)
    monkeypatch.setattr(StoredObject, "to_dict", refuse)
    return sizes


def test_a_metadata_patch_decodes_the_metadata_without_managed_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = SimStore()
    old = store.create("pods", make_pod(1, "kwok-node-0", "default"), "default")
    sizes = decode_sizes(monkeypatch)
    new = store.merge("pods", old.name, {"metadata": {"annotations": {STAMP: "1.0"}}},
                      "default")
    assert sizes == [old.managed_start - old.meta_start + 1]
    assert new.item[new.meta_end:] == old.item[old.meta_end:]


def test_a_status_patch_decodes_the_status_and_the_metadata_without_managed_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = SimStore()
    old = store.create("pods", make_pod(1, "kwok-node-0", "default"), "default")
    managed = old.item[old.managed_start:old.meta_end - 1]
    before_status = old.item[old.meta_end:len(old.item) - 1 - old.status_tail]
    assert old.status_tail and before_status.startswith(b',"spec":')
    sizes = decode_sizes(monkeypatch)
    new = store.merge("pods", old.name, {"status": {"phase": "Failed"}}, "default")
    assert sizes == [old.managed_start - old.meta_start + 1, old.status_tail - len(',"status":')]
    assert new.item[new.managed_start:new.meta_end - 1] == managed
    assert new.item[new.meta_end:len(new.item) - 1 - new.status_tail] == before_status


def test_a_stamped_delete_reuses_the_encoding_of_everything_but_the_metadata(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = SimStore()
    old = store.create("pods", make_pod(1, "kwok-node-0", "default"), "default")
    sizes = decode_sizes(monkeypatch)
    last = store.delete("pods", old.name, "default", annotate={STAMP: "2.0"})
    assert sizes == [old.managed_start - old.meta_start + 1]
    assert last.item[last.meta_end:] == old.item[old.meta_end:]


# Churn --------------------------------------------------------------------------------------


def pods_store(pods: int = 30) -> SimStore:
    store = SimStore()
    store.create("nodes", {"metadata": {"name": "kwok-node-0"}})
    store.load("pods", [make_pod(i, "kwok-node-0", "default") for i in range(pods)])
    return store


def stamps(store: SimStore, rv: int) -> list[tuple[str, float]]:
    events = store.events_after(store.resolve("pods"), rv)
    assert events is not None
    return [(e.type, float(e.obj.to_dict()["metadata"]["annotations"][STAMP])) for e in events]


def test_every_kind_of_churn_write_carries_its_send_time() -> None:
    store = pods_store()
    clock = FakeClock(wall_start=1_700_000_000.0)
    churn = Churn(store, seed=3, stamp_annotation=STAMP, clock=clock)
    rv = store.resource_version
    for _ in range(40):
        churn.step(1)
        clock.step(0.25)
    seen = stamps(store, rv)
    stats = churn.stats()
    assert {LABELS, STATUS, CREATE, DELETE} == {k for k, n in stats.counts.items() if n}
    assert len(seen) == stats.writes == 40
    assert [t for _, t in seen] == [1_700_000_000.0 + 0.25 * i for i in range(40)]
    assert {kind for kind, _ in seen} == {"ADDED", "MODIFIED", "DELETED"}
    assert (stats.first_time, stats.last_time) == (seen[0][1], seen[-1][1])
    assert (stats.first_rv, stats.last_rv) == (rv + 1, store.resource_version)


def test_churn_is_deterministic_by_seed_whatever_the_mix() -> None:
    def run(mix: dict[str, float]) -> list[tuple[Any, ...]]:
        store = pods_store()
        rv = store.resource_version
        Churn(store, mix=mix, seed=9).step(25)
        events = store.events_after(store.resolve("pods"), rv)
        assert events is not None
        return [(e.type, e.obj.name, e.obj.labels, e.obj.to_dict()["status"]) for e in events]

    for mix in ({STATUS: 1.0}, {LABELS: 1.0, DELETE: 1.0}):
        assert run(mix) == run(mix) and len(run(mix)) == 25


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` (a deadlock guard, not a timing check)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.002)
    return predicate()


def test_paced_churn_performs_exactly_the_writes_due_by_the_clock() -> None:
    store = pods_store()
    clock = FakeClock()
    churn = Churn(store, rate=100.0, mix={STATUS: 1.0}, seed=1, clock=clock).start()
    try:
        for elapsed, due in ((0.0, 1), (0.0255, 3), (0.1255, 13), (0.5005, 51)):
            clock.set(1_000.0 + elapsed)
            assert wait_until(lambda due=due: churn.writes == due)  # type: ignore[misc]
            assert clock.wait_for_sleepers(1)
            assert churn.writes == due
    finally:
        churn.stop()


def test_paced_churn_in_bursts_writes_whole_bursts() -> None:
    store = pods_store()
    clock = FakeClock()
    churn = Churn(store, rate=100.0, burst=10, mix={STATUS: 1.0}, clock=clock).start()
    try:
        clock.set(1_000.0 + 0.25)  # bursts are due at 0, 0.1 and 0.2 s
        assert wait_until(lambda: churn.writes == 30)
        assert clock.wait_for_sleepers(1) and churn.writes == 30
    finally:
        churn.stop()


def test_churn_with_a_total_stops_by_itself_flat_out_or_paced() -> None:
    store = pods_store()
    flat = Churn(store, rate=None, total=600, mix={STATUS: 1.0}).start()
    assert flat.wait(30) and flat.writes == 600
    clock = FakeClock()
    paced = Churn(store, rate=1000.0, total=5, mix={STATUS: 1.0}, clock=clock).start()
    clock.set(1_000.0 + 60.0)  # far behind: one write per wake-up, never more than total
    while not paced.wait(0.01):
        clock.step(0.5)
    assert paced.writes == 5


def test_flat_out_churn_wakes_watchers_once_per_chunk() -> None:
    store = pods_store()
    wakes: list[int] = []
    store.subscribe(lambda: wakes.append(store.resource_version))
    rv = store.resource_version
    Churn(store, mix={STATUS: 1.0}).step(600)
    assert wakes == [rv + 256, rv + 512, rv + 600]


def test_churn_refuses_bad_settings() -> None:
    store = pods_store(1)
    for kwargs in ({"rate": 0.0}, {"rate": float("inf")}, {"total": -1}, {"burst": 0},
                   {"stamp_annotation": ""}, {"mix": {"explode": 1.0}}, {"mix": {STATUS: 0}}):
        with pytest.raises(ValueError):
            Churn(store, **kwargs)
    churn = Churn(store)
    with pytest.raises(RuntimeError):
        churn.wait(0)


def test_the_simulator_starts_a_stamped_churn_that_watchers_see(sim: Simulator) -> None:
    rv = sim.store.resource_version
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.extend(read_watch(
        sim.port, f"/api/v1/pods?watch=1&resourceVersion={rv}", 20)[0]))
    reader.start()
    churn = sim.churn(rate=None, total=20, mix={STATUS: 1.0}, stamp_annotation=STAMP)
    assert churn.wait(30)
    reader.join(30)
    sent = [float(orjson.loads(line)["object"]["metadata"]["annotations"][STAMP])
            for line in got]
    assert len(sent) == 20 and sent == sorted(sent)
    assert (sent[0], sent[-1]) == (churn.stats().first_time, churn.stats().last_time)
