"""Faults, churn, restarts, TLS and the command line of the simulator."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from kubernetes import client, config

from fastinformer.sim import Simulator
from fastinformer.sim.churn import Churn
from fastinformer.sim.store import SimStore


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(token="secret-token", bookmark_interval=0.2) as simulator:
        for i in range(3):
            simulator.store.create("configmaps", {"metadata": {"name": f"c{i}"}}, "default")
        yield simulator


@pytest.fixture(autouse=True)
def no_faults(sim: Simulator) -> Iterator[None]:
    sim.faults.clear()
    yield
    sim.faults.clear()


HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=10))


def get(sim: Simulator, path: str, **kw: Any) -> urllib3.BaseHTTPResponse:
    headers = {"Authorization": f"Bearer {sim.token}"}
    return HTTP.request("GET", sim.url + path, headers=headers, **kw)


def test_injected_errors_hit_the_next_matching_requests_only(sim: Simulator) -> None:
    sim.faults.throttle_next(retry_after=3, verb="list")
    sim.faults.fail_next(500, resource="configmaps", verb="list")
    first = get(sim, "/api/v1/namespaces/default/configmaps")
    assert (first.status, first.headers["Retry-After"]) == (429, "3")
    assert json.loads(first.data)["reason"] == "TooManyRequests"
    assert get(sim, "/api/v1/nodes").status == 200
    second = get(sim, "/api/v1/namespaces/default/configmaps")
    assert (second.status, json.loads(second.data)["reason"]) == (500, "InternalError")
    assert get(sim, "/api/v1/namespaces/default/configmaps").status == 200


def test_expire_next_answers_a_list_410_and_a_watch_an_error_event(sim: Simulator) -> None:
    sim.faults.expire_next("list")
    assert get(sim, "/api/v1/namespaces/default/configmaps").status == 410
    sim.faults.expire_next("watch")
    resp = get(sim, "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=5")
    lines = [json.loads(x) for x in resp.data.splitlines()]
    assert [(e["type"], e["object"]["code"]) for e in lines] == [("ERROR", 410)]


def test_dropped_watch_ends_without_the_final_chunk(sim: Simulator) -> None:
    resp = get(sim, "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=20",
               preload_content=False)
    first = resp.readline()
    assert json.loads(first)["type"] == "ADDED"
    sim.faults.drop_watches()
    sim.store.create("configmaps", {"metadata": {"name": "wakeup"}}, "default")
    with pytest.raises(urllib3.exceptions.ProtocolError):
        resp.read()
    sim.store.delete("configmaps", "wakeup", "default")


def test_malformed_and_truncated_lines_reach_the_client(sim: Simulator) -> None:
    sim.faults.malform_next_watch_line()
    resp = get(sim, "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1")
    first = resp.data.splitlines()[0]
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)
    sim.faults.truncate_next_watch_line()
    resp = get(sim, "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=5",
               preload_content=False)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        resp.read()


def test_periodic_bookmarks_carry_the_current_version(sim: Simulator) -> None:
    sim.store.create("nodes", {"metadata": {"name": "bump"}})
    rv = sim.store.resource_version
    resp = get(sim, "/api/v1/namespaces/default/configmaps?watch=1&allowWatchBookmarks=true"
               f"&resourceVersion={rv - 1}&timeoutSeconds=1")
    lines = [json.loads(x) for x in resp.data.splitlines()]
    assert lines and {e["type"] for e in lines} == {"BOOKMARK"}
    assert lines[0]["object"]["metadata"]["resourceVersion"] == str(rv)


def test_random_faults_are_deterministic_by_seed() -> None:
    def run() -> list[str]:
        with Simulator(token=None) as s:
            s.faults.random(0.5, seed=3)
            for _ in range(20):
                get(s, "/api/v1/namespaces/default/configmaps")
            return list(s.faults.injected)

    first = run()
    assert first and first == run()


def test_restart_keeps_or_loses_state(sim: Simulator) -> None:
    port = sim.port
    sim.restart(keep_state=True)
    assert sim.port == port and len(json.loads(get(sim, "/api/v1/namespaces/default/configmaps")
                                                .data)["items"]) >= 3
    rv = sim.store.resource_version
    with Simulator(token=None) as other:
        other.store.create("configmaps", {"metadata": {"name": "x"}}, "default")
        other.restart(keep_state=False)
        body = json.loads(get(other, "/api/v1/namespaces/default/configmaps").data)
        assert body["items"] == []
        expired = get(other, f"/api/v1/namespaces/default/configmaps?resourceVersion={rv - 5}"
                      "&resourceVersionMatch=Exact")
        assert expired.status == 410


def test_trickle_slows_but_completes_a_list(sim: Simulator) -> None:
    sim.faults.trickle(200_000)
    body = json.loads(get(sim, "/api/v1/namespaces/default/configmaps").data)
    assert len(body["items"]) >= 3


def test_stall_delays_watch_output() -> None:
    with Simulator(token=None) as s:
        s.faults.stall_watches(30)
        resp = HTTP.request("GET", s.url + "/api/v1/namespaces?watch=1&timeoutSeconds=1",
                            preload_content=False, timeout=urllib3.Timeout(read=0.5))
        with pytest.raises(urllib3.exceptions.ReadTimeoutError):
            resp.read(1)
        s.faults.clear()


def test_churn_is_deterministic_by_seed_and_mixes_kinds() -> None:
    def run() -> tuple[dict[str, int], list[str]]:
        store = SimStore()
        store.create("nodes", {"metadata": {"name": "kwok-node-0"}})
        churn = Churn(store, seed=5)
        churn.step(60)
        return churn.counts, sorted(o["metadata"]["name"] for o in store.list("pods"))

    counts, pods = run()
    assert (counts, pods) == run()
    assert counts["create"] > 0 and counts["status"] > 0 and pods


def test_churn_thread_writes_at_its_rate_until_stopped() -> None:
    store = SimStore()
    store.create("nodes", {"metadata": {"name": "kwok-node-0"}})
    done = threading.Event()
    store.subscribe(lambda: store.resource_version > 1030 and done.set())
    churn = Churn(store, rate=500, burst=10, seed=1).start()
    assert done.wait(10)
    churn.stop()
    writes = churn.writes
    assert writes > 0 and churn.writes == writes


def test_tls_kubeconfig_works_with_the_kubernetes_client() -> None:
    with Simulator(tls=True) as s:
        assert s.url.startswith("https://")
        configuration = client.Configuration()
        config.load_kube_config(s.kubeconfig_path, client_configuration=configuration)
        names = [n.metadata.name
                 for n in client.CoreV1Api(client.ApiClient(configuration)).list_namespace().items]
        assert "default" in names
        with pytest.raises(urllib3.exceptions.SSLError):
            urllib3.PoolManager(retries=False).request("GET", s.url + "/version")


def test_non_loopback_addresses_need_an_explicit_opt_in() -> None:
    with pytest.raises(ValueError):
        Simulator(host="0.0.0.0")


def test_cli_serve_prints_the_address_and_serves() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastinformer.cli", "sim", "serve", "--no-auth"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:")
        url = line.split()[1]
        assert HTTP.request("GET", url + "/api/v1/namespaces").status == 200
    finally:
        proc.terminate()
        proc.wait(10)
