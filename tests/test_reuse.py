"""FieldReuser (compiled core and pure twin): unchanged fields come from the memo."""

from __future__ import annotations

import gc
from types import ModuleType
from typing import Any

import msgspec
import pytest


class Spec(msgspec.Struct):
    replicas: int = 0
    image: str = ""


class Thing(msgspec.Struct, kw_only=True):
    name: str | None = None
    spec: Spec | None = None
    data: dict[str, str] | None = None


MISSING = msgspec.Raw()


class Shell(msgspec.Struct, kw_only=True):
    name: str | None = None
    spec: msgspec.Raw = MISSING
    data: msgspec.Raw = MISSING


SHELL = msgspec.json.Decoder(Shell)


def reuser(core: ModuleType) -> Any:
    return core.FieldReuser(
        Thing, ("name", "spec", "data"), ("spec", "data"),
        (msgspec.json.Decoder(Spec | None), msgspec.json.Decoder(dict[str, str] | None)),
        MISSING,
    )


def build(r: Any, memo: dict[Any, Any], body: bytes, forget: bool = False) -> Thing:
    shell = SHELL.decode(body)
    obj: Thing = r.build(shell, shell.name, memo, forget)
    return obj


def test_the_built_object_equals_a_plain_decode(core: ModuleType) -> None:
    body = b'{"name":"a","spec":{"replicas":3,"image":"x"},"data":{"k":"v"}}'
    assert build(reuser(core), {}, body) == msgspec.json.decode(body, type=Thing)


def test_fields_with_the_same_bytes_are_the_previous_objects(core: ModuleType) -> None:
    r, memo = reuser(core), {}
    first = build(r, memo, b'{"name":"a","spec":{"replicas":3},"data":{"k":"v"}}')
    second = build(r, memo, b'{"name":"a","spec":{"replicas":3},"data":{"k":"w"}}')
    assert second.spec is first.spec
    assert second.data is not first.data
    assert second.data == {"k": "w"}
    third = build(r, memo, b'{"name":"a","spec":{"replicas":3},"data":{"k":"w"}}')
    assert third.data is second.data


def test_the_same_value_in_other_bytes_is_decoded_again(core: ModuleType) -> None:
    r, memo = reuser(core), {}
    first = build(r, memo, b'{"name":"a","spec":{"replicas":3}}')
    second = build(r, memo, b'{"name":"a","spec":{ "replicas":3}}')
    assert second.spec == first.spec
    assert second.spec is not first.spec


def test_objects_with_other_identities_never_share(core: ModuleType) -> None:
    r, memo = reuser(core), {}
    a = build(r, memo, b'{"name":"a","spec":{"replicas":1}}')
    b = build(r, memo, b'{"name":"b","spec":{"replicas":1}}')
    assert a.spec == b.spec
    assert a.spec is not b.spec
    assert set(memo) == {"a", "b"}


def test_absent_fields_are_none_and_forget_removes_the_entry(core: ModuleType) -> None:
    r, memo = reuser(core), {}
    obj = build(r, memo, b'{"name":"a"}')
    assert obj.spec is None and obj.data is None
    assert "a" in memo
    build(r, memo, b'{"name":"a","data":{"k":"v"}}', forget=True)
    assert memo == {}
    build(r, memo, b'{"name":"zz"}', forget=True)  # forgetting an unknown one is fine
    assert memo == {}


def test_absent_fields_get_the_absent_value_given(core: ModuleType) -> None:
    absent = object()
    seen: dict[str, Any] = {}

    def model(**fields: Any) -> dict[str, Any]:
        seen.update(fields)
        return fields

    r = core.FieldReuser(
        model, ("name", "spec", "data"), ("spec", "data"),
        (msgspec.json.Decoder(), msgspec.json.Decoder()), MISSING, absent,
    )
    assert r.absent is absent
    shell = SHELL.decode(b'{"name":"a","data":null}')
    r.build(shell, "a", {}, False)
    assert seen == {"name": "a", "spec": absent, "data": None}


def test_a_decoding_error_propagates_and_leaves_the_memo_alone(core: ModuleType) -> None:
    r, memo = reuser(core), {}
    first = build(r, memo, b'{"name":"a","spec":{"replicas":1}}')
    with pytest.raises(msgspec.ValidationError):
        build(r, memo, b'{"name":"a","spec":{"replicas":"many"}}')
    again = build(r, memo, b'{"name":"a","spec":{"replicas":1}}')
    assert again.spec is first.spec


def test_the_constructor_checks_its_arguments(core: ModuleType) -> None:
    dec = msgspec.json.Decoder(Spec)
    with pytest.raises(ValueError):
        core.FieldReuser(Thing, ("name", "spec"), ("spec", "data"), (dec,), MISSING)
    with pytest.raises(ValueError):
        core.FieldReuser(Thing, ("name",), ("spec",), (dec,), MISSING)
    many = tuple(f"f{i}" for i in range(core.REUSE_MAX_FIELDS + 1))
    with pytest.raises(ValueError):
        core.FieldReuser(Thing, many, many, (dec,) * len(many), MISSING)


def test_the_memo_holds_untracked_values_when_compiled(core: ModuleType) -> None:
    r, memo = reuser(core), {}
    build(r, memo, b'{"name":"a","spec":{"replicas":3},"data":{"k":"v"}}')
    compiled = core.__name__ != "fastinformer._core_py"
    entry = memo["a"]
    values = [v for v in gc.get_referents(entry) if type(v) in (list, tuple) and len(v) == 2]
    values = [v for v in values if any(isinstance(x, Spec) for x in v)]
    assert len(values) == 1
    assert gc.is_tracked(values[0]) is not compiled


def build_cut(r: Any, memo: dict[Any, Any], body: bytes, core: ModuleType) -> Thing:
    """``build`` through an EventCutter: the shell is decoded from the cut line and the
    reusable fields' bytes come from their spans."""
    line = b'{"type":"ADDED","object":' + body + b"}"
    cut = core.EventCutter(("spec", "data")).cut(line)
    assert cut is not None
    shell = msgspec.json.decode(cut.shell, type=dict[str, Any])["object"]
    assert "spec" not in shell and "data" not in shell
    obj: Thing = r.build(SHELL.decode(msgspec.json.encode(shell)), shell["name"], memo, False, cut)
    return obj


def test_a_cut_line_builds_the_same_object_and_reuses_by_span(core: ModuleType) -> None:
    r, memo = reuser(core), {}
    body = b'{"name":"a","spec":{"replicas":3,"image":"x"},"data":{"k":"v"}}'
    first = build_cut(r, memo, body, core)
    assert first == msgspec.json.decode(body, type=Thing)
    second = build_cut(r, memo, body.replace(b'"v"', b'"w"'), core)
    assert second.spec is first.spec
    assert second.data == {"k": "w"}


def test_cut_and_whole_shells_share_the_memo(core: ModuleType) -> None:
    r, memo = reuser(core), {}
    body = b'{"name":"a","spec":{"replicas":3},"data":{"k":"v"}}'
    whole = build(r, memo, body)
    cut = build_cut(r, memo, body, core)
    assert cut.spec is whole.spec and cut.data is whole.data
    again = build(r, memo, body)
    assert again.spec is whole.spec


def test_fields_without_a_span_are_absent(core: ModuleType) -> None:
    r, memo = reuser(core), {}
    obj = build_cut(r, memo, b'{"name":"a","data":null}', core)
    assert obj.spec is None and obj.data is None


def test_a_cut_for_other_fields_is_refused(core: ModuleType) -> None:
    cut = core.EventCutter(("spec",)).cut(b'{"type":"ADDED","object":{"name":"a"}}')
    shell = SHELL.decode(b'{"name":"a"}')
    with pytest.raises(ValueError, match="spans"):
        reuser(core).build(shell, "a", {}, False, cut)


def test_a_decoding_error_in_a_span_leaves_the_memo_alone(core: ModuleType) -> None:
    r, memo = reuser(core), {}
    first = build_cut(r, memo, b'{"name":"a","spec":{"replicas":1}}', core)
    with pytest.raises(msgspec.ValidationError):
        build_cut(r, memo, b'{"name":"a","spec":{"replicas":"many"}}', core)
    again = build_cut(r, memo, b'{"name":"a","spec":{"replicas":1}}', core)
    assert again.spec is first.spec
