"""The one place an apiserver failure becomes a ``contracts`` error.

Invariants:

* Every non-2xx response, and every watch ``ERROR`` event, goes through ``error_for``; nothing else in the
  code base looks at a status code.
* The message is the apiserver's ``Status.message`` (it names the object and the rule that failed, not the
  object's contents), cut to ``MAX_MESSAGE`` characters. When the body is not a ``Status`` (a proxy's HTML
  page, a truncated stream) the message is only ``HTTP <code>``: a body we do not understand is never copied
  into an exception, because exceptions end up in logs and conditions.
* 409 is ``AlreadyExists`` only when ``Status.reason`` says so; a stale resourceVersion is ``Conflict``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from choreo_controller.contracts import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    ServerError,
    TooManyRequests,
    Unauthorized,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from choreo_controller.contracts import ApiResponse

MAX_MESSAGE = 500

_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
}


def error_for(status: int, status_obj: Mapping[str, Any] | None = None) -> ApiError:
    """The error meaning HTTP ``status``, described by the apiserver's ``Status`` object if there is one."""
    reason = ""
    message = ""
    if status_obj is not None and status_obj.get("kind") == "Status":
        reason = _text(status_obj.get("reason"))
        message = _text(status_obj.get("message"))
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    message = message or f"HTTP {status}" + (f" ({reason})" if reason else "")
    cls: type[ApiError]
    if status == 409 and reason == "AlreadyExists":
        cls = AlreadyExists
    elif status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif 500 <= status <= 599:
        cls = ServerError
    elif 400 <= status <= 499:
        # 405, 406, 413, 415...: a malformed request that retrying will not fix.
        cls = BadRequest
    else:
        cls = ApiError
    return cls(message, status=status, reason=reason)


def raise_for_status(resp: ApiResponse) -> None:
    """Raise the mapped error for a non-2xx response; return quietly for 2xx."""
    if 200 <= resp.status <= 299:
        return
    raise error_for(resp.status, _status_object(resp.body))


def _status_object(body: bytes) -> dict[str, Any] | None:
    try:
        decoded = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded if isinstance(decoded, dict) else None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
