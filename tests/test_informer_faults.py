"""Informer against the simulator under randomised churn and every kind of fault.

Each run is seeded: the writes, the faults and the reflector's jitter come from the seed
(thread timing does not). At the end the cache must equal the server's state exactly,
every handler's last view of each object must be its final state, no deletion may be
lost, and every handler must have seen a legal history for each key.
"""

from __future__ import annotations

import faulthandler
import random
import sys
from collections.abc import Callable, Iterator

import pytest

from fastinformer.decode import DecodeMode
from fastinformer.sim import Simulator
from fastinformer.sim.churn import Churn
from fastinformer.transport import Transport
from tests.informer_sim_helpers import (
    HandlerLog,
    SyncedSampler,
    cache_state,
    cache_versions,
    is_full_sync,
    is_watch,
    pod_informer,
    pod_requests,
    server_state,
    server_versions,
    wait_until,
)

PODS = 200
ROUNDS = 20


@pytest.fixture
def sim() -> Iterator[Simulator]:
    # A short history makes resumes fall out of the watch window now and then.
    with Simulator(history=400) as s:
        yield s


def _fault_plan(sim: Simulator, rng: random.Random) -> dict[str, Callable[[], None]]:
    """Every fault the churn test injects, by name."""
    faults = sim.faults

    def expire_watch() -> None:
        faults.expire_next("watch")
        faults.drop_watches()

    def expire_list_and_watch() -> None:
        faults.expire_next("list")
        expire_watch()

    def compact() -> None:
        sim.store.compact()
        faults.drop_watches()

    def restart_keeping_state() -> None:
        sim.restart(keep_state=True)

    def restart_losing_state() -> None:
        sim.restart(keep_state=False)
        sim.populate(nodes=2, pods=rng.randrange(20, 60), namespaces=2, seed=rng.randrange(99))

    def server_errors() -> None:
        faults.fail_next(500, count=rng.randint(1, 3), verb=rng.choice(["list", "watch"]))
        faults.drop_watches()

    def stall() -> None:
        faults.stall_watches(rng.uniform(0.05, 0.3))

    return {
        "drop watches": faults.drop_watches,
        "410 on the watch": expire_watch,
        "410 on the list": expire_list_and_watch,
        "compaction": compact,
        "restart keeping state": restart_keeping_state,
        "restart losing state": restart_losing_state,
        "500s": server_errors,
        "stall": stall,
        "truncated line": faults.truncate_next_watch_line,
        "malformed line": faults.malform_next_watch_line,
    }


# seed, then the reflector's page size, streaming-list setting and the resync period.
SETUPS = [
    pytest.param(1, 50, None, 0.3, id="seed1-pages-streaming-detected-resync"),
    pytest.param(2, 0, False, 0.0, id="seed2-list-watch"),
    pytest.param(3, 75, True, 0.3, id="seed3-pages-streaming-forced-resync"),
]


@pytest.mark.parametrize("mode", ["typed", "dict"])
@pytest.mark.parametrize(("seed", "page_size", "streaming", "resync"), SETUPS)
def test_random_churn_and_faults_end_with_the_servers_exact_state_in_cache_and_handlers(
    sim: Simulator,
    seed: int,
    page_size: int,
    streaming: bool | None,
    resync: float,
    mode: DecodeMode,
) -> None:
    rng = random.Random(seed)
    sim.populate(nodes=3, pods=PODS, namespaces=3, seed=seed)
    # a request the simulator drops unanswered across a restart fails after 5 s, not 60
    transport = Transport(sim.kube_configuration(), read_timeout=5.0)
    informer = pod_informer(
        transport,
        mode=mode,
        seed=seed,
        page_size=page_size,
        use_streaming_list=streaming,
        resync_period=resync,
    )
    logs = [HandlerLog(), HandlerLog()]
    for log in logs:
        informer.add_event_handler(log)
    late = HandlerLog()  # registered half-way: starts from the cache at that moment
    logs.append(late)
    churn = Churn(sim.store, seed=seed)  # driven step by step below, not from a thread
    plan = _fault_plan(sim, rng)
    throttled = False
    injected: list[str] = []
    informer.start()
    try:
        assert informer.wait_for_cache_sync(20)
        sampler = SyncedSampler(informer)
        for round_ in range(ROUNDS):
            if round_ == ROUNDS // 2:
                informer.add_event_handler(late)
            churn.step(rng.randint(5, 30))
            name = rng.choice(sorted(plan))
            plan[name]()
            injected.append(name)
            if not throttled and rng.random() < 0.05:
                sim.faults.throttle_next(retry_after=1)  # costs a real second: at most once
                throttled = True
            if rng.random() < 0.7:  # mostly let the informer catch up before the next fault
                wait_until(lambda: cache_versions(informer) == server_versions(sim), 0.3)
        sim.faults.clear()
        versions = server_versions(sim)

        def converged() -> bool:
            return cache_versions(informer) == versions and all(
                log.versions() == versions for log in logs
            )

        converged_in_time = wait_until(converged, 30)
        synced_seen = sampler.stop()
        expected = server_state(sim)
        if not converged_in_time:  # where every thread is, for the failure report
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        assert converged_in_time, f"{_difference(cache_state(informer), expected)} after {injected}"
    finally:
        informer.stop()
        transport.close()

    assert synced_seen == {True}, "has_synced went back to False after the first sync"
    for log in logs:
        assert log.violations == []
        assert log.present() == expected, "a handler's last view is not the final state"
    for log in logs[:2]:
        counts = log.snapshot_counts()
        assert counts["delete"] + counts["tombstone"] > 0, "no deletion ever reached a handler"
    assert cache_state(informer) == expected
    assert sum(map(is_watch, pod_requests(sim))) >= 5, "the watch never restarted"
    assert sum(map(is_full_sync, pod_requests(sim))) >= 2, "the informer never relisted"
    assert len(sim.faults.injected) >= 5, "the faults never hit the informer"


def _difference(cache: dict[str, object], expected: dict[str, object]) -> str:
    missing = sorted(set(expected) - set(cache))[:5]
    extra = sorted(set(cache) - set(expected))[:5]
    stale = sorted(k for k in set(cache) & set(expected) if cache[k] != expected[k])[:5]
    return f"cache differs from the server: missing {missing}, extra {extra}, stale {stale}"
