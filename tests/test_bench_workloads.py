"""fastinformer.bench.workloads: writers and pacing (fake writers; a small simulator)."""

from __future__ import annotations

import threading

import pytest

from fastinformer.bench.workloads import (
    STAMP_ANNOTATION,
    PodKey,
    PodWriter,
    SimWriter,
    paced_writes,
    stamp_value,
)


class CountingWriter(PodWriter):
    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self.lock = threading.Lock()
        self.seen: list[PodKey] = []

    def stamp(self, key: PodKey) -> str:
        with self.lock:
            self.seen.append(key)
            return str(len(self.seen))


KEYS: list[PodKey] = [("ns-0", f"pod-{i}") for i in range(10)]


def test_stamp_value_has_a_fixed_width() -> None:
    value = stamp_value()
    assert len(value) == 17 and value[10] == "."
    float(value)


@pytest.mark.parametrize("threads", [1, 3])
def test_write_all_stamps_every_key_once(threads: int) -> None:
    writer = CountingWriter(threads)
    advanced: list[float] = []
    stats = writer.write_all(KEYS, advanced.append)
    assert sorted(writer.seen) == sorted(KEYS)
    assert stats.writes == len(KEYS) and sum(advanced) == len(KEYS)


def test_paced_writes_cycle_through_the_keys_for_rate_times_duration() -> None:
    writer = CountingWriter()
    stats = paced_writes(writer, KEYS[:3], rate=1000.0, duration=0.02)
    assert stats.writes == 20
    assert writer.seen[:6] == KEYS[:3] * 2
    assert stats.target_rate == 1000.0


def test_paced_writes_reraise_a_writer_failure() -> None:
    class Failing(CountingWriter):
        def stamp(self, key: PodKey) -> str:
            raise RuntimeError("server gone")

    with pytest.raises(RuntimeError, match="server gone"):
        paced_writes(Failing(), KEYS, rate=1000.0, duration=0.01)


@pytest.mark.parametrize("rate, duration", [(0, 1), (10, 0), (-1, 1)])
def test_paced_writes_reject_non_positive_rate_or_duration(rate: float, duration: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        paced_writes(CountingWriter(), KEYS, rate, duration)


def test_base_writer_cannot_expire_watches() -> None:
    with pytest.raises(NotImplementedError, match="simulator"):
        CountingWriter().expire_watches(KEYS)


def test_sim_writer_stamps_and_expires_history_past_its_changes() -> None:
    from fastinformer.sim import Simulator

    with Simulator() as sim:
        sim.populate(nodes=1, pods=5, namespaces=1)
        writer = SimWriter(sim)
        keys = [("ns-0", f"pod-{i}") for i in range(5)]
        first = sim.store.resource_version + 1
        t0, changed = writer.expire_watches(keys[:2])
        assert changed == {"ns-0/pod-0": str(first), "ns-0/pod-1": str(first + 1)}
        assert sim.store.compacted_rv == sim.store.resource_version == first + 1
        assert t0 > 0
        pod = sim.store.get("pods", "pod-0", "ns-0")
        assert pod is not None and STAMP_ANNOTATION in pod["metadata"]["annotations"]
        burst = writer.burst(keys)
        assert burst.stalled and burst.stats.writes == 5
        assert sim.faults.stall_until > 0
