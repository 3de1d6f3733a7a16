"""Structured JSON logging (structlog through stdlib, so library records come out as JSON too).

``configure`` installs one handler on the root logger whose ``ProcessorFormatter`` renders both structlog
events and plain ``logging`` records (aiohttp, kubernetes_asyncio, asyncio) as one JSON object per line,
with ``timestamp`` (UTC ISO), ``level``, ``logger`` and whatever context is bound. Calling it again
replaces the handler rather than adding a second one.

Per-reconcile context (``controller``, ``key``, ``reconcile_id``) is bound in contextvars by
``reconcile_context``. Contextvars are per asyncio task, so each worker's lines carry its own key; the
context manager restores the previous values on exit, so nothing leaks into the next reconcile.

Secrets never reach a log line: reconcilers log keys and reasons, never objects or payloads, and the
``redact`` processor masks any event key that looks like it carries one (token, secret, password,
authorization, cookie, credential, private key, body, payload), at any depth of nested dicts, as a second
line of defence.
"""

from __future__ import annotations

import logging
import random
import re
import sys
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from collections.abc import MutableMapping
    from typing import TextIO

REDACTED = "[REDACTED]"
_SENSITIVE = re.compile(
    r"token|secret|passw|authoriz|cookie|credential|private_?key|api_?key|body|payload", re.IGNORECASE
)
_MAX_DEPTH = 6


def _mask(value: Any, depth: int) -> Any:
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and _SENSITIVE.search(k) else _mask(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_mask(v, depth + 1) for v in value]
    return value


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: mask values whose key names a secret or a raw payload."""
    for key in list(event_dict):
        if key == "event":
            continue
        if _SENSITIVE.search(key):
            event_dict[key] = REDACTED
        elif isinstance(event_dict[key], dict | list | tuple):
            event_dict[key] = _mask(event_dict[key], 0)
    return event_dict


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler ``configure`` installed, so a second call replaces it."""


def configure(
    level: str | int = "INFO", *, json: bool = True, stream: TextIO | None = None, cache_loggers: bool = True
) -> None:
    """Route structlog and stdlib logging through one JSON (or console, ``json=False``) handler.

    ``cache_loggers=False`` is for tests that reconfigure: a cached logger keeps its first configuration.
    """
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        redact,
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=cache_loggers,
    )
    handler = _OurHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)


def new_reconcile_id() -> str:
    """A short random id telling one reconcile's log lines from the next one's (not a secret: no urandom)."""
    return f"{random.getrandbits(64):016x}"


class reconcile_context:  # noqa: N801 - used as a function: ``with reconcile_context(...) as reconcile_id``
    """Bind ``controller``, ``key`` and a fresh ``reconcile_id`` for the block; yields the id.

    Every reconcile enters one, so it is kept cheap: the three variables are set and their tokens reset
    afterwards (an outer value comes back), not ``bound_contextvars``, which reads the whole context first.
    """

    __slots__ = ("_controller", "_key", "_tokens")

    def __init__(self, controller: str, key: object) -> None:
        self._controller, self._key = controller, key

    def __enter__(self) -> str:
        reconcile_id = new_reconcile_id()
        self._tokens = structlog.contextvars.bind_contextvars(
            controller=self._controller, key=str(self._key), reconcile_id=reconcile_id
        )
        return reconcile_id

    def __exit__(self, *exc: object) -> None:
        structlog.contextvars.reset_contextvars(**self._tokens)


def bind_reconcile(controller: str, key: object, reconcile_id: str) -> None:
    """Bind the reconcile context without a block (pair with ``clear_reconcile``)."""
    structlog.contextvars.bind_contextvars(controller=controller, key=str(key), reconcile_id=reconcile_id)


def clear_reconcile() -> None:
    """Unbind what ``bind_reconcile`` bound."""
    structlog.contextvars.unbind_contextvars("controller", "key", "reconcile_id")
