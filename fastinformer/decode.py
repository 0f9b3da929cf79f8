"""Decoders turning list and watch bytes of one resource into objects.

:func:`decoder_for` builds, once per resource and options, a :class:`ObjectDecoder`
implementing :class:`fastinformer.protocol.Decoder`:

- ``mode="typed"`` (default) decodes into the generated structs of
  :mod:`fastinformer.models` (``pod.spec.node_name``); ``managedFields`` is skipped by
  the decoder itself, never materialised. Kinds without a generated model (custom
  resources) decode as dicts: check :attr:`ObjectDecoder.mode`.
- ``mode="dict"`` decodes into plain dicts with the API's camelCase keys and removes
  ``metadata.managedFields`` after decoding.

Decoded objects are not tracked by the cyclic GC (with the compiled core): JSON has no
reference cycles, so collections would only walk the cache for nothing. Typed structs are
``gc=False`` and their lists are untracked as they are built (see
:mod:`fastinformer.models.base`); in dict mode every list and dict of an object is
untracked after decoding (``untrack_tree`` of the core). Objects are still freed by
reference counting; do not create a reference cycle through a decoded list (a dict
becomes tracked again when a tracked object is stored in it).

Either way ``keep_managed_fields=True`` keeps ``managedFields``, and ``transform(obj)``
is applied to every decoded list item and ADDED/MODIFIED/DELETED object. Bulk decoding
runs with the cyclic GC paused (:func:`gc_paused`), and what it allocated is then moved to
the oldest generation untraversed: collections triggered by the thousands of containers a
large list allocates would otherwise make it several times slower. Decoders are
stateless and may be shared between threads.

Unchanged parts are not decoded twice (no ``transform``; in dict mode, not with
``keep_managed_fields``): :meth:`ObjectDecoder.decode_event_reusing` keeps, in a memo the
caller owns (one per watch, see :class:`fastinformer.listwatch.ListWatch`), the last
decoded value of each large top-level field of each object (a pod's ``spec`` and
``status``, a ConfigMap's ``data``) with a hash of its JSON bytes. A watch event whose
field has the same bytes as the previous version's gets the previous decoded value (the
same object) instead of a new one. A status update then decodes the metadata and the
status only, and frees only them when the old version goes. Equality is judged by
Python's 64-bit keyed hash of the bytes (SipHash, randomised per process), so a changed
field is taken for unchanged with a probability of 2**-64 per field and event. Handlers
must not mutate cached objects in any case; with reuse, a mutation of an unchanged field
would also show in the next version. In dict mode this applies to objects with the
top-level fields of the kind's generated model (for custom resources: ``apiVersion``,
``kind``, ``metadata``, ``spec`` and ``status``, reusing the last two) and the metadata
fields of ``ObjectMeta``; other objects are decoded whole, and a decoder that meets 64 of
them in a row stops trying. With the compiled core on a CPU with SSE2 or AVX2, the
reusable fields, ``managedFields`` and (typed mode) the containers of ``metadata``
(labels, annotations, owner references, finalizers) are found by a SIMD scan and cut
out of the line before msgspec reads the rest (``EventCutter`` of the core): unchanged
fields are then not even parsed, only hashed, and are the previous version's objects.
"""

from __future__ import annotations

import gc
import threading
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, Union

import msgspec

from fastinformer._compat import core
from fastinformer.errors import DecodeError
from fastinformer.models import ObjectMeta, api_version_of_kind, model_for
from fastinformer.protocol import (
    ADDED,
    BOOKMARK,
    DELETED,
    ERROR,
    INITIAL_EVENTS_END_ANNOTATION,
    MODIFIED,
    ListMeta,
    WatchEvent,
    resource_version_of,
)

__all__ = [
    "DecodeMode",
    "ObjectDecoder",
    "Transform",
    "decoder_for",
    "freeze_gc",
    "gc_paused",
    "resource_version_of",
]

DecodeMode = Literal["typed", "dict"]
"""``"typed"``: generated structs; ``"dict"``: plain dicts with the API's keys."""

Transform = Callable[[Any], Any]
"""Hook applied to each decoded object; returns the object to keep."""

_SAMPLE = 200

_untrack_tree: Callable[[Any], bool] = core.untrack_tree


class _GCPause:
    """Process-wide pause of the cyclic GC, counted so that overlapping pauses from
    several threads re-enable it only when the last one ends (and only if it was
    enabled when the first began). ``_lock`` guards the counters, ``_ours`` (the freeze
    count right after :func:`freeze_gc`, 0 when nothing is frozen by us) and
    ``_freeze_at_exit`` (a :func:`freeze_gc` asked for during a pause)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._was_enabled = False
        self._promote = False
        self._ours = 0
        self._freeze_at_exit = False

    def enter(self, promote: bool) -> None:
        with self._lock:
            if self._depth == 0:
                self._was_enabled = gc.isenabled()
                self._promote = False
                gc.disable()
            self._depth += 1
            self._promote = self._promote or promote

    def exit(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth:
                return
            if self._freeze_at_exit:
                self._freeze_at_exit = False
                self._freeze_locked()
            elif self._was_enabled and self._promote:
                frozen = gc.get_freeze_count()
                if frozen == 0 or frozen <= self._ours:
                    # Splice every tracked object into the oldest generation without
                    # traversing it: what the pause allocated is long-lived (a cache).
                    gc.freeze()
                    gc.unfreeze()
                    self._ours = 0
            if self._was_enabled:
                gc.enable()

    def freeze(self) -> None:
        with self._lock:
            if self._depth:
                self._freeze_at_exit = True
            else:
                self._freeze_locked()

    def _freeze_locked(self) -> None:
        gc.collect(1)
        gc.freeze()
        self._ours = gc.get_freeze_count()


_GC_PAUSE = _GCPause()


@contextmanager
def gc_paused(promote: bool = True) -> Iterator[None]:
    """Pause the cyclic GC for the block (reentrant and thread-safe).

    Use it around a relist's decode-and-replace: the objects allocated are not garbage,
    so the collections they would trigger only cost time. With ``promote`` (the
    default), when the outermost pause ends the objects allocated meanwhile move
    straight to the oldest generation (``gc.freeze()`` then ``gc.unfreeze()``, which
    also thaws what :func:`freeze_gc` froze; skipped while the application itself keeps
    objects frozen), so the young-generation collections that would otherwise follow do
    not traverse them either; cyclic garbage created meanwhile waits for the next full
    collection. Reference counting still frees everything that is not part of a cycle.
    """
    _GC_PAUSE.enter(promote)
    try:
        yield
    finally:
        _GC_PAUSE.exit()


def freeze_gc() -> None:
    """Collect the two young generations, then move every object the cyclic GC tracks
    into its permanent generation (``gc.freeze()``), which collections never traverse.

    Call it once a cache is fully loaded: later full collections then walk only what
    was allocated since, not the cache and the rest of the process's long-lived heap
    (tens of milliseconds per full collection with the kubernetes client imported).
    Frozen objects are still freed by reference counting; reference cycles among them
    are collected only after ``gc.unfreeze()``. The next promoting :func:`gc_paused`
    (a relist) thaws them again, unless the application froze objects of its own since.
    Called during a :func:`gc_paused` block (from any thread), it takes effect when the
    outermost pause ends, in place of that pause's promotion.
    """
    _GC_PAUSE.freeze()


class _WireListMeta(msgspec.Struct, gc=False):
    """``metadata`` of a list response as sent."""

    resource_version: str = msgspec.field(default="", name="resourceVersion")
    continue_: str | None = msgspec.field(default=None, name="continue")
    remaining_item_count: int | None = msgspec.field(default=None, name="remainingItemCount")


class _Status(msgspec.Struct, gc=False):
    """The fields of a ``Status`` body that explain a refused list."""

    code: int | None = None
    reason: str | None = None
    message: str | None = None


def _list_type(item: Any) -> Any:
    """A list body with ``item`` items; the Status fields tell a refusal from a list."""
    return msgspec.defstruct(
        "ListEnvelope",
        [
            ("kind", str | None, None),
            ("metadata", _WireListMeta, msgspec.field(default_factory=_WireListMeta)),
            ("items", list[item] | None, None),
            ("status", str | None, None),
            ("code", int | None, None),
            ("reason", str | None, None),
            ("message", str | None, None),
        ],
        gc=False,
    )


_EVENT_TAGS = (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR)


def _event_types(obj_type: Any) -> tuple[Any, dict[type, str]]:
    """A tagged union of one envelope struct per watch event type, and the tag of each."""
    variants: dict[type, str] = {}
    for tag in _EVENT_TAGS:
        object_type = dict[str, Any] if tag == ERROR else obj_type
        cls = msgspec.defstruct(
            f"{tag.title()}Event",
            [("object", object_type)],
            tag_field="type",
            tag=tag,
            gc=False,
        )
        variants[cls] = tag
    return Union[tuple(variants)], variants  # noqa: UP007


def _error(what: str, exc: Exception, data: bytes | bytearray | memoryview) -> DecodeError:
    sample = bytes(data[:_SAMPLE])
    return DecodeError(f"{what}: {exc}; input starts {sample[:80]!r}", sample)


def _field_kind(annotation: Any) -> Any:
    """What a field annotated ``annotation`` holds: ``list``, ``dict``, a class...
    (``X | None`` read as ``X``), or ``None`` when it may hold several kinds."""
    kinds = [t for t in typing.get_args(annotation) or (annotation,) if t is not type(None)]
    if len(kinds) != 1:
        return None
    return typing.get_origin(kinds[0]) or kinds[0]


def _is_struct(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, msgspec.Struct)


def _reusable_fields(model: type[Any]) -> tuple[Any, ...]:
    """The top-level fields of ``model`` worth reusing when unchanged: structs, lists and
    dicts, except ``metadata`` (it changes with every version)."""
    out = []
    for info in msgspec.structs.fields(model):
        kind = _field_kind(info.type)
        if info.name != "metadata" and (kind in (list, dict) or _is_struct(kind)):
            out.append(info)
    return tuple(out[: core.REUSE_MAX_FIELDS])


def _shell_event_decoder(shell: type[Any]) -> msgspec.json.Decoder[Any]:
    """A decoder of watch lines (``type`` and ``object``) whose object is a ``shell``."""
    envelope = msgspec.defstruct(
        f"{shell.__name__}Event", [("type", str), ("object", shell)], gc=False
    )
    return msgspec.json.Decoder(envelope)


class _Reuse:
    """What :meth:`ObjectDecoder.decode_event_reusing` needs for one model: the shell
    struct (reusable fields left as raw JSON), its event envelope, one decoder per
    reusable field, and those of the container fields of its ``metadata`` struct
    (labels, annotations, owner references, finalizers), reused from cut lines."""

    def __init__(
        self,
        model: type[Any],
        reusable: tuple[Any, ...],
        drop_managed: bool,
        cut_lines: bool | None,
    ) -> None:
        names = {info.name for info in reusable}
        every = msgspec.structs.fields(model)
        fields: list[tuple[str, Any, Any]] = []
        for info in every:
            if info.name in names:
                fields.append(
                    (info.name, msgspec.Raw, msgspec.field(default=_NO_RAW, name=info.encode_name))
                )
            else:
                default = info.default if info.default is not msgspec.NODEFAULT else None
                fields.append(
                    (info.name, info.type, msgspec.field(default=default, name=info.encode_name))
                )
        shell = msgspec.defstruct(f"{model.__name__}Shell", fields, kw_only=True, gc=False)
        self.decoder = _shell_event_decoder(shell)
        self.reusable = tuple(info.name for info in reusable)
        meta = _metadata_type(model)
        room = core.REUSE_MAX_FIELDS - len(reusable)
        inner = _reusable_fields(meta)[:room] if meta is not None and room > 0 else ()
        self.cutter = _cutter(
            tuple(info.encode_name for info in reusable),
            drop_managed,
            cut_lines,
            tuple(info.encode_name for info in inner),
        )
        self.reuser = core.FieldReuser(
            model,
            tuple(info.name for info in every),
            self.reusable,
            tuple(msgspec.json.Decoder(info.type) for info in reusable),
            _NO_RAW,
            inner="metadata" if inner else None,
            inner_names=tuple(info.name for info in inner),
            inner_decoders=tuple(msgspec.json.Decoder(info.type) for info in inner),
            inner_shared=tuple(
                info.name for info in inner if info.name in getattr(meta, "_shared_fields", ())
            ),
            share=getattr(meta, "__post_init__", None),
        )
        self.misses = 0  # objects in a row the shell could not read (racy, advisory)


def _metadata_type(model: type[Any]) -> Any:
    """The struct type of ``model``'s ``metadata`` field, or ``None``."""
    for info in msgspec.structs.fields(model):
        if info.name == "metadata":
            kind = _field_kind(info.type)
            return kind if _is_struct(kind) else None
    return None


_NO_RAW = msgspec.Raw()
_REUSED_EVENTS = frozenset({ADDED, MODIFIED, DELETED})
_ABSENT: Any = object()
"""What a dict-mode shell's reusable field becomes when the JSON did not have it."""
_UNSET: Any = msgspec.UNSET
_CUSTOM_FIELDS = ("apiVersion", "kind", "metadata", "spec", "status")
"""The top-level fields dict-mode reuse expects of a kind without a generated model."""
_CUSTOM_REUSABLE = ("spec", "status")
_REUSE_GIVE_UP = 64
"""Objects in a row that a decoder's shell cannot read (in dict mode: other top-level or
metadata fields than it expects) after which the decoder stops trying it."""
_METADATA_ORDER = (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers",
)
"""The order in which API servers write ``metadata`` (that of Go's ``ObjectMeta``)."""


def _dict_metadata_shell() -> tuple[Any, tuple[str, ...]]:
    """A struct reading ``metadata`` with the fields of ``ObjectMeta`` (other keys
    refused, ``managedFields`` skipped as raw JSON), and the JSON names of its fields in
    order, ``managedFields`` (the last field) excluded."""
    by_json = {info.encode_name: info.name for info in msgspec.structs.fields(ObjectMeta)}
    order = [n for n in _METADATA_ORDER if n in by_json]
    order += sorted(set(by_json) - set(order))
    fields: list[tuple[str, Any, Any]] = [
        (by_json[n], Any, msgspec.field(default=_UNSET, name=n)) for n in order
    ]
    skipped = msgspec.field(default=_NO_RAW, name="managedFields")
    fields.append(("managed_fields", msgspec.Raw, skipped))
    shell = msgspec.defstruct(
        "DictShellMetadata", fields, kw_only=True, forbid_unknown_fields=True, gc=False
    )
    return shell, tuple(order)


def _cutter(
    reusable: tuple[str, ...],
    drop_managed_fields: bool,
    cut: bool | None,
    inner: tuple[str, ...] = (),
) -> Any:
    """The core's ``EventCutter`` for a shell, or ``None``: with ``cut=None``, only when
    the compiled core has a SIMD scan (cutting with a byte loop, or with the pure-Python
    twin, costs more than the decoding it saves)."""
    if not (core.scan_level() > 0 if cut is None else cut):
        return None
    return core.EventCutter(reusable, drop_managed_fields, inner)


def _dict_reuse(api_version: str, kind: str, cut_lines: bool | None) -> _DictReuse:
    """Dict-mode reuse for ``kind``: the top-level fields of its generated model when it
    has one (JSON names), else those of most custom resources, reusing ``spec`` and
    ``status``."""
    model = model_for(api_version, kind)
    if model is None:
        return _DictReuse(_CUSTOM_FIELDS, _CUSTOM_REUSABLE, cut_lines)
    fields = tuple(info.encode_name for info in msgspec.structs.fields(model))
    reusable = tuple(info.encode_name for info in _reusable_fields(model))
    return _DictReuse(fields, reusable, cut_lines)


class _DictReuse:
    """What :meth:`ObjectDecoder.decode_event_reusing` needs in dict mode: a shell whose
    fields are the object's top-level JSON names (reusable ones left as raw JSON), its
    ``metadata`` read by :func:`_dict_metadata_shell`, other names refused (such events go
    through :meth:`ObjectDecoder.decode_event`), and a builder making the dict."""

    def __init__(
        self, fields: tuple[str, ...], reusable: tuple[str, ...], cut_lines: bool | None
    ) -> None:
        metadata, self._names = _dict_metadata_shell()
        spec: list[tuple[str, Any, Any]] = []
        for name in fields:
            if name in reusable:
                spec.append((name, msgspec.Raw, msgspec.field(default=_NO_RAW)))
            elif name == "metadata":
                spec.append((name, metadata | None, msgspec.field(default=None)))
            else:
                spec.append((name, Any, msgspec.field(default=_UNSET)))
        shell = msgspec.defstruct(
            "DictShell", spec, kw_only=True, forbid_unknown_fields=True, gc=False
        )
        self.decoder = _shell_event_decoder(shell)
        self.reusable = reusable
        self.cutter = _cutter(reusable, True, cut_lines)
        any_decoder = msgspec.json.Decoder()
        self.reuser = core.FieldReuser(
            self._build, fields, reusable, (any_decoder,) * len(reusable), _NO_RAW, _ABSENT
        )
        self.misses = 0  # objects in a row the shell could not read (racy, advisory)

    def _build(self, **fields: Any) -> dict[str, Any]:
        """The object as :meth:`ObjectDecoder.decode_event` makes it: absent fields left
        out, ``metadata`` a dict without ``managedFields``, untracked by the cyclic GC."""
        obj: dict[str, Any] = {}
        for key, value in fields.items():
            if value is _ABSENT or value is _UNSET:
                continue
            if key == "metadata" and value is not None:
                values = msgspec.structs.astuple(value)[:-1]  # without managedFields
                value = {
                    name: v for name, v in zip(self._names, values, strict=True) if v is not _UNSET
                }
            obj[key] = value
        _untrack_tree(obj)
        return obj

SubtreeMemo = dict[Any, tuple[tuple[int, ...], tuple[Any, ...]]]
"""Per object (by uid, else ``(namespace, name)``): the hashes and decoded values of its
reusable fields in the last version seen (see :meth:`ObjectDecoder.decode_event_reusing`)."""


class ObjectDecoder:
    """Decodes list bodies and watch lines of one kind (implements ``Decoder``).

    Attributes: ``api_version`` and ``kind`` (``""`` when unknown), the effective
    ``mode``, ``model`` (the struct decoded in typed mode, else ``None``),
    ``keep_managed_fields``, ``transform``, ``reusable_fields`` (the top-level
    fields :meth:`decode_event_reusing` can reuse, by attribute name in typed mode and by
    JSON name in dict mode; empty with a ``transform``, and in dict mode with
    ``keep_managed_fields``) and ``cuts_lines`` (whether :meth:`decode_event_reusing`
    cuts lines with the core's ``EventCutter`` first). ``cut_lines=None`` (the default)
    cuts when there are reusable fields and the compiled core has a SIMD scan; ``True``
    or ``False`` forces it either way (the portable scan and the pure-Python twin cut
    correctly, but cost more than they save).
    """

    def __init__(
        self,
        api_version: str,
        kind: str,
        model: type[Any] | None,
        keep_managed_fields: bool = False,
        transform: Transform | None = None,
        cut_lines: bool | None = None,
    ) -> None:
        self.api_version = api_version
        self.kind = kind
        self.model = model
        self.mode: DecodeMode = "typed" if model is not None else "dict"
        self.keep_managed_fields = keep_managed_fields
        self.transform = transform
        self._strip = model is None and not keep_managed_fields
        obj_type = model if model is not None else dict[str, Any]
        self._list_decoder = msgspec.json.Decoder(_list_type(obj_type))
        union, self._event_tags = _event_types(obj_type)
        self._event_decoder = msgspec.json.Decoder(union)
        self._name = kind or "object"
        self._reuse: _Reuse | _DictReuse | None = None
        if transform is None and model is not None:
            reusable = _reusable_fields(model)
            drop = not keep_managed_fields
            self._reuse = _Reuse(model, reusable, drop, cut_lines) if reusable else None
        elif transform is None and self._strip:
            self._reuse = _dict_reuse(api_version, kind, cut_lines)
        self.reusable_fields: tuple[str, ...] = self._reuse.reusable if self._reuse else ()
        self.cuts_lines = self._reuse is not None and self._reuse.cutter is not None

    def __repr__(self) -> str:
        gv = f"{self.api_version}/" if self.api_version else ""
        return f"ObjectDecoder({gv}{self._name}, mode={self.mode!r})"

    def decode_list(self, data: bytes) -> tuple[list[Any], ListMeta]:
        """Decode a list response body into ``(items, list metadata)``.

        Raises ``DecodeError`` on malformed JSON, on items of the wrong shape, and on a
        ``Status`` body (the server refused the list).
        """
        with gc_paused():
            try:
                body = self._list_decoder.decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise _error(f"cannot decode a {self._name} list", exc, data) from None
            if body.kind == "Status":
                raise DecodeError(
                    f"expected a {self._name} list, got a Status: "
                    f"{body.code} {body.reason}: {body.message}",
                    bytes(data[:_SAMPLE]),
                )
            items: list[Any] = body.items if body.items is not None else []
            if self.model is None:
                strip = self._strip
                for item in items:
                    if strip:
                        md = item.get("metadata")
                        if md is not None and md.__class__ is dict:
                            md.pop("managedFields", None)
                    _untrack_tree(item)
            transform = self.transform
            if transform is not None:
                items = [transform(item) for item in items]
        meta = body.metadata
        return items, ListMeta(meta.resource_version, meta.continue_, meta.remaining_item_count)

    def decode_event(self, line: bytes) -> WatchEvent:
        """Decode one watch line.

        ERROR events carry the ``Status`` as a dict and ``resource_version == ""``; a
        BOOKMARK's object is the minimal object the server sent, with
        ``initial_events_end`` set from its ``k8s.io/initial-events-end`` annotation.
        Malformed or truncated JSON, unknown event types, and events without an object
        raise ``DecodeError``.
        """
        try:
            envelope = self._event_decoder.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise _error("cannot decode a watch event", exc, line) from None
        etype = self._event_tags[envelope.__class__]
        obj = envelope.object
        if etype == ERROR:
            return WatchEvent(ERROR, obj)
        if self.model is not None:
            md = getattr(obj, "metadata", None)
            rv = getattr(md, "resource_version", None)
            annotations = getattr(md, "annotations", None) if etype == BOOKMARK else None
        else:
            md = obj.get("metadata")
            if md.__class__ is not dict:
                md = {}
            elif self._strip:
                md.pop("managedFields", None)
            rv = md.get("resourceVersion")
            annotations = md.get("annotations")
        if etype == BOOKMARK:
            if not rv or rv.__class__ is not str:
                raise DecodeError("BOOKMARK without metadata.resourceVersion", line[:_SAMPLE])
            end = (
                annotations.__class__ is dict
                and annotations.get(INITIAL_EVENTS_END_ANNOTATION) == "true"
            )
            return WatchEvent(BOOKMARK, obj, rv, end)
        if self.model is None:
            _untrack_tree(obj)
        if self.transform is not None:
            obj = self.transform(obj)
        return WatchEvent(etype, obj, rv if rv.__class__ is str else "")


    def decode_event_reusing(self, line: bytes, memo: SubtreeMemo) -> WatchEvent:
        """:meth:`decode_event`, reusing unchanged fields of the object's previous version.

        ``memo`` belongs to the caller (one watch at a time; start it empty, clear it
        when the objects may have changed unseen, as after a relist): for ADDED and
        MODIFIED events it records the object's reusable fields, for DELETED it forgets
        the object. Each reusable field whose JSON bytes hash as in the memo gets the
        memo's value (the very object); the others are decoded. The result equals what
        :meth:`decode_event` returns (in dict mode, a ``metadata`` dict has its keys in the
        API server's order). Other event types, and lines the fast path cannot read, go
        through :meth:`decode_event`.

        With :attr:`cuts_lines`, the line is first cut by the core's ``EventCutter``: a
        SIMD scan finds the reusable fields and ``metadata.managedFields``, and only the
        rest (a few hundred bytes of a pod's 4-5 KB) goes through msgspec. A dropped
        ``managedFields`` is then checked only for terminated strings and balanced
        brackets, not decoded; lines the cutter does not take are decoded as above.
        """
        reuse = self._reuse
        if reuse is None or reuse.misses >= _REUSE_GIVE_UP:
            return self.decode_event(line)
        cutter = reuse.cutter
        cut = cutter.cut(line) if cutter is not None else None
        try:
            envelope = reuse.decoder.decode(line if cut is None else cut.shell)
        except msgspec.ValidationError:
            event = self.decode_event(line)  # raises if the line is bad for it too
            if event.type in _REUSED_EVENTS:  # an object the shell cannot read
                reuse.misses += 1
            return event
        except msgspec.DecodeError:
            return self.decode_event(line)  # reports the error
        reuse.misses = 0
        etype = envelope.type
        if etype not in _REUSED_EVENTS:
            return self.decode_event(line)
        shell = envelope.object
        md = shell.metadata
        if md is None:
            return self.decode_event(line)
        ident: Any = md.uid or (md.namespace, md.name)
        try:
            obj = reuse.reuser.build(shell, ident, memo, etype == DELETED, cut)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return self.decode_event(line)  # reports the error with its context
        rv = md.resource_version
        return WatchEvent(etype, obj, rv if rv.__class__ is str else "")


_CACHE: dict[tuple[Any, ...], ObjectDecoder] = {}
_CACHE_LOCK = threading.Lock()


def _resolve(resource_or_kind: Any) -> tuple[str, str, type[Any] | None]:
    """``(apiVersion, kind, explicit struct)`` named by a decoder_for argument."""
    if isinstance(resource_or_kind, type) and issubclass(resource_or_kind, msgspec.Struct):
        return "", resource_or_kind.__name__, resource_or_kind
    if isinstance(resource_or_kind, str):
        spec = resource_or_kind.strip()
        if "/" in spec:
            api_version, _, kind = spec.rpartition("/")
            return api_version, kind, None
        if spec[:1].isupper():
            return api_version_of_kind(spec) or "", spec, None
        return _resolve(_resource_named(spec))
    res_kind = getattr(resource_or_kind, "kind", None)
    version = getattr(resource_or_kind, "version", None)
    if isinstance(res_kind, str) and isinstance(version, str):
        group = getattr(resource_or_kind, "group", "") or ""
        return (f"{group}/{version}" if group else version), res_kind, None
    raise TypeError(
        "decoder_for() takes a kind ('Pod'), 'apiVersion/kind' ('apps/v1/Deployment'), "
        f"a Resource or a msgspec Struct type, not {resource_or_kind!r}"
    )


def _resource_named(name: str) -> Any:
    """Resolve a resource name ("pods") through fastinformer.resources, when present."""
    try:
        from fastinformer.resources import resource_for
    except ImportError:  # pragma: no cover - resources.py ships with the package
        raise ValueError(f"unknown kind {name!r} (kinds are capitalised: 'Pod')") from None
    return resource_for(name)


def decoder_for(
    resource_or_kind: Any,
    mode: DecodeMode = "typed",
    keep_managed_fields: bool = False,
    transform: Transform | None = None,
) -> ObjectDecoder:
    """The decoder of one resource, built on first use and cached.

    ``resource_or_kind`` is a kind (``"Pod"``), ``"apiVersion/kind"``
    (``"apps/v1/Deployment"``, ``"v1/Pod"``), an object with ``group``/``version``/
    ``kind`` attributes (a ``Resource``), a resource name that
    :func:`fastinformer.resources.resource_for` knows (``"pods"``), or a msgspec Struct
    type to decode into (custom typed models). In typed mode a kind without a generated
    model decodes as dicts.
    """
    if mode not in ("typed", "dict"):
        raise ValueError(f"mode must be 'typed' or 'dict', not {mode!r}")
    api_version, kind, explicit = _resolve(resource_or_kind)
    key = (api_version, kind, explicit, mode, keep_managed_fields, transform)
    decoder = _CACHE.get(key)
    if decoder is not None:
        return decoder
    model: type[Any] | None = None
    if mode == "typed":
        model = explicit or model_for(api_version, kind, keep_managed_fields=keep_managed_fields)
    decoder = ObjectDecoder(api_version, kind, model, keep_managed_fields, transform)
    with _CACHE_LOCK:
        return _CACHE.setdefault(key, decoder)
