"""The health endpoint: /healthz, /readyz from informers' sync state, /metrics."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from fastinformer.factory import SharedInformerFactory
from fastinformer.health import serve_health
from fastinformer.sim import Simulator

GUARD = 15.0


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=GUARD) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read().decode()


class Flag:
    """A stand-in informer whose sync state the test sets."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.synced = False

    def has_synced(self) -> bool:
        return self.synced


def test_readyz_answers_503_naming_what_has_not_synced_then_200() -> None:
    pods, nodes = Flag("pods"), Flag("nodes")
    with serve_health(host="127.0.0.1", informers=[pods, nodes]) as health:
        assert health.port > 0
        assert get(health.url + "/healthz")[0] == 200
        code, _, body = get(health.url + "/readyz")
        assert (code, body) == (503, "not synced: pods, nodes\n")
        pods.synced = True
        assert get(health.url + "/readyz")[2] == "not synced: nodes\n"
        nodes.synced = True
        assert get(health.url + "/readyz")[:1] == (200,)
        assert get(health.url + "/nothing-here")[0] == 404


def test_readyz_follows_a_real_informer_on_the_simulator() -> None:
    with Simulator() as sim, SharedInformerFactory(sim.kube_configuration()) as factory:
        sim.populate(nodes=1, pods=3)
        informer = factory.pods()
        with serve_health(host="127.0.0.1", informers=[informer]) as health:
            assert get(health.url + "/readyz")[0] == 503
            factory.start()
            assert informer.wait_for_cache_sync(GUARD)
            assert get(health.url + "/readyz")[0] == 200


def test_metrics_serves_the_given_registry_in_prometheus_text() -> None:
    registry = CollectorRegistry()
    Counter("probe_hits", "test counter", registry=registry).inc(3)
    with serve_health(host="127.0.0.1", registry=registry) as health:
        code, content_type, body = get(health.url + "/metrics")
    assert code == 200
    assert content_type.startswith("text/plain")
    assert "probe_hits_total 3.0" in body


def test_metrics_without_prometheus_client_answer_404_saying_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with serve_health(host="127.0.0.1") as health:
        monkeypatch.setitem(sys.modules, "prometheus_client", None)
        code, _, body = get(health.url + "/metrics")
    assert code == 404
    assert "fastinformer[metrics]" in body


def test_close_releases_the_port_and_is_idempotent() -> None:
    health = serve_health(host="127.0.0.1")
    url = health.url
    health.close()
    health.close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/healthz", timeout=GUARD)


def test_objects_without_has_synced_are_refused() -> None:
    with pytest.raises(TypeError, match="has_synced"):
        serve_health(host="127.0.0.1", informers=[object()])  # type: ignore[list-item]
