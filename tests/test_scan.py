"""The structural scan and EventCutter (compiled core at each scan level, and the twin)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastinformer import _core_py
from tests.conftest import CORES

COMPILED = CORES["c"]
BEST = COMPILED.best_scan_level() if COMPILED is not None else 0


@pytest.fixture(params=["c-portable", "c-sse2", "c-avx2", "py"])
def scan(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    """The core under test: the compiled one at each scan level the CPU has, or the twin."""
    name: str = request.param
    if name == "py":
        yield _core_py
        return
    if COMPILED is None:
        pytest.skip("compiled core not built (set FASTINFORMER_REQUIRE_EXTENSIONS=1 to fail)")
    wanted = COMPILED.SCAN_LEVELS.index(name[2:])
    if wanted > BEST:
        pytest.skip(f"this CPU has no {name[2:]} scan")
    assert COMPILED.set_scan_level(wanted) == wanted
    try:
        yield COMPILED
    finally:
        COMPILED.set_scan_level(BEST)


def every_scan() -> Iterator[tuple[str, Any]]:
    """``(name, skip_container)`` of the twin and each compiled level, the level set while
    the caller uses it (restored to the best at the end)."""
    yield "py", _core_py.skip_container
    if COMPILED is None:
        return
    try:
        for lvl in range(BEST + 1):
            COMPILED.set_scan_level(lvl)
            yield COMPILED.SCAN_LEVELS[lvl], COMPILED.skip_container
    finally:
        COMPILED.set_scan_level(BEST)


# -- skip_container ---------------------------------------------------------------------


def test_skip_container_returns_the_index_past_the_closing_bracket(scan: ModuleType) -> None:
    text = b'x {"a": [1, {"b": "}]"}], "c": "\\"{"} tail'
    end = text.index(b"} tail") + 1
    assert scan.skip_container(text, 2) == end
    assert scan.skip_container(b"[[], {}]", 0) == 8
    assert scan.skip_container(b"{}", 0) == 2


def test_skip_container_follows_escapes_across_block_boundaries(scan: ModuleType) -> None:
    for pad in range(40, 60):  # the value starts at offsets 52 to 71: across byte 64
        for body in ('"\\\\"', '"\\""', '"\\\\\\""', '"]\\\\"', '"\\\\\\\\"'):
            text = ('{"k":"' + "a" * pad + '","v":' + body + ',"w":[1]}').encode()
            assert json.loads(text)  # the input is valid JSON
            assert scan.skip_container(text, 0) == len(text), (pad, body)
            long = b"[" + text * 3 + b"]"
            assert scan.skip_container(long, 0) == len(long), (pad, body)


def test_skip_container_reports_truncated_and_unterminated_text(scan: ModuleType) -> None:
    text = b'{"a": {"b": [1, 2, "x"]}, "c": "' + b"y" * 100 + b'"}'
    for cut in range(1, len(text)):
        assert scan.skip_container(text[:cut], 0) == -1, cut
    assert scan.skip_container(b'{"a": "open}', 0) == -1
    assert scan.skip_container(b'{"a": "\\"}', 0) == -1  # the only quote after is escaped


def test_skip_container_refuses_a_backslash_outside_strings_before_the_end(
    scan: ModuleType,
) -> None:
    assert scan.skip_container(b'{"a": 1 \\ }', 0) == -1
    assert scan.skip_container(b'{"a": [\\"x"]}', 0) == -1
    assert scan.skip_container(b'{"a": 1}  \\ after', 0) == 8  # after the end: not ours


def test_skip_container_needs_a_bracket_at_start(scan: ModuleType) -> None:
    assert scan.skip_container(b'"x"', 0) == -1
    assert scan.skip_container(b"{}", 2) == -1
    assert scan.skip_container(b"{}", -1) == -1
    assert scan.skip_container(b"", 0) == -1
    with pytest.raises(TypeError):
        scan.skip_container("{}", 0)


def test_skip_container_counts_brackets_without_matching_their_kind(scan: ModuleType) -> None:
    assert scan.skip_container(b"{[}]", 0) == 4  # documented: content is the decoder's job


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=80),
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=st.one_of(st.lists(JSON, max_size=6), st.dictionaries(st.text(max_size=8), JSON)),
    indent=st.sampled_from([None, 0, 2]),
    ascii_only=st.booleans(),
    prefix=st.integers(0, 70),
)
def test_every_scan_finds_the_end_of_any_json_container(
    value: Any, indent: int | None, ascii_only: bool, prefix: int
) -> None:
    encoded = json.dumps(value, indent=indent, ensure_ascii=ascii_only).encode()
    text = b" " * prefix + encoded + b' , "after" ]'
    for name, skip in every_scan():
        assert skip(text, prefix) == prefix + len(encoded), name


@settings(max_examples=300, deadline=None)
@given(
    value=st.dictionaries(st.text(max_size=8), JSON, min_size=1),
    cuts=st.lists(st.integers(0, 10_000), max_size=4),
    noise=st.lists(st.sampled_from(list(b'"\\{}[]x ')), max_size=4),
)
def test_every_scan_agrees_on_broken_text(value: Any, cuts: list[int], noise: list[int]) -> None:
    text = bytearray(json.dumps(value).encode())
    for pos, byte in zip(cuts, noise, strict=False):
        text[pos % len(text)] = byte
    if cuts:
        del text[cuts[-1] % len(text) :]
    text[:0] = b"{"
    results = {name: skip(bytes(text), 0) for name, skip in every_scan()}
    assert len(set(results.values())) == 1, results


def test_scan_levels_are_chosen_within_what_the_cpu_supports(core: ModuleType) -> None:
    assert core.SCAN_LEVELS == ("portable", "sse2", "avx2")
    best = core.best_scan_level()
    try:
        assert core.set_scan_level(0) == 0 == core.scan_level()
        assert core.set_scan_level(99) == best == core.scan_level()
        assert core.set_scan_level(-5) == 0
    finally:
        core.set_scan_level(best)
    if core is _core_py:
        assert best == 0


# -- EventCutter --------------------------------------------------------------------------


POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "web-1",
        "namespace": "shop",
        "labels": {"app": "web"},
        "resourceVersion": "42",
        "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {".": {}}}}],
    },
    "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]},
    "status": {"phase": "Running"},
}


def event(obj: Any = POD, etype: str = "MODIFIED", **dumps: Any) -> bytes:
    return json.dumps({"type": etype, "object": obj}, **dumps).encode()


def cutter(core: ModuleType, drop: bool = True, inner: tuple[str, ...] = ()) -> Any:
    return core.EventCutter(("spec", "status"), drop, inner)


def without(obj: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in names}


def test_the_shell_is_the_event_without_reusable_fields_and_managed_fields(
    scan: ModuleType,
) -> None:
    line = event()
    cut = cutter(scan).cut(line)
    assert cut is not None and cut.line is line
    shell = json.loads(cut.shell)
    expected_object = without(POD, "spec", "status")
    expected_object["metadata"] = without(POD["metadata"], "managedFields")
    assert shell == {"type": "MODIFIED", "object": expected_object}
    spec, status = cut.spans
    assert json.loads(line[spec[0] : spec[1]]) == POD["spec"]
    assert json.loads(line[status[0] : status[1]]) == POD["status"]
    assert line[spec[0] : spec[1]] == json.dumps(POD["spec"]).encode()  # value bytes only


def test_cutting_copies_kept_members_byte_for_byte(scan: ModuleType) -> None:
    line = b'{"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"a"},"extra":[1, 2]}}'
    cut = cutter(scan).cut(line)
    assert cut is not None
    assert cut.shell == line
    assert cut.spans == (None, None)


def test_whitespace_and_member_order_do_not_matter(scan: ModuleType) -> None:
    reordered = {"status": POD["status"], **without(POD, "status")}
    line = json.dumps({"object": reordered, "type": "ADDED"}, indent=2).encode()
    cut = cutter(scan).cut(line)
    assert cut is not None
    shell = json.loads(cut.shell)
    assert shell["type"] == "ADDED"
    assert "spec" not in shell["object"] and "status" not in shell["object"]
    assert "managedFields" not in shell["object"]["metadata"]
    assert json.loads(line[slice(*cut.spans[1])]) == POD["status"]


def test_managed_fields_are_kept_when_asked_or_when_not_a_container(scan: ModuleType) -> None:
    cut = cutter(scan, drop=False).cut(event())
    assert cut is not None
    assert (
        json.loads(cut.shell)["object"]["metadata"]["managedFields"]
        == (POD["metadata"]["managedFields"])
    )
    obj = {**POD, "metadata": {**POD["metadata"], "managedFields": None}}
    cut = cutter(scan).cut(event(obj))
    assert cut is not None
    assert json.loads(cut.shell)["object"]["metadata"]["managedFields"] is None


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"[]",
        b'"text"',
        b'{"type":"ADDED","object":null}',
        b'{"type":"ADDED","object":[]}',
        b'{"type":"ADDED","object":{},"object":{}}',
        b'{"type":"ADDED","obj\\u0065ct":{}}',
        b'{"type":"ADDED","object":{"sp\\u0065c":{}}}',
        b'{"type":"ADDED","object":{"metadata":{},"metadata":{}}}',
        b'{"type":"ADDED","object":{"spec":{},"spec":{}}}',
        b'{"type":"ADDED","object":{"spec":{}}} trailing',
        b'{"type":"ADDED","object":{"spec":{}}',
        b'{"type":"ADDED","object":{"spec":{"a":"open}}}',
        b'{"type":"ADDED","object":{"spec":}}',
        b'{"type":"ADDED","object":{"spec" {}}}',
        b'{"type":"ADDED","object":{"spec":{}} "x":1}',
        b'{"type":"ADDED","object":{"metadata":{"managedFields":[\\]}}}',
        b'{"type":"ADDED","object":{"metadata":{"name":"a",}}}',
        b'{"type" "ADDED"}',
        b'{type:"ADDED"}',
    ],
)
def test_lines_that_cannot_be_cut_safely_give_none(scan: ModuleType, line: bytes) -> None:
    assert cutter(scan).cut(line) is None


def test_inner_metadata_members_are_cut_when_they_are_containers(scan: ModuleType) -> None:
    obj = {**POD, "metadata": {**POD["metadata"], "finalizers": None}}
    line = event(obj)
    cut = cutter(scan, inner=("labels", "finalizers", "ownerReferences")).cut(line)
    assert cut is not None
    metadata = json.loads(cut.shell)["object"]["metadata"]
    assert "labels" not in metadata and metadata["finalizers"] is None
    spec, _status, labels, finalizers, owners = cut.spans
    assert json.loads(line[labels[0] : labels[1]]) == {"app": "web"}
    assert finalizers is None and owners is None
    assert json.loads(line[spec[0] : spec[1]]) == POD["spec"]


def test_managed_fields_are_an_inner_member_only_when_kept(scan: ModuleType) -> None:
    kept = cutter(scan, drop=False, inner=("managedFields",)).cut(event())
    assert kept is not None
    span = kept.spans[2]
    assert json.loads(kept.line[span[0] : span[1]]) == POD["metadata"]["managedFields"]
    assert "managedFields" not in json.loads(kept.shell)["object"]["metadata"]
    dropped = cutter(scan, inner=("managedFields",)).cut(event())
    assert dropped is not None and dropped.spans[2] is None
    assert "managedFields" not in json.loads(dropped.shell)["object"]["metadata"]


def test_a_repeated_inner_member_cannot_be_cut(scan: ModuleType) -> None:
    line = b'{"type":"ADDED","object":{"metadata":{"labels":{},"labels":{"a":"b"}}}}'
    assert cutter(scan, inner=("labels",)).cut(line) is None
    assert cutter(scan).cut(line) is not None  # not cut out: the decoder reads both


def test_escaped_member_names_inside_metadata_are_kept(scan: ModuleType) -> None:
    line = b'{"type":"ADDED","object":{"metadata":{"n\\u0061me":"a","managedFields":[]}}}'
    cut = cutter(scan).cut(line)
    assert cut is not None
    assert cut.shell == b'{"type":"ADDED","object":{"metadata":{"n\\u0061me":"a"}}}'


def test_only_bytes_are_cut(scan: ModuleType) -> None:
    assert cutter(scan).cut(bytearray(event())) is None
    assert cutter(scan).cut(memoryview(event())) is None


def test_a_long_line_is_cut_like_a_short_one(scan: ModuleType) -> None:
    big = {**POD, "metadata": {**POD["metadata"], "annotations": {"a": "x" * 40_000}}}
    line = event(big)
    cut = cutter(scan).cut(line)
    assert cut is not None
    assert json.loads(cut.shell)["object"]["metadata"]["annotations"] == {"a": "x" * 40_000}


def test_the_cutter_checks_its_field_names(core: ModuleType) -> None:
    with pytest.raises(ValueError, match="at most"):
        core.EventCutter(tuple(f"f{i}" for i in range(9)))
    with pytest.raises(TypeError):
        core.EventCutter((b"spec",))
    with pytest.raises(ValueError, match="cannot be cut out"):
        core.EventCutter(("metadata",))
    with pytest.raises(ValueError, match="differ"):
        core.EventCutter(("spec", "spec"))
    with pytest.raises(ValueError, match="differ"):
        core.EventCutter(("spec",), True, ("labels", "labels"))
    with pytest.raises(ValueError, match="at most"):
        core.EventCutter(("spec", "status"), True, tuple(f"f{i}" for i in range(7)))
    assert core.EventCutter(("spec",), False, ("labels",)).inner == ("labels",)
    assert core.EventCutter(("spec",)).reusable == ("spec",)
    assert "spec" in repr(core.EventCutter(("spec",)))


EVENT_OBJECTS = st.fixed_dictionaries(
    {
        "metadata": st.fixed_dictionaries(
            {"name": st.text(max_size=10)},
            optional={
                "labels": st.dictionaries(st.text(max_size=6), st.text(max_size=6)),
                "managedFields": st.lists(JSON, max_size=3),
            },
        )
    },
    optional={"spec": JSON, "status": JSON, "kind": st.text(max_size=5), "x": JSON},
)


@pytest.mark.skipif(COMPILED is None, reason="compiled core not built")
@settings(max_examples=200, deadline=None)
@given(
    obj=EVENT_OBJECTS,
    indent=st.sampled_from([None, 1]),
    truncate=st.integers(0, 30),
    drop=st.booleans(),
    inner=st.sampled_from([(), ("labels",), ("managedFields", "labels")]),
)
def test_compiled_and_pure_cutters_agree(
    obj: Any, indent: int | None, truncate: int, drop: bool, inner: tuple[str, ...]
) -> None:
    line = event(obj, indent=indent)
    if truncate:
        line = line[: -truncate or None]
    twin = cutter(_core_py, drop, inner).cut(line)
    for _, _skip in every_scan():
        if COMPILED is None:  # pragma: no cover - skipped above
            break
        compiled = cutter(COMPILED, drop, inner).cut(line)
        if twin is None:
            assert compiled is None
            continue
        assert compiled is not None
        assert (compiled.shell, compiled.spans) == (twin.shell, twin.spans)
    if twin is not None and not truncate:
        shell = json.loads(twin.shell)["object"]
        cut_out = {"managedFields"} if drop else set()
        cut_out |= {name for name in inner if isinstance(obj["metadata"].get(name), (dict, list))}
        assert shell.get("metadata") == without(obj["metadata"], *cut_out)
