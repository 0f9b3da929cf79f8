"""Informer and factory against the simulator: what reaches the server, bad streams,
refusals, streaming list and its fallbacks, relists with a full cache."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from fastinformer.decode import decoder_for
from fastinformer.factory import SharedInformerFactory
from fastinformer.informer import HandlerRegistration, SharedIndexInformer
from fastinformer.protocol import ListOptions
from fastinformer.sim import Simulator
from fastinformer.sim.server import RecordedRequest
from fastinformer.transport import Transport
from tests.informer_sim_helpers import (
    HandlerLog,
    LineRewriter,
    SyncedSampler,
    cache_state,
    cache_versions,
    fast_options,
    is_full_sync,
    is_streaming_list,
    is_watch,
    pod_informer,
    pod_requests,
    server_state,
    server_versions,
    wait_until,
)

REFLECTOR_LOG = "fastinformer.reflector"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        s.populate(nodes=3, pods=60, namespaces=3, seed=5)
        yield s


@pytest.fixture
def transport(sim: Simulator) -> Iterator[Transport]:
    t = Transport(sim.kube_configuration())
    yield t
    t.close()


class Running:
    """An informer with one recording handler, started, stopped at the end."""

    def __init__(self, informer: SharedIndexInformer) -> None:
        self.informer = informer
        self.log = HandlerLog()
        self.registration: HandlerRegistration = informer.add_event_handler(self.log)
        informer.start()

    def synced(self, timeout: float = 20.0) -> bool:
        return self.informer.wait_for_cache_sync(timeout) and wait_until(
            self.registration.has_synced, timeout
        )

    def caught_up_with(self, sim: Simulator, timeout: float = 20.0) -> bool:
        def done() -> bool:
            versions = server_versions(sim)
            return cache_versions(self.informer) == versions and self.log.versions() == versions

        return wait_until(done, timeout)


@pytest.fixture
def running() -> Iterator[Callable[[SharedIndexInformer], Running]]:
    started: list[Running] = []

    def start(informer: SharedIndexInformer) -> Running:
        r = Running(informer)
        started.append(r)
        return r

    yield start
    for r in started:
        r.informer.stop()


def _set_phase(sim: Simulator, namespace: str, name: str, phase: str) -> str:
    return sim.store.merge("pods", name, {"status": {"phase": phase}}, namespace).resource_version


def _label(sim: Simulator, namespace: str, name: str, **labels: str) -> str:
    patch = {"metadata": {"labels": labels}}
    return sim.store.merge("pods", name, patch, namespace).resource_version


def _names(sim: Simulator, namespace: str) -> list[str]:
    """Names of the pods of ``namespace``, in key order."""
    return [o["metadata"]["name"] for o in sim.store.list("pods", namespace)]


def _kinds(reqs: list[RecordedRequest]) -> set[str]:
    return {
        "streaming" if is_streaming_list(r) else "watch" if is_watch(r) else "list" for r in reqs
    }


# -- selectors and namespaces ----------------------------------------------------------------

SELECTED = {"label": "tier in (web,api)", "field": "status.phase=Running"}


def _selected(sim: Simulator, namespace: str) -> dict[str, Any]:
    return {
        k: v
        for k, v in server_state(sim, namespace=namespace).items()
        if v["metadata"]["labels"].get("tier") in ("web", "api")
        and v["status"].get("phase") == "Running"
    }


def _check_selection_requests(sim: Simulator, path: str, label: str, field: str) -> None:
    reqs = list(pod_requests(sim))
    assert _kinds(reqs) == {"streaming", "list", "watch"}
    for r in reqs:
        assert r.path == path, r
        assert (r.query.get("labelSelector"), r.query.get("fieldSelector")) == (label, field), r


def test_informer_selectors_and_namespace_reach_the_server_on_every_request(
    sim: Simulator, transport: Transport, running: Callable[[SharedIndexInformer], Running]
) -> None:
    sim.clear_requests()
    # A transient failure of the streaming list makes this cycle LIST then WATCH.
    sim.faults.fail_next(500, verb="watch")
    r = running(
        pod_informer(
            transport,
            namespace="ns-1",
            label_selector=SELECTED["label"],
            field_selector=SELECTED["field"],
        )
    )
    assert r.synced()
    assert cache_state(r.informer) == _selected(sim, "ns-1") != {}
    leaving = next(iter(_selected(sim, "ns-1").values()))["metadata"]["name"]
    _set_phase(sim, "ns-1", leaving, "Failed")  # leaves the field selector: DELETED
    entering = next(
        v["metadata"]["name"]
        for v in server_state(sim, namespace="ns-1").values()
        if v["metadata"]["labels"]["tier"] not in ("web", "api")
    )
    _label(sim, "ns-1", entering, tier="web")  # enters the label selector: ADDED
    _label(sim, "ns-0", _names(sim, "ns-0")[0], tier="web")  # another namespace: never seen
    selected = _selected(sim, "ns-1")
    assert wait_until(lambda: cache_state(r.informer) == selected and r.log.present() == selected)
    assert f"ns-1/{leaving}" in r.log.deleted_keys()
    assert f"ns-1/{entering}" in r.log.present()
    assert r.log.violations == []
    # Restart the streaming list through a 410 so it is seen working too.
    sim.faults.expire_next("watch")
    sim.faults.drop_watches()
    assert wait_until(
        lambda: (
            "streaming" in _kinds(list(pod_requests(sim)))
            and r.informer.reflector.last_sync_resource_version() != ""
        )
    )
    _check_selection_requests(
        sim, "/api/v1/namespaces/ns-1/pods", SELECTED["label"], SELECTED["field"]
    )


def test_factory_namespace_and_tweaked_selectors_reach_the_server_on_every_request(
    sim: Simulator,
) -> None:
    def tweak(opts: ListOptions) -> None:
        opts.label_selector = SELECTED["label"]
        opts.field_selector = SELECTED["field"]

    sim.clear_requests()
    sim.faults.fail_next(500, verb="watch")
    factory = SharedInformerFactory(
        sim.kube_configuration(),
        namespace="ns-2",
        tweak_list_options=tweak,
        reflector_options=fast_options(),
    )
    try:
        pods = factory.pods()
        factory.start()
        assert all(factory.wait_for_cache_sync(20).values())
        assert cache_state(pods) == _selected(sim, "ns-2") != {}
        sim.faults.expire_next("watch")
        sim.faults.drop_watches()
        assert wait_until(lambda: "streaming" in _kinds(list(pod_requests(sim))[2:]))
        assert wait_until(lambda: cache_state(pods) == _selected(sim, "ns-2"))
    finally:
        factory.shutdown()
    _check_selection_requests(
        sim, "/api/v1/namespaces/ns-2/pods", SELECTED["label"], SELECTED["field"]
    )


# -- bad streams -----------------------------------------------------------------------------


def _break_the_next_event_and_check_the_resume(
    sim: Simulator,
    r: Running,
    caplog: pytest.LogCaptureFixture,
    arm: Callable[[], object],
) -> list[logging.LogRecord]:
    """Deliver one update, break the line of the next, and check the watch resumes from
    the first update's resourceVersion, delivering the second exactly once."""
    assert r.synced()
    first, second = _names(sim, "ns-0")[:2]
    last_good = _label(sim, "ns-0", first, step="1")
    assert r.caught_up_with(sim)
    updates_before = r.log.snapshot_counts()["update"]
    sim.clear_requests()
    caplog.clear()
    arm()
    _label(sim, "ns-0", second, step="2")
    assert r.caught_up_with(sim)
    assert r.log.snapshot_counts()["update"] == updates_before + 1
    watches = [q for q in pod_requests(sim) if is_watch(q)]
    assert watches, "the watch was not reopened"
    assert watches[0].query.get("resourceVersion") == last_good
    assert not is_streaming_list(watches[0]), "a broken watch must not cause a relist"
    assert r.informer.has_synced() and r.log.violations == []
    assert cache_state(r.informer) == server_state(sim)
    return [rec for rec in caplog.records if rec.name == REFLECTOR_LOG and rec.levelno >= 30]


def test_a_malformed_line_is_logged_and_the_watch_resumes_from_the_last_good_version(
    sim: Simulator,
    transport: Transport,
    running: Callable[[SharedIndexInformer], Running],
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = running(pod_informer(transport))
    errors = _break_the_next_event_and_check_the_resume(
        sim, r, caplog, sim.faults.malform_next_watch_line
    )
    assert [e.levelname for e in errors] == ["WARNING"]
    message = errors[0].getMessage()
    assert "v1/pods" in message and "undecodable data from the server" in message
    assert "cannot decode a watch event" in message


def test_a_truncated_line_is_logged_and_the_watch_resumes_from_the_last_good_version(
    sim: Simulator,
    transport: Transport,
    running: Callable[[SharedIndexInformer], Running],
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = running(pod_informer(transport))
    errors = _break_the_next_event_and_check_the_resume(
        sim, r, caplog, sim.faults.truncate_next_watch_line
    )
    assert len(errors) == 1 and errors[0].levelname == "WARNING"
    message = errors[0].getMessage()
    assert "v1/pods" in message and "TransportError" in message
    assert "ended prematurely" in message


def test_an_unknown_event_type_is_logged_and_the_watch_resumes_from_the_last_good_version(
    sim: Simulator,
    transport: Transport,
    running: Callable[[SharedIndexInformer], Running],
    caplog: pytest.LogCaptureFixture,
) -> None:
    rewriter = LineRewriter(decoder_for("pods"))
    r = running(pod_informer(transport, decoder=rewriter))
    errors = _break_the_next_event_and_check_the_resume(
        sim,
        r,
        caplog,
        lambda: rewriter.rewrite_next(
            "MODIFIED", lambda line: line.replace(b'"type":"MODIFIED"', b'"type":"RENAMED"', 1)
        ),
    )
    assert len(rewriter.rewritten) == 1
    assert len(errors) == 1 and "RENAMED" in errors[0].getMessage()


def test_an_error_status_event_is_logged_and_the_watch_resumes_from_the_last_good_version(
    sim: Simulator,
    transport: Transport,
    running: Callable[[SharedIndexInformer], Running],
    caplog: pytest.LogCaptureFixture,
) -> None:
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "etcdserver: request timed out",
        "reason": "InternalError",
        "code": 500,
    }
    error_line = orjson.dumps({"type": "ERROR", "object": status})
    rewriter = LineRewriter(decoder_for("pods"))
    r = running(pod_informer(transport, decoder=rewriter))
    errors = _break_the_next_event_and_check_the_resume(
        sim, r, caplog, lambda: rewriter.rewrite_next("MODIFIED", lambda _line: error_line)
    )
    assert len(errors) == 1 and errors[0].levelname == "WARNING"
    message = errors[0].getMessage()
    assert "500" in message and "etcdserver: request timed out" in message


# -- refusals --------------------------------------------------------------------------------


def _informer_threads(informer: SharedIndexInformer) -> list[str]:
    prefix = f"fastinformer-{informer.name}-"
    return [t.name for t in threading.enumerate() if t.name.startswith(prefix) and t.is_alive()]


@pytest.mark.parametrize("streaming", [None, False], ids=["streaming", "list"])
def test_while_forbidden_the_informer_logs_errors_stays_unsynced_and_recovers_when_allowed(
    sim: Simulator,
    transport: Transport,
    running: Callable[[SharedIndexInformer], Running],
    caplog: pytest.LogCaptureFixture,
    streaming: bool | None,
) -> None:
    rule = sim.forbid(verbs=["list", "watch"], resource="pods")
    sim.clear_requests()
    r = running(pod_informer(transport, use_streaming_list=streaming))
    sampler = SyncedSampler(r.informer)
    assert wait_until(lambda: len(list(pod_requests(sim))) >= 4), "it stopped retrying"
    assert sampler.stop() == {False}
    assert sorted(_informer_threads(r.informer)) == ["fastinformer-pods-typed-reflector"]
    errors = [
        rec for rec in caplog.records if rec.name == REFLECTOR_LOG and rec.levelno >= logging.ERROR
    ]
    assert errors, "the refusal was not logged as an error"
    message = errors[0].getMessage()
    assert "access denied" in message and "v1/pods" in message
    assert 'cannot list resource "pods"' in message
    sim.server.deny_rules.remove(rule)
    assert r.synced()
    assert cache_state(r.informer) == server_state(sim)


def test_with_a_rejected_token_the_informer_logs_errors_and_keeps_retrying(
    sim: Simulator,
    running: Callable[[SharedIndexInformer], Running],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = sim.kube_configuration()
    config.refresh_api_key_hook = None  # it would reload the right token from the kubeconfig
    config.api_key = {"BearerToken": "Bearer not-the-token"}
    bad = Transport(config)
    try:
        sim.clear_requests()
        r = running(pod_informer(bad))
        sampler = SyncedSampler(r.informer)
        assert wait_until(lambda: len(list(pod_requests(sim))) >= 4), "it stopped retrying"
        assert sampler.stop() == {False}
        assert not r.registration.has_synced()
        errors = [
            rec.getMessage()
            for rec in caplog.records
            if rec.name == REFLECTOR_LOG and rec.levelno >= logging.ERROR
        ]
        assert errors and all("access denied" in m and "401" in m for m in errors)
        assert "not-the-token" not in caplog.text
        assert "fastinformer-pods-typed-reflector" in _informer_threads(r.informer)
        r.informer.stop()
        assert _informer_threads(r.informer) == []
    finally:
        bad.close()


# -- streaming list --------------------------------------------------------------------------


def test_the_streaming_list_is_used_when_the_server_supports_it(
    sim: Simulator, transport: Transport, running: Callable[[SharedIndexInformer], Running]
) -> None:
    sim.clear_requests()
    r = running(pod_informer(transport))
    assert r.synced()
    first = next(pod_requests(sim))
    assert is_streaming_list(first)
    assert first.query["resourceVersionMatch"] == "NotOlderThan"
    assert first.query["allowWatchBookmarks"] == "true"
    assert cache_state(r.informer) == server_state(sim)
    flags = r.log.snapshot_counts()
    assert flags["add"] == 60 and flags["update"] == 0
    # A relist after a 410 streams again, from the last version seen.
    _label(sim, "ns-0", _names(sim, "ns-0")[3], step="1")
    assert r.caught_up_with(sim)
    last = _reflected_version(r, sim)
    sim.clear_requests()
    sim.faults.expire_next("watch")
    sim.faults.drop_watches()
    assert wait_until(lambda: sum(map(is_streaming_list, pod_requests(sim))) >= 1)
    relist = next(q for q in pod_requests(sim) if is_streaming_list(q))
    assert relist.query["resourceVersion"] == last
    assert all(is_watch(q) for q in pod_requests(sim)), "a LIST was sent"


@pytest.mark.parametrize("code", [403, 422])
def test_a_refused_streaming_list_falls_back_to_list_and_watch_for_good(
    sim: Simulator,
    transport: Transport,
    running: Callable[[SharedIndexInformer], Running],
    code: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, REFLECTOR_LOG)
    sim.clear_requests()
    sim.faults.fail_next(code, verb="watch")
    r = running(pod_informer(transport))
    assert r.synced()
    assert cache_state(r.informer) == server_state(sim)
    assert "does not support streaming lists" in caplog.text
    assert wait_until(lambda: len(list(pod_requests(sim))) >= 3)
    kinds = [_kinds([q]).pop() for q in pod_requests(sim)]
    assert kinds[:3] == ["streaming", "list", "watch"]
    # Later relists use LIST too.
    sim.faults.expire_next("watch")
    sim.faults.drop_watches()
    assert wait_until(lambda: [_kinds([q]).pop() for q in pod_requests(sim)].count("list") >= 2)
    assert [_kinds([q]).pop() for q in pod_requests(sim)].count("streaming") == 1
    _label(sim, "ns-2", _names(sim, "ns-2")[2], step="1")
    assert r.caught_up_with(sim)


def test_a_transient_streaming_failure_lists_once_then_streams_again(
    sim: Simulator, transport: Transport, running: Callable[[SharedIndexInformer], Running]
) -> None:
    sim.clear_requests()
    sim.faults.fail_next(500, verb="watch")
    r = running(pod_informer(transport))
    assert r.synced()
    assert cache_state(r.informer) == server_state(sim)
    sim.faults.expire_next("watch")
    sim.faults.drop_watches()
    assert wait_until(lambda: sum(map(is_streaming_list, pod_requests(sim))) >= 2)
    kinds = [_kinds([q]).pop() for q in pod_requests(sim)]
    assert kinds[:3] == ["streaming", "list", "watch"] and kinds.count("list") == 1
    _label(sim, "ns-2", _names(sim, "ns-2")[5], step="1")
    assert r.caught_up_with(sim)


# -- relist with a full cache ----------------------------------------------------------------


def _reflected_version(r: Running, sim: Simulator) -> str:
    """The informer's last synced resourceVersion once it is the server's: the reflector
    records it just after the store takes the list or event, so the cache may show the
    data a moment before (the same holds in client-go)."""
    current = str(sim.store.resource_version)
    assert wait_until(lambda: r.informer.last_sync_resource_version() == current)
    return current


@pytest.mark.parametrize("streaming", [None, False], ids=["streaming", "list"])
@pytest.mark.parametrize("mode", ["typed", "dict"])
def test_a_relist_after_410_keeps_the_cache_synced_and_notifies_only_what_changed(
    sim: Simulator,
    transport: Transport,
    running: Callable[[SharedIndexInformer], Running],
    streaming: bool | None,
    mode: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, REFLECTOR_LOG)
    r = running(pod_informer(transport, mode=mode, use_streaming_list=streaming))
    assert r.synced()
    assert r.log.snapshot_counts() == {"add": 60, "update": 0, "delete": 0, "tombstone": 0}
    last = _reflected_version(r, sim)
    sampler = SyncedSampler(r.informer)
    sim.clear_requests()
    # Once the open watch is dropped nothing more is sent on it; the next one gets a 410.
    sim.faults.expire_next("watch")
    sim.faults.drop_watches()
    names = _names(sim, "ns-0")
    for name in names[:3]:
        _label(sim, "ns-0", name, changed="yes")
    sim.store.delete("pods", names[3], "ns-0")
    sim.store.delete("pods", names[4], "ns-0")
    created = dict(sim.store.get("pods", names[5], "ns-0") or {})
    created["metadata"] = {"name": "fresh", "namespace": "ns-0", "labels": {"app": "new"}}
    created.pop("status", None)
    sim.store.create("pods", created, "ns-0")
    assert r.caught_up_with(sim)
    assert sampler.stop() == {True} and r.registration.has_synced()
    assert "resourceVersion expired" in caplog.text
    assert r.log.snapshot_counts() == {"add": 61, "update": 3, "delete": 0, "tombstone": 2}
    assert r.log.violations == []
    assert cache_state(r.informer) == server_state(sim)
    relists = [q for q in pod_requests(sim) if is_full_sync(q)]
    assert relists and relists[0].query["resourceVersion"] == last
    assert is_streaming_list(relists[0]) == (streaming is None)
