"""Reflector metrics behind a pluggable provider (the reflector side of client-go's metrics).

A :class:`~fastinformer.reflector.Reflector` asks the process-wide provider for one
:class:`ReflectorMetrics` recorder when it is created, passing its name and a getter of
its last synced resourceVersion. With no provider installed (the default) it gets
``None`` and records nothing: each hook in the reflector is then a single ``is None``
test. The recorder is told of every full sync (:meth:`ReflectorMetrics.listed`), every
watch opened (:meth:`ReflectorMetrics.watch_started`) and every watch event received
(:meth:`ReflectorMetrics.event`); exporters read the resourceVersion through the getter
when they are scraped, so following it costs nothing per event.

Exported names (see :mod:`fastinformer.metrics` for Prometheus): ``reflector_lists_total``,
``reflector_list_items_total``, ``reflector_watches_total``, ``reflector_events_total`` and
``reflector_last_resource_version``, each with a ``name`` label.
"""

from __future__ import annotations

import inspect
import threading
import weakref
from collections.abc import Callable
from typing import Protocol

__all__ = [
    "EVENTS",
    "LAST_RESOURCE_VERSION",
    "LISTS",
    "LIST_ITEMS",
    "METRIC_NAMES",
    "WATCHES",
    "InMemoryReflectorMetrics",
    "InMemoryReflectorMetricsProvider",
    "ReflectorMetrics",
    "ReflectorMetricsProvider",
    "new_reflector_metrics",
    "reflector_metrics_provider",
    "resource_version_number",
    "set_reflector_metrics_provider",
    "weak_getter",
]

LISTS = "reflector_lists_total"
LIST_ITEMS = "reflector_list_items_total"
WATCHES = "reflector_watches_total"
EVENTS = "reflector_events_total"
LAST_RESOURCE_VERSION = "reflector_last_resource_version"

#: Every metric name, mapped to its kind.
METRIC_NAMES: dict[str, str] = {
    LISTS: "counter",
    LIST_ITEMS: "counter",
    WATCHES: "counter",
    EVENTS: "counter",
    LAST_RESOURCE_VERSION: "gauge",
}


class ReflectorMetrics(Protocol):
    """What one reflector reports. Called from the reflector's thread; must be quick."""

    def listed(self, items: int) -> None:
        """A full sync (LIST or streaming list) of ``items`` objects reached the store."""
        ...

    def watch_started(self) -> None:
        """A watch request was answered and its events are being read."""
        ...

    def event(self) -> None:
        """One watch event (ADDED, MODIFIED, DELETED or BOOKMARK) was applied."""
        ...


class ReflectorMetricsProvider(Protocol):
    """Creates the recorder of the reflector ``name``.

    ``last_resource_version`` returns the reflector's current resourceVersion; a provider
    that keeps it must not keep the reflector alive through it (it is a bound method:
    hold a :class:`weakref.WeakMethod`).
    """

    def new_reflector_metrics(
        self, name: str, last_resource_version: Callable[[], str]
    ) -> ReflectorMetrics: ...


_provider: ReflectorMetricsProvider | None = None


def set_reflector_metrics_provider(provider: ReflectorMetricsProvider | None) -> None:
    """Use ``provider`` for reflectors created from now on (None: record nothing)."""
    global _provider
    if provider is not None and not callable(getattr(provider, "new_reflector_metrics", None)):
        raise TypeError(f"{provider!r} is not a ReflectorMetricsProvider")
    _provider = provider


def reflector_metrics_provider() -> ReflectorMetricsProvider | None:
    """The provider new reflectors use, or None."""
    return _provider


def new_reflector_metrics(
    name: str, last_resource_version: Callable[[], str]
) -> ReflectorMetrics | None:
    """The recorder for a new reflector, or None when no provider is installed."""
    provider = _provider
    if provider is None:
        return None
    return provider.new_reflector_metrics(name, last_resource_version)


def resource_version_number(rv: str) -> float:
    """A resourceVersion as a gauge value (0 when it is not a number, as client-go does)."""
    try:
        return float(rv) if rv else 0.0
    except ValueError:
        return 0.0


def weak_getter(getter: Callable[[], str]) -> Callable[[], str]:
    """``getter`` without a strong reference to its object: ``""`` once the object is gone."""
    if not inspect.ismethod(getter):
        return getter
    ref = weakref.WeakMethod(getter)

    def get() -> str:
        method = ref()
        return "" if method is None else method()

    return get


class InMemoryReflectorMetrics:
    """Counts kept in memory, for tests: ``lists``, ``list_items``, ``watches``, ``events``;
    ``last_resource_version()`` reads the reflector's."""

    def __init__(self, name: str, last_resource_version: Callable[[], str]) -> None:
        self.name = name
        self.last_resource_version = weak_getter(last_resource_version)
        self.lists = 0
        self.list_items = 0
        self.watches = 0
        self.events = 0
        self._lock = threading.Lock()

    def listed(self, items: int) -> None:
        with self._lock:
            self.lists += 1
            self.list_items += items

    def watch_started(self) -> None:
        with self._lock:
            self.watches += 1

    def event(self) -> None:
        with self._lock:
            self.events += 1


class InMemoryReflectorMetricsProvider:
    """Keeps each reflector's :class:`InMemoryReflectorMetrics`: ``provider.get(name)``."""

    def __init__(self) -> None:
        self._metrics: dict[str, InMemoryReflectorMetrics] = {}
        self._lock = threading.Lock()

    def new_reflector_metrics(
        self, name: str, last_resource_version: Callable[[], str]
    ) -> InMemoryReflectorMetrics:
        metrics = InMemoryReflectorMetrics(name, last_resource_version)
        with self._lock:
            self._metrics[name] = metrics
        return metrics

    def get(self, name: str) -> InMemoryReflectorMetrics:
        """The recorder of the reflector ``name``; KeyError if none was created."""
        with self._lock:
            return self._metrics[name]
