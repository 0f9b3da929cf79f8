"""The simulator's HTTP API: an aiohttp application speaking the part of the Kubernetes API
that informers, kubectl and the kubernetes client use.

Routing, authentication (bearer token), per-namespace deny rules, request recording,
discovery, CRUD and the list/watch protocol live here; storage is :class:`SimStore`.
Everything runs on one event loop; the store may also be written from other threads
(watchers are woken through ``call_soon_threadsafe``, at most once per loop iteration).
Watches write their event lines straight to the transport, as few large chunks as the
client's pace allows (see :class:`_WatchStream`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from fastinformer.sim import openapi
from fastinformer.sim import status as st
from fastinformer.sim.faults import MALFORM, Faults, RequestFault
from fastinformer.sim.options import (
    ListPlan,
    Options,
    parse_bool,
    parse_resource_version,
    plan_list,
)
from fastinformer.sim.registry import ResourceType
from fastinformer.sim.selection import compile_selectors
from fastinformer.sim.store import (
    ADDED,
    DELETED,
    JSON_PATCH,
    MERGE_PATCH,
    MODIFIED,
    STRATEGIC_MERGE_PATCH,
    Event,
    SimStore,
    StoredObject,
    watch_parts,
)
from fastinformer.sim.tokens import encode_continue

JSON = "application/json"
_PARTIAL_LIST_PREFIX = b'{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1",'
_CHUNK_ITEMS = 512
_EVENTS_PER_WRITE = 256
_HIGH_WATER = 1 << 20
"""Bytes queued on a watch connection above which the watch waits for its client."""
_VERSION_INFO = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-fastinformer-sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "1970-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_PATCH_TYPES = {
    "application/merge-patch+json": MERGE_PATCH,
    "application/json-patch+json": JSON_PATCH,
    "application/strategic-merge-patch+json": STRATEGIC_MERGE_PATCH,
    "application/apply-patch+yaml": "application/apply-patch+yaml",
}


@dataclass
class SimConfig:
    """Tunables of the protocol (defaults are the real server's)."""

    bookmark_interval: float = 60.0
    default_watch_timeout: float = 1800.0
    too_large_rv_wait: float = 3.0
    user: str = "fastinformer-sim"
    record_requests: int = 10_000


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received (the query with single values)."""

    method: str
    path: str
    query: dict[str, str]
    time: float


@dataclass(frozen=True)
class DenyRule:
    """Requests matching every non-None field are answered 403."""

    namespace: str | None = None
    verbs: frozenset[str] | None = None
    resource: str | None = None

    def matches(self, verb: str, plural: str, namespace: str | None, namespaced: bool) -> bool:
        if self.verbs is not None and verb not in self.verbs:
            return False
        if self.resource is not None and self.resource != plural:
            return False
        if self.namespace is None:
            return True
        # A namespace rule also forbids the cluster-wide view of namespaced resources.
        return namespace == self.namespace or (namespace is None and namespaced)


@dataclass
class _Target:
    rtype: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


@dataclass
class _Watches:
    """Open watches and the futures of those waiting for a commit (loop thread only)."""

    waiters: set[asyncio.Future[None]] = field(default_factory=set)
    open: set[asyncio.Task[Any]] = field(default_factory=set)
    closing: bool = False

    async def changed(self, timeout: float) -> None:
        """Return after the next commit, or after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self.waiters.add(waiter)
        timer = loop.call_later(max(0.0, timeout), _settle, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self.waiters.discard(waiter)

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, set()
        for waiter in waiters:
            _settle(waiter)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class SimServer:
    """The aiohttp application over one :class:`SimStore`.

    ``tokens`` maps accepted bearer tokens to user names (None or empty: no
    authentication). Call :meth:`attach` on the serving loop before serving.
    """

    def __init__(
        self,
        store: SimStore,
        *,
        tokens: Mapping[str, str] | None = None,
        config: SimConfig | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.store = store
        self.config = config or SimConfig()
        self.faults = faults or Faults()
        self.tokens = dict(tokens or {})
        self.deny_rules: list[DenyRule] = []
        self.requests: deque[RecordedRequest] = deque(maxlen=self.config.record_requests)
        self.server_address = "127.0.0.1:0"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watches: _Watches | None = None
        self._wake_pending = False
        self._unsubscribe: Callable[[], None] | None = None
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    # Loop wiring ------------------------------------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to the serving loop and start waking watchers on store commits."""
        self._loop = loop
        self._watches = _Watches()
        self._unsubscribe = self.store.subscribe(self._on_commit)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_commit(self) -> None:
        loop = self._loop
        if loop is None or self._wake_pending or loop.is_closed():
            return
        self._wake_pending = True
        try:
            loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # loop closed meanwhile
            self._wake_pending = False

    def _wake(self) -> None:
        self._wake_pending = False
        watches = self._watches
        if watches is not None:
            watches.wake()

    async def close_watches(self) -> None:
        """End every open watch (server shutdown or a dropped-connection fault)."""
        watches = self._watches
        if watches is None:
            return
        watches.closing = True
        self._wake()
        for task in list(watches.open):
            task.cancel()
        if watches.open:
            await asyncio.wait(list(watches.open), timeout=2.0)

    # Access control ---------------------------------------------------------------------------

    def forbid(
        self,
        namespace: str | None = None,
        verbs: Iterable[str] | None = None,
        resource: str | None = None,
    ) -> DenyRule:
        """Answer 403 to matching requests (see :class:`DenyRule`); returns the rule."""
        rule = DenyRule(namespace, frozenset(verbs) if verbs is not None else None, resource)
        self.deny_rules.append(rule)
        return rule

    def _user(self, request: web.Request) -> str:
        if not self.tokens:
            return self.config.user
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise st.unauthorized()
        return user

    def _authorize(self, user: str, verb: str, target: _Target) -> None:
        rtype = target.rtype
        for rule in self.deny_rules:
            if rule.matches(verb, rtype.plural, target.namespace, rtype.namespaced):
                raise st.forbidden(
                    user, verb, rtype.plural, rtype.group, target.namespace, target.name
                )

    # Dispatch -----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        query = {k: request.query[k] for k in request.query}
        self.requests.append(RecordedRequest(request.method, request.path, query, time.time()))
        try:
            user = self._user(request)
            return await self._route(request, query, user)
        except st.StatusError as exc:
            return _status_response(exc)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a bug in the simulator: answer like the server would
            return _status_response(st.internal_error(f"{type(exc).__name__}: {exc}"))

    async def _route(
        self, request: web.Request, query: dict[str, str], user: str
    ) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        method = request.method
        if method == "GET":
            if parts in (["healthz"], ["readyz"], ["livez"]):
                return web.Response(status=200, text="ok")
            doc = self._discovery(parts)
            if doc is not None:
                return _json_response(200, doc)
        if not parts or parts[0] not in ("api", "apis"):
            raise st.resource_not_found()
        if parts[0] == "api":
            if len(parts) < 2 or parts[1] != "v1":
                raise st.resource_not_found()
            group, version, rest = "", "v1", parts[2:]
        else:
            if len(parts) < 3:
                raise st.resource_not_found()
            group, version, rest = parts[1], parts[2], parts[3:]
        target = self._target(group, version, rest)
        return await self._serve(request, query, user, target)

    def _discovery(self, parts: list[str]) -> dict[str, Any] | None:
        registry = self.store.registry
        if parts == ["version"]:
            return _VERSION_INFO
        if parts[:2] == ["openapi", "v3"]:
            if len(parts) == 2:
                return openapi.root_document(registry)
            if parts[2] == "api" and len(parts) == 4:
                doc = openapi.group_version_document(registry, "", parts[3])
            elif parts[2] == "apis" and len(parts) == 5:
                doc = openapi.group_version_document(registry, parts[3], parts[4])
            else:
                doc = None
            if doc is None:
                raise st.resource_not_found()
            return doc
        if parts == ["api"]:
            return registry.api_versions(self.server_address)
        if parts == ["api", "v1"]:
            return registry.resource_list("", "v1")
        if parts == ["apis"]:
            return registry.api_group_list()
        if len(parts) == 2 and parts[0] == "apis":
            group = registry.api_group(parts[1])
            if group is None:
                raise st.resource_not_found()
            return {"kind": "APIGroup", "apiVersion": "v1", **group}
        if len(parts) == 3 and parts[0] == "apis":
            doc = registry.resource_list(parts[1], parts[2])
            if doc is None:
                raise st.resource_not_found()
            return doc
        return None

    def _target(self, group: str, version: str, rest: list[str]) -> _Target:
        registry = self.store.registry
        namespace: str | None = None
        if (
            len(rest) >= 3
            and rest[0] == "namespaces"
            and rest[2] not in ("status", "finalize")
        ):
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise st.resource_not_found()
        rtype = registry.get(group, version, rest[0])
        if rtype is None or (namespace is not None and not rtype.namespaced):
            raise st.resource_not_found()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and (sub != "status" or not rtype.has_status):
            raise st.resource_not_found()
        if rtype.namespaced and name is not None and namespace is None:
            raise st.resource_not_found()
        return _Target(rtype, namespace, name, sub)

    async def _serve(
        self, request: web.Request, query: dict[str, str], user: str, target: _Target
    ) -> web.StreamResponse:
        method = request.method
        collection = target.name is None
        if method == "GET" and collection:
            opts = Options.from_query(query)
            verb = "watch" if opts.watch else "list"
            self._authorize(user, verb, target)
            fault = self.faults.take_request_fault(verb, target.rtype.plural)
            if fault is not None and not (fault.code == 410 and verb == "watch"):
                raise _fault_error(fault)
            if opts.watch:
                return await self._watch(request, target, opts, expire=fault is not None)
            return await self._list(request, target, opts)
        object_verb = {
            ("GET", False): "get", ("POST", True): "create", ("PUT", False): "update",
            ("PATCH", False): "patch", ("DELETE", False): "delete",
            ("DELETE", True): "deletecollection",
        }.get((method, collection))
        if object_verb is None:
            raise st.method_not_allowed(method)
        verb = object_verb
        self._authorize(user, verb, target)
        fault = self.faults.take_request_fault(verb, target.rtype.plural)
        if fault is not None:
            raise _fault_error(fault)
        handler: Callable[[web.Request, _Target], Awaitable[web.StreamResponse]] = {
            "get": self._get, "create": self._create, "update": self._update,
            "patch": self._patch, "delete": self._delete,
            "deletecollection": self._delete_collection,
        }[verb]
        return await handler(request, target)

    # Object verbs -------------------------------------------------------------------------

    async def _get(self, request: web.Request, target: _Target) -> web.StreamResponse:
        assert target.name is not None
        stored = self.store.get_stored(target.rtype, target.name, target.namespace)
        partial = _wants_partial(request)
        return _bytes_response(200, stored.partial_json() if partial else stored.full_json())

    async def _create(self, request: web.Request, target: _Target) -> web.StreamResponse:
        body = await _json_body(request)
        stored = self.store.create(target.rtype, body, target.namespace)
        return _bytes_response(201, stored.full_json())

    async def _update(self, request: web.Request, target: _Target) -> web.StreamResponse:
        body = await _json_body(request)
        stored = self.store.update(
            target.rtype, body, target.namespace, name=target.name,
            subresource=target.subresource,
        )
        return _bytes_response(200, stored.full_json())

    async def _patch(self, request: web.Request, target: _Target) -> web.StreamResponse:
        assert target.name is not None
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        patch_type = _PATCH_TYPES.get(content_type)
        if patch_type is None:
            raise st.unsupported_media_type(
                "application/json-patch+json, application/merge-patch+json, "
                "application/apply-patch+yaml, application/strategic-merge-patch+json"
            )
        raw = await request.read()
        try:
            if patch_type == "application/apply-patch+yaml":
                import yaml  # type: ignore[import-untyped]  # a kubernetes dependency

                patch = yaml.safe_load(raw)
            else:
                patch = orjson.loads(raw)
        except Exception as exc:
            raise st.bad_request(f"error decoding patch: {exc}") from None
        if patch_type == "application/apply-patch+yaml":
            return await self._apply(target, patch)
        stored = self.store.patch(
            target.rtype, target.name, patch, target.namespace,
            patch_type=patch_type, subresource=target.subresource,
        )
        return _bytes_response(200, stored.full_json())

    async def _apply(self, target: _Target, patch: Any) -> web.StreamResponse:
        """Server-side apply, approximated as create-or-merge-patch (no field ownership)."""
        assert target.name is not None
        if not isinstance(patch, dict):
            raise st.bad_request("the apply configuration must be an object")
        try:
            self.store.get_stored(target.rtype, target.name, target.namespace)
        except st.StatusError:
            patch.setdefault("metadata", {})["name"] = target.name
            stored = self.store.create(target.rtype, patch, target.namespace)
            return _bytes_response(201, stored.full_json())
        stored = self.store.patch(
            target.rtype, target.name, patch, target.namespace,
            patch_type=MERGE_PATCH, subresource=target.subresource,
        )
        return _bytes_response(200, stored.full_json())

    async def _delete(self, request: web.Request, target: _Target) -> web.StreamResponse:
        assert target.name is not None
        uid = rv = None
        raw = await request.read()
        if raw.strip():
            try:
                options = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise st.bad_request(f"error decoding DeleteOptions: {exc}") from None
            pre = options.get("preconditions") if isinstance(options, dict) else None
            if isinstance(pre, dict):
                uid, rv = pre.get("uid"), pre.get("resourceVersion")
        rtype = target.rtype
        last = self.store.delete(
            rtype, target.name, target.namespace, precondition_uid=uid, precondition_rv=rv
        )
        if rtype.builtin and rtype.plural in ("pods", "namespaces"):
            return _bytes_response(200, last.full_json())
        return _json_response(200, st.success(rtype.plural, last.name, last.uid, rtype.group))

    async def _delete_collection(
        self, request: web.Request, target: _Target
    ) -> web.StreamResponse:
        query = {k: request.query[k] for k in request.query}
        predicate = compile_selectors(
            target.rtype, query.get("labelSelector", ""), query.get("fieldSelector", "")
        )
        page = self.store.page(target.rtype, target.namespace, predicate=predicate)
        deleted: list[StoredObject] = []
        for stored in page.items:
            try:
                deleted.append(
                    self.store.delete(target.rtype, stored.name, stored.namespace or None)
                )
            except st.StatusError:
                continue  # deleted concurrently
        return await self._send_list(
            request, target.rtype, deleted, {"resourceVersion": str(self.store.resource_version)},
            _wants_partial(request),
        )

    # LIST -----------------------------------------------------------------------------------

    async def _list(
        self, request: web.Request, target: _Target, opts: Options
    ) -> web.StreamResponse:
        rtype = target.rtype
        predicate = compile_selectors(rtype, opts.label_selector, opts.field_selector)
        store = self.store
        plan: ListPlan = plan_list(opts, store.resource_version, store.compacted_rv)
        if plan.wait_for is not None:
            await self._wait_for_rv(plan.wait_for)
        namespace = target.namespace
        if plan.from_cache:
            page = store.page(rtype, namespace, predicate=predicate)
        else:
            page = store.page(
                rtype, namespace, at_rv=plan.at_rv, start_key=plan.start_key,
                limit=plan.limit or None, predicate=predicate,
            )
        meta: dict[str, Any] = {"resourceVersion": str(page.rv)}
        if page.next_key is not None:
            meta["continue"] = encode_continue(page.next_key, page.rv)
            if page.remaining is not None:
                meta["remainingItemCount"] = page.remaining
        return await self._send_list(request, rtype, page.items, meta, _wants_partial(request))

    async def _wait_for_rv(self, rv: int) -> None:
        """Wait until the store reaches ``rv``; 504 after ``too_large_rv_wait`` seconds."""
        deadline = time.monotonic() + self.config.too_large_rv_wait
        while self.store.resource_version < rv:
            remaining = deadline - time.monotonic()
            watches = self._watches
            if remaining <= 0 or watches is None:
                raise st.too_large_resource_version(rv, self.store.resource_version)
            await watches.changed(remaining)

    async def _send_list(
        self,
        request: web.Request,
        rtype: ResourceType,
        items: list[StoredObject],
        meta: dict[str, Any],
        partial: bool,
    ) -> web.StreamResponse:
        if partial:
            head = _PARTIAL_LIST_PREFIX
        else:
            head = orjson.dumps({"kind": rtype.list_kind, "apiVersion": rtype.api_version})[:-1]
            head += b","
        head += b'"metadata":' + orjson.dumps(meta) + b',"items":['
        if len(items) <= _CHUNK_ITEMS and self.faults.trickle_bytes_per_second is None:
            body = b",".join(s.partial_json() if partial else s.item for s in items)
            return _bytes_response(200, head + body + b"]}")
        resp = web.StreamResponse(status=200, headers={"Content-Type": JSON})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await self._write(resp, head)
        for start in range(0, len(items), _CHUNK_ITEMS):
            chunk = items[start:start + _CHUNK_ITEMS]
            body = b",".join(s.partial_json() if partial else s.item for s in chunk)
            await self._write(resp, body if start == 0 else b"," + body)
        await self._write(resp, b"]}")
        await resp.write_eof()
        return resp

    async def _write(self, resp: web.StreamResponse, data: bytes) -> None:
        rate = self.faults.trickle_bytes_per_second
        if rate is None:
            await resp.write(data)
            return
        step = max(1, int(rate / 20))
        for start in range(0, len(data), step):
            await resp.write(data[start:start + step])
            await asyncio.sleep(step / rate)

    # WATCH ----------------------------------------------------------------------------------

    async def _watch(
        self, request: web.Request, target: _Target, opts: Options, expire: bool
    ) -> web.StreamResponse:
        watches = self._watches
        assert watches is not None, "SimServer.attach() was not called"
        task = asyncio.current_task()
        assert task is not None
        if not expire:
            await self._wait_for_watch_rv(opts)
        watch = _WatchStream(self, request, target, opts)
        await watch.prepare()
        watches.open.add(task)
        try:
            if expire:
                rv = self.store.compacted_rv
                await watch.send(_error_line(st.expired(
                    f"too old resource version: {opts.resource_version or rv} ({rv})")))
            else:
                await watch.run()
            await watch.resp.write_eof()
        except (asyncio.CancelledError, ConnectionResetError, _Dropped):
            watch.abort()
        finally:
            watches.open.discard(task)
        return watch.resp

    async def _wait_for_watch_rv(self, opts: Options) -> None:
        """For a watch from a resourceVersion the store has not reached yet (with or
        without initial events), wait for it as the watch cache does; 504 "Too large
        resource version" (before any response) if it does not come."""
        rv_param = opts.resource_version or ""
        if rv_param in ("", "0"):
            return
        requested = parse_resource_version(rv_param)
        if requested > self.store.resource_version:
            await self._wait_for_rv(requested)


class _Dropped(Exception):
    """A fault closes this watch abruptly."""


class _WatchStream:
    """One open watch: initial events, live events filtered by namespace and selectors,
    bookmarks, timeout and the stream faults.

    Event lines go straight to the transport, every pending line in one HTTP chunk (one
    join of the shared encodings, framed here), and the client is waited for only when
    more than :data:`_HIGH_WATER` bytes are queued. Control lines and faulty streams use
    the response's own writer.
    """

    def __init__(
        self, server: SimServer, request: web.Request, target: _Target, opts: Options
    ) -> None:
        self.server = server
        self.store = server.store
        self.request = request
        self.rtype = target.rtype
        self.namespace = target.namespace
        self.opts = opts
        self.predicate = compile_selectors(self.rtype, opts.label_selector, opts.field_selector)
        self.partial = _wants_partial(request)
        self.resp = web.StreamResponse(status=200, headers={"Content-Type": JSON})
        self.drop_generation = server.faults.drop_generation
        timeout = opts.timeout_seconds
        self.deadline = time.monotonic() + (
            timeout if timeout and timeout > 0 else server.config.default_watch_timeout
        )

    async def prepare(self) -> None:
        """Send the headers (a StreamResponse sends them at once, before any line)."""
        self.resp.enable_chunked_encoding()
        await self.resp.prepare(self.request)

    def abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def send(self, data: bytes) -> None:
        """Send ``data`` through the response writer, applying the stream faults."""
        faults = self.server.faults
        if faults.drop_generation != self.drop_generation:
            raise _Dropped
        stall = faults.stall_until - time.monotonic()
        if stall > 0:
            await asyncio.sleep(stall)
        if faults.has_line_faults:
            fault = faults.take_line_fault()
            if fault == MALFORM:
                data = b'{"type":"MODIFIED","object":{"kind":\n' + data
            elif fault is not None:
                await self.resp.write(data[: max(1, len(data) // 2)])
                raise _Dropped
        await self.server._write(self.resp, data)

    async def emit(self, parts: list[bytes | memoryview]) -> None:
        """Send the lines whose pieces are ``parts[1:]`` as one chunk (``parts[0]`` is a
        placeholder for the chunk header)."""
        faults = self.server.faults
        if (faults.has_line_faults or faults.trickle_bytes_per_second is not None
                or faults.stall_until > time.monotonic()):
            await self.send(b"".join(parts[1:]))
            return
        if faults.drop_generation != self.drop_generation:
            raise _Dropped
        transport = self.request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the watch connection is closed")
        parts[0] = b"%x\r\n" % sum(map(len, parts))
        parts.append(b"\r\n")
        transport.write(b"".join(parts))
        if transport.get_write_buffer_size() > _HIGH_WATER:
            await self.request.writer.drain()

    def _matches(self, stored: StoredObject | None) -> bool:
        if stored is None:
            return False
        if self.namespace is not None and stored.namespace != self.namespace:
            return False
        return self.predicate is None or self.predicate(stored)

    def _bookmark(self, rv: int, initial_end: bool = False) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(rv), "creationTimestamp": None}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        if self.partial:
            kind, api_version = "PartialObjectMetadata", "meta.k8s.io/v1"
        else:
            kind, api_version = self.rtype.kind, self.rtype.api_version
        obj = {"kind": kind, "apiVersion": api_version, "metadata": meta}
        return orjson.dumps({"type": "BOOKMARK", "object": obj}) + b"\n"

    async def run(self) -> None:
        opts = self.opts
        rv_param = opts.resource_version or ""
        initial = opts.send_initial_events
        if initial is None:
            initial = rv_param in ("", "0")
        if rv_param not in ("", "0") and not initial:  # a future one was waited for
            requested = parse_resource_version(rv_param)
            if requested < self.store.compacted_rv:
                await self.send(_error_line(st.expired(
                    f"too old resource version: {requested} ({self.store.compacted_rv})")))
                return
        if initial:
            items, start_rv = self.store.snapshot(self.rtype, self.namespace)
            await self._send_initial(items)
            if opts.send_initial_events:
                await self.send(self._bookmark(start_rv, initial_end=True))
        elif rv_param in ("", "0"):
            start_rv = self.store.resource_version
        else:
            start_rv = int(rv_param)
        await self._follow(start_rv)

    async def _send_initial(self, items: list[StoredObject]) -> None:
        predicate, partial = self.predicate, self.partial
        for start in range(0, len(items), _EVENTS_PER_WRITE):
            chunk = items[start:start + _EVENTS_PER_WRITE]
            if predicate is not None:
                chunk = [stored for stored in chunk if predicate(stored)]
            if chunk:
                await self.emit(watch_parts([Event(ADDED, s, None) for s in chunk], partial))

    def _lines(self, events: list[Event]) -> list[bytes | memoryview]:
        """A chunk-header placeholder, then the pieces of the lines this watch sends for
        ``events`` (see :meth:`emit`)."""
        if self.predicate is None and self.namespace is None:
            return watch_parts(events, self.partial)
        parts: list[bytes | memoryview] = [b""]
        extend = parts.extend
        partial = self.partial
        for event in events:
            if event.type == ADDED:
                if self._matches(event.obj):
                    extend(event.parts(ADDED, partial))
            elif event.type == DELETED:
                if self._matches(event.prev):
                    extend(event.parts(DELETED, partial))
            else:
                now, before = self._matches(event.obj), self._matches(event.prev)
                if now and before:
                    extend(event.parts(MODIFIED, partial))
                elif now:
                    extend(event.parts(ADDED, partial))
                elif before:
                    extend(event.parts(DELETED, partial, from_prev=True))
        return parts

    async def _follow(self, start_rv: int) -> None:
        server, store, opts = self.server, self.store, self.opts
        watches = server._watches
        assert watches is not None
        position = start_rv
        interval = server.config.bookmark_interval
        next_bookmark = time.monotonic() + interval
        last_bookmark = start_rv
        while True:
            if watches.closing:
                return
            if server.faults.drop_generation != self.drop_generation:
                raise _Dropped
            events = store.events_after(self.rtype, position, _EVENTS_PER_WRITE)
            if events is None:
                rv = store.compacted_rv
                await self.send(_error_line(st.expired(
                    f"too old resource version: {position} ({rv})")))
                return
            if events:
                parts = self._lines(events)
                position = events[-1].rv
                if len(parts) > 1:
                    await self.emit(parts)
                continue
            now = time.monotonic()
            if now >= self.deadline:
                current = store.resource_version
                progressed = current > start_rv and current > last_bookmark
                if (opts.allow_bookmarks and progressed
                        and not store.events_after(self.rtype, position)):
                    await self.send(self._bookmark(current))
                return
            if opts.allow_bookmarks and now >= next_bookmark:
                next_bookmark = now + interval
                current = store.resource_version
                if current > last_bookmark and not store.events_after(self.rtype, position):
                    last_bookmark = current
                    await self.send(self._bookmark(current))
                continue
            wait = min(self.deadline, next_bookmark if opts.allow_bookmarks else self.deadline)
            await watches.changed(min(wait - now, 0.5))


# Helpers ------------------------------------------------------------------------------------


def _wants_partial(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "as=PartialObjectMetadata" in accept


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise st.bad_request(f"error decoding request body: {exc}") from None


def _fault_error(fault: RequestFault) -> st.StatusError:
    if fault.code == 429:
        return st.too_many_requests(fault.retry_after or 1)
    if fault.code == 410:
        return st.expired(st.EXPIRED_LIST)
    if fault.code == 500:
        return st.internal_error("injected fault")
    return st.StatusError(fault.code, "InternalError" if fault.code >= 500 else "BadRequest",
                          f"injected fault ({fault.code})")


def _error_line(error: st.StatusError) -> bytes:
    return orjson.dumps({"type": "ERROR", "object": error.status}) + b"\n"


def _bytes_response(code: int, body: bytes) -> web.Response:
    return web.Response(status=code, body=body, content_type=JSON)


def _json_response(code: int, doc: Mapping[str, Any]) -> web.Response:
    return _bytes_response(code, orjson.dumps(doc))


def _status_response(error: st.StatusError) -> web.Response:
    resp = _json_response(error.code, error.status)
    for name, value in error.headers.items():
        resp.headers[name] = value
    return resp


__all__ = ["DenyRule", "RecordedRequest", "SimConfig", "SimServer", "parse_bool"]
