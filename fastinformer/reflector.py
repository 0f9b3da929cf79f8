"""Reflector: keeps a store equal to the API server's state by listing, then watching.

:meth:`Reflector.run` loops until its ``stop`` event is set. One cycle gets the full
state (a streaming list or a LIST), hands it to ``store.replace`` in one call, then
watches from that resourceVersion, applying each event to the store, until a relist
is needed.

LIST rules (the resourceVersion the LIST asks for):

* the first LIST asks for ``"0"`` (any state, served from the watch cache, which
  ignores ``limit``), or ``""`` (a consistent read) with ``consistent_list=True``;
* later LISTs ask for the last synced resourceVersion with ``NotOlderThan``;
* after a LIST answered 410 Expired or "Too large resource version", the next LIST asks
  for ``""``; if that list was already ``""`` the retry waits for the backoff first;
* pages of ``page_size`` follow ``continue`` tokens; a token that expires (410 on a
  continuation page) restarts the whole list once from ``""``;
* every page is collected first, then ``store.replace(items, resource_version)`` runs once.

Streaming list (``use_streaming_list`` not False): a WATCH with ``sendInitialEvents=true``,
``resourceVersionMatch=NotOlderThan``, ``allowWatchBookmarks=true`` and the last
resourceVersion (``""`` at first). ADDED events are buffered until the BOOKMARK that
carries ``k8s.io/initial-events-end``; then ``store.replace(buffered, bookmark_rv)`` runs
and the same watch goes on delivering live events. The reflector concludes that the
server does not support streaming lists, and uses LIST then WATCH instead, when before
that bookmark:

1. the request is refused with 400, 403 or 422 (HTTP error or an ERROR event);
2. a MODIFIED or DELETED event arrives (the server is replaying a plain watch);
3. a BOOKMARK without the annotation arrives;
4. no event arrives for ``initial_events_idle_timeout`` clock seconds (a plain watch
   that has replayed the current state and gone quiet).

With ``use_streaming_list=None`` that conclusion is kept for the reflector's lifetime;
with ``True`` it only applies to the current cycle. Any other failure before the
bookmark (410, 5xx, a decode error, a connection error, the watch ending) falls back to a
LIST for the current cycle only. The buffered events are dropped in every fallback: the
store sees nothing of a streaming list that did not finish, so nothing is doubled.

WATCH rules: ``allowWatchBookmarks=true``, ``timeoutSeconds`` random in [300, 600), from
the last resourceVersion seen (every event, bookmarks included, advances it).

* A watch that ends (timeout, server close) resumes from that resourceVersion at once,
  without a relist, unless it lasted under a second without any event: that counts as
  a failure (:class:`VeryShortWatchError`).
* 410 Expired (ERROR event or HTTP error) ends the cycle: relist (after the backoff if
  the watch lasted under a second without events, so a server that always answers 410
  cannot cause a tight loop).
* "Too large resource version": relist with ``""``.
* 429: wait ``retry_after`` seconds (the backoff when absent), then watch again.
* Anything else (ERROR Status, 401/403, 5xx, a :class:`~fastinformer.errors.DecodeError`,
  a connection error): wait for the backoff, then watch again from the last good
  resourceVersion; the server re-sends whatever came after it.
* Events of an unknown type are logged and skipped.

Every list or watch failure goes to ``watch_error_handler(reflector, exc)`` (default:
:func:`default_watch_error_handler`, which logs); a streaming list found unsupported and
a restarted pagination are expected outcomes, logged at INFO, not reported as errors.
A store that raises on one event is logged and the watch goes on; a store that raises in
``replace`` fails that sync (reported, backoff, retried).
Resync (``resync_period`` > 0) calls ``store.resync()`` every period of the clock, with
no API call, once the first sync is done.

Threads: :meth:`run` works in the caller's thread and starts one supervisor thread,
which closes the open watch when ``stop`` is set (so stopping is prompt), runs the
resync and enforces the idle timeout of rule 4. The supervisor checks the clock every
``supervisor_poll`` real seconds.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

from fastinformer.backoff import Backoff
from fastinformer.clock import REAL_CLOCK, Clock
from fastinformer.errors import (
    ApiError,
    DecodeError,
    FastInformerError,
    ForbiddenError,
    UnauthorizedError,
    api_error,
)
from fastinformer.protocol import (
    ADDED,
    BOOKMARK,
    DELETED,
    ERROR,
    MODIFIED,
    ListerWatcher,
    ListOptions,
    WatchEvent,
    WatchStream,
    resource_version_of,
)
from fastinformer.reflector_metrics import new_reflector_metrics

__all__ = [
    "Reflector",
    "ReflectorStore",
    "StreamingListError",
    "VeryShortWatchError",
    "WatchErrorHandler",
    "default_watch_error_handler",
]

logger = logging.getLogger("fastinformer.reflector")

NOT_OLDER_THAN = "NotOlderThan"
# Watches time out after a random number of seconds in [_MIN_WATCH_TIMEOUT, 2 * that).
_MIN_WATCH_TIMEOUT = 300
# A watch that ends sooner than this, without any event, counts as a failure.
_SHORT_WATCH = 1.0
# Status codes that mean "this server does not accept sendInitialEvents".
_STREAMING_REFUSED = frozenset((400, 403, 422))


class ReflectorStore(Protocol):
    """What the reflector feeds (a DeltaFIFO in an informer)."""

    def add(self, obj: Any) -> object: ...

    def update(self, obj: Any) -> object: ...

    def delete(self, obj: Any) -> object: ...

    def replace(self, items: list[Any], resource_version: str) -> object: ...

    def resync(self) -> object: ...


WatchErrorHandler = Callable[["Reflector", BaseException], None]


class VeryShortWatchError(FastInformerError):
    """A watch ended within a second without delivering a single event."""


class StreamingListError(FastInformerError):
    """A streaming list ended without its initial-events-end bookmark."""


class _Stopped(Exception):
    """Internal: ``stop`` was set in the middle of a paginated list."""


def _is_expired(exc: BaseException) -> bool:
    return isinstance(exc, ApiError) and exc.code == 410


def _is_too_large_rv(exc: BaseException) -> bool:
    """The server is behind the resourceVersion we asked for (504 ResourceVersionTooLarge)."""
    if not isinstance(exc, ApiError):
        return False
    causes = exc.details.get("causes")
    if isinstance(causes, list):
        for cause in causes:
            if isinstance(cause, dict) and cause.get("reason") == "ResourceVersionTooLarge":
                return True
    return "too large resource version" in exc.message.lower()


def _status_error(status: Any) -> ApiError:
    """The :class:`ApiError` an ERROR event's ``Status`` object stands for."""
    if not isinstance(status, dict):
        return ApiError(500, "InternalError", "watch ERROR event without a Status object")
    code = status.get("code")
    reason = status.get("reason")
    message = status.get("message")
    details = status.get("details")
    retry_after = details.get("retryAfterSeconds") if isinstance(details, dict) else None
    return api_error(
        code if isinstance(code, int) else 500,
        reason if isinstance(reason, str) else "",
        message if isinstance(message, str) else "",
        retry_after=float(retry_after) if isinstance(retry_after, (int, float)) else None,
        details=details if isinstance(details, dict) else None,
    )


def default_watch_error_handler(reflector: Reflector, exc: BaseException) -> None:
    """Log a list/watch failure: 410 at INFO, 401/403 at ERROR, the rest at WARNING."""
    if _is_expired(exc):
        logger.info("%s: resourceVersion expired (%s)", reflector, exc)
    elif isinstance(exc, (UnauthorizedError, ForbiddenError)):
        logger.error("%s: access denied, will keep retrying: %s", reflector, exc)
    elif isinstance(exc, DecodeError):
        logger.warning(
            "%s: undecodable data from the server (%d bytes sampled): %s",
            reflector,
            len(exc.sample),
            exc,
        )
    else:
        logger.warning("%s: %s: %s", reflector, type(exc).__name__, exc)


def _describe(lister_watcher: object) -> str:
    """A short name of the watched resource, for logs."""
    resource = getattr(lister_watcher, "resource", None)
    if resource is None:
        text = type(lister_watcher).__name__
    elif isinstance(getattr(resource, "plural", None), str):
        parts = (getattr(resource, "group", ""), getattr(resource, "version", ""), resource.plural)
        text = "/".join(p for p in parts if isinstance(p, str) and p)
    else:
        text = str(resource)
    namespace = getattr(lister_watcher, "namespace", None)
    if isinstance(namespace, str) and namespace:
        text += f" in {namespace}"
    return text


class _OpenWatch:
    """A watch being consumed: the stream, its one iterator, and when it started."""

    __slots__ = ("events", "started", "stream")

    def __init__(self, stream: WatchStream, events: Iterator[WatchEvent], started: float):
        self.stream = stream
        self.events = events
        self.started = started


class Reflector:
    """Lists and watches one resource through ``lister_watcher`` into ``store``.

    See the module docstring for the exact rules. Knobs: ``resync_period`` (clock
    seconds, 0 = never), ``page_size`` (0 = do not paginate), ``backoff`` (default
    0.8 s -> 30 s, factor 2, jitter 1, reset after 120 s), ``use_streaming_list``
    (None = try and detect, True = try every cycle, False = never),
    ``consistent_list`` (first LIST with ``""`` instead of ``"0"``),
    ``watch_error_handler``, ``gc_pause`` (context-manager factory entered around each
    full sync, e.g. to disable the garbage collector), ``rng`` (seeds the jitter and the
    watch timeouts).
    """

    supervisor_poll: float = 0.25
    """Real seconds between the supervisor's checks of the clock."""

    initial_events_idle_timeout: float = 10.0
    """Clock seconds without events that end a streaming list as unsupported (rule 4)."""

    def __init__(
        self,
        lister_watcher: ListerWatcher,
        store: ReflectorStore,
        name: str = "",
        resync_period: float = 0.0,
        page_size: int = 500,
        clock: Clock = REAL_CLOCK,
        backoff: Backoff | None = None,
        use_streaming_list: bool | None = None,
        consistent_list: bool = False,
        watch_error_handler: WatchErrorHandler | None = None,
        gc_pause: Callable[[], AbstractContextManager[object]] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not resync_period >= 0:
            raise ValueError(f"resync_period must be >= 0, got {resync_period!r}")
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 0:
            raise ValueError(f"page_size must be an int >= 0, got {page_size!r}")
        self._lw = lister_watcher
        self._store = store
        self.resource = _describe(lister_watcher)
        self.name = name or self.resource
        self.resync_period = resync_period
        self.page_size = page_size
        self.use_streaming_list = use_streaming_list
        self.consistent_list = consistent_list
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._backoff = backoff if backoff is not None else Backoff(clock=clock, rng=self._rng)
        self._handler: WatchErrorHandler = watch_error_handler or default_watch_error_handler
        self._gc_pause = gc_pause

        self._last_sync_rv = ""
        self._rv_unavailable = False
        self._has_listed = False
        self._streaming_unsupported = False
        # Guarded by _lock: the open stream, run()'s flag, and rule 4's idle watch.
        self._lock = threading.Lock()
        self._stream: WatchStream | None = None
        self._running = False
        self._initial_last_event: float | None = None
        self._initial_idle_expired = False
        # Metrics hooks: None (and free) unless a reflector metrics provider is installed.
        self._metrics = new_reflector_metrics(self.name, self.last_sync_resource_version)

    def __str__(self) -> str:
        if self.name == self.resource:
            return f"reflector {self.name}"
        return f"reflector {self.name} ({self.resource})"

    def __repr__(self) -> str:
        return f"<Reflector name={self.name!r} resource={self.resource!r}>"

    # -- state ---------------------------------------------------------------------

    def last_sync_resource_version(self) -> str:
        """The resourceVersion of the last list, or of the last event or bookmark since."""
        return self._last_sync_rv

    def is_last_sync_resource_version_unavailable(self) -> bool:
        """True after a LIST answered 410 or "too large": the next LIST asks for ``""``."""
        return self._rv_unavailable

    def has_listed(self) -> bool:
        """True once the first full sync has been handed to ``store.replace``."""
        return self._has_listed

    def streaming_list_supported(self) -> bool | None:
        """False once the server was found not to support streaming lists, else the setting."""
        if self.use_streaming_list is False or self._streaming_unsupported:
            return False
        return self.use_streaming_list

    # -- main loop -----------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """List and watch until ``stop`` is set; one ``run`` at a time per reflector."""
        with self._lock:
            if self._running:
                raise RuntimeError(f"{self}: run() is already active")
            self._running = True
        finished = threading.Event()
        supervisor = threading.Thread(
            target=self._supervise,
            args=(stop, finished),
            name=f"fastinformer-reflector-{self.name}",
            daemon=True,
        )
        supervisor.start()
        logger.info("%s: starting", self)
        try:
            while not stop.is_set():
                self._list_and_watch(stop)
        finally:
            finished.set()
            self._close_stream()
            supervisor.join()
            with self._lock:
                self._running = False
            logger.info("%s: stopped", self)

    def _list_and_watch(self, stop: threading.Event) -> None:
        """One cycle: a full sync, then watches until a relist is needed or ``stop``."""
        opened: _OpenWatch | None = None
        if self.streaming_list_supported() is not False:
            opened = self._sync_with_streaming_list(stop)
        if opened is None and (stop.is_set() or not self._sync_with_list(stop)):
            return
        while not stop.is_set():
            if self._watch_once(stop, opened):
                return
            opened = None

    # -- LIST ------------------------------------------------------------------------

    def _list_request(self) -> tuple[str, str | None]:
        """The resourceVersion (and match) the next LIST asks for."""
        if self._rv_unavailable:
            return "", None
        if not self._last_sync_rv:
            return ("" if self.consistent_list else "0"), None
        return self._last_sync_rv, NOT_OLDER_THAN

    def _sync_with_list(self, stop: threading.Event) -> bool:
        """LIST every page, then ``store.replace``; on failure report, wait, return False."""
        rv, match = self._list_request()
        try:
            with self._paused_gc():
                items, list_rv = self._list_all(rv, match, stop)
                self._store.replace(items, list_rv)
        except Exception as exc:
            if stop.is_set():
                return False
            self._report(exc)
            if _is_expired(exc) or _is_too_large_rv(exc):
                self._rv_unavailable = True
                if rv:
                    logger.info("%s: relisting from a consistent snapshot", self)
                    return False
            self._wait_after_failure(exc, stop)
            return False
        self._synced(list_rv, len(items), "list")
        return True

    def _list_all(self, rv: str, match: str | None, stop: threading.Event) -> tuple[list[Any], str]:
        """Every item of a (possibly paginated) LIST, and the list's resourceVersion."""
        limit = self.page_size or None
        opts = ListOptions(resource_version=rv, resource_version_match=match, limit=limit)
        items: list[Any] = []
        restarted = False
        while True:
            try:
                page = self._lw.list(opts)
            except Exception as exc:
                if opts.continue_ is None or restarted or not _is_expired(exc):
                    raise
                logger.info(
                    "%s: continue token expired after %d items; restarting the list from "
                    "a consistent snapshot",
                    self,
                    len(items),
                )
                restarted = True
                items = []
                opts = ListOptions(resource_version="", limit=limit)
                continue
            if not page.continue_:
                if not items:
                    return page.items, page.resource_version
                items.extend(page.items)
                return items, page.resource_version
            items.extend(page.items)
            if stop.is_set():
                raise _Stopped
            opts = ListOptions(limit=limit, continue_=page.continue_)

    # -- streaming list -------------------------------------------------------------------

    def _sync_with_streaming_list(self, stop: threading.Event) -> _OpenWatch | None:
        """Try a streaming list; return the watch to go on with, or None to LIST instead."""
        opts = ListOptions(
            resource_version="" if self._rv_unavailable else self._last_sync_rv,
            resource_version_match=NOT_OLDER_THAN,
            send_initial_events=True,
            allow_watch_bookmarks=True,
            timeout_seconds=self._watch_timeout(),
        )
        try:
            stream = self._lw.watch(opts)
        except Exception as exc:
            if not stop.is_set():
                self._streaming_failed(exc, stop)
            return None
        if not self._register_stream(stream, stop):
            return None
        events = iter(stream)
        if self._metrics is not None:
            self._metrics.watch_started()
        with self._lock:
            self._initial_last_event = self._clock.now()
            self._initial_idle_expired = False
        outcome: WatchEvent | str | BaseException | None
        try:
            with self._paused_gc():
                buffered, outcome = self._read_initial_events(events)
                if isinstance(outcome, WatchEvent):
                    with self._lock:
                        self._initial_last_event = None
                    rv = outcome.resource_version or resource_version_of(outcome.object)
                    if rv:
                        self._store.replace(buffered, rv)
                        self._synced(rv, len(buffered), "streaming list")
                        return _OpenWatch(stream, events, self._clock.now())
                    outcome = StreamingListError("initial-events-end bookmark without a version")
        except Exception as exc:
            outcome = exc
        finally:
            with self._lock:
                self._initial_last_event = None
                idle_expired = self._initial_idle_expired
        self._unregister_stream(stream)
        if stop.is_set():
            return None
        if isinstance(outcome, str):
            self._streaming_unsupported_now(outcome)
        elif idle_expired:
            self._streaming_unsupported_now(
                f"no initial-events-end bookmark within {self.initial_events_idle_timeout:g} s "
                "of the last event"
            )
        else:
            if outcome is None:
                outcome = StreamingListError("watch ended before the initial-events-end bookmark")
            self._streaming_failed(outcome, stop)
        return None

    def _read_initial_events(
        self, events: Iterator[WatchEvent]
    ) -> tuple[list[Any], WatchEvent | str | BaseException | None]:
        """Buffer ADDED events up to the end bookmark.

        Returns the buffer and what stopped it: the end bookmark, a reason (str) to
        conclude the server does not stream (rules 2 and 3), an ERROR's ApiError, or None
        when the watch ended first.
        """
        buffered: list[Any] = []
        append = buffered.append
        now = self._clock.now
        for event in events:
            self._initial_last_event = now()
            etype = event.type
            if etype == ADDED:
                append(event.object)
            elif etype == BOOKMARK:
                if event.initial_events_end:
                    return buffered, event
                return buffered, "a BOOKMARK without the initial-events-end annotation"
            elif etype in (MODIFIED, DELETED):
                return buffered, f"a {etype} event before the initial-events-end bookmark"
            elif etype == ERROR:
                return buffered, _status_error(event.object)
            else:
                self._log_unknown_event(etype)
        return buffered, None

    def _streaming_failed(self, exc: BaseException, stop: threading.Event) -> None:
        """A streaming list failed before its bookmark: classify, report, maybe wait."""
        if isinstance(exc, ApiError) and exc.code in _STREAMING_REFUSED:
            self._streaming_unsupported_now(f"the server refused it: {exc}")
            return
        self._report(exc)
        if _is_expired(exc) or _is_too_large_rv(exc):
            self._rv_unavailable = True
        elif isinstance(exc, ApiError) and exc.code == 429:
            self._wait_after_failure(exc, stop)
        logger.info("%s: streaming list failed; listing instead for this sync", self)

    def _streaming_unsupported_now(self, reason: str) -> None:
        if self.use_streaming_list is None:
            self._streaming_unsupported = True
            logger.info(
                "%s: the server does not support streaming lists (%s); using LIST then WATCH "
                "from now on",
                self,
                reason,
            )
        else:
            logger.warning(
                "%s: streaming list not honoured by the server (%s); listing instead for this sync",
                self,
                reason,
            )

    # -- WATCH ----------------------------------------------------------------------------

    def _watch_timeout(self) -> int:
        return int(_MIN_WATCH_TIMEOUT * (1.0 + self._rng.random()))

    def _watch_once(self, stop: threading.Event, opened: _OpenWatch | None) -> bool:
        """Consume one watch (opening it unless given); return True when a relist is due."""
        if opened is None:
            opts = ListOptions(
                resource_version=self._last_sync_rv,
                allow_watch_bookmarks=True,
                timeout_seconds=self._watch_timeout(),
            )
            started = self._clock.now()
            try:
                stream = self._lw.watch(opts)
            except Exception as open_error:
                if stop.is_set():
                    return False
                return self._after_watch(stop, open_error, 0, 0.0)
            if not self._register_stream(stream, stop):
                return False
            opened = _OpenWatch(stream, iter(stream), started)
            if self._metrics is not None:
                self._metrics.watch_started()
        try:
            count, error = self._consume(stop, opened.events)
        finally:
            self._unregister_stream(opened.stream)
        if stop.is_set():
            return False
        return self._after_watch(stop, error, count, self._clock.now() - opened.started)

    def _consume(
        self, stop: threading.Event, events: Iterator[WatchEvent]
    ) -> tuple[int, BaseException | None]:
        """Apply events to the store until the watch ends; return (events seen, error)."""
        store = self._store
        add, update, delete = store.add, store.update, store.delete
        metrics = self._metrics
        count = 0
        try:
            for event in events:
                etype = event.type
                if etype == ADDED:
                    apply: Callable[[Any], object] | None = add
                elif etype == MODIFIED:
                    apply = update
                elif etype == DELETED:
                    apply = delete
                elif etype == BOOKMARK:
                    apply = None
                elif etype == ERROR:
                    return count, _status_error(event.object)
                else:
                    self._log_unknown_event(etype)
                    continue
                rv = event.resource_version or resource_version_of(event.object)
                if apply is not None:
                    try:
                        apply(event.object)
                    except Exception:
                        logger.exception(
                            "%s: the store rejected a %s event at resourceVersion %s",
                            self,
                            etype,
                            rv,
                        )
                if rv:
                    self._last_sync_rv = rv
                count += 1
                if metrics is not None:
                    metrics.event()
                if stop.is_set():
                    break
        except Exception as exc:
            return count, exc
        return count, None

    def _after_watch(
        self, stop: threading.Event, exc: BaseException | None, count: int, elapsed: float
    ) -> bool:
        """Decide what follows a watch that ended; return True when a relist is due."""
        if exc is None:
            if count or elapsed >= _SHORT_WATCH:
                logger.debug("%s: watch ended after %d events; resuming", self, count)
                return False
            exc = VeryShortWatchError(f"watch ended after {elapsed:.3f} s without any event")
        self._report(exc)
        if _is_expired(exc):
            if not count and elapsed < _SHORT_WATCH:
                self._backoff.wait(stop)
            logger.info("%s: relisting after a 410 from the watch", self)
            return True
        if _is_too_large_rv(exc):
            self._rv_unavailable = True
            self._backoff.wait(stop)
            return True
        self._wait_after_failure(exc, stop)
        logger.info("%s: watching again from resourceVersion %s", self, self._last_sync_rv)
        return False

    # -- helpers ------------------------------------------------------------------------

    def _synced(self, rv: str, count: int, how: str) -> None:
        self._last_sync_rv = rv
        self._rv_unavailable = False
        self._has_listed = True
        if self._metrics is not None:
            self._metrics.listed(count)
        logger.info("%s: %s synced %d objects at resourceVersion %s", self, how, count, rv)

    def _report(self, exc: BaseException) -> None:
        try:
            self._handler(self, exc)
        except Exception:
            logger.exception("%s: the watch error handler raised", self)

    def _wait_after_failure(self, exc: BaseException, stop: threading.Event) -> None:
        """Honour a 429's Retry-After, else wait for the backoff."""
        retry_after = exc.retry_after if isinstance(exc, ApiError) and exc.code == 429 else None
        if retry_after is not None and retry_after > 0:
            self._clock.sleep(retry_after, stop)
        else:
            self._backoff.wait(stop)

    def _log_unknown_event(self, etype: str) -> None:
        logger.warning("%s: skipping a watch event of unknown type %r", self, etype[:64])

    def _paused_gc(self) -> AbstractContextManager[object]:
        return self._gc_pause() if self._gc_pause is not None else contextlib.nullcontext()

    def _register_stream(self, stream: WatchStream, stop: threading.Event) -> bool:
        """Make ``stream`` closable by the supervisor; False (and closed) if stopping."""
        with self._lock:
            self._stream = stream
        if stop.is_set():
            self._unregister_stream(stream)
            return False
        return True

    def _unregister_stream(self, stream: WatchStream) -> None:
        with self._lock:
            if self._stream is stream:
                self._stream = None
        self._close_quietly(stream)

    def _close_stream(self) -> None:
        with self._lock:
            stream = self._stream
        if stream is not None:
            self._close_quietly(stream)

    def _close_quietly(self, stream: WatchStream) -> None:
        try:
            stream.close()
        except Exception:
            logger.debug("%s: closing a watch raised", self, exc_info=True)

    # -- supervisor thread -------------------------------------------------------------------

    def _supervise(self, stop: threading.Event, finished: threading.Event) -> None:
        """Close the watch on ``stop``; resync; end an idle streaming list (rule 4)."""
        period = self.resync_period
        next_resync = self._clock.now() + period if period > 0 else None
        while not finished.is_set():
            if stop.wait(self.supervisor_poll):
                self._close_stream()
                return
            now = self._clock.now()
            if next_resync is not None and now >= next_resync:
                next_resync = now + period
                if self._has_listed:
                    self._resync()
            idle: WatchStream | None = None
            with self._lock:
                last = self._initial_last_event
                if last is not None and now - last >= self.initial_events_idle_timeout:
                    self._initial_idle_expired = True
                    self._initial_last_event = None
                    idle = self._stream
            if idle is not None:
                self._close_quietly(idle)

    def _resync(self) -> None:
        try:
            self._store.resync()
        except Exception:
            logger.exception("%s: store.resync() raised", self)
