"""Failures the simulator injects on demand or at random (deterministic by seed).

Request faults (an HTTP error, or 410 Expired) are consumed by the next matching requests;
stream faults (dropped, stalled, truncated or malformed watch streams, slow trickle) act on
open and future watches. All methods are thread-safe.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

# Random fault kinds.
DROP = "drop"
ERROR_500 = "500"
THROTTLE_429 = "429"
EXPIRE_410 = "410"
TRUNCATE = "truncate"
MALFORM = "malform"
RANDOM_KINDS = (DROP, ERROR_500, THROTTLE_429, EXPIRE_410)


@dataclass
class RequestFault:
    """Answer the request with ``code`` (410 becomes an ERROR event for watches)."""

    code: int
    retry_after: int | None = None
    verb: str | None = None
    resource: str | None = None
    count: int = 1

    def applies(self, verb: str, resource: str) -> bool:
        return (self.verb is None or self.verb == verb) and (
            self.resource is None or self.resource == resource
        )


class Faults:
    """The fault plan of one simulator (see the module docstring)."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._pending: list[RequestFault] = []
        self._line_faults: list[str] = []
        self._random_rate = 0.0
        self._random_kinds: tuple[str, ...] = RANDOM_KINDS
        self._rng = random.Random(seed)
        self.drop_generation = 0
        self.stall_until = 0.0
        self.trickle_bytes_per_second: float | None = None
        self.injected: list[str] = []

    # Request faults ---------------------------------------------------------------------------

    def fail_next(
        self, code: int = 500, count: int = 1, *, verb: str | None = None,
        resource: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``code`` (a Status body)."""
        if not 400 <= code <= 599:
            raise ValueError(f"code must be an HTTP error status, not {code}")
        self._add(RequestFault(code, None, verb, resource, count))

    def throttle_next(
        self, retry_after: int = 1, count: int = 1, *, verb: str | None = None,
        resource: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests 429 with ``Retry-After``."""
        self._add(RequestFault(429, retry_after, verb, resource, count))

    def expire_next(
        self, verb: str | None = None, count: int = 1, *, resource: str | None = None
    ) -> None:
        """The next ``count`` matching lists answer 410, watches an ERROR 410 event.
        ``verb`` is ``"list"``, ``"watch"`` or None for either."""
        if verb not in (None, "list", "watch"):
            raise ValueError("verb must be 'list', 'watch' or None")
        self._add(RequestFault(410, None, verb, resource, count))

    def _add(self, fault: RequestFault) -> None:
        if fault.count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._pending.append(fault)

    def take_request_fault(self, verb: str, resource: str) -> RequestFault | None:
        """Consume the fault for this request, if any (called by the server)."""
        with self._lock:
            for fault in self._pending:
                if fault.applies(verb, resource):
                    fault.count -= 1
                    if fault.count == 0:
                        self._pending.remove(fault)
                    self.injected.append(f"{fault.code} {verb} {resource}")
                    return RequestFault(fault.code, fault.retry_after, verb, resource)
            if self._random_rate and self._rng.random() < self._random_rate:
                kind = self._rng.choice(self._random_kinds)
                if kind == DROP and verb == "watch":
                    self.drop_generation += 1
                    self.injected.append(f"drop {verb} {resource}")
                    return None
                code = {ERROR_500: 500, THROTTLE_429: 429, EXPIRE_410: 410}.get(kind)
                if code is not None and (code != 410 or verb in ("list", "watch")):
                    self.injected.append(f"{code} {verb} {resource}")
                    return RequestFault(code, 1 if code == 429 else None, verb, resource)
        return None

    # Stream faults ----------------------------------------------------------------------------

    def drop_watches(self) -> None:
        """Close every open watch connection abruptly (no final chunk)."""
        with self._lock:
            self.drop_generation += 1
            self.injected.append("drop watches")

    def stall_watches(self, seconds: float) -> None:
        """Open and new watches send nothing for ``seconds`` (connections stay open)."""
        with self._lock:
            self.stall_until = max(self.stall_until, time.monotonic() + seconds)

    def truncate_next_watch_line(self, count: int = 1) -> None:
        """The next ``count`` watch lines are cut in the middle and the stream closed."""
        with self._lock:
            self._line_faults.extend([TRUNCATE] * count)

    def malform_next_watch_line(self, count: int = 1) -> None:
        """The next ``count`` watch lines are replaced by invalid JSON."""
        with self._lock:
            self._line_faults.extend([MALFORM] * count)

    def take_line_fault(self) -> str | None:
        with self._lock:
            if self._line_faults:
                fault = self._line_faults.pop(0)
                self.injected.append(f"{fault} line")
                return fault
        return None

    @property
    def has_line_faults(self) -> bool:
        return bool(self._line_faults)

    def trickle(self, bytes_per_second: float | None) -> None:
        """Send list and watch bodies at most this fast (None: full speed)."""
        if bytes_per_second is not None and bytes_per_second <= 0:
            raise ValueError("bytes_per_second must be positive")
        self.trickle_bytes_per_second = bytes_per_second

    # Random mode and reset ----------------------------------------------------------------

    def random(
        self, rate: float, kinds: Iterable[str] = RANDOM_KINDS, seed: int | None = None
    ) -> None:
        """Inject a fault of a random kind into a fraction ``rate`` of list/watch requests."""
        chosen = tuple(kinds)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        unknown = set(chosen) - set(RANDOM_KINDS)
        if unknown or not chosen:
            raise ValueError(f"kinds must be among {RANDOM_KINDS}")
        with self._lock:
            self._random_rate = rate
            self._random_kinds = chosen
            if seed is not None:
                self._rng = random.Random(seed)

    def clear(self) -> None:
        """Remove every pending and random fault, end stalls and trickling."""
        with self._lock:
            self._pending.clear()
            self._line_faults.clear()
            self._random_rate = 0.0
            self.stall_until = 0.0
            self.trickle_bytes_per_second = None
