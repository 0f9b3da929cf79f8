"""A minimal OpenAPI v3 description of the served resources.

kubectl (``apply``, ``create``) reads ``/openapi/v3`` to learn that the server validates
fields itself (the ``fieldValidation`` query parameter of each PATCH operation); without it,
kubectl refuses to apply unless ``--validate=false``. No schemas are published, so kubectl
computes strategic merge patches from its compiled types.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from fastinformer.sim.registry import Registry, ResourceType


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _operation(rtype: ResourceType, action: str) -> dict[str, Any]:
    return {
        "operationId": f"{action}{rtype.kind}",
        "parameters": [
            {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
        ],
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {
            "group": rtype.group, "version": rtype.version, "kind": rtype.kind,
        },
    }


def group_version_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of one group/version, or None when nothing is served."""
    types = [t for t in registry.types() if t.group == group and t.version == version]
    if not types:
        return None
    paths: dict[str, Any] = {}
    prefix = "/" + _gv_path(group, version)
    for rtype in types:
        scope = f"{prefix}/namespaces/{{namespace}}" if rtype.namespaced else prefix
        paths[f"{scope}/{rtype.plural}"] = {"post": _operation(rtype, "post")}
        paths[f"{scope}/{rtype.plural}/{{name}}"] = {
            "put": _operation(rtype, "put"),
            "patch": _operation(rtype, "patch"),
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def root_document(registry: Registry) -> dict[str, Any]:
    """``/openapi/v3``: where each group/version's document is (with a content hash)."""
    served = sorted({(t.group, t.version) for t in registry.types()})
    paths: dict[str, Any] = {}
    for group, version in served:
        doc = group_version_document(registry, group, version)
        digest = hashlib.sha512(orjson.dumps(doc)).hexdigest()[:32].upper()
        path = _gv_path(group, version)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}
