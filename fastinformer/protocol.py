"""The data that crosses the list/watch boundary, and the protocols of its producers.

``ListerWatcher`` (implemented by :class:`fastinformer.listwatch.ListWatch`) lists and
watches one resource; ``Decoder`` (built by :mod:`fastinformer.decode`) turns bytes into
objects. The reflector consumes both through these types only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import msgspec

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"
ERROR = "ERROR"
EVENT_TYPES = frozenset((ADDED, MODIFIED, DELETED, BOOKMARK, ERROR))

INITIAL_EVENTS_END_ANNOTATION = "k8s.io/initial-events-end"


class ListOptions(msgspec.Struct, kw_only=True):
    """Query parameters of a LIST or WATCH; ``None`` means "not sent"."""

    resource_version: str | None = None
    resource_version_match: str | None = None
    limit: int | None = None
    continue_: str | None = None
    timeout_seconds: int | None = None
    allow_watch_bookmarks: bool = False
    send_initial_events: bool | None = None
    label_selector: str | None = None
    field_selector: str | None = None

    def to_query(self) -> dict[str, str]:
        """The options as API query parameters (camelCase, strings)."""
        q: dict[str, str] = {}
        if self.resource_version is not None:
            q["resourceVersion"] = self.resource_version
        if self.resource_version_match is not None:
            q["resourceVersionMatch"] = self.resource_version_match
        if self.limit is not None:
            q["limit"] = str(self.limit)
        if self.continue_ is not None:
            q["continue"] = self.continue_
        if self.timeout_seconds is not None:
            q["timeoutSeconds"] = str(self.timeout_seconds)
        if self.allow_watch_bookmarks:
            q["allowWatchBookmarks"] = "true"
        if self.send_initial_events is not None:
            q["sendInitialEvents"] = "true" if self.send_initial_events else "false"
        if self.label_selector:
            q["labelSelector"] = self.label_selector
        if self.field_selector:
            q["fieldSelector"] = self.field_selector
        return q


class ListMeta(msgspec.Struct, frozen=True, gc=False):
    """``metadata`` of a list response."""

    resource_version: str = ""
    continue_: str | None = None
    remaining_item_count: int | None = None


class ListResult(msgspec.Struct):
    """One page of a LIST: decoded items and the list's metadata."""

    items: list[Any]
    resource_version: str
    continue_: str | None = None
    remaining_item_count: int | None = None


class WatchEvent(msgspec.Struct, gc=False):
    """One decoded watch event.

    ``object`` is the decoded object; for ERROR it is the ``Status`` as a dict and
    ``resource_version`` is ``""``. ``initial_events_end`` is True only for the
    BOOKMARK that ends a streaming list.
    """

    type: str
    object: Any
    resource_version: str = ""
    initial_events_end: bool = False


class Decoder(Protocol):
    """Turns one resource's response bytes into objects."""

    def decode_list(self, data: bytes) -> tuple[list[Any], ListMeta]:
        """Decode a list response body; raises ``DecodeError``."""
        ...

    def decode_event(self, line: bytes) -> WatchEvent:
        """Decode one watch line; raises ``DecodeError`` on malformed input."""
        ...


class WatchStream(Protocol):
    """An open watch: iterate for events; ``close()`` ends it from any thread."""

    def __iter__(self) -> Iterator[WatchEvent]: ...

    def close(self) -> None: ...


class ListerWatcher(Protocol):
    """Lists and watches one resource (with its namespace and selectors baked in)."""

    def list(self, options: ListOptions) -> ListResult:
        """One LIST request; raises ``ApiError`` subclasses (``ExpiredError`` for 410)."""
        ...

    def watch(self, options: ListOptions) -> WatchStream:
        """Open a WATCH; raises ``ApiError`` if the server refuses it."""
        ...


def resource_version_of(obj: Any) -> str:
    """``metadata.resourceVersion`` of a dict or typed object, ``""`` when absent."""
    if isinstance(obj, dict):
        md = obj.get("metadata")
        rv = md.get("resourceVersion") if isinstance(md, dict) else None
    else:
        md = getattr(obj, "metadata", None)
        rv = getattr(md, "resource_version", None) if md is not None else None
    return rv if isinstance(rv, str) else ""
