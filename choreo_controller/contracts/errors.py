"""API errors, by meaning rather than by transport.

``kube.errors.raise_for_status`` maps an HTTP status (from the apiserver directly or through the relay) to
one of these, once, at the adapter. Reconcilers catch the meaning (``NotFound``, ``Conflict``), never a
status code. Messages are the apiserver's ``Status.message`` (which names the object, not its contents),
truncated; request and response bodies are never included.
"""

from __future__ import annotations


class ApiError(Exception):
    """An apiserver (or relay) call failed."""

    status: int = 0
    retryable: bool = True

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.reason = reason


class BadRequest(ApiError):
    """400: the request itself is malformed; retrying the same request will not help."""

    status = 400
    retryable = False


class Unauthorized(ApiError):
    """401: credentials missing or rejected."""

    status = 401


class Forbidden(ApiError):
    """403: RBAC (or the relay allowlist) refuses the call."""

    status = 403


class NotFound(ApiError):
    """404: the object (or its kind) does not exist."""

    status = 404
    retryable = False


class Conflict(ApiError):
    """409: a precondition (resourceVersion, uid) did not hold; re-read and retry."""

    status = 409


class AlreadyExists(Conflict):
    """409 with reason AlreadyExists: a create hit an existing object."""

    retryable = False


class Gone(ApiError):
    """410: the watch resourceVersion is too old; relist."""

    status = 410


class Invalid(ApiError):
    """422: the object fails validation (schema, CEL rule, immutability)."""

    status = 422
    retryable = False


class TooManyRequests(ApiError):
    """429: throttled by API priority and fairness."""

    status = 429


class ServerError(ApiError):
    """5xx: the server failed; retry with backoff."""

    status = 500


class Unavailable(ApiError):
    """The server could not be reached (connection refused, relay down, timeout). Retryable."""

    status = 503
