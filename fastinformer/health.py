"""A small HTTP endpoint for probes and scraping: ``/healthz``, ``/readyz``, ``/metrics``.

``/healthz`` answers 200 while the server runs (liveness). ``/readyz`` answers 200 when
every watched object reports ``has_synced()`` (informers, handler registrations,
controllers), else 503 listing those not synced. ``/metrics`` serves the Prometheus
registry (``prometheus_client``'s global one by default; 404 when prometheus_client is
not installed). Served by ``http.server`` on one daemon thread per request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["HealthServer", "Syncable", "serve_health"]

log = logging.getLogger("fastinformer.health")


class Syncable(Protocol):
    """Anything that can tell whether its cache is synced."""

    def has_synced(self) -> bool: ...


def _label(obj: object) -> str:
    name = getattr(obj, "name", None)
    return name if isinstance(name, str) and name else type(obj).__name__


class HealthServer:
    """The running endpoint: ``port`` (the bound one), ``url``, :meth:`close`."""

    def __init__(
        self,
        host: str,
        port: int,
        informers: Iterable[Syncable],
        registry: CollectorRegistry | None,
    ) -> None:
        self._informers = list(informers)
        for obj in self._informers:
            if not callable(getattr(obj, "has_synced", None)):
                raise TypeError(f"{obj!r} has no has_synced() method")
        self._registry = registry
        server = ThreadingHTTPServer((host, port), _handler_class(self))
        server.daemon_threads = True
        self._server = server
        self.host = host
        self.port: int = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="fastinformer-health",
            daemon=True,
        )
        self._thread.start()
        self._closed = False

    @property
    def url(self) -> str:
        """``http://host:port`` (``127.0.0.1`` when bound to every interface)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    def not_synced(self) -> list[str]:
        """Names of the watched objects whose caches have not synced."""
        return [_label(obj) for obj in self._informers if not obj.has_synced()]

    def metrics(self, accept: str | None) -> tuple[int, str, bytes]:
        """Status, content type and body of a ``/metrics`` answer."""
        try:
            from prometheus_client import REGISTRY
            from prometheus_client.exposition import choose_encoder
        except ImportError:
            return (
                404,
                "text/plain; charset=utf-8",
                b"metrics need prometheus_client: pip install 'fastinformer[metrics]'\n",
            )
        registry = REGISTRY if self._registry is None else self._registry
        encoder, content_type = choose_encoder(accept or "")
        return 200, content_type, encoder(registry)

    def close(self) -> None:
        """Stop serving and release the port. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> HealthServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _handler_class(health: HealthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "fastinformer-health"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(200, "text/plain; charset=utf-8", b"ok\n")
            elif path == "/readyz":
                missing = health.not_synced()
                if missing:
                    body = ("not synced: " + ", ".join(missing) + "\n").encode()
                    self._send(503, "text/plain; charset=utf-8", body)
                else:
                    self._send(200, "text/plain; charset=utf-8", b"ok\n")
            elif path == "/metrics":
                try:
                    self._send(*health.metrics(self.headers.get("Accept")))
                except Exception:
                    log.exception("collecting metrics failed")
                    self._send(500, "text/plain; charset=utf-8", b"collecting metrics failed\n")
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found\n")

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s - %s", self.address_string(), format % args)

    return Handler


def serve_health(
    port: int = 0,
    *,
    host: str = "0.0.0.0",
    informers: Iterable[Syncable] = (),
    registry: CollectorRegistry | None = None,
) -> HealthServer:
    """Serve ``/healthz``, ``/readyz`` and ``/metrics`` on ``host:port`` (0: a free port)
    from a background thread; returns the running :class:`HealthServer`.

    ``host`` defaults to every interface, as kubelet probes reach the pod's IP.
    ``informers``: whatever ``/readyz`` waits for (informers, handler registrations,
    controllers). ``registry``: the Prometheus registry to serve (default: the global one).
    """
    return HealthServer(host, port, informers, registry)
