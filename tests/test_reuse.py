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
    first = build(r, memo, b'{"name":"a","spec":{"replicas":3},"data":{"k":"v"}}')
    compiled = core.__name__ != "fastinformer._core_py"
    entry = memo["a"]
    hashes, values = (entry.hashes, entry.values) if compiled else entry
    assert values == (first.spec, first.data) and len(hashes) == 2
    assert values[0] is first.spec
    assert gc.is_tracked(entry) is not compiled


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


class Meta(msgspec.Struct, kw_only=True):
    name: str | None = None
    labels: dict[str, str] | None = None
    owners: list[str] | None = None


class Boxed(msgspec.Struct, kw_only=True):
    meta: Meta | None = None
    spec: Spec | None = None


class BoxedShell(msgspec.Struct, kw_only=True):
    meta: Meta | None = None
    spec: msgspec.Raw = MISSING


BOXED_SHELL = msgspec.json.Decoder(BoxedShell)


def boxed_reuser(core: ModuleType, shared: list[Meta]) -> Any:
    return core.FieldReuser(
        Boxed,
        ("meta", "spec"),
        ("spec",),
        (msgspec.json.Decoder(Spec | None),),
        MISSING,
        inner="meta",
        inner_names=("labels", "owners"),
        inner_decoders=(
            msgspec.json.Decoder(dict[str, str] | None),
            msgspec.json.Decoder(list[str] | None),
        ),
        inner_shared=("labels",),
        share=shared.append,
    )


def build_boxed(core: ModuleType, r: Any, memo: dict[Any, Any], body: bytes) -> Boxed:
    line = b'{"type":"ADDED","object":' + body + b"}"
    cut = core.EventCutter(("spec",), True, ("labels", "owners")).cut(line)
    assert cut is not None
    shell_object = msgspec.json.decode(cut.shell)["object"]
    shell = BOXED_SHELL.decode(msgspec.json.encode({"meta": shell_object.get("metadata")}))
    obj: Boxed = r.build(shell, "id", memo, False, cut)
    return obj


def test_inner_fields_with_the_same_bytes_are_the_previous_objects(core: ModuleType) -> None:
    shared: list[Meta] = []
    r, memo = boxed_reuser(core, shared), {}
    body = b'{"metadata":{"name":"a","labels":{"x":"1"},"owners":["o"]},"spec":{"replicas":1}}'
    first = build_boxed(core, r, memo, body)
    assert first == Boxed(meta=Meta(name="a", labels={"x": "1"}, owners=["o"]), spec=Spec(1))
    assert shared == [first.meta]  # labels were decoded: their strings shared once
    second = build_boxed(core, r, memo, body.replace(b'"a"', b'"b"'))
    assert second.meta is not None and first.meta is not None
    assert second.meta.name == "b"
    assert second.meta.labels is first.meta.labels and second.meta.owners is first.meta.owners
    assert shared == [first.meta]  # nothing decoded, nothing shared again


def test_a_changed_inner_field_is_decoded_and_shared_only_if_listed(core: ModuleType) -> None:
    shared: list[Meta] = []
    r, memo = boxed_reuser(core, shared), {}
    body = b'{"metadata":{"labels":{"x":"1"},"owners":["o"]}}'
    first = build_boxed(core, r, memo, body)
    second = build_boxed(core, r, memo, body.replace(b'["o"]', b'["p"]'))
    assert second.meta is not None and first.meta is not None
    assert second.meta.owners == ["p"] and second.meta.labels is first.meta.labels
    assert len(shared) == 1  # owners are not listed as shared
    third = build_boxed(core, r, memo, body.replace(b'"1"', b'"2"'))
    assert third.meta is not None and third.meta.labels == {"x": "2"}
    assert len(shared) == 2 and shared[-1] is third.meta


def test_inner_fields_without_a_span_keep_the_decoded_value(core: ModuleType) -> None:
    r, memo = boxed_reuser(core, []), {}
    body = b'{"metadata":{"labels":null,"owners":["o"]}}'
    first = build_boxed(core, r, memo, body)
    assert first.meta == Meta(labels=None, owners=["o"])
    whole = BOXED_SHELL.decode(b'{"meta":{"labels":{"x":"1"},"owners":["o"]}}')
    plain = r.build(whole, "id", memo, False)  # no cut: nothing hashed, nothing reused
    assert plain.meta.labels == {"x": "1"} and plain.meta.owners is whole.meta.owners
    again = build_boxed(core, r, memo, body)
    assert again.meta is not None and again.meta.owners == ["o"]
    assert again.meta.owners is not first.meta.owners  # decoded again after the plain build


def test_an_absent_inner_struct_is_left_alone(core: ModuleType) -> None:
    r, memo = boxed_reuser(core, []), {}
    assert build_boxed(core, r, memo, b'{"spec":{"replicas":2}}') == Boxed(spec=Spec(2))


def test_the_inner_arguments_are_checked(core: ModuleType) -> None:
    dec = msgspec.json.Decoder(Spec)
    with pytest.raises(ValueError, match="inner must name"):
        core.FieldReuser(Boxed, ("meta", "spec"), ("spec",), (dec,), MISSING,
                         inner="nope", inner_names=("labels",), inner_decoders=(dec,))
    with pytest.raises(ValueError, match="inner must name"):
        core.FieldReuser(Boxed, ("meta", "spec"), ("spec",), (dec,), MISSING,
                         inner="spec", inner_names=("labels",), inner_decoders=(dec,))
    with pytest.raises(ValueError, match="one decoder"):
        core.FieldReuser(Boxed, ("meta", "spec"), ("spec",), (dec,), MISSING,
                         inner="meta", inner_names=("labels",), inner_decoders=())
    with pytest.raises(ValueError, match="inner_shared"):
        core.FieldReuser(Boxed, ("meta", "spec"), ("spec",), (dec,), MISSING,
                         inner="meta", inner_names=("labels",), inner_decoders=(dec,),
                         inner_shared=("owners",))
    with pytest.raises(ValueError, match="at most"):
        core.FieldReuser(Boxed, ("meta", "spec"), ("spec",), (dec,), MISSING, inner="meta",
                         inner_names=tuple(f"f{i}" for i in range(8)),
                         inner_decoders=(dec,) * 8)
    with pytest.raises(TypeError, match="share"):
        core.FieldReuser(Boxed, ("meta", "spec"), ("spec",), (dec,), MISSING, share=3)


class RawSpec(msgspec.Struct):
    template: msgspec.Raw = msgspec.Raw()


class RawThing(msgspec.Struct, kw_only=True):
    name: str | None = None
    spec: RawSpec | None = None


def test_a_decoded_raw_field_outlives_the_line_it_came_from(core: ModuleType) -> None:
    r = core.FieldReuser(
        RawThing, ("name", "spec"), ("spec",), (msgspec.json.Decoder(RawSpec),), MISSING
    )
    line = b'{"type":"ADDED","object":{"name":"a","spec":{"template":{"k":[1,2,3]}}}}'
    cut = core.EventCutter(("spec",)).cut(bytes(bytearray(line)))
    shell = msgspec.json.Decoder(RawThing).decode(b'{"name":"a"}')
    obj = r.build(shell, "a", {}, False, cut)
    del cut
    gc.collect()
    reuse_the_memory = [bytes(len(line)) for _ in range(1000)]  # zeroes where the line was
    assert bytes(obj.spec.template) == b'{"k":[1,2,3]}'
    assert len(reuse_the_memory) == 1000
