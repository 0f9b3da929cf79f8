"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and the subset of
strategic merge patch that kubectl and controllers use (maps merged, lists of containers,
env, ports, volumes, conditions... merged by key, ``$patch`` / ``$retainKeys`` /
``$setElementOrder`` / ``$deleteFromPrimitiveList`` directives).

Every function returns a new document and never mutates its inputs; a patch that cannot
apply raises :class:`PatchError` (the server answers 422).
"""

from __future__ import annotations

import copy
from typing import Any

from fastinformer.errors import FastInformerError

# Fields whose list elements strategic merge patch merges by a key.
_MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "imagePullSecrets": ("name",),
    "conditions": ("type",),
    "ownerReferences": ("uid",),
    "hostAliases": ("ip",),
    "podIPs": ("ip",),
    "hostIPs": ("ip",),
    "ports": ("containerPort", "port"),
    "addresses": ("type",),
    "taints": ("key",),
    "images": ("names",),
}
# Lists of scalars merged as sets.
_MERGE_SCALARS = frozenset({"finalizers"})


class PatchError(FastInformerError, ValueError):
    """The patch cannot be applied to the document."""


def merge_patch(doc: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# JSON patch -----------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, path: str, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
        raise PatchError(f"invalid array index {token!r} in path {path!r}")
    idx = int(token)
    if idx > len(container) or (idx == len(container) and not allow_end):
        raise PatchError(f"array index out of bounds: {idx} in path {path!r}")
    return idx


def _parent(doc: Any, tokens: list[str], path: str, op: str) -> Any:
    cur = doc
    for token in tokens[:-1]:
        if isinstance(cur, dict) and token in cur:
            cur = cur[token]
        elif isinstance(cur, list):
            cur = cur[_index(cur, token, path, False)]
        else:
            raise PatchError(
                f'{op} operation does not apply: doc is missing path: "{path}": missing value'
            )
    return cur


def _get(doc: Any, path: str, op: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path, op)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, path, False)]
    raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}": missing value')


def _remove(doc: Any, path: str, op: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        raise PatchError("cannot remove the document root")
    parent = _parent(doc, tokens, path, op)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, path, False))
    raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}": missing value')


def _add(doc: Any, path: str, value: Any, op: str, replace: bool = False) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path, op)
    last = tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError(
                f'replace operation does not apply: doc is missing key: "{path}": missing value'
            )
        parent[last] = value
    elif isinstance(parent, list):
        if replace:
            parent[_index(parent, last, path, False)] = value
        else:
            parent.insert(_index(parent, last, path, True), value)
    else:
        raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}"')
    return doc


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902 on a deep copy of ``doc``."""
    if not isinstance(operations, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    result = copy.deepcopy(doc)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation:
            raise PatchError("Unexpected kind: <nil>")
        op = operation["op"]
        path = operation.get("path")
        if not isinstance(path, str):
            raise PatchError(f"{op} operation requires a path")
        if op == "add":
            result = _add(result, path, copy.deepcopy(operation.get("value")), op)
        elif op == "remove":
            _remove(result, path, op)
        elif op == "replace":
            result = _add(result, path, copy.deepcopy(operation.get("value")), op, replace=True)
        elif op in ("move", "copy"):
            source = operation.get("from")
            if not isinstance(source, str):
                raise PatchError(f"{op} operation requires from")
            value = _remove(result, source, op) if op == "move" else copy.deepcopy(
                _get(result, source, op))
            result = _add(result, path, value, op)
        elif op == "test":
            if _get(result, path, op) != operation.get("value"):
                raise PatchError(f"testing value {path} failed: test failed")
        else:
            raise PatchError(f"Unexpected kind: {op}")
    return result


# Strategic merge patch ------------------------------------------------------------------


def strategic_merge_patch(doc: Any, patch: Any) -> Any:
    """Apply a strategic merge patch (the subset described in the module docstring)."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    return _smp_map(doc if isinstance(doc, dict) else {}, patch)


def _smp_map(doc: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return {}
    result = dict(doc)
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [v for v in result[field] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            if value.get("$patch") == "delete":
                result.pop(key, None)
                continue
            current = result.get(key)
            result[key] = _smp_map(current if isinstance(current, dict) else {}, value)
        elif isinstance(value, list):
            result[key] = _smp_list(key, result.get(key), value)
        else:
            result[key] = value
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_key(field: str, items: list[Any]) -> str | None:
    maps = [i for i in items if isinstance(i, dict)]
    for candidate in _MERGE_KEYS.get(field, ()):
        if maps and all(candidate in i for i in maps):
            return candidate
    return None


def _smp_list(field: str, current: Any, patch: list[Any]) -> list[Any]:
    if patch and isinstance(patch[0], dict) and patch[0].get("$patch") == "replace":
        return copy.deepcopy(patch[1:])
    base = list(current) if isinstance(current, list) else []
    if field in _MERGE_SCALARS and all(not isinstance(v, (dict, list)) for v in patch):
        return base + [v for v in patch if v not in base]
    key = _merge_key(field, [*base, *patch])
    if key is None:
        return copy.deepcopy(patch)
    result = [copy.deepcopy(i) for i in base]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {key}")
        position = next(
            (i for i, e in enumerate(result) if isinstance(e, dict) and e.get(key) == item[key]),
            None,
        )
        if item.get("$patch") == "delete":
            if position is not None:
                del result[position]
            continue
        if position is None:
            result.append(_smp_map({}, item))
        else:
            result[position] = _smp_map(result[position], item)
    return result
