"""Continue tokens in kube-apiserver's format and with its error wording.

A token is unpadded URL-safe base64 of ``{"v":"meta.k8s.io/v1","rv":N,"start":"KEY\\u0000"}``
where ``KEY`` is the next storage key relative to the listed prefix. ``rv == -1`` means
"continue at the latest resourceVersion" (the token an Expired answer offers).
"""

from __future__ import annotations

import base64
import binascii
import json

from fastinformer.sim.status import StatusError, bad_request

_VERSION = "meta.k8s.io/v1"
_INVALID = "continue key is not valid"


def encode_continue(start_key: str, rv: int) -> str:
    """The token resuming a list at ``start_key`` (exclusive of keys before it) at ``rv``."""
    raw = json.dumps({"v": _VERSION, "rv": rv, "start": start_key + "\x00"},
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def _go_quote_char(ch: str) -> str:
    """Go's ``quoteChar`` as used by encoding/json syntax errors."""
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    if ch.isprintable():
        return f"'{ch}'"
    code = ord(ch)
    if code < 0x10000:
        return f"'\\u{code:04x}'"
    return f"'\\U{code:08x}'"


def _json_error(data: bytes) -> str:
    text = data.decode("latin-1")
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        return "unexpected end of JSON input"
    first = stripped[0]
    if first not in '{["-0123456789tfn':
        return f"invalid character {_go_quote_char(first)} looking for beginning of value"
    return "unexpected end of JSON input"


def decode_continue(token: str) -> tuple[str, int]:
    """Return ``(start_key, rv)`` or raise the server's 400 for a malformed token."""
    try:
        padded = token + "=" * (-len(token) % 4)
        if any(c in token for c in "+/="):
            raise binascii.Error("illegal base64 data at input byte 0")
        data = base64.urlsafe_b64decode(padded.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise _invalid(f"{_INVALID}: illegal base64 data at input byte 0") from None
    try:
        decoded = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise _invalid(f"{_INVALID}: {_json_error(data)}") from None
    if not isinstance(decoded, dict):
        raise _invalid(
            f"{_INVALID}: json: cannot unmarshal {type(decoded).__name__} into Go value of "
            "type storage.continueToken"
        )
    version = decoded.get("v")
    if version != _VERSION:
        raise _invalid(f"{_INVALID}: server does not recognize this encoded version {version}")
    rv = decoded.get("rv")
    if not isinstance(rv, int) or rv == 0:
        raise _invalid(
            f"{_INVALID}: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
        )
    start = decoded.get("start")
    if not isinstance(start, str) or not start:
        raise _invalid(f"{_INVALID}: encoded start key empty (version meta.k8s.io/v1)")
    if start.endswith("\x00"):
        start = start[:-1]
    if start.startswith("/") or ".." in start.split("/"):
        raise _invalid(f"{_INVALID}: {start!r} is not a valid key")
    return start, rv


def _invalid(message: str) -> StatusError:
    return bad_request(f"invalid continue token: {message}")
