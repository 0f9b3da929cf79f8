from __future__ import annotations

import base64
import email.utils
import gzip
import itertools
import json
import logging
import socket
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import urllib3
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.config import ConfigException, kube_config

from fastinformer.errors import (
    ApiError,
    ConflictError,
    ExpiredError,
    NotFoundError,
    TooManyRequestsError,
    UnauthorizedError,
)
from fastinformer.transport import (
    Response,
    TLSError,
    Transport,
    TransportError,
    iter_lines,
    shutdown_response,
)
from tests.fake_apiserver import (
    PKI,
    FakeAPIServer,
    Received,
    Reply,
    WatchReply,
    make_pki,
    make_pki_without_ip,
    status_body,
)

TOKEN = "s3cr3t-t0ken-value"


def config(host: str, **attrs: Any) -> Any:
    cfg = client.Configuration(host=host)
    for name, value in attrs.items():
        setattr(cfg, name, value)
    return cfg


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def server() -> Iterator[FakeAPIServer]:
    with FakeAPIServer() as srv:
        yield srv


@pytest.fixture
def tls_server(pki: PKI) -> Iterator[FakeAPIServer]:
    with FakeAPIServer(pki.server_context()) as srv:
        srv.routes["/version"] = Reply(200, {"gitVersion": "v1.26.0"})
        yield srv


@pytest.fixture
def mtls_server(pki: PKI) -> Iterator[FakeAPIServer]:
    with FakeAPIServer(pki.server_context(require_client_cert=True)) as srv:
        srv.routes["/version"] = Reply(200, {"gitVersion": "v1.26.0"})
        yield srv


# --- plain requests -----------------------------------------------------------------------


def test_successful_request_returns_the_body(server: FakeAPIServer) -> None:
    server.routes["/api/v1/namespaces/ns/configmaps"] = Reply.from_recording("16-list-page1-limit2")
    resp = Transport(config(server.url)).request("GET", "/api/v1/namespaces/ns/configmaps")
    assert resp.status == 200
    assert json.loads(resp.data)["kind"] == "ConfigMapList"


def test_query_is_url_encoded_and_received_verbatim(server: FakeAPIServer) -> None:
    server.routes["/api/v1/pods"] = Reply(200, {"items": []})
    query = {"labelSelector": "app in (a,b),tier!=db", "fieldSelector": "spec.nodeName=n 1"}
    Transport(config(server.url)).request("GET", "/api/v1/pods", query)
    assert server.received[0].query == query


def test_host_path_prefix_is_kept(server: FakeAPIServer) -> None:
    server.routes["/k8s/clusters/c1/api/v1/pods"] = Reply(200, {"items": []})
    Transport(config(server.url + "/k8s/clusters/c1/")).request("GET", "/api/v1/pods")
    assert server.received[0].path == "/k8s/clusters/c1/api/v1/pods"


def test_mapping_body_is_sent_as_json(server: FakeAPIServer) -> None:
    server.routes["/api/v1/namespaces"] = Reply(201, {"kind": "Namespace"})
    Transport(config(server.url)).request("POST", "/api/v1/namespaces", body={"a": 1})
    got = server.received[0]
    assert (got.method, json.loads(got.body), got.headers["content-type"]) == (
        "POST",
        {"a": 1},
        "application/json",
    )


def test_relative_path_is_refused(server: FakeAPIServer) -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        Transport(config(server.url)).request("GET", "api/v1/pods")


def test_non_http_host_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        Transport(config("ftp://example.com"))


def test_config_of_the_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Configuration"):
        Transport("https://example.com")


def test_api_client_configuration_is_used(server: FakeAPIServer) -> None:
    server.routes["/version"] = Reply(200, {})
    api = client.ApiClient(config(server.url, api_key={"BearerToken": f"Bearer {TOKEN}"}))
    Transport(api).request("GET", "/version")
    assert server.received[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_a_stream_waits_for_its_headers_no_longer_than_the_read_timeout(
    server: FakeAPIServer,
) -> None:
    release = threading.Event()

    def silent(_: Received) -> Reply:
        release.wait(10)
        return Reply(200, {})

    server.routes["/silent"] = silent
    transport = Transport(config(server.url), read_timeout=0.2, stream_read_timeout=None)
    started = time.monotonic()
    try:
        with pytest.raises(TransportError, match="ReadTimeout"):
            transport.request("GET", "/silent", stream=True)
    finally:
        release.set()
    assert time.monotonic() - started < 5


def test_a_streams_body_reads_use_the_stream_timeout_not_the_read_timeout(
    server: FakeAPIServer,
) -> None:
    server.routes["/held"] = WatchReply([b'{"a":1}\n'], hold=True)
    transport = Transport(config(server.url), read_timeout=0.2, stream_read_timeout=None)
    resp = transport.request("GET", "/held", stream=True)
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(iter_lines(resp)), daemon=True)
    reader.start()
    time.sleep(0.8)  # four read timeouts without a byte
    assert reader.is_alive() and lines == [b'{"a":1}']
    server.release_watches()
    reader.join(5)
    assert not reader.is_alive() and lines == [b'{"a":1}']


def test_connection_refused_is_a_transport_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError) as info:
        Transport(config(f"http://127.0.0.1:{port}")).request("GET", "/version")
    assert isinstance(info.value, ConnectionError)


def test_read_timeout_is_a_transport_error(server: FakeAPIServer) -> None:
    release = threading.Event()

    def slow(_: Received) -> Reply:
        release.wait(10)
        return Reply(200, {})

    server.routes["/slow"] = slow
    try:
        with pytest.raises(TransportError, match="ReadTimeout"):
            Transport(config(server.url), read_timeout=0.2).request("GET", "/slow")
    finally:
        release.set()


def test_pool_is_bounded_and_retries_are_off(server: FakeAPIServer) -> None:
    transport = Transport(config(server.url), pool_maxsize=3)
    assert transport.pool.connection_pool_kw["maxsize"] == 3
    assert transport.pool.connection_pool_kw["retries"].total is False


# --- authentication -----------------------------------------------------------------------


def test_authorization_api_key_gets_its_prefix(server: FakeAPIServer) -> None:
    server.routes["/version"] = Reply(200, {})
    cfg = config(
        server.url, api_key={"authorization": TOKEN}, api_key_prefix={"authorization": "Bearer"}
    )
    Transport(cfg).request("GET", "/version")
    assert server.received[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_no_authorization_header_without_a_token(server: FakeAPIServer) -> None:
    server.routes["/version"] = Reply(200, {})
    Transport(config(server.url)).request("GET", "/version")
    assert "authorization" not in server.received[0].headers


def test_refresh_hook_runs_before_each_request_and_its_token_is_sent(
    server: FakeAPIServer,
) -> None:
    server.routes["/version"] = Reply(200, {})
    calls = []

    def refresh(cfg: Any) -> None:
        calls.append(1)
        cfg.api_key["BearerToken"] = f"Bearer token-{len(calls)}"

    cfg = config(server.url, api_key={"BearerToken": "Bearer token-0"})
    cfg.refresh_api_key_hook = refresh
    transport = Transport(cfg)
    transport.request("GET", "/version")
    transport.request("GET", "/version")
    assert [r.headers["authorization"] for r in server.received] == [
        "Bearer token-1",
        "Bearer token-2",
    ]


def _write_kubeconfig(
    path: Path, server: str, user: dict[str, Any], cluster: dict[str, Any]
) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, **cluster}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    path.write_text(json.dumps(doc))
    return path


def test_from_kubeconfig_trusts_its_ca_and_sends_its_token(
    tls_server: FakeAPIServer, pki: PKI, tmp_path: Path
) -> None:
    ca_data = base64.b64encode(pki.ca_cert.read_bytes()).decode()
    path = _write_kubeconfig(
        tmp_path / "kubeconfig",
        tls_server.url,
        {"token": TOKEN},
        {"certificate-authority-data": ca_data},
    )
    Transport.from_kubeconfig(str(path)).request("GET", "/version")
    assert tls_server.received[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_exec_plugin_token_is_refreshed_when_it_expires(
    server: FakeAPIServer, tmp_path: Path
) -> None:
    server.routes["/version"] = Reply(200, {})
    counter = tmp_path / "n"
    counter.write_text("0")
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "import json, pathlib\n"
        f"p = pathlib.Path({str(counter)!r}); n = int(p.read_text()) + 1; p.write_text(str(n))\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1',\n"
        "  'kind': 'ExecCredential', 'status': {'token': f'exec-token-{n}',\n"
        "  'expirationTimestamp': '2000-01-01T00:00:00Z'}}))\n"
    )
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": [str(plugin)],
            "interactiveMode": "Never",
        }
    }
    path = _write_kubeconfig(tmp_path / "kubeconfig", server.url, user, {})
    transport = Transport.from_kubeconfig(str(path))
    transport.request("GET", "/version")
    transport.request("GET", "/version")
    tokens = [r.headers["authorization"] for r in server.received]
    assert tokens[0] != tokens[1]
    assert all(t.startswith("Bearer exec-token-") for t in tokens)


def test_default_configuration_comes_from_kubeconfig_env(
    server: FakeAPIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/version"] = Reply(200, {})
    path = _write_kubeconfig(tmp_path / "kc", server.url, {"token": TOKEN}, {})
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    transport = Transport()
    transport.request("GET", "/version")
    assert server.received[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_missing_kubeconfig_outside_a_cluster_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(tmp_path / "absent"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigException, match="not running in a cluster"):
        Transport()


# --- TLS ----------------------------------------------------------------------------------


def test_untrusted_server_certificate_fails_with_a_hint(tls_server: FakeAPIServer) -> None:
    with pytest.raises(TLSError, match=r"not trusted.*ssl_ca_cert"):
        Transport(config(tls_server.url)).request("GET", "/version")


def test_certificate_from_another_ca_is_refused(tls_server: FakeAPIServer, pki: PKI) -> None:
    cfg = config(tls_server.url, ssl_ca_cert=str(pki.other_ca_cert))
    with pytest.raises(TLSError):
        Transport(cfg).request("GET", "/version")


def test_configured_ca_makes_the_server_trusted(tls_server: FakeAPIServer, pki: PKI) -> None:
    resp = Transport(config(tls_server.url, ssl_ca_cert=str(pki.ca_cert))).request(
        "GET", "/version"
    )
    assert resp.status == 200


def test_ca_cert_data_makes_the_server_trusted(tls_server: FakeAPIServer, pki: PKI) -> None:
    cfg = config(tls_server.url, ca_cert_data=pki.ca_cert.read_text())
    assert Transport(cfg).request("GET", "/version").status == 200


def test_verify_ssl_false_accepts_any_certificate(tls_server: FakeAPIServer) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        resp = Transport(config(tls_server.url, verify_ssl=False)).request("GET", "/version")
    assert resp.status == 200


@pytest.fixture
def named_tls_server(tmp_path: Path) -> Iterator[tuple[FakeAPIServer, PKI]]:
    pki = make_pki_without_ip(tmp_path / "named", "apiserver.test")
    with FakeAPIServer(pki.server_context()) as srv:
        srv.routes["/version"] = Reply(200, {})
        yield srv, pki


def test_certificate_for_another_name_fails_hostname_check(
    named_tls_server: tuple[FakeAPIServer, PKI],
) -> None:
    srv, pki = named_tls_server
    with pytest.raises(TLSError, match=r"(?i)hostname|match"):
        Transport(config(srv.url, ssl_ca_cert=str(pki.ca_cert))).request("GET", "/version")


def test_tls_server_name_is_used_for_sni_and_verification(
    named_tls_server: tuple[FakeAPIServer, PKI],
) -> None:
    srv, pki = named_tls_server
    cfg = config(srv.url, ssl_ca_cert=str(pki.ca_cert), tls_server_name="apiserver.test")
    assert Transport(cfg).request("GET", "/version").status == 200


def test_assert_hostname_false_skips_only_the_hostname_check(
    named_tls_server: tuple[FakeAPIServer, PKI],
) -> None:
    srv, pki = named_tls_server
    cfg = config(srv.url, ssl_ca_cert=str(pki.ca_cert), assert_hostname=False)
    assert Transport(cfg).request("GET", "/version").status == 200
    cfg = config(srv.url, ssl_ca_cert=str(pki.other_ca_cert), assert_hostname=False)
    with pytest.raises(TLSError):
        Transport(cfg).request("GET", "/version")


def test_server_requiring_a_client_certificate_refuses_a_client_without_one(
    mtls_server: FakeAPIServer, pki: PKI
) -> None:
    with pytest.raises(TransportError):
        Transport(config(mtls_server.url, ssl_ca_cert=str(pki.ca_cert))).request("GET", "/version")


def test_client_certificate_is_presented(mtls_server: FakeAPIServer, pki: PKI) -> None:
    cfg = config(
        mtls_server.url,
        ssl_ca_cert=str(pki.ca_cert),
        cert_file=str(pki.client_cert),
        key_file=str(pki.client_key),
    )
    assert Transport(cfg).request("GET", "/version").status == 200


# --- proxy --------------------------------------------------------------------------------


def test_proxy_receives_absolute_requests_with_proxy_headers(server: FakeAPIServer) -> None:
    server.routes["/api/v1/pods"] = Reply(200, {"items": []})
    cfg = config(
        "http://apiserver.invalid:6443",
        proxy=server.url,
        proxy_headers={"Proxy-Authorization": "Basic cHJveHk6cGFzcw=="},
    )
    transport = Transport(cfg)
    assert isinstance(transport.pool, urllib3.ProxyManager)
    assert transport.pool.proxy is not None and transport.pool.proxy.port == int(
        server.url.rsplit(":", 1)[1]
    )
    transport.request("GET", "/api/v1/pods")
    got = server.received[0]
    assert got.target == "http://apiserver.invalid:6443/api/v1/pods"
    assert got.headers["proxy-authorization"] == "Basic cHJveHk6cGFzcw=="
    assert "cHJveHk6cGFzcw" not in repr(transport)


def test_no_proxy_match_bypasses_the_proxy() -> None:
    cfg = config("https://api.example.com", proxy="http://proxy:3128", no_proxy="example.com")
    assert not isinstance(Transport(cfg).pool, urllib3.ProxyManager)
    cfg = config("https://10.0.0.5", proxy="http://proxy:3128", no_proxy="10.0.0.0/8")
    assert not isinstance(Transport(cfg).pool, urllib3.ProxyManager)
    cfg = config("https://api.other.com", proxy="http://proxy:3128", no_proxy="example.com")
    assert isinstance(Transport(cfg).pool, urllib3.ProxyManager)


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recording", "cls"),
    [
        ("10-get-missing-404", NotFoundError),
        ("09-create-duplicate-409", ConflictError),
        ("12-update-stale-409", ConflictError),
        ("18-list-bad-continue-400", ApiError),
        ("20-list-label-selector-bad-400", ApiError),
        ("25-list-exact-too-old-410", ExpiredError),
        ("28-unauthorized-401", UnauthorizedError),
    ],
)
def test_recorded_status_errors_raise_the_matching_api_error(
    server: FakeAPIServer, recording: str, cls: type[ApiError]
) -> None:
    reply = Reply.from_recording(recording)
    server.routes["/x"] = reply
    status = cast(dict[str, Any], reply.body)
    with pytest.raises(cls) as info:
        Transport(config(server.url)).request("GET", "/x")
    err = info.value
    assert type(err) is cls
    assert (err.code, err.reason, err.message) == (
        status["code"],
        status["reason"],
        status["message"],
    )
    assert err.details == status.get("details", {})


def test_retry_after_header_is_parsed_from_a_recorded_504(server: FakeAPIServer) -> None:
    server.routes["/x"] = Reply.from_recording("26-list-notolderthan-future-504")
    with pytest.raises(ApiError) as info:
        Transport(config(server.url)).request("GET", "/x")
    assert (info.value.code, info.value.reason, info.value.retry_after) == (504, "Timeout", 1.0)


def test_429_carries_retry_after_seconds(server: FakeAPIServer) -> None:
    body = status_body(429, "TooManyRequests", "slow down")
    server.routes["/x"] = Reply(429, body, {"Retry-After": "7"})
    with pytest.raises(TooManyRequestsError) as info:
        Transport(config(server.url)).request("GET", "/x")
    assert info.value.retry_after == 7.0


def test_retry_after_as_http_date_becomes_seconds(server: FakeAPIServer) -> None:
    when = email.utils.formatdate(time.time() + 3600, usegmt=True)
    server.routes["/x"] = Reply(503, b"overloaded", {"Retry-After": when})
    with pytest.raises(ApiError) as info:
        Transport(config(server.url)).request("GET", "/x")
    assert info.value.retry_after is not None and 3000 < info.value.retry_after <= 3600


def test_retry_after_falls_back_to_status_details(server: FakeAPIServer) -> None:
    body = status_body(429, "TooManyRequests", "slow down") | {"details": {"retryAfterSeconds": 2}}
    server.routes["/x"] = Reply(429, body)
    with pytest.raises(TooManyRequestsError) as info:
        Transport(config(server.url)).request("GET", "/x")
    assert info.value.retry_after == 2.0


@pytest.mark.parametrize(
    ("status", "body", "reason", "message"),
    [
        (503, b"upstream connect error", "ServiceUnavailable", "upstream connect error"),
        (404, b"404 page not found\n", "NotFound", "404 page not found"),
        (502, b"", "", "Bad Gateway"),
        (500, b"{not json", "InternalError", "{not json"),
        (403, b'{"kind": "Other"}', "Forbidden", '{"kind": "Other"}'),
    ],
)
def test_non_status_error_bodies_use_the_http_status(
    server: FakeAPIServer, status: int, body: bytes, reason: str, message: str
) -> None:
    server.routes["/x"] = Reply(status, body, {"Content-Type": "text/plain"})
    with pytest.raises(ApiError) as info:
        Transport(config(server.url)).request("GET", "/x")
    assert (info.value.code, info.value.reason, info.value.message) == (status, reason, message)


def test_streamed_request_errors_are_raised_on_open(server: FakeAPIServer) -> None:
    server.routes["/x"] = Reply.from_recording("28-unauthorized-401")
    with pytest.raises(UnauthorizedError):
        Transport(config(server.url)).request("GET", "/x", stream=True)


# --- redaction ----------------------------------------------------------------------------


def test_token_never_appears_in_repr(server: FakeAPIServer) -> None:
    transport = Transport(config(server.url, api_key={"BearerToken": f"Bearer {TOKEN}"}))
    text = repr(transport)
    assert TOKEN not in text and "auth=token" in text


def test_token_echoed_by_the_server_is_redacted(server: FakeAPIServer) -> None:
    server.routes["/x"] = Reply(401, status_body(401, "Unauthorized", f"token {TOKEN} rejected"))
    with pytest.raises(UnauthorizedError) as info:
        Transport(config(server.url, api_key={"BearerToken": f"Bearer {TOKEN}"})).request(
            "GET", "/x"
        )
    assert TOKEN not in str(info.value) and TOKEN not in info.value.message
    assert "<redacted>" in info.value.message


def test_token_is_redacted_from_an_exception_raised_while_sending(server: FakeAPIServer) -> None:
    bad = TOKEN + "\nX-Injected: 1"  # http.client refuses it, quoting the header value
    transport = Transport(config(server.url, api_key={"authorization": bad}))
    with pytest.raises(TransportError) as info:
        transport.request("GET", "/x")
    assert TOKEN not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert server.received == []


def test_token_is_redacted_from_a_failing_refresh_hook(server: FakeAPIServer) -> None:
    server.routes["/version"] = Reply(200, {})
    cfg = config(server.url, api_key={"BearerToken": f"Bearer {TOKEN}"})
    transport = Transport(cfg)
    transport.request("GET", "/version")  # the transport has now seen the token

    def broken(_: Any) -> None:
        raise RuntimeError(f"cannot refresh Bearer {TOKEN}")

    cfg.refresh_api_key_hook = broken
    with pytest.raises(TransportError, match="refreshing credentials failed") as info:
        transport.request("GET", "/version")
    assert TOKEN not in str(info.value)


def test_debug_logs_never_carry_the_token(
    server: FakeAPIServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.routes["/x"] = Reply(200, {})
    caplog.set_level(logging.DEBUG)
    Transport(config(server.url, api_key={"BearerToken": f"Bearer {TOKEN}"})).request("GET", "/x")
    assert "GET" in caplog.text and TOKEN not in caplog.text


def test_proxy_credentials_in_the_url_are_redacted() -> None:
    cfg = config("https://api.example.com", proxy="http://user:hunter2@proxy:3128")
    assert "hunter2" not in repr(Transport(cfg))


# --- gzip ---------------------------------------------------------------------------------


def _maybe_gzip(received: Received) -> Reply:
    body = json.dumps({"items": [{"n": i} for i in range(100)]}).encode()
    if "gzip" in received.headers.get("accept-encoding", ""):
        return Reply(200, gzip.compress(body), {"Content-Encoding": "gzip"})
    return Reply(200, body)


def test_compress_requests_gzip_and_decodes_it(server: FakeAPIServer) -> None:
    server.routes["/x"] = _maybe_gzip
    resp = Transport(config(server.url), compress=True).request("GET", "/x")
    assert server.received[0].headers["accept-encoding"] == "gzip"
    assert len(json.loads(resp.data)["items"]) == 100


def test_gzip_is_not_requested_by_default_nor_for_streams(server: FakeAPIServer) -> None:
    server.routes["/x"] = _maybe_gzip
    Transport(config(server.url)).request("GET", "/x")
    Transport(config(server.url), compress=True).request("GET", "/x", stream=True).drain_conn()
    assert ["gzip" in r.headers.get("accept-encoding", "") for r in server.received] == [
        False,
        False,
    ]


# --- iter_lines ---------------------------------------------------------------------------


class _Pieces:
    """A body delivered in the given pieces (the non-chunked ``read1`` path)."""

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = iter(pieces)

    def read1(self, amt: int) -> bytes:
        return next(self._pieces, b"")


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.binary(min_size=1, max_size=40).map(lambda b: b.replace(b"\n", b"x")), max_size=20
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30),
)
def test_any_chunking_of_lines_yields_the_same_lines(lines: list[bytes], cuts: list[int]) -> None:
    data = b"".join(line + b"\n" for line in lines)
    got = list(iter_lines(cast(Response, _Pieces(_split(data, cuts)))))
    assert got == lines


@settings(max_examples=100, deadline=None)
@given(
    lines=st.lists(
        st.binary(min_size=1, max_size=40).map(lambda b: b.replace(b"\n", b"x")),
        min_size=1,
        max_size=10,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=500), max_size=10),
)
def test_unterminated_last_line_is_yielded_at_eof(lines: list[bytes], cuts: list[int]) -> None:
    data = b"\n".join(lines)
    assert list(iter_lines(cast(Response, _Pieces(_split(data, cuts))))) == lines


def test_empty_lines_are_skipped() -> None:
    pieces = [b"\n\na\n", b"\n", b"b\n\n"]
    assert list(iter_lines(cast(Response, _Pieces(pieces)))) == [b"a", b"b"]


def test_chunked_stream_lines_split_across_http_chunks(server: FakeAPIServer) -> None:
    server.routes["/w"] = WatchReply([b'{"a"', b':1}\n{"b":2}\n{', b'"c":3}\n', b"\n"])
    resp = Transport(config(server.url)).request("GET", "/w", stream=True)
    assert list(iter_lines(resp, chunk_size=4)) == [b'{"a":1}', b'{"b":2}', b'{"c":3}']


def test_chunked_stream_cut_short_raises_transport_error(server: FakeAPIServer) -> None:
    server.routes["/w"] = WatchReply([b'{"a":1}\n{"b"'], abort=True)
    resp = Transport(config(server.url)).request("GET", "/w", stream=True)
    lines = []
    with pytest.raises(TransportError):
        for line in iter_lines(resp):
            lines.append(line)
    assert lines == [b'{"a":1}']


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        list(iter_lines(cast(Response, _Pieces([])), chunk_size=0))


# --- iter_lines over the raw connection (LineReader) ---------------------------------------


class _ReaderSpy:
    """Stands in for ``transport.LineReader``, recording each reader it creates."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.readers: list[Any] = []

    def __call__(self, read1: Any, chunked: bool, chunk_size: int) -> Any:
        reader = self.real(read1, chunked, chunk_size)
        self.readers.append(reader)
        return reader


@pytest.fixture
def reader_spy(monkeypatch: pytest.MonkeyPatch) -> _ReaderSpy:
    import fastinformer.transport as transport_module

    spy = _ReaderSpy(transport_module.LineReader)
    monkeypatch.setattr(transport_module, "LineReader", spy)
    return spy


class _CannedServer:
    """Answers every request on a connection with ``reply`` (raw bytes), keeping it open."""

    def __init__(self, reply: bytes) -> None:
        self._reply = reply
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            data = b""
            try:
                while True:
                    while b"\r\n\r\n" not in data:
                        more = conn.recv(4096)
                        if not more:
                            return
                        data += more
                    data = data.split(b"\r\n\r\n", 1)[1]
                    conn.sendall(self._reply)
            except OSError:
                return

    def close(self) -> None:
        self._sock.close()


def _chunked_reply(body: bytes, headers: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + headers + b"\r\n" + body


def test_chunked_watch_is_read_raw_by_the_line_reader(
    server: FakeAPIServer, reader_spy: _ReaderSpy
) -> None:
    server.routes["/w"] = WatchReply.from_events([{"type": "ADDED", "n": i} for i in range(50)])
    resp = Transport(config(server.url)).request("GET", "/w", stream=True)
    lines = list(iter_lines(resp, chunk_size=100))
    assert [json.loads(line)["n"] for line in lines] == list(range(50))
    assert len(reader_spy.readers) == 1 and reader_spy.readers[0].complete


def test_connection_is_reused_after_a_watch_that_ended_cleanly(
    server: FakeAPIServer, reader_spy: _ReaderSpy
) -> None:
    server.routes["/w"] = WatchReply([b'{"a":1}\n', b'{"b":2}\n'])
    server.routes["/version"] = Reply(200, {"gitVersion": "v1"})
    transport = Transport(config(server.url))
    resp = transport.request("GET", "/w", stream=True)
    assert list(iter_lines(resp)) == [b'{"a":1}', b'{"b":2}']
    resp.release_conn()
    assert json.loads(transport.request("GET", "/version").data) == {"gitVersion": "v1"}
    assert transport.pool.connection_from_url(server.url).num_connections == 1
    assert len(reader_spy.readers) == 1


def test_shutdown_wakes_a_reader_blocked_on_the_raw_connection(
    server: FakeAPIServer, reader_spy: _ReaderSpy
) -> None:
    server.routes["/w"] = WatchReply([b'{"a":1}\n'], hold=True)
    resp = Transport(config(server.url)).request("GET", "/w", stream=True)
    got: list[bytes] = []
    first = threading.Event()
    outcome: list[BaseException | None] = []

    def consume() -> None:
        try:
            for line in iter_lines(resp):
                got.append(line)
                first.set()
            outcome.append(None)
        except TransportError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    assert first.wait(10)
    shutdown_response(resp)
    thread.join(10)
    assert not thread.is_alive()
    assert got == [b'{"a":1}']
    assert len(outcome) == 1 and isinstance(outcome[0], TransportError)
    assert len(reader_spy.readers) == 1


def test_a_plain_connection_takes_waiting_bytes_and_blocks_only_when_none_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io
    import types

    import fastinformer.transport as transport_module

    calls: list[bytes | None] = []
    real = transport_module.core.recv_waiting

    def spy(sock: socket.socket, size: int) -> bytes | None:
        data = real(sock, size)
        calls.append(data)
        return data

    monkeypatch.setattr(transport_module.core, "recv_waiting", spy)
    ours, theirs = socket.socketpair()
    try:
        response = types.SimpleNamespace(connection=types.SimpleNamespace(sock=ours))
        read1 = transport_module._connection_read1(
            cast(Any, response), io.BufferedReader(io.BytesIO(b""))
        )
        theirs.sendall(b"already here")
        assert read1(100) == b""  # the (empty) file buffer first: it switches to the socket
        assert read1(100) == b"already here" and calls == [b"already here"]
        threading.Timer(0.1, theirs.sendall, args=(b"later",)).start()
        assert read1(100) == b"later"  # nothing was waiting: a blocking recv got it
        assert calls[1:] == [None]
    finally:
        ours.close()
        theirs.close()


def test_tls_watch_is_read_raw_and_its_connection_reused(
    tls_server: FakeAPIServer, pki: PKI, reader_spy: _ReaderSpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fastinformer.transport as transport_module

    def refuse(sock: socket.socket, size: int) -> bytes | None:
        raise AssertionError("a TLS socket must be read through recv")

    monkeypatch.setattr(transport_module.core, "recv_waiting", refuse)
    tls_server.routes["/w"] = WatchReply([b"x" * 40_000 + b"\n", b'{"b"', b":2}\n"])
    transport = Transport(config(tls_server.url, ssl_ca_cert=str(pki.ca_cert)))
    resp = transport.request("GET", "/w", stream=True)
    assert list(iter_lines(resp)) == [b"x" * 40_000, b'{"b":2}']
    resp.release_conn()
    assert transport.request("GET", "/version").status == 200
    assert transport.pool.connection_from_url(tls_server.url).num_connections == 1
    assert len(reader_spy.readers) == 1


def test_malformed_chunk_framing_is_a_transport_error(reader_spy: _ReaderSpy) -> None:
    canned = _CannedServer(_chunked_reply(b'8\r\n{"a":1}\n\r\nzz\r\n'))
    try:
        resp = Transport(config(canned.url)).request("GET", "/w", stream=True)
        lines = []
        with pytest.raises(TransportError, match="bad chunk size line") as info:
            for line in iter_lines(resp):
                lines.append(line)
        assert lines == [b'{"a":1}']
        assert info.value.cause == "ChunkedEncodingError"
        assert len(reader_spy.readers) == 1
    finally:
        canned.close()


def test_gzip_encoded_chunked_body_is_decoded_by_urllib3(reader_spy: _ReaderSpy) -> None:
    packed = gzip.compress(b'{"a":1}\n{"b":2}\n')
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(packed), packed)
    canned = _CannedServer(_chunked_reply(body, b"Content-Encoding: gzip\r\n"))
    try:
        resp = Transport(config(canned.url)).request("GET", "/w", stream=True)
        assert list(iter_lines(resp)) == [b'{"a":1}', b'{"b":2}']
        assert reader_spy.readers == []
    finally:
        canned.close()


def test_partly_read_chunked_body_goes_on_through_urllib3(
    server: FakeAPIServer, reader_spy: _ReaderSpy
) -> None:
    server.routes["/w"] = WatchReply([b'{"a":1}\n{"b":2}\n', b'{"c":3}\n'])
    resp = Transport(config(server.url)).request("GET", "/w", stream=True)
    assert resp.read(8) == b'{"a":1}\n'
    assert list(iter_lines(resp)) == [b'{"b":2}', b'{"c":3}']
    assert reader_spy.readers == []


def test_a_urllib3_response_without_the_expected_internals_takes_the_general_path() -> None:
    import io

    import urllib3

    from fastinformer.transport import _unread_chunked_body

    resp = urllib3.HTTPResponse(
        body=io.BytesIO(b""), headers={"transfer-encoding": "chunked"}, preload_content=False
    )
    assert resp.chunked
    del resp._decoded_buffer  # as if a later urllib3 renamed it
    assert _unread_chunked_body(cast(Response, resp)) is None
