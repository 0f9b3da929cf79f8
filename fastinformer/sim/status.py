"""``Status`` bodies worded exactly as kube-apiserver words them, and the error carrying one."""

from __future__ import annotations

from typing import Any

from fastinformer.errors import ApiError

EXPIRED_LIST = "The resourceVersion for the provided list is too old."
INCONSISTENT_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token in "
    "this response to retrieve the remainder of the results. Continuing with the provided "
    "token results in an inconsistent list - objects that were created, modified, or deleted "
    "between the time the first chunk was returned and now may show up in the list."
)


def status_body(
    code: int,
    reason: str,
    message: str,
    details: dict[str, Any] | None = None,
    list_meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A failure ``Status`` with the server's key order (details before code)."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": list_meta or {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


class StatusError(ApiError):
    """A request failed; ``status`` is the ``Status`` body to answer with ``code``.

    ``headers`` holds extra response headers (``Retry-After``).
    """

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        list_meta: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        retry = (headers or {}).get("Retry-After")
        super().__init__(
            code, reason, message, retry_after=float(retry) if retry else None, details=details
        )
        self.status = status_body(code, reason, message, details, list_meta)
        self.headers = headers or {}


def not_found(plural: str, name: str) -> StatusError:
    return StatusError(
        404, "NotFound", f'{plural} "{name}" not found', details={"name": name, "kind": plural}
    )


def already_exists(plural: str, name: str) -> StatusError:
    return StatusError(
        409,
        "AlreadyExists",
        f'{plural} "{name}" already exists',
        details={"name": name, "kind": plural},
    )


def conflict(plural: str, name: str, why: str | None = None) -> StatusError:
    why = why or (
        "the object has been modified; please apply your changes to the latest version "
        "and try again"
    )
    return StatusError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {plural} "{name}": {why}',
        details={"name": name, "kind": plural},
    )


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def invalid(
    kind: str, name: str, field: str, cause_reason: str, detail: str, group: str = ""
) -> StatusError:
    """422 Invalid with one cause, e.g. ``metadata.name: Required value: ...``."""
    message = f'{kind} "{name}" is invalid: {field}: {detail}'
    details: dict[str, Any] = {"name": name} if name else {}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [{"reason": cause_reason, "message": detail, "field": field}]
    return StatusError(422, "Invalid", message, details=details)


def list_options_invalid(field: str, detail: str) -> StatusError:
    """422 for inconsistent list/watch options (``ListOptions.meta.k8s.io "" is invalid``)."""
    return StatusError(
        422,
        "Invalid",
        f'ListOptions.meta.k8s.io "" is invalid: {field}: Forbidden: {detail}',
        details={
            "group": "meta.k8s.io",
            "kind": "ListOptions",
            "causes": [
                {"reason": "FieldValueForbidden", "message": f"Forbidden: {detail}",
                 "field": field}
            ],
        },
    )


def expired(message: str, list_meta: dict[str, Any] | None = None) -> StatusError:
    return StatusError(410, "Expired", message, list_meta=list_meta)


def too_large_resource_version(requested: int, current: int) -> StatusError:
    return StatusError(
        504,
        "Timeout",
        f"Timeout: Too large resource version: {requested}, current: {current}",
        details={
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ],
            "retryAfterSeconds": 1,
        },
        headers={"Retry-After": "1"},
    )


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def forbidden(
    user: str, verb: str, plural: str, group: str, namespace: str | None, name: str | None
) -> StatusError:
    what = f'{plural} "{name}"' if name else plural
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    details: dict[str, Any] = {"name": name} if name else {}
    if group:
        details["group"] = group
    details["kind"] = plural
    return StatusError(
        403,
        "Forbidden",
        f'{what} is forbidden: User "{user}" cannot {verb} resource "{plural}" '
        f'in API group "{group}" {scope}',
        details=details,
    )


def too_many_requests(retry_after: int) -> StatusError:
    return StatusError(
        429,
        "TooManyRequests",
        "Too many requests, please try again later.",
        details={"retryAfterSeconds": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def internal_error(message: str) -> StatusError:
    return StatusError(
        500,
        "InternalError",
        f"Internal error occurred: {message}",
        details={"causes": [{"message": message}]},
    )


def resource_not_found() -> StatusError:
    return StatusError(
        404, "NotFound", "the server could not find the requested resource", details={}
    )


def method_not_allowed(method: str) -> StatusError:
    return StatusError(
        405, "MethodNotAllowed", f"the server does not allow this method on the requested "
        f"resource ({method})", details={}
    )


def unsupported_media_type(accepted: str) -> StatusError:
    return StatusError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{accepted}",
    )


def success(plural: str, name: str, uid: str, group: str = "") -> dict[str, Any]:
    """The ``Status`` a DELETE answers with (recording 34)."""
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = plural
    details["uid"] = uid
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }
