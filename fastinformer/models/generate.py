"""Generate ``fastinformer/models/_generated.py`` from the kubernetes client's model metadata.

Run ``python -m fastinformer.models.generate`` (or pass an output path) after upgrading
the kubernetes package. For every root kind in :data:`ROOTS` and every model reachable
from it, the client's ``openapi_types`` and ``attribute_map`` give the attribute names,
JSON names and types; the pydantic field annotations tell int-or-string fields
(``int | str``) from free-form objects (``Any``). The output depends only on the installed
kubernetes version, so running the generator twice gives the same bytes.
"""

from __future__ import annotations

import argparse
import importlib
import keyword
import re
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ROOTS", "generate", "main"]

# (apiVersion, kind, client class name or None when the client has no model for it).
ROOTS: tuple[tuple[str, str, str | None], ...] = (
    ("v1", "Pod", "V1Pod"),
    ("v1", "Node", "V1Node"),
    ("v1", "Namespace", "V1Namespace"),
    ("v1", "ConfigMap", "V1ConfigMap"),
    ("v1", "Secret", "V1Secret"),
    ("v1", "Service", "V1Service"),
    ("v1", "Endpoints", "V1Endpoints"),
    ("v1", "Event", "CoreV1Event"),
    ("apps/v1", "Deployment", "V1Deployment"),
    ("apps/v1", "ReplicaSet", "V1ReplicaSet"),
    ("apps/v1", "StatefulSet", "V1StatefulSet"),
    ("apps/v1", "DaemonSet", "V1DaemonSet"),
    ("coordination.k8s.io/v1", "Lease", "V1Lease"),
    ("meta.k8s.io/v1", "PartialObjectMetadata", None),
)

# PartialObjectMetadata has no client model; it is declared here in the client's terms.
_PARTIAL_OBJECT_METADATA: dict[str, tuple[str, str]] = {
    "api_version": ("str", "apiVersion"),
    "kind": ("str", "kind"),
    "metadata": ("V1ObjectMeta", "metadata"),
}

_META = "V1ObjectMeta"
_MANAGED_FIELDS = "managed_fields"
_KEEP_SUFFIX = "WithManagedFields"
_PRIMITIVES = {"str": "str", "int": "int", "bool": "bool", "float": "float", "bytes": "str"}
_LIST_RE = re.compile(r"List\[(.*)\]")
_DICT_RE = re.compile(r"Dict\[str, (.*)\]")
_PREFIX_RE = re.compile(r"^(CoreV1|V1)(?=[A-Z])")
_LINE = 100

# String fields whose values are unique to one object (annotations: mostly unique or huge,
# such as kubectl's last-applied-configuration): sharing them would only fill the cache
# (see ``fastinformer.models.base.SHARED``) and slow down every lookup in it. Every other
# string field, and the values of string maps and the items of string lists, are shared
# between the objects decoded: each class lists them in ``_shared_fields``, read by
# ``Model.__post_init__``.
_UNSHARED: dict[str, frozenset[str]] = {
    _META: frozenset({"annotations", "name", "uid", "resource_version", "self_link"}),
    "V1PodStatus": frozenset({"pod_ip"}),
    "V1PodIP": frozenset({"ip"}),
    "V1ContainerStatus": frozenset({"container_id"}),
    "V1ContainerStateTerminated": frozenset({"container_id"}),
}


@dataclass(frozen=True)
class _Field:
    attr: str
    json_name: str
    client_type: str
    annotation: Any


@dataclass(frozen=True)
class _Model:
    client_name: str | None
    name: str
    fields: tuple[_Field, ...]


def _struct_name(client_name: str) -> str:
    return _PREFIX_RE.sub("", client_name)


def _pydantic_annotations(cls: Any) -> dict[str, Any]:
    """Pydantic annotation of each field, keyed by its JSON name."""
    out: dict[str, Any] = {}
    for name, info in getattr(cls, "model_fields", {}).items():
        out[info.serialization_alias or info.alias or name] = info.annotation
    return out


def _load(client_name: str, models: Any) -> _Model:
    cls = getattr(models, client_name)
    annotations = _pydantic_annotations(cls)
    fields = tuple(
        _Field(attr, cls.attribute_map[attr], ctype, annotations.get(cls.attribute_map[attr]))
        for attr, ctype in cls.openapi_types.items()
    )
    return _Model(client_name, _struct_name(client_name), fields)


def _referenced(client_type: str) -> str | None:
    """The model class a client type string refers to, if any."""
    m = _LIST_RE.fullmatch(client_type) or _DICT_RE.fullmatch(client_type)
    if m:
        return _referenced(m.group(1))
    if client_type in _PRIMITIVES or client_type in ("datetime", "object"):
        return None
    return client_type


def _collect(models: Any) -> dict[str, _Model]:
    """Every model reachable from the roots, by client class name."""
    found: dict[str, _Model] = {}
    todo = [c for _, _, c in ROOTS if c is not None] + [_META]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        model = found[name] = _load(name, models)
        for f in model.fields:
            ref = _referenced(f.client_type)
            if ref is not None and ref not in found:
                todo.append(ref)
    names = [m.name for m in found.values()]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise SystemExit(f"struct names clash after dropping version prefixes: {clashes}")
    return found


def _is_int_or_string(annotation: Any) -> bool:
    """Whether a pydantic annotation is a union of (possibly ``Strict``) int and str."""
    args: set[Any] = set()
    for arg in typing.get_args(annotation):
        if typing.get_origin(arg) is typing.Annotated:
            arg = typing.get_args(arg)[0]
        args.add(arg)
    return int in args and str in args


def _py_type(f: _Field, client_type: str | None = None) -> str:
    ctype = f.client_type if client_type is None else client_type
    m = _LIST_RE.fullmatch(ctype)
    if m:
        return f"list[{_py_type(f, m.group(1))}]"
    m = _DICT_RE.fullmatch(ctype)
    if m:
        return f"dict[str, {_py_type(f, m.group(1))}]"
    if ctype in _PRIMITIVES:
        return _PRIMITIVES[ctype]
    if ctype == "datetime":
        if client_type is not None:
            raise SystemExit(f"timestamps inside containers are not supported: {f}")
        return "Time"
    if ctype == "object":
        if client_type is None and _is_int_or_string(f.annotation):
            return "IntOrString"
        return "Any"
    return _struct_name(ctype)


def _field_line(attr: str, py_type: str, json_name: str) -> list[str]:
    """One field declaration, wrapped the way ``ruff format`` wraps it."""
    if keyword.iskeyword(attr) or not attr.isidentifier():
        raise SystemExit(f"attribute {attr!r} is not a valid Python name")
    if json_name == attr:
        return [f"    {attr}: {py_type} | None = None"]
    value = f'field(default=None, name="{json_name}")'
    line = f"    {attr}: {py_type} | None = {value}"
    if len(line) <= _LINE:
        return [line]
    head = f"    {attr}: {py_type} | None = field("
    if len(head) <= _LINE:
        return [head, f'        default=None, name="{json_name}"', "    )"]
    paren = f"    {attr}: {py_type} | None = ("
    if len(paren) <= _LINE and len(value) + 8 <= _LINE:
        return [paren, f"        {value}", "    )"]
    return [f"    {attr}: (", f"        {py_type} | None", f"    ) = {value}"]


def _tuple_lines(name: str, items: list[str]) -> list[str]:
    """A ``ClassVar`` tuple of strings: on one line if it fits, else one item a line."""
    quoted = [f'"{i}"' for i in items]
    head = f"    {name}: ClassVar[tuple[str, ...]] = ("
    inner = ", ".join(quoted) + ("," if len(items) == 1 else "")
    if len(head) + len(inner) + 1 <= _LINE:
        return [f"{head}{inner})"]
    return [head, *(f"        {q}," for q in quoted), "    )"]


def _class_header(name: str, base: str) -> list[str]:
    args = f"{base}, kw_only=True, omit_defaults=True, gc=False"
    line = f"class {name}({args}):"
    if len(line) <= _LINE:
        return [line]
    return [f"class {name}(", f"    {args}", "):"]


def _class_lines(model: _Model, kind_doc: str | None) -> list[str]:
    if kind_doc is None:
        doc = f"``{model.client_name}`` of the kubernetes client."
    elif model.client_name is None:
        doc = f"{kind_doc} (the kubernetes client has no model for it)."
    else:
        doc = f"{kind_doc} (client: ``{model.client_name}``)."
    lines = [*_class_header(model.name, "Model"), f'    """{doc}"""', ""]
    lines.append(
        f'    _client_model: ClassVar[str | None] = "{model.client_name}"'
        if model.client_name
        else "    _client_model: ClassVar[str | None] = None"
    )
    lines += _tuple_lines("_client_fields", [f.attr for f in model.fields])
    times = [f.attr for f in model.fields if f.client_type == "datetime"]
    if times:
        lines += _tuple_lines("_time_fields", times)
    lines += _shared_lines(model)
    lines.append("")
    drop_managed = model.client_name == _META
    for f in model.fields:
        if drop_managed and f.attr == _MANAGED_FIELDS:
            continue
        lines += _field_line(f.attr, _py_type(f), f.json_name)
    if drop_managed:
        lines += [
            "",
            "    @property",
            "    def managed_fields(self) -> list[ManagedFieldsEntry] | None:",
            '        """Always ``None``: dropped at decode time (see '
            f'``ObjectMeta{_KEEP_SUFFIX}``)."""',
            "        return None",
        ]
    return lines


def _shared_lines(model: _Model) -> list[str]:
    """``_shared_fields`` (and ``_trims_shared``): what ``Model.__post_init__`` shares."""
    unshared = _UNSHARED.get(model.client_name or "", frozenset())
    names = [
        f.attr
        for f in model.fields
        if f.attr not in unshared
        and not (f.client_type == _META and f.attr == _MANAGED_FIELDS)
        and f.client_type in ("str", "datetime", "Dict[str, str]", "List[str]")
    ]
    lines = _tuple_lines("_shared_fields", names) if names else []
    if model.client_name == _META:
        lines.append("    _trims_shared: ClassVar[bool] = True")
    return lines


def _keep_lines(model: _Model) -> list[str]:
    """The subclass of a root kind (or of ObjectMeta) that keeps ``managedFields``."""
    name = model.name + _KEEP_SUFFIX
    lines = [
        *_class_header(name, model.name),
        f'    """{model.name} that keeps ``metadata.managedFields``."""',
        "",
    ]
    if model.client_name == _META:
        mf = next(f for f in model.fields if f.attr == _MANAGED_FIELDS)
        lines += _field_line(mf.attr, _py_type(mf), mf.json_name)
    else:
        lines.append(f"    metadata: ObjectMeta{_KEEP_SUFFIX} | None = None")
    return lines


def _module_lines(found: dict[str, _Model], version: str) -> Iterator[str]:
    roots: list[tuple[str, str, _Model]] = []
    for api_version, kind, client_name in ROOTS:
        if client_name is None:
            fields = tuple(
                _Field(attr, json_name, ctype, None)
                for attr, (ctype, json_name) in _PARTIAL_OBJECT_METADATA.items()
            )
            model = _Model(None, kind, fields)
        else:
            model = found[client_name]
            if model.name != kind:
                raise SystemExit(f"{client_name} would be called {model.name}, not {kind}")
        roots.append((api_version, kind, model))
    root_names = {m.name for _, _, m in roots}
    parts = sorted((m for m in found.values() if m.name not in root_names), key=lambda m: m.name)
    names = sorted(
        [m.name for _, _, m in roots]
        + [m.name + _KEEP_SUFFIX for _, _, m in roots]
        + [m.name for m in parts]
        + ["ObjectMeta" + _KEEP_SUFFIX]
    )
    yield f"# Generated by `python -m fastinformer.models.generate` from kubernetes {version}."
    yield "# Do not edit: change the generator and run it again."
    yield '"""Typed structs of the built-in kinds fastinformer decodes (generated).'
    yield ""
    yield "Attribute names are the kubernetes client's, JSON names the API's; see"
    yield ":mod:`fastinformer.models.base` for the conventions."
    yield '"""'
    yield ""
    yield "from __future__ import annotations"
    yield ""
    yield "from typing import Any, ClassVar"
    yield ""
    yield "from msgspec import field"
    yield ""
    yield "from fastinformer.models.base import IntOrString, Model, Time"
    yield ""
    yield "__all__ = ["
    for n in ["MODELS", "MODELS_WITH_MANAGED_FIELDS", *names]:
        yield f'    "{n}",'
    yield "]"
    for api_version, kind, model in roots:
        yield ""
        yield ""
        yield from _class_lines(model, f"``{api_version}`` ``{kind}``")
    for model in parts:
        yield ""
        yield ""
        yield from _class_lines(model, None)
    for model in [found[_META]] + [m for _, _, m in roots]:
        yield ""
        yield ""
        yield from _keep_lines(model)
    yield ""
    yield ""
    yield "MODELS: dict[tuple[str, str], type[Model]] = {"
    for api_version, kind, model in roots:
        yield f'    ("{api_version}", "{kind}"): {model.name},'
    yield "}"
    yield '"""Struct of each root kind by ``(apiVersion, kind)``; ``managedFields`` dropped."""'
    yield ""
    yield "MODELS_WITH_MANAGED_FIELDS: dict[tuple[str, str], type[Model]] = {"
    for api_version, kind, model in roots:
        yield f'    ("{api_version}", "{kind}"): {model.name}{_KEEP_SUFFIX},'
    yield "}"
    yield '"""Struct of each root kind by ``(apiVersion, kind)``; ``managedFields`` kept."""'


def generate() -> str:
    """The text of the generated module for the installed kubernetes package."""
    kubernetes = importlib.import_module("kubernetes")
    models = importlib.import_module("kubernetes.client.models")
    found = _collect(models)
    return "\n".join(_module_lines(found, kubernetes.__version__)) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the generated module (by default next to this file)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "output",
        nargs="?",
        default=str(Path(__file__).with_name("_generated.py")),
        help="where to write the module (default: fastinformer/models/_generated.py)",
    )
    args = parser.parse_args(argv)
    Path(args.output).write_text(generate(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
