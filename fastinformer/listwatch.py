"""LIST and WATCH of one resource over a :class:`~fastinformer.transport.Transport`.

:class:`ListWatch` implements :class:`~fastinformer.protocol.ListerWatcher`: the namespace
and the label/field selectors are baked in and always sent to the server (which filters,
and turns objects entering or leaving a selector into ADDED/DELETED watch events); the
reflector supplies the paging and resourceVersion options.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from fastinformer.decode import ObjectDecoder, SubtreeMemo, decoder_for
from fastinformer.errors import DecodeError
from fastinformer.protocol import Decoder, ListOptions, ListResult, WatchEvent
from fastinformer.resources import Resource, resource_for
from fastinformer.transport import (
    DEFAULT_CHUNK_SIZE,
    Response,
    Transport,
    TransportError,
    iter_lines,
    shutdown_response,
)

__all__ = [
    "METADATA_LIST_ACCEPT",
    "METADATA_WATCH_ACCEPT",
    "HTTPWatchStream",
    "ListWatch",
]

METADATA_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
METADATA_WATCH_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
PARTIAL_OBJECT_METADATA = "meta.k8s.io/v1/PartialObjectMetadata"

TweakListOptions = Callable[[ListOptions], "ListOptions | None"]

# Extra read time granted beyond the server-side timeoutSeconds of a watch before the
# client gives up on a server that neither sends nor closes.
_WATCH_READ_GRACE = 30.0


class HTTPWatchStream:
    """An open watch response, iterated once into :class:`WatchEvent` objects.

    Iteration ends when the server ends the watch or when :meth:`close` is called from
    any thread (the socket is shut down, so a blocked read returns at once; nothing
    further is yielded and the read error that follows is swallowed). A malformed line
    raises ``DecodeError``; a broken connection raises ``TransportError``.
    """

    def __init__(
        self,
        response: Response,
        decoder: Decoder,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        memo: SubtreeMemo | None = None,
    ) -> None:
        self._response = response
        self._decoder = decoder
        self._memo = memo
        self._chunk_size = chunk_size
        self._lock = threading.Lock()  # guards the three flags below
        self._closed = False
        self._reading = False
        self._finished = False

    def __iter__(self) -> Iterator[WatchEvent]:
        return self._events()

    def _events(self) -> Iterator[WatchEvent]:
        with self._lock:
            if self._reading:
                raise RuntimeError("a watch stream can be iterated only once")
            if self._closed or self._finished:
                return
            self._reading = True
        decode = self._decoder.decode_event
        memo = self._memo
        if memo is not None and isinstance(self._decoder, ObjectDecoder):
            reusing = self._decoder.decode_event_reusing

            def decode(line: bytes) -> WatchEvent:
                return reusing(line, memo)

        ended_cleanly = False
        try:
            for line in iter_lines(self._response, self._chunk_size):
                if self._closed:
                    break
                yield decode(line)
            else:
                ended_cleanly = not self._closed
        except (TransportError, DecodeError):
            if not self._closed:
                raise
        finally:
            self._finish(ended_cleanly)

    def _finish(self, reuse_connection: bool) -> None:
        with self._lock:
            self._finished = True
        if reuse_connection:
            self._response.release_conn()
        else:
            self._response.close()
            self._response.release_conn()

    def close(self) -> None:
        """End the watch; safe from any thread, idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            abort_reader = self._reading and not self._finished
            release_here = not self._reading  # never iterated: nobody else will release it
            if release_here:
                self._finished = True
        if abort_reader:
            shutdown_response(self._response)  # the reader wakes up and releases it
        elif release_here:
            self._response.close()
            self._response.release_conn()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed


class ListWatch:
    """Lists and watches ``resource`` in ``namespace`` (``None``: all namespaces).

    ``resource``: a :class:`Resource` or a name :func:`resource_for` understands.
    ``label_selector``/``field_selector`` are sent on every request (they replace any set
    in the options passed in); ``tweak_list_options(options)`` then adjusts each request's
    options (return the new options, or mutate and return ``None``). ``metadata_only``
    asks the server for ``PartialObjectMetadata`` objects. ``decoder`` defaults to
    :func:`fastinformer.decode.decoder_for` of the resource (typed structs; dicts for
    kinds without a generated model), or of ``PartialObjectMetadata`` when metadata-only.

    ``reuse_unchanged`` (typed decoders without a transform): watch events reuse the
    previous version's decoded ``spec``/``status`` (and other large top-level fields)
    when their JSON bytes are unchanged (see :meth:`ObjectDecoder.decode_event_reusing`);
    the memo this needs lives here, holds references to fields the cache already holds,
    and is emptied by every list and every streaming list. Set it to False when an
    informer ``transform`` mutates objects in place in a way that is not idempotent.
    """

    def __init__(
        self,
        transport: Transport,
        resource: Resource | str,
        namespace: str | None = None,
        field_selector: str | None = None,
        label_selector: str | None = None,
        tweak_list_options: TweakListOptions | None = None,
        metadata_only: bool = False,
        decoder: Decoder | None = None,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        reuse_unchanged: bool = True,
    ) -> None:
        self.transport = transport
        self.resource = resource_for(resource)
        self.namespace = namespace or None
        self.path = self.resource.api_path(self.namespace)
        self.field_selector = field_selector or None
        self.label_selector = label_selector or None
        self.metadata_only = metadata_only
        self.decoder = (
            decoder if decoder is not None else _default_decoder(self.resource, metadata_only)
        )
        self._tweak = tweak_list_options
        self._chunk_size = chunk_size
        self.reuse_unchanged = reuse_unchanged
        self._memo: SubtreeMemo = {}
        self._list_headers = {"Accept": METADATA_LIST_ACCEPT} if metadata_only else None
        self._watch_headers = {"Accept": METADATA_WATCH_ACCEPT} if metadata_only else None

    def __repr__(self) -> str:
        parts = [f"{self.path!r}"]
        if self.label_selector:
            parts.append(f"label_selector={self.label_selector!r}")
        if self.field_selector:
            parts.append(f"field_selector={self.field_selector!r}")
        if self.metadata_only:
            parts.append("metadata_only=True")
        return f"ListWatch({', '.join(parts)})"

    def options(self, options: ListOptions) -> ListOptions:
        """The options actually sent: a copy of ``options`` with this ListWatch's selectors,
        then passed through ``tweak_list_options``. ``options`` is not modified."""
        changes: dict[str, Any] = {}
        if self.label_selector is not None:
            changes["label_selector"] = self.label_selector
        if self.field_selector is not None:
            changes["field_selector"] = self.field_selector
        opts = msgspec.structs.replace(options, **changes)
        if self._tweak is not None:
            tweaked = self._tweak(opts)
            if tweaked is not None:
                if not isinstance(tweaked, ListOptions):
                    raise TypeError(
                        "tweak_list_options must return ListOptions or None, "
                        f"not {type(tweaked).__name__}"
                    )
                opts = tweaked
        return opts

    def list(self, options: ListOptions) -> ListResult:
        """One LIST page; raises ``ApiError`` subclasses, ``TransportError``, ``DecodeError``."""
        query = self.options(options).to_query()
        self._memo.clear()
        resp = self.transport.request("GET", self.path, query, headers=self._list_headers)
        items, meta = self.decoder.decode_list(resp.data)
        return ListResult(
            items=items,
            resource_version=meta.resource_version,
            continue_=meta.continue_ or None,
            remaining_item_count=meta.remaining_item_count,
        )

    def watch(self, options: ListOptions) -> HTTPWatchStream:
        """Open a WATCH; raises ``ApiError`` when the server refuses it. Iterate the result
        for events; ``close()`` it from any thread to stop."""
        opts = self.options(options)
        query = opts.to_query()
        query["watch"] = "true"
        timeout = None
        if opts.timeout_seconds is not None:
            timeout = opts.timeout_seconds + _WATCH_READ_GRACE
        if opts.send_initial_events:
            self._memo.clear()  # a streaming list: everything is sent again
        resp = self.transport.request(
            "GET", self.path, query, headers=self._watch_headers, stream=True, timeout=timeout
        )
        reusing = (
            self.reuse_unchanged
            and isinstance(self.decoder, ObjectDecoder)
            and bool(self.decoder.reusable_fields)
        )
        memo = self._memo if reusing else None
        return HTTPWatchStream(resp, self.decoder, self._chunk_size, memo)


def _default_decoder(resource: Resource, metadata_only: bool) -> Decoder:
    """Typed structs of the resource's kind (dicts for kinds without a generated model);
    ``PartialObjectMetadata`` structs in metadata-only mode."""
    if metadata_only:
        return decoder_for(PARTIAL_OBJECT_METADATA)
    return decoder_for(resource)
