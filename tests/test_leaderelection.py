"""Leader election: the acquire/renew rules on a fake clock, then real Leases on the simulator."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fastinformer.clock import FakeClock
from fastinformer.errors import ConflictError, NotFoundError
from fastinformer.leaderelection import (
    LeaderElectionRecord,
    LeaderElector,
    LeaseLock,
    format_micro_time,
)
from fastinformer.sim import Simulator
from fastinformer.transport import Transport

GUARD = 15.0  # seconds: deadlock guard only
FAST: dict[str, Any] = {"lease_duration": 2.0, "renew_deadline": 1.5, "retry_period": 0.2}


def wait_until(cond: Callable[[], bool], timeout: float = GUARD) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadlock guard")
        time.sleep(0.01)


# -- the algorithm, on a fake clock and an in-memory lock ------------------------------


class MemoryLease:
    """One lease record with a version, shared by the candidates' locks."""

    def __init__(self) -> None:
        self.record: LeaderElectionRecord | None = None
        self.version = 0
        self.lock = threading.Lock()


class MemoryLock:
    """A ResourceLock over a MemoryLease with optimistic concurrency, like the API server."""

    def __init__(self, lease: MemoryLease, identity: str) -> None:
        self.lease = lease
        self._identity = identity
        self.seen_version = -1
        self.before_update: Callable[[], None] | None = None

    @property
    def identity(self) -> str:
        return self._identity

    def describe(self) -> str:
        return "memory/lease"

    def get(self, timeout: float | None = None) -> LeaderElectionRecord:
        with self.lease.lock:
            if self.lease.record is None:
                raise NotFoundError(404, "NotFound", "no lease")
            self.seen_version = self.lease.version
            return self.lease.record

    def create(self, record: LeaderElectionRecord, timeout: float | None = None) -> None:
        with self.lease.lock:
            if self.lease.record is not None:
                raise ConflictError(409, "AlreadyExists", "exists")
            self.lease.record = record
            self.lease.version += 1
            self.seen_version = self.lease.version

    def update(self, record: LeaderElectionRecord, timeout: float | None = None) -> None:
        if self.before_update is not None:
            self.before_update()
        with self.lease.lock:
            if self.seen_version != self.lease.version:
                raise ConflictError(409, "Conflict", "the object has been modified")
            self.lease.record = record
            self.lease.version += 1
            self.seen_version = self.lease.version


def elector(lock: MemoryLock, clock: FakeClock, **kwargs: Any) -> LeaderElector:
    return LeaderElector(
        lock,
        on_started_leading=lambda stop: None,
        lease_duration=15.0,
        renew_deadline=10.0,
        retry_period=2.0,
        clock=clock,
        **kwargs,
    )


def test_the_first_candidate_creates_the_lease_and_holds_it() -> None:
    clock = FakeClock()
    lease = MemoryLease()
    a = elector(MemoryLock(lease, "a"), clock)
    assert a.try_acquire_or_renew()
    assert a.is_leader()
    assert lease.record is not None
    assert lease.record.holder_identity == "a"
    assert lease.record.lease_duration_seconds == 15
    assert lease.record.lease_transitions == 0
    assert lease.record.acquire_time == format_micro_time(clock.time())
    assert lease.record.renew_time == lease.record.acquire_time


def test_a_held_lease_is_taken_over_only_after_the_lease_duration_on_the_candidates_clock() -> None:
    clock = FakeClock()
    lease = MemoryLease()
    a = elector(MemoryLock(lease, "a"), clock)
    b = elector(MemoryLock(lease, "b"), clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()  # b observes a's record now
    assert b.leader() == "a"
    clock.step(14.9)
    assert not b.try_acquire_or_renew()
    clock.step(0.2)  # 15.1 s since b saw the record change
    assert b.try_acquire_or_renew()
    assert lease.record is not None
    assert lease.record.holder_identity == "b"
    assert lease.record.lease_transitions == 1
    assert lease.record.acquire_time == format_micro_time(clock.time())
    assert not a.try_acquire_or_renew()  # a now sees b's fresh lease
    assert not a.is_leader()


def test_each_renewal_restarts_the_other_candidates_wait() -> None:
    clock = FakeClock()
    lease = MemoryLease()
    a = elector(MemoryLock(lease, "a"), clock)
    b = elector(MemoryLock(lease, "b"), clock)
    assert a.try_acquire_or_renew()
    acquired_at = lease.record.acquire_time if lease.record else None
    assert not b.try_acquire_or_renew()
    for _ in range(5):
        clock.step(10.0)
        assert a.try_acquire_or_renew()  # renewal: new renewTime, same acquireTime
        assert not b.try_acquire_or_renew()
    assert lease.record is not None
    assert lease.record.acquire_time == acquired_at
    assert lease.record.renew_time == format_micro_time(clock.time())
    assert lease.record.lease_transitions == 0


def test_a_conflicting_write_means_another_candidate_won() -> None:
    clock = FakeClock()
    lease = MemoryLease()
    lock_a = MemoryLock(lease, "a")
    a = elector(lock_a, clock)
    b = elector(MemoryLock(lease, "b"), clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    clock.step(16.0)  # a has not renewed for longer than the lease: b may take over
    b_won: list[bool] = []
    lock_a.before_update = lambda: b_won.append(b.try_acquire_or_renew())
    assert not a.try_acquire_or_renew()  # b wrote between a's read and a's write: 409
    assert b_won == [True]
    assert lease.record is not None
    assert lease.record.holder_identity == "b"
    lock_a.before_update = None
    assert not a.try_acquire_or_renew()
    assert not a.is_leader()
    assert a.leader() == "b"


def test_new_leaders_are_reported_in_order_on_another_thread() -> None:
    clock = FakeClock()
    lease = MemoryLease()
    seen: list[tuple[str, str]] = []
    done = threading.Event()

    def on_new_leader(identity: str) -> None:
        seen.append((identity, threading.current_thread().name))
        if identity == "b":
            done.set()

    a = elector(MemoryLock(lease, "a"), clock)
    b = elector(MemoryLock(lease, "b"), clock, on_new_leader=on_new_leader)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    clock.step(16.0)
    assert b.try_acquire_or_renew()
    assert done.wait(GUARD)
    assert [who for who, _ in seen] == ["a", "b"]
    assert all(name != threading.current_thread().name for _, name in seen)


def test_invalid_durations_are_refused() -> None:
    lock = MemoryLock(MemoryLease(), "a")
    with pytest.raises(ValueError, match="greater than renew_deadline"):
        LeaderElector(lock, on_started_leading=print, lease_duration=5, renew_deadline=5)
    with pytest.raises(ValueError, match="retry_period"):
        LeaderElector(
            lock, on_started_leading=print, lease_duration=5, renew_deadline=2, retry_period=2
        )
    with pytest.raises(ValueError, match="> 0"):
        LeaderElector(lock, on_started_leading=print, retry_period=0)


def test_client_go_defaults() -> None:
    e = LeaderElector(MemoryLock(MemoryLease(), "a"), on_started_leading=print)
    assert (e.lease_duration, e.renew_deadline, e.retry_period) == (15.0, 10.0, 2.0)
    assert e.release_on_cancel is False


# -- real Leases on the simulator ------------------------------------------------------


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


@pytest.fixture
def transport(sim: Simulator) -> Iterator[Transport]:
    t = Transport(sim.kube_configuration())
    yield t
    t.close()


class Leadership:
    """Who leads, as told by the callbacks; records any moment with two leaders."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.leading: set[str] = set()
        self.history: list[str] = []
        self.overlaps: list[tuple[str, ...]] = []
        self.stopped: list[str] = []

    def candidate(
        self, transport: Transport, identity: str, lease_name: str = "ctl", **kwargs: Any
    ) -> LeaderElector:
        def on_started_leading(stop: threading.Event) -> None:
            with self.lock:
                if self.leading:
                    self.overlaps.append((*self.leading, identity))
                self.leading.add(identity)
                self.history.append(identity)
            stop.wait()
            with self.lock:
                self.leading.discard(identity)

        def on_stopped_leading() -> None:
            with self.lock:
                self.stopped.append(identity)

        lock = LeaseLock(transport, "default", lease_name, identity)
        options = {**FAST, **kwargs}
        return LeaderElector(
            lock,
            on_started_leading=on_started_leading,
            on_stopped_leading=on_stopped_leading,
            **options,
        )

    def leaders(self) -> set[str]:
        with self.lock:
            return set(self.leading)


def lease_spec(sim: Simulator, name: str = "ctl") -> dict[str, Any]:
    lease = sim.store.get("leases", name, "default")
    assert lease is not None
    spec: dict[str, Any] = lease["spec"]
    return spec


def test_when_the_leader_dies_the_other_candidate_takes_over_and_never_two_lead(
    sim: Simulator, transport: Transport
) -> None:
    who = Leadership()
    a = who.candidate(transport, "a")
    b = who.candidate(transport, "b")
    a.start()
    wait_until(lambda: who.leaders() == {"a"})
    b.start()
    wait_until(lambda: b.leader() == "a")  # b is campaigning and sees a
    a.stop(GUARD)  # stops renewing without releasing: the lease must expire first
    assert who.stopped == ["a"]
    assert lease_spec(sim)["holderIdentity"] == "a"
    wait_until(lambda: who.leaders() == {"b"})
    spec = lease_spec(sim)
    assert spec["holderIdentity"] == "b"
    assert spec["leaseTransitions"] == 1
    assert spec["leaseDurationSeconds"] == 2
    b.stop(GUARD)
    assert who.history == ["a", "b"]
    assert who.overlaps == []


def test_release_on_cancel_hands_the_lease_over_at_once(
    sim: Simulator, transport: Transport
) -> None:
    who = Leadership()
    # A lease far longer than the deadlock guard: only a release lets b in before it.
    slow: dict[str, Any] = {"lease_duration": 120.0, "renew_deadline": 60.0, "retry_period": 0.2}
    a = who.candidate(transport, "a", release_on_cancel=True, **slow)
    b = who.candidate(transport, "b", **slow)
    a.start()
    wait_until(lambda: who.leaders() == {"a"})
    b.start()
    wait_until(lambda: b.leader() == "a")
    a.stop(GUARD)
    assert who.stopped == ["a"]
    wait_until(lambda: who.leaders() == {"b"})
    b.stop(GUARD)
    assert who.overlaps == []
    assert lease_spec(sim)["leaseTransitions"] == 1


def test_a_released_lease_has_no_holder_and_a_one_second_duration(
    sim: Simulator, transport: Transport
) -> None:
    who = Leadership()
    a = who.candidate(transport, "a", release_on_cancel=True)
    a.start()
    wait_until(lambda: who.leaders() == {"a"})
    a.stop(GUARD)
    spec = lease_spec(sim)
    assert "holderIdentity" not in spec
    assert spec["leaseDurationSeconds"] == 1
    assert not a.is_leader()
    assert not a.running()


def test_a_leader_that_cannot_renew_steps_down_by_itself(
    sim: Simulator, transport: Transport
) -> None:
    who = Leadership()
    a = who.candidate(transport, "a")
    a.start()
    wait_until(lambda: who.leaders() == {"a"})
    sim.forbid(namespace="default", verbs=["update"], resource="leases")
    wait_until(lambda: not a.running())  # run() returned: leadership lost
    assert who.stopped == ["a"]
    assert who.leaders() == set()
    assert not a.is_leader()


def test_a_stale_resource_version_gets_409_and_the_candidate_backs_off(
    sim: Simulator, transport: Transport
) -> None:
    conflicts: list[ConflictError] = []

    class Meddling(LeaseLock):
        """Another writer changes the Lease between our read and our write."""

        def update(self, record: LeaderElectionRecord, timeout: float | None = None) -> None:
            sim.store.patch("leases", "ctl", {"spec": {"holderIdentity": "intruder"}}, "default")
            try:
                super().update(record, timeout)
            except ConflictError as exc:
                conflicts.append(exc)
                raise

    a = LeaderElector(LeaseLock(transport, "default", "ctl", "a"), on_started_leading=print, **FAST)
    assert a.try_acquire_or_renew()  # creates the lease
    meddled = LeaderElector(
        Meddling(transport, "default", "ctl", "a"), on_started_leading=print, **FAST
    )
    assert not meddled.try_acquire_or_renew()  # its PUT carried a stale resourceVersion
    assert len(conflicts) == 1
    assert conflicts[0].code == 409
    assert lease_spec(sim)["holderIdentity"] == "intruder"


def test_lease_lock_round_trips_the_record(sim: Simulator, transport: Transport) -> None:
    lock = LeaseLock(transport, "default", "rt", "me", labels={"app": "x"})
    with pytest.raises(NotFoundError):
        lock.get()
    record = LeaderElectionRecord("me", 15, "2024-01-31T12:00:00.000000Z", None, 3)
    lock.create(record)
    assert lock.get() == record
    with pytest.raises(ConflictError):
        lock.create(record)
    lease = sim.store.get("leases", "rt", "default")
    assert lease is not None
    assert lease["metadata"]["labels"] == {"app": "x"}
    renewed = LeaderElectionRecord("me", 15, record.acquire_time, "2024-01-31T12:00:02.000000Z", 3)
    lock.update(renewed)
    assert LeaseLock(transport, "default", "rt", "other").get() == renewed
