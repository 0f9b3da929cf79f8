"""The base of every generated model: conversions to the kubernetes client's shapes.

A :class:`Model` is a msgspec Struct whose attribute names are the kubernetes Python
client's (``pod.spec.node_name``, ``container.image_pull_policy``) and whose JSON names
are the API's. Every field is optional (``None`` when absent), so a minimal object such
as a watch BOOKMARK decodes into any kind. Timestamps stay the RFC 3339 strings the
server sent (:data:`Time`); :meth:`Model.to_dict` and :meth:`Model.to_client_model`
turn them into ``datetime`` on demand, as the client does.

Instances are not tracked by the cyclic GC (``gc=False``), and with the compiled core
neither are the lists and dicts inside them once decoded (see :data:`share_fields`):
decoded objects never form reference cycles, so a full collection would only walk the
whole cache for nothing. Callers must not create a cycle through them (for example by
storing a model inside its own ``labels`` dict or appending a list to itself); objects
are still freed by reference counting.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from fastinformer._compat import core

if TYPE_CHECKING:
    from fastinformer._core_py import FieldSharer

__all__ = [
    "SHARED",
    "SHARED_LIMIT",
    "IntOrString",
    "Model",
    "Time",
    "client_model_class",
    "parse_time",
    "share_fields",
    "trim_shared",
]

Time = str
"""An RFC 3339 timestamp as sent by the server (``"2024-01-31T12:00:00Z"``)."""

IntOrString = int | str
"""A field that holds a number or a name (ports, ``maxSurge``...)."""

_CLIENT_CLASSES: dict[str, Any] = {}

SHARED: dict[Any, Any] = {}
"""One copy of each repetitive string value decoded (images, namespaces, node names,
label values, phases, condition types, timestamps...): :data:`share_fields` replaces a
decoded string by the copy found here, so thousands of cached objects share it. Only
values are shared, never containers; strings are immutable, so sharing is invisible to
users."""

SHARED_LIMIT = 1 << 16
""":data:`SHARED` is emptied when it grows past this many entries (values unique to one
object must not make it grow without bound); objects keep the copies they already hold."""


def trim_shared() -> None:
    """Empty :data:`SHARED` once it holds more than :data:`SHARED_LIMIT` values."""
    if len(SHARED) > SHARED_LIMIT:
        SHARED.clear()


_SHARER: FieldSharer = core.FieldSharer(SHARED, trim_shared)
share_fields = _SHARER.share
"""The ``__post_init__`` of every model (msgspec calls it on each struct it builds): the
fields a class lists in ``_shared_fields`` get their strings from :data:`SHARED`, and
(compiled core only) list and dict fields stop being tracked by the cyclic GC; classes
with ``_trims_shared`` (``ObjectMeta``, one per object) call :func:`trim_shared` first.
See ``FieldSharer`` in the core (twin: :mod:`fastinformer._py_store`)."""


def parse_time(value: str) -> datetime:
    """The timezone-aware ``datetime`` of an RFC 3339 timestamp (``Z`` or an offset)."""
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    return datetime.fromisoformat(value)


def client_model_class(name: str) -> Any:
    """The kubernetes client's model class called ``name`` (imported on first use)."""
    cls = _CLIENT_CLASSES.get(name)
    if cls is None:
        models = importlib.import_module("kubernetes.client.models")
        cls = _CLIENT_CLASSES[name] = getattr(models, name)
    return cls


def _legacy_value(value: Any) -> Any:
    """One attribute as the client's ``to_dict()`` renders it: models become dicts,
    list items and dict values one level deep likewise, anything else as is."""
    if isinstance(value, Model):
        return value.to_dict()
    if isinstance(value, list):
        return [v.to_dict() if isinstance(v, Model) else v for v in value]
    if isinstance(value, dict):
        return {k: v.to_dict() if isinstance(v, Model) else v for k, v in value.items()}
    return value


class Model(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False, repr_omit_defaults=True):
    """Base of the generated structs; holds no fields of its own.

    Class attributes set by the generator: ``_client_model`` (the client's class name,
    ``None`` when the client has none), ``_client_fields`` (the client's attribute names
    in its order), ``_time_fields`` (those holding timestamps), ``_shared_fields`` (those
    whose string values are shared, see :data:`share_fields`) and ``_trims_shared``.
    """

    _client_model: ClassVar[str | None] = None
    _client_fields: ClassVar[tuple[str, ...]] = ()
    _time_fields: ClassVar[tuple[str, ...]] = ()
    _shared_fields: ClassVar[tuple[str, ...]] = ()
    _trims_shared: ClassVar[bool] = False

    if TYPE_CHECKING:

        def __post_init__(self) -> None:
            """Share strings and untrack containers (see :data:`share_fields`)."""

    else:
        # A bound method of the compiled sharer: msgspec calls it as share_fields(struct).
        __post_init__ = share_fields

    def to_dict(self) -> dict[str, Any]:
        """What the client's ``model.to_dict()`` returns: every attribute under its
        snake_case name, ``None`` when absent, timestamps as ``datetime``."""
        time_fields = self._time_fields
        out: dict[str, Any] = {}
        for name in self._client_fields:
            value = getattr(self, name, None)
            if value is None:
                out[name] = None
            elif name in time_fields:
                out[name] = parse_time(value)
            else:
                out[name] = _legacy_value(value)
        return out

    def to_json_dict(self) -> dict[str, Any]:
        """The wire form: camelCase keys, absent and ``null`` fields omitted."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out

    def to_json(self) -> bytes:
        """The wire form encoded as compact JSON."""
        return msgspec.json.encode(self)

    def to_client_model(self) -> Any:
        """A new kubernetes client model (``V1Pod``...) equal to what the client decodes
        from :meth:`to_json_dict`; fields dropped at decode time stay ``None``."""
        name = self._client_model
        if name is None:
            raise TypeError(f"the kubernetes client has no model for {type(self).__name__}")
        cls = client_model_class(name)
        data = self.to_json_dict()
        from_dict = getattr(cls, "from_dict", None)
        if from_dict is not None:
            return from_dict(data)
        # Older (pre-pydantic) clients only deserialise through ApiClient.
        return _legacy_api_client()._ApiClient__deserialize(data, name)


_API_CLIENT: list[Any] = []


def _legacy_api_client() -> Any:
    if not _API_CLIENT:
        client = importlib.import_module("kubernetes.client")
        _API_CLIENT.append(client.ApiClient())
    return _API_CLIENT[0]
