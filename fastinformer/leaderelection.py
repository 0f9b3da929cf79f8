"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's algorithm.

Candidates share one Lease. Its spec records the leader (``holderIdentity``), how long a
lease lasts (``leaseDurationSeconds``), ``acquireTime``, ``renewTime`` and
``leaseTransitions``. Every write is a PUT carrying the resourceVersion last read, so two
candidates racing for the lease cannot both win: the loser gets 409 Conflict.

Expiry is judged on the candidate's own clock, never by comparing timestamps across
machines: a candidate records *when it observed* the lease record change, and may take
the lease over only once ``leaseDurationSeconds`` have passed on its clock without any
change. The leader renews every ``retry_period``; if it cannot renew for
``renew_deadline`` seconds (< ``lease_duration``) it stops leading, before anyone else may
take over. Defaults are client-go's: lease 15 s, renew deadline 10 s, retry 2 s (the
acquisition retries are jittered by up to 1.2 x ``retry_period``).

:class:`LeaderElector` calls ``on_started_leading(stop_event)`` in a new thread when it
becomes leader (``stop_event`` is set when leadership ends), ``on_stopped_leading()``
after that thread has returned, and ``on_new_leader(identity)`` (on a notifier thread, in
order) whenever it observes a different holder. With ``release_on_cancel``, stopping the
elector while it leads clears the holder (after ``on_started_leading`` has returned) so
another candidate takes over at once instead of waiting for the lease to expire.
"""

from __future__ import annotations

import logging
import math
import random
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Protocol

import msgspec

from fastinformer.clock import REAL_CLOCK, Clock
from fastinformer.errors import ConflictError, NotFoundError
from fastinformer.resources import Resource
from fastinformer.transport import Transport

__all__ = [
    "JITTER_FACTOR",
    "LEASES",
    "LeaderElectionRecord",
    "LeaderElector",
    "LeaseLock",
    "ResourceLock",
    "default_identity",
    "format_micro_time",
]

log = logging.getLogger("fastinformer.leaderelection")

LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease", True)
JITTER_FACTOR = 1.2
"""Acquisition retries wait ``retry_period * (1 + JITTER_FACTOR * random())``."""


def default_identity() -> str:
    """``<hostname>_<random uuid>``: unique per process, readable in the Lease."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def format_micro_time(epoch_seconds: float) -> str:
    """A ``MicroTime`` as the API server writes it: ``2024-01-31T12:00:00.000000Z``."""
    return datetime.fromtimestamp(epoch_seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class LeaderElectionRecord:
    """The leader-election fields of a Lease's spec (times are MicroTime strings)."""

    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: str | None = None
    renew_time: str | None = None
    lease_transitions: int = 0

    @classmethod
    def from_lease_spec(cls, spec: Mapping[str, Any] | None) -> LeaderElectionRecord:
        """The record of a Lease's ``spec`` (JSON names); missing fields take defaults."""
        spec = spec or {}
        return cls(
            holder_identity=str(spec.get("holderIdentity") or ""),
            lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            lease_transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_lease_spec(self) -> dict[str, Any]:
        """The Lease ``spec`` (JSON names) holding this record."""
        spec: dict[str, Any] = {
            "leaseDurationSeconds": self.lease_duration_seconds,
            "leaseTransitions": self.lease_transitions,
        }
        if self.holder_identity:
            spec["holderIdentity"] = self.holder_identity
        if self.acquire_time is not None:
            spec["acquireTime"] = self.acquire_time
        if self.renew_time is not None:
            spec["renewTime"] = self.renew_time
        return spec


class ResourceLock(Protocol):
    """Where the record lives; writes are conditional on the last version read.

    ``timeout`` bounds each request (seconds, None = the lock's default).
    """

    @property
    def identity(self) -> str:
        """This candidate's identity."""
        ...

    def get(self, timeout: float | None = None) -> LeaderElectionRecord:
        """The current record; :class:`NotFoundError` when the lock does not exist."""
        ...

    def create(self, record: LeaderElectionRecord, timeout: float | None = None) -> None:
        """Create the lock; :class:`ConflictError` when it already exists."""
        ...

    def update(self, record: LeaderElectionRecord, timeout: float | None = None) -> None:
        """Replace the record if unchanged since last read; :class:`ConflictError` otherwise."""
        ...

    def describe(self) -> str:
        """``namespace/name`` of the lock, for logs."""
        ...


class LeaseLock:
    """A Lease ``namespace/name`` reached through ``transport``, held as ``identity``.

    Remembers the Lease last read or written, whose resourceVersion guards the next
    :meth:`update`. Used by one elector thread at a time.
    """

    def __init__(
        self,
        transport: Transport,
        namespace: str,
        name: str,
        identity: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        if not name:
            raise ValueError("a Lease lock needs a name")
        self._transport = transport
        self.namespace = namespace
        self.name = name
        self._identity = identity or default_identity()
        self._labels = dict(labels or {})
        self._collection = LEASES.api_path(namespace)
        self._path = f"{self._collection}/{name}"
        self._lease: dict[str, Any] | None = None

    @property
    def identity(self) -> str:
        return self._identity

    def describe(self) -> str:
        return f"{self.namespace}/{self.name}"

    def get(self, timeout: float | None = None) -> LeaderElectionRecord:
        resp = self._transport.request("GET", self._path, timeout=timeout)
        return self._remember(resp.data)

    def create(self, record: LeaderElectionRecord, timeout: float | None = None) -> None:
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if self._labels:
            metadata["labels"] = self._labels
        body = {
            "apiVersion": LEASES.group_version,
            "kind": LEASES.kind,
            "metadata": metadata,
            "spec": record.to_lease_spec(),
        }
        resp = self._transport.request("POST", self._collection, body=body, timeout=timeout)
        self._remember(resp.data)

    def update(self, record: LeaderElectionRecord, timeout: float | None = None) -> None:
        lease = self._lease
        if lease is None:
            raise RuntimeError(f"lease {self.describe()}: get() or create() before update()")
        metadata = dict(lease.get("metadata") or {})
        metadata.pop("managedFields", None)
        body = {**lease, "metadata": metadata, "spec": record.to_lease_spec()}
        resp = self._transport.request("PUT", self._path, body=body, timeout=timeout)
        self._remember(resp.data)

    def _remember(self, data: bytes) -> LeaderElectionRecord:
        lease = msgspec.json.decode(data)
        if not isinstance(lease, dict):
            raise ValueError(f"lease {self.describe()}: the server answered {lease!r}")
        self._lease = lease
        return LeaderElectionRecord.from_lease_spec(lease.get("spec"))


class LeaderElector:
    """Campaigns for ``lock`` and runs ``on_started_leading`` while leading.

    :meth:`run` blocks until leadership is lost or ``stop`` is set; it campaigns once (a
    lost leadership is final: exit, or build a new elector). :meth:`start`/:meth:`stop` run
    it in a thread. ``clock`` measures lease expiry and paces retries; ``rng`` jitters
    them. Durations are seconds.
    """

    def __init__(
        self,
        lock: ResourceLock,
        *,
        on_started_leading: Callable[[threading.Event], Any],
        on_stopped_leading: Callable[[], Any] | None = None,
        on_new_leader: Callable[[str], Any] | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        release_on_cancel: bool = False,
        name: str = "",
        clock: Clock = REAL_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        if not callable(on_started_leading):
            raise TypeError("on_started_leading must be callable")
        if not lock.identity:
            raise ValueError("the lock's identity must not be empty")
        if not (lease_duration > 0 and renew_deadline > 0 and retry_period > 0):
            raise ValueError("lease_duration, renew_deadline and retry_period must be > 0")
        if lease_duration <= renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if renew_deadline <= JITTER_FACTOR * retry_period:
            raise ValueError(f"renew_deadline must be greater than {JITTER_FACTOR} x retry_period")
        self.lock = lock
        self.name = name or lock.describe()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.release_on_cancel = release_on_cancel
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._on_new_leader = on_new_leader
        self._clock = clock
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        # Guarded by _lock: what was last observed, and when (self._clock.now()).
        self._observed = LeaderElectionRecord()
        self._observed_time = 0.0
        self._reported_leader = ""
        self._notifier: ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- state -------------------------------------------------------------------------

    @property
    def identity(self) -> str:
        """This candidate's identity."""
        return self.lock.identity

    def is_leader(self) -> bool:
        """The last record observed or written names this candidate."""
        with self._lock:
            return self._observed.holder_identity == self.lock.identity

    def leader(self) -> str:
        """The holder last observed ("" when none)."""
        with self._lock:
            return self._observed.holder_identity

    # -- one attempt ---------------------------------------------------------------------

    def try_acquire_or_renew(self, timeout: float | None = None) -> bool:
        """One attempt to take or renew the lease; True when this candidate now holds it.

        Errors (409 when another candidate wrote first, network failures) are logged and
        give False; ``timeout`` bounds each request.
        """
        now = self._clock.now()
        stamp = format_micro_time(self._clock.time())
        desired = LeaderElectionRecord(
            holder_identity=self.lock.identity,
            lease_duration_seconds=max(1, math.ceil(self.lease_duration)),
            acquire_time=stamp,
            renew_time=stamp,
        )
        try:
            old = self.lock.get(timeout)
        except NotFoundError:
            try:
                self.lock.create(desired, timeout)
            except ConflictError:
                log.info("%s: another candidate created the lease first", self.name)
                return False
            except Exception as exc:
                log.warning("%s: creating the lease failed: %s", self.name, exc)
                return False
            self._observe(desired, now)
            return True
        except Exception as exc:
            log.warning("%s: reading the lease failed: %s", self.name, exc)
            return False

        with self._lock:
            if old != self._observed:
                self._observed = old
                self._observed_time = now
            observed_time = self._observed_time
        self._report_leader(old.holder_identity)
        me = self.lock.identity
        if (
            old.holder_identity
            and old.holder_identity != me
            and observed_time + old.lease_duration_seconds > now
        ):
            log.debug("%s: the lease is held by %s", self.name, old.holder_identity)
            return False
        if old.holder_identity == me:
            desired = replace(
                desired, acquire_time=old.acquire_time, lease_transitions=old.lease_transitions
            )
        else:
            desired = replace(desired, lease_transitions=old.lease_transitions + 1)
        try:
            self.lock.update(desired, timeout)
        except ConflictError:
            log.info("%s: another candidate updated the lease first (409)", self.name)
            return False
        except Exception as exc:
            log.warning("%s: updating the lease failed: %s", self.name, exc)
            return False
        self._observe(desired, now)
        return True

    def _observe(self, record: LeaderElectionRecord, now: float) -> None:
        with self._lock:
            self._observed = record
            self._observed_time = now
        self._report_leader(record.holder_identity)

    def _report_leader(self, holder: str) -> None:
        """Tell ``on_new_leader`` about a different holder (in order, off this thread)."""
        with self._lock:
            if not holder or holder == self._reported_leader:
                return
            self._reported_leader = holder
            callback = self._on_new_leader
            if callback is None:
                return
            if self._notifier is None:
                self._notifier = ThreadPoolExecutor(1, thread_name_prefix="leader-notify")
            notifier = self._notifier
        notifier.submit(self._call_safely, callback, holder)

    def _call_safely(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("%s: leader-election callback %r raised", self.name, fn)

    # -- campaign ------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Acquire, lead while renewing, and return when leadership ends or ``stop`` is set."""
        leading_stop = threading.Event()
        leading: threading.Thread | None = None
        try:
            if not self._acquire(stop):
                return
            log.info("%s: %s became the leader", self.name, self.identity)
            leading = threading.Thread(
                target=self._call_safely,
                args=(self._on_started, leading_stop),
                name=f"leader-{self.name}",
                daemon=True,
            )
            leading.start()
            self._renew(stop)
        finally:
            leading_stop.set()
            if leading is not None:
                self._stop_leading(leading, stop)
            with self._lock:
                notifier, self._notifier = self._notifier, None
            if notifier is not None:
                notifier.shutdown(wait=False)

    def _acquire(self, stop: threading.Event) -> bool:
        """Try at once, then every jittered retry period, until it succeeds or ``stop``."""
        log.info("%s: %s campaigning for the lease", self.name, self.identity)
        while not stop.is_set():
            if self.try_acquire_or_renew(self.renew_deadline):
                return True
            delay = self.retry_period * (1.0 + JITTER_FACTOR * self._rng.random())
            if not self._clock.sleep(delay, stop):
                break
        return False

    def _renew(self, stop: threading.Event) -> None:
        """Renew every retry period; return when a renewal kept failing for the renew
        deadline (leadership lost) or when ``stop`` is set."""
        clock = self._clock
        while not stop.is_set():
            deadline = clock.now() + self.renew_deadline
            while True:
                left = deadline - clock.now()
                if left <= 0:
                    log.warning(
                        "%s: could not renew the lease within %g s; leadership lost",
                        self.name,
                        self.renew_deadline,
                    )
                    with self._lock:
                        if self._observed.holder_identity == self.identity:
                            self._observed = replace(self._observed, holder_identity="")
                    return
                if self.try_acquire_or_renew(left):
                    break
                if not clock.sleep(min(self.retry_period, max(left, 0.0)), stop):
                    return
            if not clock.sleep(self.retry_period, stop):
                return

    def _stop_leading(self, leading: threading.Thread, stop: threading.Event) -> None:
        """Wait for ``on_started_leading`` to return, release if asked, then notify."""
        leading.join(self.lease_duration)
        if leading.is_alive():
            log.warning(
                "%s: on_started_leading did not return within %g s of being told to stop; "
                "the lease is left to expire",
                self.name,
                self.lease_duration,
            )
        elif stop.is_set() and self.release_on_cancel and self.is_leader():
            self._release()
        if self._on_stopped is not None:
            self._call_safely(self._on_stopped)

    def _release(self) -> None:
        """Clear the holder so that another candidate can take the lease at once."""
        stamp = format_micro_time(self._clock.time())
        with self._lock:
            transitions = self._observed.lease_transitions
        record = LeaderElectionRecord(
            holder_identity="",
            lease_duration_seconds=1,
            acquire_time=stamp,
            renew_time=stamp,
            lease_transitions=transitions,
        )
        try:
            self.lock.update(record, self.renew_deadline)
        except Exception as exc:
            log.warning("%s: releasing the lease failed: %s", self.name, exc)
            return
        self._observe(record, self._clock.now())
        log.info("%s: %s released the lease", self.name, self.identity)

    # -- thread helpers -------------------------------------------------------------------

    def start(self) -> None:
        """Run :meth:`run` in a daemon thread (once)."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name}: the elector was already started")
        self._thread = threading.Thread(
            target=self.run, args=(self._stop,), name=f"elector-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop campaigning or leading (releasing if ``release_on_cancel``) and join."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def running(self) -> bool:
        """The thread started by :meth:`start` is still campaigning or leading."""
        thread = self._thread
        return thread is not None and thread.is_alive()
