"""The compiled DelayingQueue, its pure twin and a plain model agree on random operations.

Single-threaded: ``get`` never blocks (``timeout=0``); time moves only by stepping a
shared FakeClock. The model is the client-go behaviour written as directly as possible.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fastinformer import _core_py
from fastinformer.clock import FakeClock
from tests.conftest import CORES

ITEMS = st.sampled_from(["a", "b", "c", "d"])
DELAYS = st.sampled_from([-1.0, 0.0, 1.0, 2.0, 4.0, 5.0])
STEPS = st.sampled_from([0.0, 1.0, 3.0, 6.0])


class ModelQueue:
    """Dirty set, processing set, FIFO list and waiting items with (ready, order)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.fifo: list[str] = []
        self.dirty: set[str] = set()
        self.processing: set[str] = set()
        self.waiting: dict[str, tuple[float, int]] = {}
        self.order = 0
        self.shutting_down = False

    def _promote(self) -> None:
        now = self.clock.now()
        ready = sorted((r, o, i) for i, (r, o) in self.waiting.items() if r <= now)
        for _, _, item in ready:
            del self.waiting[item]
            self._add(item)

    def _add(self, item: str) -> None:
        if self.shutting_down or item in self.dirty:
            return
        self.dirty.add(item)
        if item not in self.processing:
            self.fifo.append(item)

    def add(self, item: str) -> None:
        self._promote()
        self._add(item)

    def add_after(self, item: str, delay: float) -> None:
        if self.shutting_down:
            return
        self._promote()
        if delay <= 0:
            self._add(item)
            return
        ready = self.clock.now() + delay
        if item in self.waiting and self.waiting[item][0] <= ready:
            return
        self.order += 1
        self.waiting[item] = (ready, self.order)

    def get(self, timeout: float) -> tuple[Any, bool]:
        self._promote()
        if self.fifo:
            item = self.fifo.pop(0)
            self.processing.add(item)
            self.dirty.discard(item)
            return item, False
        if self.shutting_down:
            return None, True
        raise TimeoutError

    def done(self, item: str) -> None:
        self._promote()
        if item not in self.processing:
            raise ValueError(item)
        self.processing.discard(item)
        if item in self.dirty:
            self.fifo.append(item)

    def shut_down(self) -> None:
        self._promote()
        self.shutting_down = True
        self.waiting.clear()

    def shut_down_with_drain(self, timeout: float) -> bool:
        self.shut_down()
        return not self.processing

    def __len__(self) -> int:
        self._promote()
        return len(self.fifo)


def outcome(call: Any, *args: Any) -> tuple[str, Any]:
    """A call's result, or the type of the exception it raised."""
    try:
        return ("ok", call(*args))
    except (TimeoutError, ValueError) as exc:
        return ("raised", type(exc).__name__)


class QueuesAgree(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        compiled = CORES["c"]
        assert compiled is not None
        self.clock = FakeClock()
        self.queues: list[Any] = [
            compiled.DelayingQueue(clock=self.clock),
            _core_py.DelayingQueue(clock=self.clock),
            ModelQueue(self.clock),
        ]

    def same(self, method: str, *args: Any) -> Any:
        results = [outcome(getattr(q, method), *args) for q in self.queues]
        assert results[0] == results[1] == results[2], (method, args, results)
        return results[0]

    @rule(item=ITEMS)
    def add(self, item: str) -> None:
        self.same("add", item)

    @rule(entries=st.lists(st.tuples(ITEMS, DELAYS), min_size=1, max_size=3))
    def add_after(self, entries: list[tuple[str, float]]) -> None:
        for item, delay in entries:
            self.same("add_after", item, delay)

    @rule()
    def get(self) -> None:
        self.same("get", 0)

    @rule(data=st.data())
    def done(self, data: st.DataObject) -> None:
        """Mostly an item being processed; sometimes any item (refused unless held)."""
        held: list[str] = sorted(self.queues[2].processing)
        any_item = not held or data.draw(st.integers(0, 3)) == 0
        item = data.draw(ITEMS if any_item else st.sampled_from(held))
        self.same("done", item)

    @rule(seconds=STEPS)
    def step(self, seconds: float) -> None:
        self.clock.step(seconds)

    # Shutting down ends the interesting part of a run: do it on one roll in twenty.
    @precondition(lambda self: not self.queues[2].shutting_down)
    @rule(roll=st.integers(0, 19), drain=st.booleans())
    def shut_down(self, roll: int, drain: bool) -> None:
        if roll == 0 and drain:
            self.same("shut_down_with_drain", 0)
        elif roll == 0:
            self.same("shut_down")

    @rule()
    def length(self) -> None:  # a rule, not an invariant: len() promotes due items
        self.same("__len__")

    @invariant()
    def shutting_down_agrees(self) -> None:
        assert self.queues[0].shutting_down() == self.queues[1].shutting_down()
        assert self.queues[0].shutting_down() == self.queues[2].shutting_down


@pytest.mark.skipif(CORES["c"] is None, reason="compiled core not built")
def test_compiled_queue_twin_and_model_agree_on_random_operations() -> None:
    run = settings(max_examples=100, stateful_step_count=30, deadline=None)(QueuesAgree)
    run.TestCase().runTest()
