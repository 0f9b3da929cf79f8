"""zone-labeler: label every pod with the zone of the node it runs on.

A complete small controller built on fastinformer. It watches pods and nodes; for each
pod whose node carries ``topology.kubernetes.io/zone``, it sets the pod's label
``example.com/zone`` to that zone (a merge PATCH, only when it differs). A node whose zone
changes re-enqueues every pod on it (found with a pod index by node name).

    python examples/zone_labeler.py --kubeconfig PATH [--leader-elect] [--health-port 8080]

See examples/README.md.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from fastinformer.controller import Controller, Result
from fastinformer.errors import NotFoundError
from fastinformer.factory import SharedInformerFactory
from fastinformer.health import HealthServer, serve_health
from fastinformer.keys import meta_namespace_key, split_meta_namespace_key
from fastinformer.leaderelection import LeaderElector, LeaseLock
from fastinformer.listers import labels_of
from fastinformer.transport import Transport

log = logging.getLogger("zone-labeler")

NODE_ZONE_LABEL = "topology.kubernetes.io/zone"
POD_ZONE_LABEL = "example.com/zone"
BY_NODE = "by-node"


def pod_node_name(pod: Any) -> str | None:
    """The node a (typed) pod is scheduled on, if any."""
    spec = pod.spec
    return spec.node_name if spec is not None else None


def index_by_node(pod: Any) -> list[str]:
    """Index function: a pod is listed under its node's name."""
    node = pod_node_name(pod)
    return [node] if node else []


class ZoneLabeler:
    """The controller: informers from ``factory``, a reconcile, and PATCHes."""

    def __init__(self, factory: SharedInformerFactory, workers: int = 2) -> None:
        self.transport = factory.transport
        self.pods = factory.informer_for("pods", indexers={BY_NODE: index_by_node})
        self.nodes = factory.nodes()
        self.pod_lister = factory.lister_for("pods")
        self.node_lister = factory.lister_for("nodes")
        self.patches = 0
        self.controller = (
            Controller("zone-labeler", self.reconcile, workers=workers)
            .watch_primary(self.pods)
            .watch_mapped(self.nodes, self.pods_on_node)
        )

    def pods_on_node(self, node: Any) -> list[str]:
        """Keys of the cached pods scheduled on ``node``."""
        pods = self.pods.get_indexer().by_index(BY_NODE, node.metadata.name)
        return [meta_namespace_key(pod) for pod in pods]

    def reconcile(self, key: str) -> Result | None:
        """Make the pod's ``example.com/zone`` label equal its node's zone."""
        namespace, name = split_meta_namespace_key(key)
        try:
            pod = self.pod_lister.namespace(namespace).get(name)
        except NotFoundError:
            return None  # deleted: nothing to do
        node_name = pod_node_name(pod)
        if not node_name:
            return None  # not scheduled yet: its update will bring it back
        try:
            node = self.node_lister.get(node_name)
        except NotFoundError:
            return None  # the node's add event will enqueue the pod
        zone = (labels_of(node) or {}).get(NODE_ZONE_LABEL)
        if not zone or (labels_of(pod) or {}).get(POD_ZONE_LABEL) == zone:
            return None
        path = f"/api/v1/namespaces/{namespace}/pods/{name}"
        patch = {"metadata": {"labels": {POD_ZONE_LABEL: zone}}}
        try:
            self.transport.request(
                "PATCH",
                path,
                body=patch,
                headers={"Content-Type": "application/merge-patch+json"},
            )
        except NotFoundError:
            return None  # deleted meanwhile
        self.patches += 1
        log.info("labelled %s with zone %s", key, zone)
        return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--kubeconfig",
        help="kubeconfig path (default: $KUBECONFIG, "
        "~/.kube/config, then the in-cluster service account)",
    )
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument("--namespace", help="only pods of this namespace (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--leader-elect",
        action="store_true",
        help="run only while holding the Lease (for several replicas)",
    )
    parser.add_argument("--lease-namespace", default="default")
    parser.add_argument("--lease-name", default="zone-labeler")
    parser.add_argument("--identity", help="leader-election identity (default: host_uuid)")
    parser.add_argument(
        "--health-port", type=int, help="serve /healthz, /readyz and /metrics on this port"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def make_transport(args: argparse.Namespace) -> Transport:
    if args.kubeconfig or args.context:
        return Transport.from_kubeconfig(args.kubeconfig, args.context)
    return Transport()  # $KUBECONFIG / ~/.kube/config, else in-cluster


def run(args: argparse.Namespace, stop: threading.Event) -> int:
    """Run until ``stop`` is set (0), or until leadership is lost (1)."""
    health: HealthServer | None = None
    if args.health_port is not None:
        try:
            from fastinformer.metrics import enable_prometheus_metrics

            enable_prometheus_metrics()  # before informers and queues are created
        except ImportError:
            log.warning("prometheus_client is not installed: /metrics will answer 404")
    factory = SharedInformerFactory(make_transport(args), namespace=args.namespace)
    labeler = ZoneLabeler(factory, workers=args.workers)
    if args.health_port is not None:
        health = serve_health(args.health_port, informers=[labeler.pods, labeler.nodes])
        log.info("health endpoint on %s", health.url)
    try:
        if not args.leader_elect:
            labeler.controller.run(stop)
            return 0

        def lead(leading: threading.Event) -> None:
            labeler.controller.start()
            leading.wait()
            labeler.controller.stop()

        factory.start()  # keep the caches warm while waiting for leadership
        lock = LeaseLock(factory.transport, args.lease_namespace, args.lease_name, args.identity)
        elector = LeaderElector(lock, on_started_leading=lead, release_on_cancel=True)
        elector.run(stop)
        return 0 if stop.is_set() else 1
    finally:
        factory.shutdown()
        if health is not None:
            health.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return run(args, stop)


if __name__ == "__main__":
    sys.exit(main())
