"""examples/zone_labeler.py end to end against the simulator."""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fastinformer.sim import Simulator

GUARD = 20.0
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "zone_labeler.py"


def wait_until(cond: Callable[[], bool], timeout: float = GUARD) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadlock guard")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def zone_labeler() -> ModuleType:
    spec = importlib.util.spec_from_file_location("zone_labeler", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        s.populate(nodes=3, pods=15)
        yield s


class Running:
    """The example's ``run(args, stop)`` on a thread."""

    def __init__(self, module: ModuleType, argv: list[str]) -> None:
        self.stop = threading.Event()
        self.rc: list[int] = []
        args = module.parse_args(argv)
        self.thread = threading.Thread(target=lambda: self.rc.append(module.run(args, self.stop)))
        self.thread.start()

    def finish(self) -> int:
        self.stop.set()
        self.thread.join(GUARD)
        assert not self.thread.is_alive()
        return self.rc[0]


def zones(sim: Simulator) -> dict[str, str | None]:
    return {
        n["metadata"]["name"]: n["metadata"].get("labels", {}).get("topology.kubernetes.io/zone")
        for n in sim.store.list("nodes")
    }


def mislabelled(sim: Simulator) -> list[str]:
    """Scheduled pods whose example.com/zone label differs from their node's zone."""
    by_node = zones(sim)
    wrong = []
    for p in sim.store.list("pods"):
        node = p.get("spec", {}).get("nodeName")
        want = by_node.get(node) if node else None
        got = p["metadata"].get("labels", {}).get("example.com/zone")
        if want is not None and got != want:
            wrong.append(p["metadata"]["name"])
    return wrong


def test_every_scheduled_pod_gets_its_nodes_zone_and_follows_zone_changes(
    zone_labeler: ModuleType, sim: Simulator
) -> None:
    assert mislabelled(sim)  # nothing is labelled yet
    running = Running(zone_labeler, ["--kubeconfig", sim.kubeconfig_path, "--workers", "3"])
    wait_until(lambda: not mislabelled(sim))
    node = sorted(zones(sim))[0]
    patch: dict[str, Any] = {"metadata": {"labels": {"topology.kubernetes.io/zone": "zone-z"}}}
    sim.store.patch("nodes", node, patch)
    wait_until(lambda: not mislabelled(sim))
    on_node = [p for p in sim.store.list("pods") if p["spec"].get("nodeName") == node]
    assert on_node
    assert {p["metadata"]["labels"]["example.com/zone"] for p in on_node} == {"zone-z"}
    assert running.finish() == 0


def test_with_leader_election_it_labels_while_leading_and_releases_on_exit(
    zone_labeler: ModuleType, sim: Simulator
) -> None:
    argv = ["--kubeconfig", sim.kubeconfig_path, "--leader-elect", "--identity", "replica-1"]
    running = Running(zone_labeler, argv)
    wait_until(lambda: not mislabelled(sim))
    lease = sim.store.get("leases", "zone-labeler", "default")
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == "replica-1"
    assert running.finish() == 0
    lease = sim.store.get("leases", "zone-labeler", "default")
    assert lease is not None
    assert "holderIdentity" not in lease["spec"]  # released for the next replica
