"""Typed models of the built-in kinds, generated from the kubernetes client's metadata.

``Pod``, ``Node``, ``Deployment``... are msgspec Structs with the client's attribute
names (``pod.spec.node_name``) and the API's JSON names; see :mod:`.base` for the
conventions (optional fields, timestamps as strings, shared string values) and
:mod:`.generate` for how ``_generated.py`` is produced. ``ObjectMeta`` drops
``managedFields`` at decode time; the ``...WithManagedFields`` variants keep it.
"""

from __future__ import annotations

from fastinformer.models._generated import *  # noqa: F403
from fastinformer.models._generated import MODELS, MODELS_WITH_MANAGED_FIELDS
from fastinformer.models._generated import __all__ as _generated_all
from fastinformer.models.base import IntOrString, Model, Time, parse_time

__all__ = [
    "IntOrString",
    "Model",
    "Time",
    "api_version_of_kind",
    "model_for",
    "parse_time",
    *_generated_all,
]

_API_VERSION_OF_KIND: dict[str, str] = {kind: api for api, kind in MODELS}


def model_for(
    api_version: str, kind: str, *, keep_managed_fields: bool = False
) -> type[Model] | None:
    """The struct decoding ``kind`` of ``api_version`` (``("apps/v1", "Deployment")``),
    ``None`` when there is no generated model for it."""
    table = MODELS_WITH_MANAGED_FIELDS if keep_managed_fields else MODELS
    return table.get((api_version, kind))


def api_version_of_kind(kind: str) -> str | None:
    """The apiVersion of a built-in ``kind`` that has a model (``"Lease"`` gives
    ``"coordination.k8s.io/v1"``), ``None`` for other kinds."""
    return _API_VERSION_OF_KIND.get(kind)
