"""HTTP(S) to the API server, configured like the kubernetes client.

:class:`Transport` turns a ``kubernetes.client.Configuration`` (host, TLS material, bearer
token and its refresh hook, proxy) into one urllib3 pool and sends requests through it.
Non-2xx answers raise the matching :class:`~fastinformer.errors.ApiError` subclass; network
and TLS failures raise :class:`TransportError`. Retries are off: the reflector owns them.

Credentials never leave this module in text: the token is sent only as a header, and every
message this module produces (log records, reprs, exceptions, copies of server messages)
is passed through the transport's redactor first.

:func:`iter_lines` splits a streamed body (a watch) into lines as chunks arrive.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from importlib import metadata
from ipaddress import ip_address, ip_network
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import msgspec
import urllib3
from urllib3.connection import HTTPConnection
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.util.response import is_response_to_head

from fastinformer._compat import core
from fastinformer.errors import ApiError, FastInformerError, api_error

if TYPE_CHECKING:
    from fastinformer._core_py import LineReader
else:
    LineReader = core.LineReader

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "Response",
    "TLSError",
    "Transport",
    "TransportError",
    "iter_lines",
    "shutdown_response",
]

log = logging.getLogger("fastinformer.transport")

Response = urllib3.BaseHTTPResponse
"""What :meth:`Transport.request` returns: urllib3's response (``.status``, ``.headers``,
``.data`` when not streamed, ``.stream()``/``.read1()`` when streamed)."""

DEFAULT_CHUNK_SIZE = 256 * 1024
_MAX_ERROR_BODY = 1 << 20
_REDACTED = "<redacted>"
_USERINFO_RE = re.compile(r"(?<=//)[^/@\s]+@")

# Reasons the API server would have used, for error bodies that are not a Status.
_REASON_BY_CODE = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Gone",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def _user_agent() -> str:
    try:
        return f"fastinformer/{metadata.version('fastinformer')}"
    except metadata.PackageNotFoundError:
        return "fastinformer"


_USER_AGENT = _user_agent()


class TransportError(FastInformerError, ConnectionError):
    """The request did not get an HTTP answer: connection refused or reset, timeout, proxy
    failure, or a malformed response. Retryable. The message is redacted and the original
    exception is not chained (its text could hold credentials); ``cause`` names its type."""

    def __init__(self, message: str, cause: str = "") -> None:
        super().__init__(message)
        self.cause = cause


class TLSError(TransportError):
    """The TLS handshake failed (untrusted or mismatched server certificate, refused client
    certificate). Retrying will not help until the configuration changes."""


class _Redactor:
    """Remembers the secrets a transport has sent and blanks them out of text.

    Thread-safe: ``remember`` may run in one request thread while another formats an error.
    """

    _KEEP = 8  # tokens rotate; keep the recent ones

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: list[str] = []

    def remember(self, secret: str) -> None:
        """Add ``secret`` (and, for ``"Bearer x"``, the bare ``x``) to the redacted set."""
        parts = [secret]
        scheme, _, bare = secret.partition(" ")
        if bare and scheme.lower() in ("bearer", "basic"):
            parts.append(bare.strip())
        # as quoted by exceptions that repr() the str or bytes value
        parts += [repr(p)[1:-1] for p in parts] + [repr(p.encode())[2:-1] for p in parts]
        with self._lock:
            for part in parts:
                if len(part) >= 4 and part not in self._secrets:
                    self._secrets.append(part)
            del self._secrets[: -self._KEEP * 2]

    def __call__(self, text: str) -> str:
        """``text`` with every remembered secret and URL user-info replaced."""
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        return _USERINFO_RE.sub(_REDACTED + "@", text)


def _keepalive_socket_options() -> list[tuple[int, int, int]]:
    """Default connection options plus TCP keepalive, so a silently dead peer ends a quiet
    watch instead of hanging it (client-go keeps connections alive every 30 s)."""
    opts: list[tuple[int, int, int]] = list(HTTPConnection.default_socket_options)
    opts.append((socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1))
    for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 30), ("TCP_KEEPCNT", 4)):
        if hasattr(socket, name):
            opts.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    return opts


def _bypasses_proxy(host_url: str, no_proxy: str | None) -> bool:
    """Whether ``host_url`` matches a ``no_proxy`` entry (host suffix, host:port, CIDR, ``*``)."""
    if not no_proxy:
        return False
    parts = urlsplit(host_url)
    host = (parts.hostname or "").lower()
    netloc = parts.netloc.lower().rpartition("@")[2]
    try:
        addr = ip_address(host)
    except ValueError:
        addr = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if addr is not None:
            try:
                if addr in ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
        entry = entry.lstrip(".")
        for name in (host, netloc):
            if name == entry or name.endswith("." + entry):
                return True
    return False


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _load_default_configuration() -> Any:
    """kubeconfig ($KUBECONFIG or ~/.kube/config), else the in-cluster service account."""
    from kubernetes import client, config

    cfg = client.Configuration()
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            client_configuration=cfg, persist_config=False
        )
    except (config.ConfigException, OSError) as kube_err:
        try:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        except (config.ConfigException, OSError) as cluster_err:
            raise config.ConfigException(
                f"no usable kubeconfig ({kube_err}) and not running in a cluster "
                f"({cluster_err}); pass a kubernetes.client.Configuration or use "
                "Transport.from_kubeconfig(path)"
            ) from None
    return cfg


class Transport:
    """One connection pool to one API server, configured from a kubernetes ``Configuration``.

    ``config``: a ``kubernetes.client.Configuration``, a ``kubernetes.client.ApiClient``
    (its configuration is used), or ``None`` to load the kubeconfig and fall back to the
    in-cluster service account. Honoured: ``host``, ``verify_ssl``, ``ssl_ca_cert``,
    ``ca_cert_data``, ``cert_file``/``key_file``, ``assert_hostname``, ``tls_server_name``,
    ``proxy``/``no_proxy``/``proxy_headers``, ``socket_options``,
    ``connection_pool_maxsize``, ``api_key``/``api_key_prefix`` (``"BearerToken"`` or
    ``"authorization"``) and ``refresh_api_key_hook``, called before every request as the
    kubernetes client does (exec plugins and expiring tokens go through it).

    Timeouts are in seconds. ``read_timeout`` bounds each socket read of ordinary requests;
    streamed requests (watches) use ``stream_read_timeout``, ``None`` meaning no limit (the
    server ends a watch at its ``timeoutSeconds``; TCP keepalive catches dead peers).
    ``compress`` asks for gzip on non-streamed requests (off by default: it costs more than
    it saves on fast links). Thread-safe: many threads may issue requests at once.
    """

    def __init__(
        self,
        config: Any = None,
        *,
        pool_maxsize: int | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        stream_read_timeout: float | None = None,
        compress: bool = False,
    ) -> None:
        if config is None:
            config = _load_default_configuration()
        else:
            from kubernetes import client

            if isinstance(config, client.ApiClient):
                config = config.configuration
            elif not isinstance(config, client.Configuration):
                raise TypeError(
                    "config must be a kubernetes.client.Configuration, a "
                    f"kubernetes.client.ApiClient or None, not {type(config).__name__}"
                )
        host = str(config.host).rstrip("/")
        scheme = urlsplit(host).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"API server host must be an http(s) URL, got {host!r}")
        if pool_maxsize is not None and pool_maxsize < 1:
            raise ValueError("pool_maxsize must be at least 1")
        self._config = config
        self._host = host
        self._redact = _Redactor()
        self._verify = bool(config.verify_ssl)
        self._compress = compress
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._stream_read_timeout = stream_read_timeout
        maxsize = pool_maxsize or config.connection_pool_maxsize or 4
        self._proxy: str | None = None
        self._pool = self._make_pool(config, maxsize)

    @classmethod
    def from_kubeconfig(
        cls, path: str | None = None, context: str | None = None, **kwargs: Any
    ) -> Transport:
        """A transport for ``context`` (default: the current one) of the kubeconfig at
        ``path`` (default: ``$KUBECONFIG`` or ``~/.kube/config``); ``kwargs`` as ``__init__``."""
        from kubernetes import client, config

        cfg = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path, context=context, client_configuration=cfg, persist_config=False
        )
        return cls(cfg, **kwargs)

    def _make_pool(self, config: Any, maxsize: int) -> urllib3.PoolManager:
        kwargs: dict[str, Any] = {
            "num_pools": 4,
            "maxsize": maxsize,
            "block": False,
            "retries": False,
            "cert_reqs": ssl.CERT_REQUIRED if self._verify else ssl.CERT_NONE,
        }
        socket_options = getattr(config, "socket_options", None)
        kwargs["socket_options"] = (
            socket_options if socket_options is not None else _keepalive_socket_options()
        )
        if config.ssl_ca_cert:
            kwargs["ca_certs"] = config.ssl_ca_cert
        if getattr(config, "ca_cert_data", None):
            kwargs["ca_cert_data"] = config.ca_cert_data
        if config.cert_file:
            kwargs["cert_file"] = config.cert_file
        if config.key_file:
            kwargs["key_file"] = config.key_file
        if config.assert_hostname is not None:
            kwargs["assert_hostname"] = config.assert_hostname
        elif not self._verify:
            kwargs["assert_hostname"] = False
        if config.tls_server_name:
            kwargs["server_hostname"] = config.tls_server_name
        proxy = config.proxy
        if proxy and not _bypasses_proxy(self._host, getattr(config, "no_proxy", None)):
            self._proxy = proxy
            headers = config.proxy_headers
            if headers:
                for name, value in headers.items():
                    if name.lower() == "proxy-authorization":
                        self._redact.remember(str(value))
            if urlsplit(proxy).scheme.startswith("socks"):
                try:
                    from urllib3.contrib.socks import SOCKSProxyManager
                except ImportError:
                    raise ValueError(
                        f"SOCKS proxy {self._redact(proxy)!r} needs the PySocks package"
                    ) from None
                return SOCKSProxyManager(proxy, headers=headers, **kwargs)
            proxy_ssl = getattr(config, "proxy_ssl_context", None)
            if proxy_ssl is not None:
                kwargs["proxy_ssl_context"] = proxy_ssl
            return urllib3.ProxyManager(proxy, proxy_headers=headers, **kwargs)
        return urllib3.PoolManager(**kwargs)

    @property
    def host(self) -> str:
        """The API server URL, without a trailing slash."""
        return self._host

    @property
    def pool(self) -> urllib3.PoolManager:
        """The urllib3 pool (a ``ProxyManager`` when a proxy applies)."""
        return self._pool

    def __repr__(self) -> str:
        auth = "token" if self._has_token() else "none"
        if self._config.cert_file:
            auth += "+client-cert"
        proxy = f", proxy={self._redact(self._proxy)!r}" if self._proxy else ""
        return (
            f"Transport(host={self._redact(self._host)!r}, auth={auth}, "
            f"verify_ssl={self._verify}{proxy})"
        )

    def _has_token(self) -> bool:
        keys = self._config.api_key or {}
        return bool(keys.get("BearerToken") or keys.get("authorization"))

    def redact(self, text: str) -> str:
        """``text`` with the credentials this transport has used replaced by ``<redacted>``."""
        return self._redact(text)

    def _authorization(self) -> str | None:
        """The Authorization header value, after running the refresh hook."""
        cfg = self._config
        hook: Callable[[Any], None] | None = cfg.refresh_api_key_hook
        if hook is not None:
            hook(cfg)
        keys: Mapping[str, str] = cfg.api_key or {}
        token = keys.get("BearerToken") or keys.get("authorization")
        if not token:
            return None
        prefixes: Mapping[str, str] = cfg.api_key_prefix or {}
        prefix = prefixes.get("BearerToken") or prefixes.get("authorization")
        value = f"{prefix} {token}" if prefix else str(token)
        self._redact.remember(value)
        self._redact.remember(str(token))
        return value

    def url(self, path: str, query: Mapping[str, str] | None = None) -> str:
        """Absolute URL of ``path`` (which starts with ``/``) with ``query`` encoded."""
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        url = self._host + path
        if query:
            url += "?" + urlencode(query)
        return url

    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        body: bytes | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        timeout: float | None = None,
    ) -> Response:
        """Send one request and return the 2xx response.

        ``body``: raw bytes, or a mapping sent as JSON. ``stream=True`` leaves the body
        unread (iterate it with :func:`iter_lines`, then ``release_conn()``/``close()``).
        ``timeout`` is the read timeout for this request; ``None`` uses the transport's.
        A streamed request waits for its status line and headers at most ``read_timeout``
        (or ``timeout`` if shorter); ``timeout`` then applies to the body's reads.
        Raises the :class:`ApiError` subclass matching a non-2xx answer, or
        :class:`TransportError` when no answer arrived.
        """
        hdrs = {"Accept": "application/json", "User-Agent": _USER_AGENT}
        if self._compress and not stream:
            hdrs["Accept-Encoding"] = "gzip"
        data: bytes | None = None
        if body is not None:
            if isinstance(body, bytes | bytearray | memoryview):
                data = bytes(body)
            else:
                data = msgspec.json.encode(body)
                hdrs["Content-Type"] = "application/json"
        if headers:
            hdrs.update(headers)
        url = self.url(path, query)
        try:
            auth = self._authorization()
        except Exception as exc:
            raise TransportError(
                f"refreshing credentials failed: {type(exc).__name__}: {self._redact(str(exc))}",
                type(exc).__name__,
            ) from None
        if auth is not None:
            hdrs["Authorization"] = auth
        if timeout is None:
            timeout = self._stream_read_timeout if stream else self._read_timeout
        # A streamed answer's headers come at once: wait for them no longer than for an
        # ordinary answer, then give the body its own read timeout.
        head_timeout = timeout
        if stream and (timeout is None or timeout > self._read_timeout):
            head_timeout = self._read_timeout
        try:
            resp = self._pool.request(
                method,
                url,
                body=data,
                headers=hdrs,
                preload_content=not stream,
                redirect=False,
                retries=False,
                timeout=urllib3.Timeout(connect=self._connect_timeout, read=head_timeout),
            )
        except Exception as exc:  # every failure is re-raised, redacted and unchained
            raise self._transport_error(method, url, exc) from None
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s -> %d", method, self._redact(url), resp.status)
        if not 200 <= resp.status < 300:
            raise self._api_error(resp, stream)  # its body read within head_timeout
        if head_timeout != timeout:
            sock = _response_socket(resp)
            if sock is not None:
                sock.settimeout(timeout)
        return resp

    def _transport_error(self, method: str, url: str, exc: BaseException) -> TransportError:
        name = type(exc).__name__
        detail = self._redact(str(exc))
        where = f"{method} {self._redact(url)}"
        if isinstance(exc, Urllib3SSLError | ssl.SSLError):
            hint = ""
            if "CERTIFICATE_VERIFY_FAILED" in detail or "certificate verify failed" in detail:
                hint = (
                    "; the server certificate is not trusted: set ssl_ca_cert (kubeconfig "
                    "certificate-authority) to the CA that signed it, or verify_ssl=False to "
                    "turn verification off"
                )
            return TLSError(f"TLS failure on {where}: {detail}{hint}", name)
        if isinstance(exc, Urllib3HTTPError | OSError):
            return TransportError(f"{where} failed: {name}: {detail}", name)
        return TransportError(f"{where} could not be sent: {name}: {detail}", name)

    def _api_error(self, resp: Response, streamed: bool) -> ApiError:
        """Build the ApiError for a non-2xx response and release its connection."""
        try:
            raw = resp.read(_MAX_ERROR_BODY) if streamed else resp.data
        except Exception:
            raw = b""
        finally:
            if streamed:
                resp.close()  # the rest of the body, if any, is not worth reading
            resp.release_conn()
        code = resp.status
        retry_after = _parse_retry_after(resp.headers.get("Retry-After"))
        status: Any = None
        if raw[:1] == b"{":
            try:
                status = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                status = None
        if isinstance(status, dict) and status.get("kind") == "Status":
            details = status.get("details")
            details = details if isinstance(details, dict) else {}
            if retry_after is None:
                seconds = details.get("retryAfterSeconds")
                if isinstance(seconds, int | float) and seconds > 0:
                    retry_after = float(seconds)
            return api_error(
                code,
                str(status.get("reason") or _REASON_BY_CODE.get(code, "")),
                self._redact(str(status.get("message") or "")),
                retry_after=retry_after,
                details=details,
            )
        text = raw[:512].decode("utf-8", "replace").strip()
        message = self._redact(text) if text else (resp.reason or f"HTTP {code}")
        return api_error(code, _REASON_BY_CODE.get(code, ""), message, retry_after=retry_after)

    def close(self) -> None:
        """Close every pooled connection; requests after this open new ones."""
        self._pool.clear()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_lines(response: Response, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
    """An iterator over the non-empty lines of a streamed body, as they arrive.

    A chunked, unencoded urllib3 response that nothing has read yet (a watch) is read
    straight from its connection in reads of up to ``chunk_size`` bytes by a
    :class:`~fastinformer._py_lines.LineReader`, which removes the chunked framing and
    splits lines in one pass; when its terminal chunk is read, the response is closed so
    that ``release_conn()`` returns a reusable connection. Other bodies (gzip-encoded,
    not chunked, partly read, test doubles with ``read1``) are read piece by piece through
    urllib3 and split with ``bytes.split``. Either way a line spanning pieces is joined
    once, so each byte is copied at most twice. Lines exclude the ``\\n``.

    An unterminated last line is yielded as it is at the end of the body: if a body that
    is not chunked was cut mid object, the caller's decoder raises ``DecodeError`` on it.
    A chunked body cut before its terminal chunk, malformed framing and read failures
    (including a socket shut down by :func:`shutdown_response`) raise
    :class:`TransportError`, after every complete line.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    raw = _unread_chunked_body(response)
    if raw is not None:
        return _iter_framed_lines(response, raw, chunk_size)
    return _iter_split_lines(response, chunk_size)


def _unread_chunked_body(response: Response) -> http.client.HTTPResponse | None:
    """The http.client response under ``response`` if its body can be read raw: chunked,
    no content coding, HEAD excluded, nothing consumed yet through urllib3 or http.client
    (so the connection sits at the first chunk-size line); otherwise None."""
    if not isinstance(response, urllib3.HTTPResponse) or not response.chunked:
        return None
    if response.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
        return None
    try:  # urllib3 internals: a version without them falls back to the general path
        if (
            response._fp_bytes_read
            or response.chunk_left is not None
            or len(response._decoded_buffer)
            or getattr(response, "_uncached_read_occurred", False)
        ):
            return None
        raw = response._fp
    except AttributeError:
        return None
    if (
        not isinstance(raw, http.client.HTTPResponse)
        or raw.fp is None
        or not raw.chunked
        or raw.chunk_left is not None
        or is_response_to_head(raw)
        or not hasattr(raw.fp, "read1")
    ):
        return None
    return raw


def _response_socket(response: Any) -> Any:
    """The socket under a urllib3 response (``None`` when it has none, e.g. test doubles)."""
    return getattr(getattr(response, "connection", None), "sock", None)


def _connection_read1(response: Response, fp: Any) -> Callable[[int], bytes]:
    """``read1`` of the connection under ``response``: its buffered socket file ``fp``
    until the file's buffer is empty, then the socket's ``recv`` directly (a system call
    without the Python-level file layers), when the connection has a plain or TLS socket.

    On a plain socket, bytes already waiting are read without releasing the GIL
    (:func:`~fastinformer._py_lines.recv_waiting`); ``recv``, which waits with the GIL
    released, is called only when nothing is waiting. During a burst the reading thread
    then keeps the GIL between reads instead of handing it to the informer's other threads
    once per read. A TLS socket is always read through ``recv``."""
    sock = _response_socket(response)
    read1: Callable[[int], bytes] = fp.read1
    if not isinstance(sock, socket.socket):
        return read1
    recv: Callable[[int], bytes] = sock.recv
    if not isinstance(sock, ssl.SSLSocket):
        recv_waiting = core.recv_waiting
        blocking_recv = recv

        def recv(n: int) -> bytes:
            data = recv_waiting(sock, n)
            return blocking_recv(n) if data is None else data

    def buffered_then_recv(n: int) -> bytes:
        nonlocal read1
        data = read1(n)
        if len(data) < n:  # fewer than asked: the file's buffer is empty from now on
            read1 = recv
        return data

    return buffered_then_recv


def _iter_framed_lines(
    response: Response, raw: http.client.HTTPResponse, chunk_size: int
) -> Iterator[bytes]:
    """Lines of the chunked body of ``raw``, read straight from the connection."""
    reader = LineReader(_connection_read1(response, raw.fp), True, chunk_size)
    try:
        yield from reader
    except (OSError, ValueError, Urllib3HTTPError) as exc:
        # OSError covers ssl errors and socket timeouts; ValueError covers a file closed
        # under the reader and ChunkedEncodingError.
        raise TransportError(
            f"reading the response failed: {type(exc).__name__}: {exc}", type(exc).__name__
        ) from None
    if reader.complete:
        raw.close()  # as urllib3 does after the last chunk: the connection is reusable


def _iter_split_lines(response: Response, chunk_size: int) -> Iterator[bytes]:
    """Lines of a body read through urllib3's ``read1`` (see :func:`_iter_chunks`)."""
    pending: list[bytes] = []
    try:
        for chunk in _iter_chunks(response, chunk_size):
            parts = chunk.split(b"\n")
            if len(parts) == 1:
                pending.append(chunk)
                continue
            if pending:
                pending.append(parts[0])
                parts[0] = b"".join(pending)
                pending.clear()
            tail = parts.pop()
            if tail:
                pending.append(tail)
            for line in parts:
                if line:
                    yield line
    except Urllib3HTTPError as exc:
        raise TransportError(f"reading the response failed: {exc}", type(exc).__name__) from None
    if pending:
        yield b"".join(pending)


def _iter_chunks(response: Response, chunk_size: int) -> Iterator[bytes]:
    """The body as it arrives, decoded: one piece per ``read1`` (at most one HTTP chunk).

    urllib3's ``read1`` goes through http.client's own chunk state, so it is right even
    after part of the body was read with ``read()``, and it undoes a content coding.
    """
    while True:
        chunk = response.read1(chunk_size)
        if not chunk:
            return
        yield chunk


def shutdown_response(response: Response) -> None:
    """Abort a streamed response from any thread: a reader blocked on it sees EOF promptly.

    Shuts the socket down for reading (closing the file descriptor from another thread
    would not wake the reader); safe to call more than once, or after the body ended.
    """
    with contextlib.suppress(OSError, RuntimeError, ValueError):
        response.shutdown()
