"""reflector: list/watch rules, streaming list and its fallbacks, backoff, no event lost."""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from fastinformer.backoff import Backoff
from fastinformer.clock import FakeClock
from fastinformer.errors import (
    ApiError,
    DecodeError,
    ExpiredError,
    ForbiddenError,
    TooManyRequestsError,
    UnauthorizedError,
)
from fastinformer.protocol import ListOptions
from fastinformer.reflector import Reflector, VeryShortWatchError, default_watch_error_handler
from tests.fake_listwatch import (
    IGNORED,
    NO_ANNOTATION,
    REJECTED,
    SUPPORTED,
    FakeListerWatcher,
    RecordingStore,
    StreamFault,
    too_large_error,
    wait_for,
)


class RecordingBackoff(Backoff):
    """A backoff that remembers every delay it handed out."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delays: list[float] = []

    def next(self) -> float:
        delay = super().next()
        self.delays.append(delay)
        return delay


class Harness:
    """A reflector on a fake clock, running in a thread, over ``fake``."""

    def __init__(self, fake: FakeListerWatcher, store: Any = None, **kwargs: Any) -> None:
        self.fake = fake
        self.clock = FakeClock()
        self.store = store if store is not None else RecordingStore()
        self.errors: list[BaseException] = []
        self.backoff = RecordingBackoff(clock=self.clock, jitter=0.0)
        kwargs.setdefault("backoff", self.backoff)
        kwargs.setdefault("rng", random.Random(7))
        kwargs.setdefault("watch_error_handler", lambda r, e: self.errors.append(e))
        self.reflector = Reflector(
            fake,
            self.store,
            name="test",
            clock=self.clock,
            **kwargs,
        )
        self.reflector.supervisor_poll = 0.005
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.reflector.run, args=(self.stop,), daemon=True)

    def start(self) -> Harness:
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10.0)
        assert not self.thread.is_alive(), "reflector did not stop"

    def synced(self, timeout: float = 10.0) -> bool:
        """Wait until the store holds exactly the server's state."""
        return wait_for(
            lambda: self.reflector.has_listed() and self.store.snapshot() == self.fake.state(),
            timeout,
        )

    def sleeping(self) -> bool:
        """Wait until the reflector waits on the clock (a backoff or a Retry-After)."""
        return self.clock.wait_for_sleepers(1, timeout=10.0)

    def backed_off(self, n: int) -> bool:
        """Wait until the backoff has handed out ``n`` delays."""
        return wait_for(lambda: len(self.backoff.delays) >= n)

    def errors_of(self, cls: type[BaseException]) -> list[BaseException]:
        return [e for e in list(self.errors) if isinstance(e, cls)]


@pytest.fixture
def harness() -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(fake: FakeListerWatcher, **kwargs: Any) -> Harness:
        h = Harness(fake, **kwargs)
        made.append(h)
        return h

    yield make
    for h in made:
        if h.thread.is_alive():
            h.close()
        assert getattr(h.store, "violations", []) == []


MakeHarness = Callable[..., Harness]


def populated(n: int = 3, **kwargs: Any) -> FakeListerWatcher:
    fake = FakeListerWatcher(**kwargs)
    for i in range(n):
        fake.create(f"obj-{i}", {"i": str(i)})
    return fake


# -- LIST ---------------------------------------------------------------------------------


def test_first_list_asks_for_resource_version_0_with_the_page_size(harness: MakeHarness) -> None:
    fake = populated(3)
    h = harness(fake, use_streaming_list=False, page_size=250).start()
    assert h.synced()
    first = fake.options("list")[0]
    assert (first.resource_version, first.resource_version_match) == ("0", None)
    assert first.limit == 250
    assert h.store.replaces == [(sorted(fake.state()), fake.resource_version)]
    assert h.reflector.last_sync_resource_version() == fake.resource_version


def test_watch_starts_at_the_list_version_with_bookmarks_and_a_random_timeout(
    harness: MakeHarness,
) -> None:
    fake = populated(2)
    h = harness(fake, use_streaming_list=False).start()
    assert fake.wait_for_open_watch()
    watch = fake.options("watch")[0]
    assert watch.resource_version == h.store.replaces[0][1]
    assert watch.allow_watch_bookmarks is True
    assert watch.send_initial_events is None
    assert watch.timeout_seconds is not None and 300 <= watch.timeout_seconds < 600


def test_watch_timeouts_vary_between_watches(harness: MakeHarness) -> None:
    fake = populated(1)
    h = harness(fake, use_streaming_list=False).start()
    for n in range(2, 6):
        assert fake.wait_for_open_watch()
        fake.create(f"new-{n}")
        fake.end_watches()
        assert fake.wait_for_calls("watch", n)
    timeouts = {o.timeout_seconds for o in fake.options("watch")}
    assert len(timeouts) > 1
    assert h.synced()


def test_consistent_list_asks_for_an_empty_resource_version_first(harness: MakeHarness) -> None:
    fake = populated(2)
    h = harness(fake, use_streaming_list=False, consistent_list=True).start()
    assert h.synced()
    assert fake.options("list")[0].resource_version == ""


def test_pages_follow_continue_tokens_and_replace_once(harness: MakeHarness) -> None:
    fake = populated(5)
    h = harness(fake, use_streaming_list=False, consistent_list=True, page_size=2).start()
    assert h.synced()
    lists = fake.options("list")
    assert [(o.resource_version, o.limit, o.continue_ is None) for o in lists] == [
        ("", 2, True),
        (None, 2, False),
        (None, 2, False),
    ]
    assert len(h.store.replaces) == 1
    assert len(h.store.replaces[0][0]) == 5


def test_a_server_ignoring_limit_for_version_0_returns_everything_in_one_page(
    harness: MakeHarness,
) -> None:
    fake = populated(5, rv0_ignores_limit=True)
    h = harness(fake, use_streaming_list=False, page_size=2).start()
    assert h.synced()
    assert [o.limit for o in fake.options("list")] == [2]


def test_page_size_0_sends_no_limit(harness: MakeHarness) -> None:
    fake = populated(4)
    h = harness(fake, use_streaming_list=False, consistent_list=True, page_size=0).start()
    assert h.synced()
    assert [o.limit for o in fake.options("list")] == [None]


def test_an_expired_continue_token_restarts_the_list_from_a_consistent_read(
    harness: MakeHarness,
) -> None:
    fake = populated(5, rv0_ignores_limit=False)
    expired: list[str] = []

    def hook(opts: ListOptions) -> None:
        if opts.continue_ and not expired:
            expired.append(opts.continue_)
            fake.expire_continue_tokens()
            fake.create("late-arrival")

    fake.list_hook = hook
    h = harness(fake, use_streaming_list=False, page_size=2).start()
    assert h.synced()
    lists = fake.options("list")
    assert [(o.resource_version, o.continue_ is not None) for o in lists] == [
        ("0", False),
        (None, True),  # 410: expired token
        ("", False),  # restart, consistent
        (None, True),
        (None, True),
    ]
    assert len(h.store.replaces) == 1
    assert "default/late-arrival" in h.store.replaces[0][0]
    assert h.errors == [], "a restarted pagination is not an error"


def test_relist_after_a_watch_410_uses_the_last_version_not_older_than(
    harness: MakeHarness,
) -> None:
    fake = populated(2, expire_old_list_rv=False)
    h = harness(fake, use_streaming_list=False).start()
    assert fake.wait_for_open_watch()
    fake.create("x")
    assert h.synced()
    last = h.reflector.last_sync_resource_version()
    assert fake.inject(StreamFault.error(410, "Expired", "too old resource version")) == 1
    assert fake.wait_for_calls("list", 2)
    relist = fake.options("list")[1]
    assert (relist.resource_version, relist.resource_version_match) == (last, "NotOlderThan")
    assert h.synced()
    assert len(h.errors_of(ExpiredError)) == 1
    assert h.backoff.delays == [], "a watch that delivered events relists at once"
    assert not h.reflector.is_last_sync_resource_version_unavailable()


def test_a_list_410_relists_with_a_consistent_read(harness: MakeHarness) -> None:
    fake = populated(2, expire_old_list_rv=True)
    h = harness(fake, use_streaming_list=False).start()
    assert fake.wait_for_open_watch()
    fake.create("x")
    assert h.synced()
    last = h.reflector.last_sync_resource_version()
    fake.bump()
    fake.compact()  # `last` is now older than the history
    fake.inject(StreamFault.error(410, "Expired"))
    assert fake.wait_for_calls("list", 3)
    assert [o.resource_version for o in fake.options("list")] == ["0", last, ""]
    assert h.synced()
    assert fake.wait_for_calls("watch", 2)
    assert not h.reflector.is_last_sync_resource_version_unavailable()


def test_too_large_resource_version_on_a_list_relists_with_a_consistent_read(
    harness: MakeHarness,
) -> None:
    fake = populated(2)
    h = harness(fake, use_streaming_list=False).start()
    assert fake.wait_for_open_watch()
    fake.create("x")
    assert h.synced()
    fake.fail_next_list(too_large_error(10**9, 1))
    fake.inject(StreamFault.error(410, "Expired"))
    assert fake.wait_for_calls("list", 3)
    assert [o.resource_version for o in fake.options("list")][2] == ""
    assert h.synced()


def test_too_large_resource_version_on_a_watch_relists_with_a_consistent_read(
    harness: MakeHarness,
) -> None:
    fake = populated(2)
    h = harness(fake, use_streaming_list=False).start()
    assert fake.wait_for_open_watch()
    fake.create("x")
    assert h.synced()
    fake.inject(
        StreamFault.error(
            504,
            "Timeout",
            "Timeout: Too large resource version: 999, current: 5",
            causes=[{"reason": "ResourceVersionTooLarge"}],
        )
    )
    assert h.sleeping()
    assert h.reflector.is_last_sync_resource_version_unavailable()
    h.clock.step(h.backoff.delays[-1])
    assert fake.wait_for_calls("list", 2)
    assert fake.options("list")[1].resource_version == ""
    assert h.synced()


def test_a_failing_consistent_list_backs_off_before_retrying(harness: MakeHarness) -> None:
    fake = populated(2)
    fake.fail_next_list(ApiError(500, "InternalError", "boom"))
    h = harness(fake, use_streaming_list=False, consistent_list=True).start()
    assert h.sleeping()
    assert fake.count("list") == 1
    h.clock.step(h.backoff.delays[-1])
    assert h.synced()
    assert [o.resource_version for o in fake.options("list")] == ["", ""]


def test_a_store_that_fails_replace_fails_the_sync_and_it_is_retried(harness: MakeHarness) -> None:
    class FlakyStore(RecordingStore):
        failures = 1

        def replace(self, items: list[Any], resource_version: str) -> None:
            if self.failures:
                self.failures -= 1
                raise RuntimeError("store unavailable")
            super().replace(items, resource_version)

    fake = populated(2)
    h = harness(fake, store=FlakyStore(), use_streaming_list=False).start()
    assert h.sleeping()
    h.clock.step(h.backoff.delays[-1])
    assert h.synced()
    assert [str(e) for e in h.errors] == ["store unavailable"]


# -- WATCH --------------------------------------------------------------------------------


def test_watch_events_are_applied_in_order(harness: MakeHarness) -> None:
    fake = populated(2)
    h = harness(fake, use_streaming_list=False).start()
    assert fake.wait_for_open_watch()
    fake.create("a")
    fake.update("obj-0", {"changed": "yes"})
    fake.delete("obj-1")
    assert h.synced()
    assert [op for op in h.store.ops if op[0] != "replace"] == [
        ("add", "default/a"),
        ("update", "default/obj-0"),
        ("delete", "default/obj-1"),
    ]
    assert h.reflector.last_sync_resource_version() == fake.resource_version


def test_a_watch_that_ends_resumes_from_the_last_version_without_relisting(
    harness: MakeHarness,
) -> None:
    fake = populated(2)
    h = harness(fake, use_streaming_list=False).start()
    assert fake.wait_for_open_watch()
    fake.create("a")
    assert h.synced()
    fake.end_watches()
    fake.create("b")  # lands in the history only: must come back through the resume
    assert fake.wait_for_calls("watch", 2)
    assert (
        fake.options("watch")[1].resource_version
        == fake.state()["default/a"]["metadata"]["resourceVersion"]
    )
    assert h.synced()
    assert fake.count("list") == 1
    assert h.errors == []


def test_resume_uses_the_version_of_the_last_bookmark(harness: MakeHarness) -> None:
    fake = populated(1)
    h = harness(fake, use_streaming_list=False).start()
    assert fake.wait_for_open_watch()
    fake.bump(5)
    fake.bookmark()
    assert wait_for(lambda: h.reflector.last_sync_resource_version() == fake.resource_version)
    bookmarked = fake.resource_version
    fake.end_watches()
    assert fake.wait_for_calls("watch", 2)
    assert fake.options("watch")[1].resource_version == bookmarked
    assert fake.count("list") == 1


def test_a_watch_that_lasted_a_second_without_events_resumes_without_backoff(
    harness: MakeHarness,
) -> None:
    fake = populated(1)
    h = harness(fake, use_streaming_list=False).start()
    assert fake.wait_for_open_watch()
    h.clock.step(1.0)
    fake.end_watches()
    assert fake.wait_for_calls("watch", 2)
    assert h.errors == []
    assert h.backoff.delays == []


def test_a_watch_closed_at_once_without_events_counts_as_a_failure(harness: MakeHarness) -> None:
    fake = populated(1)
    h = harness(fake, use_streaming_list=False).start()
    assert fake.wait_for_open_watch()
    fake.end_watches()
    assert h.sleeping()
    assert [type(e) for e in h.errors] == [VeryShortWatchError]
    assert fake.count("watch") == 1
    h.clock.step(h.backoff.delays[-1])
    assert fake.wait_for_calls("watch", 2)
    assert fake.count("list") == 1


def test_an_error_status_backs_off_then_watches_again_from_the_last_version(
    harness: MakeHarness,
) -> None:
    fake = populated(1)
    h = harness(fake, use_streaming_list=False).start()
    assert fake.wait_for_open_watch()
    fake.create("a")
    assert h.synced()
    last = h.reflector.last_sync_resource_version()
    fake.inject(StreamFault.error(500, "InternalError", "etcd unhappy"))
    assert h.sleeping()
    err = h.errors_of(ApiError)
    assert len(err) == 1 and isinstance(err[0], ApiError) and err[0].code == 500
    assert fake.count("watch") == 1
    h.clock.step(h.backoff.delays[-1])
    assert fake.wait_for_calls("watch", 2)
    assert fake.options("watch")[1].resource_version == last
    assert fake.count("list") == 1


def test_a_decode_error_rewatches_from_the_last_good_version_and_loses_nothing(
    harness: MakeHarness,
) -> None:
    fake = populated(1)
    h = harness(fake, use_streaming_list=False).start()
    assert fake.wait_for_open_watch()
    fake.create("a")
    assert h.synced()
    good = h.reflector.last_sync_resource_version()
    fake.inject(StreamFault.corrupt())
    fake.update("a", {"v": "2"})  # arrives malformed
    fake.delete("obj-0")
    assert h.sleeping()
    assert len(h.errors_of(DecodeError)) == 1
    h.clock.step(h.backoff.delays[-1])
    assert h.synced()
    assert fake.options("watch")[1].resource_version == good
    assert fake.count("list") == 1


def test_decode_errors_are_logged_without_the_sampled_bytes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = populated(1)
    caplog.set_level(logging.WARNING, logger="fastinformer.reflector")
    h = Harness(
        fake, use_streaming_list=False, watch_error_handler=default_watch_error_handler
    ).start()
    try:
        assert fake.wait_for_open_watch()
        fake.inject(StreamFault.corrupt())
        fake.create("secret-ish")
        assert h.sleeping()
    finally:
        h.close()
    text = caplog.text
    assert "undecodable" in text and "reflector test" in text
    assert "metad" not in text


@pytest.mark.parametrize(
    ("exc", "level"),
    [
        (ExpiredError(410, "Expired", "too old"), logging.INFO),
        (UnauthorizedError(401, "Unauthorized", ""), logging.ERROR),
        (ForbiddenError(403, "Forbidden", ""), logging.ERROR),
        (ApiError(500, "InternalError", "x"), logging.WARNING),
        (VeryShortWatchError("quick"), logging.WARNING),
    ],
)
def test_the_default_handler_logs_each_error_at_its_level(
    caplog: pytest.LogCaptureFixture, exc: BaseException, level: int
) -> None:
    caplog.set_level(logging.DEBUG, logger="fastinformer.reflector")
    r = Reflector(FakeListerWatcher(), RecordingStore(), name="lvl")
    default_watch_error_handler(r, exc)
    [record] = caplog.records
    assert record.levelno == level
    assert "reflector lvl" in record.getMessage()


def test_429_waits_for_retry_after(harness: MakeHarness) -> None:
    fake = populated(1)
    fake.fail_next_watch(TooManyRequestsError(429, "TooManyRequests", "slow down", retry_after=7))
    h = harness(fake, use_streaming_list=False).start()
    assert h.sleeping()
    h.clock.step(6.9)
    assert not fake.wait_for_calls("watch", 2, timeout=0.2)
    h.clock.step(0.1)
    assert fake.wait_for_calls("watch", 2)
    assert h.backoff.delays == []


def test_429_error_event_honours_retry_after_seconds(harness: MakeHarness) -> None:
    fake = populated(1)
    h = harness(fake, use_streaming_list=False).start()
    assert fake.wait_for_open_watch()
    fake.create("a")
    fake.inject(StreamFault.error(429, "TooManyRequests", "slow down", retryAfterSeconds=4))
    assert h.sleeping()
    h.clock.step(3.9)
    assert not fake.wait_for_calls("watch", 2, timeout=0.2)
    h.clock.step(0.1)
    assert fake.wait_for_calls("watch", 2)


def test_auth_errors_keep_retrying_with_a_growing_backoff(harness: MakeHarness) -> None:
    fake = populated(1)
    fake.fail_next_watch(
        UnauthorizedError(401, "Unauthorized", "Unauthorized"),
        ForbiddenError(403, "Forbidden", "no watch for you"),
        UnauthorizedError(401, "Unauthorized", "Unauthorized"),
    )
    h = harness(fake, use_streaming_list=False).start()
    for n in range(3):
        assert h.sleeping()
        assert h.backed_off(n + 1)
        h.clock.step(h.backoff.delays[-1])
        assert fake.wait_for_calls("watch", n + 2)
    assert h.backoff.delays == pytest.approx([0.8, 1.6, 3.2])
    assert fake.wait_for_open_watch()
    assert [type(e) for e in h.errors] == [UnauthorizedError, ForbiddenError, UnauthorizedError]


def test_backoff_resets_after_two_minutes_of_health(harness: MakeHarness) -> None:
    fake = populated(1)
    fake.fail_next_watch(ApiError(500, "", "a"), ApiError(500, "", "b"))
    h = harness(fake, use_streaming_list=False).start()
    for n in range(2):
        assert h.sleeping()
        assert h.backed_off(n + 1)
        h.clock.step(h.backoff.delays[-1])
    assert fake.wait_for_open_watch()
    h.clock.step(120.0)
    fake.fail_next_watch(ApiError(500, "", "c"))
    fake.inject(StreamFault.error(500, "InternalError", "d"))
    for n in range(2, 4):
        assert h.sleeping()
        assert h.backed_off(n + 1)
        h.clock.step(h.backoff.delays[-1])
    assert h.backoff.delays == pytest.approx([0.8, 1.6, 0.8, 1.6])


def test_unknown_event_types_are_logged_and_skipped(
    harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="fastinformer.reflector")
    fake = populated(1)
    h = harness(fake, use_streaming_list=False).start()
    assert fake.wait_for_open_watch()
    fake.inject(StreamFault.unknown("SURPRISE"))
    fake.create("after")
    assert h.synced()
    assert "unknown type 'SURPRISE'" in caplog.text
    assert h.errors == []
    assert fake.count("watch") == 1


def test_a_store_error_on_one_event_is_logged_and_the_watch_goes_on(
    harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    class PickyStore(RecordingStore):
        def add(self, obj: dict[str, Any]) -> None:
            if obj["metadata"]["name"] == "bad":
                raise ValueError("no thanks")
            super().add(obj)

    caplog.set_level(logging.ERROR, logger="fastinformer.reflector")
    fake = populated(1)
    h = harness(fake, store=PickyStore(), use_streaming_list=False).start()
    assert fake.wait_for_open_watch()
    fake.create("bad")
    fake.create("good")
    assert wait_for(lambda: "default/good" in h.store.snapshot())
    assert "rejected a ADDED event" in caplog.text
    assert fake.count("watch") == 1


def test_stop_closes_the_open_watch_promptly(harness: MakeHarness) -> None:
    fake = populated(1)
    h = harness(fake, use_streaming_list=False).start()
    assert fake.wait_for_open_watch()
    h.close()
    assert fake.open_watches == 0


def test_stop_interrupts_a_backoff(harness: MakeHarness) -> None:
    fake = populated(1)
    fake.fail_next_list(ApiError(500, "", "down"))
    h = harness(fake, use_streaming_list=False).start()
    assert h.sleeping()
    h.close()
    assert fake.count("list") == 1


def test_run_twice_at_once_is_refused(harness: MakeHarness) -> None:
    fake = populated(1)
    h = harness(fake, use_streaming_list=False).start()
    assert fake.wait_for_open_watch()
    with pytest.raises(RuntimeError, match="already active"):
        h.reflector.run(threading.Event())


def test_resync_calls_the_store_every_period_without_api_calls(harness: MakeHarness) -> None:
    fake = populated(1)
    h = harness(fake, use_streaming_list=False, resync_period=30.0).start()
    assert fake.wait_for_open_watch()
    calls = len(fake.calls)
    h.clock.step(29.0)
    assert not wait_for(lambda: h.store.resyncs > 0, timeout=0.1)
    h.clock.step(1.0)
    assert wait_for(lambda: h.store.resyncs == 1)
    h.clock.step(30.0)
    assert wait_for(lambda: h.store.resyncs == 2)
    assert len(fake.calls) == calls


def test_gc_pause_is_entered_around_each_full_sync(harness: MakeHarness) -> None:
    events: list[str] = []

    class TracingStore(RecordingStore):
        def replace(self, items: list[Any], resource_version: str) -> None:
            events.append("replace")
            super().replace(items, resource_version)

    @contextlib.contextmanager
    def pause() -> Iterator[None]:
        events.append("pause")
        yield
        events.append("resume")

    fake = populated(2)
    h = harness(fake, store=TracingStore(), use_streaming_list=False, gc_pause=pause).start()
    assert h.synced()
    assert events == ["pause", "replace", "resume"]


def test_the_default_name_describes_the_resource_and_logs_carry_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="fastinformer.reflector")
    fake = populated(1)
    r = Reflector(fake, RecordingStore(), clock=FakeClock(), use_streaming_list=False)
    assert r.name == "FakeListerWatcher in default"
    stop = threading.Event()
    t = threading.Thread(target=r.run, args=(stop,))
    t.start()
    assert fake.wait_for_open_watch()
    stop.set()
    t.join(10.0)
    assert "reflector FakeListerWatcher in default: list synced 1 objects" in caplog.text


@pytest.mark.parametrize("kwargs", [{"resync_period": -1.0}, {"page_size": -1}, {"page_size": 2.5}])
def test_invalid_knobs_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Reflector(FakeListerWatcher(), RecordingStore(), **kwargs)


# -- streaming list ------------------------------------------------------------------------


def streaming_watches(fake: FakeListerWatcher) -> list[ListOptions]:
    return [o for o in fake.options("watch") if o.send_initial_events]


def test_streaming_list_replaces_at_the_bookmark_and_keeps_the_same_watch(
    harness: MakeHarness,
) -> None:
    fake = populated(3, streaming=SUPPORTED)
    h = harness(fake).start()
    assert h.synced()
    [opts] = fake.options("watch")
    assert opts.send_initial_events is True
    assert opts.resource_version_match == "NotOlderThan"
    assert opts.allow_watch_bookmarks is True
    assert opts.resource_version == ""
    assert fake.count("list") == 0
    assert h.store.ops[0] == ("replace", fake.resource_version)
    assert h.store.count("add") == 0, "initial events must be buffered, not applied"
    fake.create("live")
    assert h.synced()
    assert fake.count("watch") == 1
    assert h.reflector.streaming_list_supported() is None


def test_streaming_relist_asks_for_the_last_version(harness: MakeHarness) -> None:
    fake = populated(2, streaming=SUPPORTED)
    h = harness(fake).start()
    assert fake.wait_for_open_watch()
    fake.create("a")
    assert h.synced()
    last = h.reflector.last_sync_resource_version()
    fake.inject(StreamFault.error(410, "Expired"))
    assert fake.wait_for_calls("watch", 2)
    second = fake.options("watch")[1]
    assert (second.send_initial_events, second.resource_version) == (True, last)
    assert h.synced()
    assert fake.count("list") == 0


def test_a_server_rejecting_send_initial_events_falls_back_and_is_remembered(
    harness: MakeHarness,
) -> None:
    fake = populated(3, streaming=REJECTED)
    h = harness(fake).start()
    assert h.synced()
    assert [o.resource_version for o in fake.options("list")] == ["0"]
    assert h.reflector.streaming_list_supported() is False
    assert h.errors == []
    fake.create("a")
    fake.inject(StreamFault.error(410, "Expired"))  # relist: no second streaming attempt
    assert fake.wait_for_calls("list", 2)
    assert h.synced()
    assert len(streaming_watches(fake)) == 1


@pytest.mark.parametrize("code", [400, 403, 422])
def test_refusal_codes_mean_streaming_is_unsupported(harness: MakeHarness, code: int) -> None:
    fake = populated(2)
    fake.fail_next_watch(ApiError(code, "Refused", "no"))
    h = harness(fake).start()
    assert h.synced()
    assert h.reflector.streaming_list_supported() is False


def test_a_refusal_as_an_error_event_means_streaming_is_unsupported(harness: MakeHarness) -> None:
    fake = populated(2)
    fake.inject_on_next_watch(StreamFault.error(422, "Invalid", "no"), position=0)
    h = harness(fake).start()
    assert h.synced()
    assert h.reflector.streaming_list_supported() is False


def test_a_plain_watch_is_detected_by_a_modified_event_before_the_bookmark(
    harness: MakeHarness,
) -> None:
    fake = populated(3, streaming=IGNORED)
    h = harness(fake).start()
    assert fake.wait_for_open_watch()
    assert fake.count("list") == 0
    fake.update("obj-1", {"v": "2"})
    assert fake.wait_for_calls("list", 1)
    assert h.synced()
    assert h.reflector.streaming_list_supported() is False
    assert h.store.count("add") == 0 and h.store.count("update") == 0
    assert len(h.store.replaces) == 1


def test_a_plain_watch_is_detected_by_a_delete_before_the_bookmark(harness: MakeHarness) -> None:
    fake = populated(3, streaming=IGNORED)
    h = harness(fake).start()
    assert fake.wait_for_open_watch()
    fake.delete("obj-2")
    assert fake.wait_for_calls("list", 1)
    assert h.synced()
    assert h.reflector.streaming_list_supported() is False


def test_a_plain_watch_is_detected_by_a_bookmark_without_the_annotation(
    harness: MakeHarness,
) -> None:
    fake = populated(3, streaming=IGNORED)
    h = harness(fake).start()
    assert fake.wait_for_open_watch()
    fake.bookmark()
    assert fake.wait_for_calls("list", 1)
    assert h.synced()
    assert h.reflector.streaming_list_supported() is False


def test_a_server_sending_an_unannotated_end_bookmark_falls_back(harness: MakeHarness) -> None:
    fake = populated(3, streaming=NO_ANNOTATION)
    h = harness(fake).start()
    assert h.synced()
    assert fake.count("list") == 1
    assert h.reflector.streaming_list_supported() is False
    assert len(h.store.replaces) == 1


def test_a_plain_watch_is_detected_when_it_goes_quiet(harness: MakeHarness) -> None:
    fake = populated(3, streaming=IGNORED)
    h = harness(fake).start()
    assert fake.wait_for_open_watch()
    h.clock.step(9.0)
    assert not fake.wait_for_calls("list", 1, timeout=0.1)
    h.clock.step(1.0)
    assert fake.wait_for_calls("list", 1)
    assert h.synced()
    assert h.reflector.streaming_list_supported() is False
    assert h.errors == []


def test_a_transient_failure_before_the_bookmark_lists_for_this_cycle_only(
    harness: MakeHarness,
) -> None:
    fake = populated(3, streaming=SUPPORTED)
    fake.inject_on_next_watch(StreamFault.error(500, "InternalError", "hiccup"), position=1)
    h = harness(fake).start()
    assert h.synced()
    assert fake.count("list") == 1
    assert h.reflector.streaming_list_supported() is None
    assert h.store.count("add") == 0, "buffered events of the failed attempt leaked"
    assert h.backoff.delays == []
    fake.create("a")
    fake.inject(StreamFault.error(410, "Expired"))
    assert fake.wait_for_calls("watch", 3)
    assert len(streaming_watches(fake)) == 2
    assert h.synced()


def test_a_decode_error_before_the_bookmark_lists_for_this_cycle_only(harness: MakeHarness) -> None:
    fake = populated(3, streaming=SUPPORTED)
    fake.inject_on_next_watch(StreamFault.corrupt(), position=1)
    h = harness(fake).start()
    assert h.synced()
    assert len(h.errors_of(DecodeError)) == 1
    assert h.reflector.streaming_list_supported() is None


def test_an_expired_streaming_request_lists_with_a_consistent_read(harness: MakeHarness) -> None:
    fake = populated(3, streaming=SUPPORTED)
    fake.fail_next_watch(ExpiredError(410, "Expired", "too old"))
    h = harness(fake).start()
    assert h.synced()
    assert [o.resource_version for o in fake.options("list")] == [""]


def test_streaming_true_tries_again_after_a_fallback(harness: MakeHarness) -> None:
    fake = populated(2, streaming=REJECTED)
    h = harness(fake, use_streaming_list=True).start()
    assert h.synced()
    fake.create("a")
    fake.inject(StreamFault.error(410, "Expired"))
    assert fake.wait_for_calls("list", 2)
    assert h.synced()
    assert len(streaming_watches(fake)) == 2


def test_streaming_false_never_streams(harness: MakeHarness) -> None:
    fake = populated(2, streaming=SUPPORTED)
    h = harness(fake, use_streaming_list=False).start()
    assert h.synced()
    assert streaming_watches(fake) == []


def test_stop_during_the_initial_events_ends_promptly(harness: MakeHarness) -> None:
    fake = populated(2, streaming=IGNORED)
    h = harness(fake).start()
    assert fake.wait_for_open_watch()
    h.close()
    assert fake.open_watches == 0
    assert not h.reflector.has_listed()


# -- with the real DeltaFIFO ------------------------------------------------------------------


def test_feeds_a_delta_fifo(harness: MakeHarness, core: ModuleType) -> None:
    cache: dict[str, Any] = {}  # what an informer's indexer would hold

    class Known:
        def list_keys(self) -> list[str]:
            return list(cache)

        def get_by_key(self, key: str) -> Any | None:
            return cache.get(key)

    fifo = core.DeltaFIFO(known_objects=Known())
    seen: dict[str, list[str]] = {}

    def process(deltas: list[Any], initial: bool) -> None:
        md = deltas[-1].object["metadata"]
        key = f"{md['namespace']}/{md['name']}"
        seen.setdefault(key, []).extend(d.type for d in deltas)
        if deltas[-1].type == "Deleted":
            cache.pop(key, None)
        else:
            cache[key] = deltas[-1].object

    def drained_into(expected: Callable[[], bool]) -> Callable[[], bool]:
        def check() -> bool:
            with contextlib.suppress(TimeoutError):
                while True:
                    fifo.pop(process, timeout=0.0)
            return expected()

        return check

    fake = populated(2, streaming=SUPPORTED)
    listed_at = fake.resource_version
    h = harness(fake, store=fifo).start()
    assert wait_for(drained_into(lambda: len(cache) == 2))
    assert fifo.has_synced()
    fake.update("obj-0", {"v": "2"})
    fake.delete("obj-1")
    fake.create("new")
    assert wait_for(drained_into(lambda: cache == fake.state()))
    assert seen == {
        "default/obj-0": ["Replaced", "Updated"],
        "default/obj-1": ["Replaced", "Deleted"],
        "default/new": ["Added"],
    }
    assert fifo.last_sync_resource_version() == listed_at
    h.close()
    fifo.close()


# -- random faults ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_random_writes_and_faults_end_with_the_servers_exact_state(
    harness: MakeHarness, seed: int
) -> None:
    rng = random.Random(seed)
    fake = FakeListerWatcher(
        streaming=[SUPPORTED, REJECTED, IGNORED, NO_ANNOTATION][seed % 4],
        expire_old_list_rv=rng.random() < 0.5,
        rv0_ignores_limit=rng.random() < 0.5,
    )
    names = [f"n{i}" for i in range(10)]
    for name in names[:5]:
        fake.create(name)
    h = harness(
        fake, page_size=rng.choice([0, 2, 3, 500]), consistent_list=rng.random() < 0.3
    ).start()
    deleted: set[str] = set()

    def bookmark_after_other_writes() -> None:
        fake.bump(rng.randint(1, 3))
        fake.bookmark()

    def compact() -> None:
        fake.bump()
        fake.compact()

    faults: list[Callable[[], object]] = [
        lambda: fake.inject(StreamFault.error(410, "Expired")),
        lambda: fake.inject(StreamFault.error(500, "InternalError")),
        lambda: fake.inject(StreamFault.error(429, "TooManyRequests", retryAfterSeconds=2)),
        lambda: fake.inject(StreamFault.corrupt()),
        lambda: fake.inject(StreamFault.unknown()),
        lambda: fake.inject(StreamFault.raise_(ConnectionResetError("reset by peer"))),
        fake.end_watches,
        fake.bookmark,
        bookmark_after_other_writes,
        compact,
        fake.expire_continue_tokens,
        lambda: fake.fail_next_watch(ApiError(503, "ServiceUnavailable", "later")),
        lambda: fake.fail_next_watch(TooManyRequestsError(429, "", "", retry_after=3)),
        lambda: fake.fail_next_list(ApiError(500, "InternalError", "list failed")),
        lambda: fake.inject_on_next_watch(StreamFault.corrupt(), position=rng.randint(0, 3)),
    ]

    def converged() -> bool:
        if h.clock.sleepers:
            h.clock.step(31.0)  # let backoffs and Retry-After waits pass
        return h.reflector.has_listed() and h.store.snapshot() == fake.state()

    for step in range(300):
        name = rng.choice(names)
        key = fake.key(name)
        roll = rng.random()
        if roll < 0.15:
            rng.choice(faults)()
        elif key in fake.state():
            if rng.random() < 0.35:
                fake.delete(name)
                deleted.add(key)
            else:
                fake.update(name, {"step": str(step)})
        else:
            fake.create(name, {"step": str(step)})
            deleted.discard(key)
        if rng.random() < 0.6 and not wait_for(converged, 0.5):
            h.clock.step(11.0)  # a quiet plain watch posing as a streaming list

    assert wait_for(converged, 20.0), "the store never caught up with the server"
    h.close()
    final = h.store.snapshot()
    assert final == fake.state()
    assert not (deleted & set(final)), "a delete was lost"
    assert h.store.violations == []
    assert len(h.errors) >= 5 and fake.count("watch") >= 5, "the faults never hit the reflector"
