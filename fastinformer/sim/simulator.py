"""``Simulator``: the embedded API server running in a background thread, for tests,
benchmarks and the ``fastinformer sim serve`` command.

    with Simulator() as sim:
        sim.populate(nodes=10, pods=1000)
        config.load_kube_config(sim.kubeconfig_path)
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import secrets
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from fastinformer.sim import kubeconfig
from fastinformer.sim.faults import Faults
from fastinformer.sim.registry import Registry, ResourceType
from fastinformer.sim.server import DenyRule, RecordedRequest, SimConfig, SimServer
from fastinformer.sim.store import SimStore
from fastinformer.sim.tls import ServingCerts, generate

if TYPE_CHECKING:
    from fastinformer.sim.churn import Churn


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Simulator:
    """A simulated Kubernetes API server on its own event loop thread.

    ``token=True`` generates a bearer token (``False``/None: no authentication); ``tls``
    serves HTTPS with a CA generated at start. Only loopback addresses are accepted unless
    ``allow_remote``. ``kubeconfig_path`` defaults to a file in a private temp directory.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        token: str | bool | None = True,
        history: int = 100_000,
        bookmark_interval: float = 60.0,
        watch_timeout: float = 1800.0,
        too_large_rv_wait: float = 3.0,
        kubeconfig_path: str | os.PathLike[str] | None = None,
        registry: Registry | None = None,
        seed: int = 0,
        allow_remote: bool = False,
    ) -> None:
        if not allow_remote and not _is_loopback(host):
            raise ValueError(f"{host!r} is not a loopback address (pass allow_remote=True)")
        self.host = host
        self.port = port
        self.seed = seed
        if token is True:
            self.token: str | None = secrets.token_urlsafe(24)
        elif isinstance(token, str) and token:
            self.token = token
        else:
            self.token = None
        self.store = SimStore(registry, history=history)
        self.faults = Faults(seed)
        self.config = SimConfig(
            bookmark_interval=bookmark_interval,
            default_watch_timeout=watch_timeout,
            too_large_rv_wait=too_large_rv_wait,
        )
        self.server = self._new_server()
        self.certs: ServingCerts | None = generate() if tls else None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._kubeconfig_path = Path(kubeconfig_path) if kubeconfig_path else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._churns: list[Churn] = []

    def _new_server(self) -> SimServer:
        tokens = {self.token: self.config.user} if self.token else None
        server = SimServer(self.store, tokens=tokens, config=self.config, faults=self.faults)
        if getattr(self, "server", None) is not None:
            server.deny_rules = self.server.deny_rules
            server.requests = self.server.requests
        return server

    # Lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._runner is not None

    def start(self) -> Simulator:
        """Start serving (returns once the port is bound) and write the kubeconfig."""
        if self._thread is not None:
            raise RuntimeError("the simulator is already started")
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fastinformer-sim",
                                        daemon=True)
        self._thread.start()
        try:
            self._call(self._serve())
        except BaseException:
            self.stop()
            raise
        self._write_kubeconfig()
        return self

    def stop(self) -> None:
        """Stop churn, close every connection and the loop thread (idempotent)."""
        for churn in list(self._churns):
            churn.stop()
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._runner is not None and loop.is_running():
            self._call(self._shutdown())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def restart(self, keep_state: bool = True) -> None:
        """Close every connection and serve again on the same port. Without
        ``keep_state`` every object and all history are lost (like etcd wiped)."""
        if self._loop is None:
            raise RuntimeError("the simulator is not started")
        self._call(self._shutdown())
        if not keep_state:
            self.store.reset()
        self.server = self._new_server()
        self._call(self._serve())

    def _call(self, coro: Any, timeout: float = 30.0) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        self.server.attach(loop)
        runner = web.AppRunner(self.server.app, access_log=None, shutdown_timeout=1.0,
                               handler_cancellation=True)
        await runner.setup()
        ssl_context = self.certs.server_context() if self.certs else None
        site = web.TCPSite(runner, self.host, self.port, ssl_context=ssl_context,
                           reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        self.server.server_address = f"{self.host}:{self.port}"
        self._runner = runner

    async def _shutdown(self) -> None:
        runner, self._runner = self._runner, None
        await self.server.close_watches()
        self.server.detach()
        if runner is not None:
            await runner.cleanup()

    # Addresses and credentials ------------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "https" if self.certs else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def kubeconfig_path(self) -> str:
        """Path of the kubeconfig written at start (context ``fastinformer-sim``)."""
        if self._kubeconfig_path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="fastinformer-sim-")
            self._kubeconfig_path = Path(self._tmpdir.name, "kubeconfig")
        return str(self._kubeconfig_path)

    @property
    def ca_pem(self) -> bytes | None:
        return self.certs.ca_pem if self.certs else None

    def _write_kubeconfig(self) -> None:
        kubeconfig.write(self.kubeconfig_path, self.url, self.token, self.ca_pem)

    def kube_configuration(self) -> Any:
        """A ``kubernetes.client.Configuration`` for this simulator."""
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            self.kubeconfig_path, client_configuration=configuration
        )
        return configuration

    # Data ---------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far (oldest first, bounded)."""
        return list(self.server.requests)

    def clear_requests(self) -> None:
        self.server.requests.clear()

    def register(
        self, group: str, version: str, plural: str, kind: str, namespaced: bool = True
    ) -> ResourceType:
        """Serve a custom resource (``group`` may not be empty)."""
        if not group:
            raise ValueError("custom resources need a group")
        return self.store.registry.register(group, version, plural, kind, namespaced)

    def forbid(
        self,
        namespace: str | None = None,
        verbs: Iterable[str] | None = None,
        resource: str | None = None,
    ) -> DenyRule:
        """Answer 403 to matching requests (per-namespace authorization)."""
        return self.server.forbid(namespace, verbs, resource)

    def populate(
        self, nodes: int = 0, pods: int = 0, namespaces: int = 1, seed: int | None = None
    ) -> dict[str, int]:
        """Load kwok-style namespaces, nodes and pods directly into the store (no watch
        events; the history is compacted). Returns the counts stored."""
        from fastinformer.sim.populate import generate as generate_population

        population = generate_population(
            nodes, pods, namespaces, self.seed if seed is None else seed
        )
        existing = {o.name for o in self.store.page(self.store.resolve("namespaces")).items}
        fresh = [ns for ns in population.namespaces
                 if ns.get("metadata", {}).get("name") not in existing]
        return {
            "namespaces": self.store.load("namespaces", fresh),
            "nodes": self.store.load("nodes", population.nodes),
            "pods": self.store.load("pods", population.pods),
        }

    def churn(self, **kwargs: Any) -> Churn:
        """Start a :class:`~fastinformer.sim.churn.Churn` on this store (stopped with the
        simulator); keyword arguments are the Churn's."""
        from fastinformer.sim.churn import Churn

        churn = Churn(self.store, **{"seed": self.seed, **kwargs})
        self._churns.append(churn)
        churn.start()
        return churn
