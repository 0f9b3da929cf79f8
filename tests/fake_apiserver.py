"""A scriptable HTTP(S) server for transport and list/watch tests.

:class:`FakeAPIServer` runs ``http.server`` in a background thread, answers each request
from a route table (static :class:`Reply` objects, chunked :class:`WatchReply` streams, or
callables), and records what it received. :func:`make_pki` writes a CA, a server
certificate and a client certificate (EC keys, made with ``cryptography``).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.fake_listwatch import status

RECORDINGS = Path("/work/shared/apiserver-recordings")


def recording(name: str) -> dict[str, Any]:
    """The recorded exchange ``NN-name.json`` (by its full file name, without ``.json``)."""
    data: dict[str, Any] = json.loads((RECORDINGS / f"{name}.json").read_text())
    return data


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    target: str  # the request target as sent (absolute-form through a proxy)
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class Reply:
    """A complete response with a Content-Length."""

    status: int = 200
    body: bytes | dict[str, Any] = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_recording(cls, name: str) -> Reply:
        rec = recording(name)
        return cls(rec["status"], rec["body"], dict(rec["headers"]))


@dataclass
class WatchReply:
    """A chunked 200 response sending ``chunks`` as separate HTTP chunks.

    ``hold``: after the chunks, keep the connection open until the server stops or
    :meth:`FakeAPIServer.release_watches` is called. ``abort``: end by closing the socket
    without the terminating zero-length chunk.
    """

    chunks: list[bytes]
    hold: bool = False
    abort: bool = False

    @classmethod
    def from_events(cls, events: list[dict[str, Any]], **kwargs: Any) -> WatchReply:
        """One chunk per event, each a compact JSON line, as the API server sends them."""
        lines = [json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in events]
        return cls(lines, **kwargs)


Route = Reply | WatchReply | Callable[[Received], "Reply | WatchReply"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, owner: FakeAPIServer, ssl_context: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.ssl_context = ssl_context
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # failed handshakes and client disconnects are expected in these tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        self.request.settimeout(10)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        received = Received(
            method=self.command,
            target=self.path,
            path=split.path,
            query={k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()},
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        route = owner.route_for(received)
        reply = route(received) if callable(route) else route
        if isinstance(reply, WatchReply):
            self._send_watch(reply)
        else:
            self._send_reply(reply)

    def _send_reply(self, reply: Reply) -> None:
        body = reply.body
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(reply.status)
        headers = {"Content-Type": "application/json", **reply.headers}
        for name, value in headers.items():
            if name.lower() not in ("content-length", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_watch(self, reply: WatchReply) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        try:
            for chunk in reply.chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            if reply.hold:
                self.server.owner.wait_released()
            if reply.abort:
                self.close_connection = True
                self.request.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True


class FakeAPIServer:
    """An HTTP(S) server on 127.0.0.1 answering from ``routes`` (keyed by URL path).

    Unknown paths get a 404 ``Status``. ``received`` lists every request in order.
    Use as a context manager, or call :meth:`start`/:meth:`stop`.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server = _Server(self, ssl_context)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def route_for(self, received: Received) -> Route:
        with self._lock:
            self.received.append(received)
            route = self.routes.get(received.path)
        if route is None:
            return Reply(404, status(404, "NotFound", "the server could not find it"))
        return route

    def wait_released(self) -> None:
        self._released.wait(30)

    def release_watches(self) -> None:
        """Let held watches finish (and every later one: the release is sticky)."""
        self._released.set()

    def start(self) -> FakeAPIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> FakeAPIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


status_body = status  # the Status body a real server sends; shared with fake_listwatch


# --- certificates -------------------------------------------------------------------------


@dataclass
class PKI:
    """Paths of PEM files: a CA, a server certificate it signed, a client certificate it
    signed, and an unrelated CA (to test untrusted servers)."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca_cert: Path

    def server_context(self, require_client_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.server_cert, self.server_key)
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(self.ca_cert)
        return ctx


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    cn: str,
    sans: list[x509.GeneralName],
    usage: x509.ObjectIdentifier,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def make_pki(directory: Path, server_names: tuple[str, ...] = ("localhost",)) -> PKI:
    """Write the PEM files into ``directory``; the server certificate is valid for
    127.0.0.1 and ``server_names``."""
    return _make_pki(directory, server_names, ip=True)


def make_pki_without_ip(directory: Path, server_name: str) -> PKI:
    """Like :func:`make_pki`, but the server certificate names only ``server_name``."""
    return _make_pki(directory, (server_name,), ip=False)


def _make_pki(directory: Path, server_names: tuple[str, ...], ip: bool) -> PKI:
    directory.mkdir(parents=True, exist_ok=True)
    ca = _ca("fake-apiserver-ca")
    other = _ca("someone-else-ca")
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
    if ip:
        sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    server = _leaf(ca, "kube-apiserver", sans, ExtendedKeyUsageOID.SERVER_AUTH)
    client = _leaf(ca, "alice", [], ExtendedKeyUsageOID.CLIENT_AUTH)
    pem = serialization.Encoding.PEM
    paths = PKI(
        ca_cert=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
        other_ca_cert=directory / "other-ca.crt",
    )
    paths.ca_cert.write_bytes(ca[0].public_bytes(pem))
    paths.other_ca_cert.write_bytes(other[0].public_bytes(pem))
    paths.server_cert.write_bytes(server[0].public_bytes(pem))
    _write_key(paths.server_key, server[1])
    paths.client_cert.write_bytes(client[0].public_bytes(pem))
    _write_key(paths.client_key, client[1])
    return paths


def serve(
    routes: dict[str, Route], ssl_context: ssl.SSLContext | None = None
) -> Iterator[FakeAPIServer]:
    """Generator for fixtures: a started server with ``routes``, stopped afterwards."""
    server = FakeAPIServer(ssl_context)
    server.routes.update(routes)
    with server:
        yield server
