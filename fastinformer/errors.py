"""Exceptions raised by fastinformer; every one derives from :class:`FastInformerError`."""

from __future__ import annotations


class FastInformerError(Exception):
    """Base class of every error fastinformer raises on purpose."""


class KeyFuncError(FastInformerError, ValueError):
    """A key function could not derive a key (the object has no ``metadata.name``)."""


class IndexerConflictError(FastInformerError, ValueError):
    """An indexer was added under a name that is already registered."""


class FIFOClosedError(FastInformerError):
    """``DeltaFIFO.pop`` was called, or was waiting, when the queue was closed."""


class RequeueError(FastInformerError):
    """Raised by a ``DeltaFIFO.pop`` callback to put the popped deltas back.

    ``err`` is the original error, if any; ``pop`` re-raises it after requeueing.
    """

    def __init__(self, err: BaseException | None = None) -> None:
        super().__init__(repr(err) if err is not None else "requeue")
        self.err = err


class ShutDownError(FastInformerError):
    """A workqueue operation that needs a live queue was called after shutdown."""


class DecodeError(FastInformerError, ValueError):
    """Bytes from the server could not be decoded (malformed JSON or a bad shape).

    ``sample`` holds at most the first 200 bytes of the offending input.
    """

    def __init__(self, message: str, sample: bytes = b"") -> None:
        super().__init__(message)
        self.sample = sample[:200]


class ApiError(FastInformerError):
    """The API server answered with an error (a ``Status`` body or a bare HTTP error).

    ``code`` is the HTTP status, ``reason`` the Status reason (``"Expired"``,
    ``"NotFound"``, ...), ``retry_after`` the seconds from a Retry-After header.
    Never carries credentials.
    """

    def __init__(
        self,
        code: int,
        reason: str = "",
        message: str = "",
        *,
        retry_after: float | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        super().__init__(f"{code} {reason}: {message}" if reason else f"{code}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        self.details = details or {}


class UnauthorizedError(ApiError):
    """401: the credentials were refused."""


class ForbiddenError(ApiError):
    """403: the credentials are not allowed to do this."""


class NotFoundError(ApiError):
    """404: the object or the resource does not exist."""


class ConflictError(ApiError):
    """409: AlreadyExists or a stale resourceVersion (Conflict)."""


class ExpiredError(ApiError):
    """410: the resourceVersion or continue token is too old (reason Expired or Gone)."""


class TooManyRequestsError(ApiError):
    """429: throttled; ``retry_after`` says when to come back."""


_BY_CODE: dict[int, type[ApiError]] = {
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: ExpiredError,
    429: TooManyRequestsError,
}


def api_error(
    code: int,
    reason: str = "",
    message: str = "",
    *,
    retry_after: float | None = None,
    details: dict[str, object] | None = None,
) -> ApiError:
    """Return the most specific :class:`ApiError` subclass for ``code``."""
    cls = _BY_CODE.get(code, ApiError)
    return cls(code, reason, message, retry_after=retry_after, details=details)
