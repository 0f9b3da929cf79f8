"""asyncio facade on the simulator: cache sync, event streams, async reconciles."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from fastinformer.aio import AsyncController, AsyncInformer, InformerEvent
from fastinformer.controller import Result
from fastinformer.factory import SharedInformerFactory
from fastinformer.keys import DeletedFinalStateUnknown
from fastinformer.sim import Simulator
from fastinformer.workqueue import ItemExponentialFailureRateLimiter

GUARD = 15.0  # seconds: deadlock guard only
T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    async def guarded() -> T:
        return await asyncio.wait_for(coro, GUARD)

    return asyncio.run(guarded())


async def until(cond: Callable[[], bool]) -> None:
    while not cond():
        await asyncio.sleep(0.005)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


@pytest.fixture
def factory(sim: Simulator) -> Iterator[SharedInformerFactory]:
    f = SharedInformerFactory(sim.kube_configuration())
    yield f
    f.shutdown()


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


def name_of(event: InformerEvent) -> str:
    obj = event.object
    if isinstance(obj, DeletedFinalStateUnknown):
        obj = obj.obj
    return str(obj.metadata.name)


def version(obj: Any) -> str | None:
    labels = obj.metadata.labels or {}
    return labels.get("v")


def test_waiting_for_the_cache_leaves_the_loop_free(
    sim: Simulator, factory: SharedInformerFactory
) -> None:
    sim.populate(nodes=1, pods=5)
    informer = AsyncInformer(factory.pods())

    async def main() -> bool:
        waiter = asyncio.create_task(informer.wait_for_cache_sync(timeout=GUARD))
        for _ in range(3):
            await asyncio.sleep(0)  # this coroutine runs while the waiter waits
        assert not waiter.done()  # not started: it cannot have synced
        informer.start()
        synced = await waiter
        await informer.stop()
        return synced

    assert run(main())
    assert len(informer.get_indexer()) == 5


def test_events_start_with_the_cache_then_follow_changes(
    sim: Simulator, factory: SharedInformerFactory
) -> None:
    sim.store.create("pods", pod("old"))
    informer = AsyncInformer(factory.pods())

    async def main() -> list[tuple[str, str, bool]]:
        seen: list[tuple[str, str, bool]] = []
        async with informer:
            await informer.wait_for_cache_sync()
            async for event in informer.events():
                seen.append((event.type, name_of(event), event.is_in_initial_list))
                if len(seen) == 1:
                    sim.store.create("pods", pod("new"))
                elif len(seen) == 2:
                    sim.store.patch("pods", "new", {"metadata": {"labels": {"v": "2"}}}, "default")
                elif len(seen) == 3:
                    assert event.old_object is not None
                    assert event.old_object.metadata.labels != event.object.metadata.labels
                    sim.store.delete("pods", "new", "default")
                else:
                    break
        return seen

    assert run(main()) == [
        ("ADDED", "old", True),
        ("ADDED", "new", False),
        ("MODIFIED", "new", False),
        ("DELETED", "new", False),
    ]


def test_a_slow_consumer_holds_a_bounded_number_of_events(
    sim: Simulator, factory: SharedInformerFactory
) -> None:
    sim.store.create("pods", pod("busy"))
    informer = AsyncInformer(factory.pods())
    writes = 50

    async def main() -> int:
        modified = 0
        async with informer:
            stream = informer.events(maxsize=1)
            first = await stream.__anext__()
            assert first.type == "ADDED"
            for i in range(writes):  # the consumer is not reading meanwhile
                sim.store.patch("pods", "busy", {"metadata": {"labels": {"v": str(i)}}}, "default")
            cache = informer.get_indexer()
            final = str(writes - 1)
            await until(lambda: version(cache.get_by_key("default/busy")) == final)
            async for event in stream:
                modified += 1
                if version(event.object) == final:
                    break
            await stream.aclose()
        return modified

    modified = run(main())
    # One in the buffer, one blocked in the handler thread, the rest merged per key.
    assert 1 <= modified <= 4


def test_closing_the_iterator_removes_its_handler_and_stop_ends_the_others(
    sim: Simulator, factory: SharedInformerFactory
) -> None:
    sim.store.create("pods", pod("one"))
    informer = AsyncInformer(factory.pods())

    def handler_threads() -> int:
        return sum(t.name.startswith("fastinformer-handler-aio") for t in threading.enumerate())

    async def main() -> list[str]:
        informer.start()
        async for _ in informer.events():
            break
        await until(lambda: handler_threads() == 0)
        seen: list[str] = []

        async def consume() -> None:
            async for event in informer.events():
                seen.append(name_of(event))

        consumer = asyncio.create_task(consume())
        await until(lambda: seen == ["one"])
        await informer.stop()
        await consumer  # ends by itself
        return seen

    assert run(main()) == ["one"]


def test_async_reconciles_run_on_the_loop_and_failures_are_retried(
    sim: Simulator, factory: SharedInformerFactory
) -> None:
    sim.store.create("pods", pod("a"))
    sim.store.create("pods", pod("b"))

    async def main() -> tuple[dict[str, int], set[bool]]:
        loop = asyncio.get_running_loop()
        calls: dict[str, int] = {}
        on_loop: set[bool] = set()

        async def reconcile(key: str) -> Result | None:
            on_loop.add(asyncio.get_running_loop() is loop)
            calls[key] = calls.get(key, 0) + 1
            await asyncio.sleep(0)
            if key == "default/a" and calls[key] == 1:
                raise RuntimeError("first attempt fails")
            return None

        ctl = AsyncController(
            "aio",
            reconcile,
            workers=2,
            rate_limiter=ItemExponentialFailureRateLimiter(0.001, 0.01),
        ).watch_primary(factory.pods())
        ctl.start()
        assert await ctl.wait_for_cache_sync(GUARD)
        await until(lambda: calls.get("default/a") == 2 and calls.get("default/b") == 1)
        assert await ctl.stop()
        return calls, on_loop

    calls, on_loop = run(main())
    assert calls == {"default/a": 2, "default/b": 1}
    assert on_loop == {True}


def test_cancelling_run_drains_the_reconcile_in_progress(
    sim: Simulator, factory: SharedInformerFactory
) -> None:
    sim.store.create("pods", pod("slow"))

    async def main() -> list[str]:
        started = asyncio.Event()
        release = asyncio.Event()
        finished: list[str] = []

        async def reconcile(key: str) -> None:
            started.set()
            await release.wait()
            finished.append(key)

        ctl = AsyncController("drain", reconcile).watch_primary(factory.pods())
        runner = asyncio.create_task(ctl.run())
        await started.wait()
        runner.cancel()
        await asyncio.sleep(0)
        assert not runner.done()  # draining: the reconcile still holds the key
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await runner
        return finished

    assert run(main()) == ["default/slow"]


def test_a_plain_function_is_refused_as_an_async_reconcile() -> None:
    with pytest.raises(TypeError, match="coroutine function"):
        AsyncController("sync", lambda key: None)  # type: ignore[arg-type,return-value]


def test_events_refuses_a_bad_buffer_size(factory: SharedInformerFactory) -> None:
    informer = AsyncInformer(factory.pods())

    async def main() -> None:
        with pytest.raises(ValueError, match="maxsize"):
            await informer.events(maxsize=0).__anext__()

    run(main())
