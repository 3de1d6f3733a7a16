"""The relay's messages: one frozen dataclass per frame type (``protocol`` encodes and decodes them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias, get_args

Method: TypeAlias = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Verb: TypeAlias = Literal["get", "list", "create", "update", "patch", "delete"]
METHODS: frozenset[str] = frozenset(get_args(Method))
VERBS: frozenset[str] = frozenset(get_args(Verb))
Pairs: TypeAlias = tuple[tuple[str, str], ...]


class ProtocolError(Exception):
    """A frame that is not a valid envelope. ``message_id`` is set when the frame named a usable id."""

    def __init__(self, message: str, *, message_id: str | None = None, kind: str | None = None) -> None:
        super().__init__(message)
        self.message_id = message_id
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Hello:
    """First frame each way: the agent names itself, the gateway answers with the plane ID it bound."""

    name: str


@dataclass(frozen=True, slots=True)
class Ping:
    """Liveness; any frame proves the peer alive, this one is sent when there is nothing else to say."""


@dataclass(frozen=True, slots=True)
class Request:
    """One apiserver call to make in the build plane."""

    id: str
    verb: Verb
    method: Method
    path: str
    query: Pairs = ()
    headers: Pairs = ()
    content_type: str | None = None
    body: bytes | None = None
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Response:
    """The apiserver's answer (any status), or the agent's own refusal (403 policy, 400 protocol...)."""

    id: str
    status: int
    content_type: str | None = None
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class WatchStart:
    """Open a watch (``query`` carries ``watch=1`` and the resourceVersion to start from)."""

    id: str
    path: str
    query: Pairs = ()
    headers: Pairs = ()
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One raw watch line and the resourceVersion of its object (for resuming)."""

    id: str
    rv: str
    data: bytes


@dataclass(frozen=True, slots=True)
class WatchBookmark:
    """A BOOKMARK: nothing changed up to ``rv``."""

    id: str
    rv: str


@dataclass(frozen=True, slots=True)
class WatchEnd:
    """The watch is over: 200 when the apiserver closed it normally, otherwise the error and its Status."""

    id: str
    status: int = 200
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class WatchCancel:
    """The consumer stopped watching."""

    id: str


@dataclass(frozen=True, slots=True)
class LogStart:
    """Stream one container's log (``GET .../pods/{name}/log``); the agent may send ``credit`` bytes."""

    id: str
    path: str
    query: Pairs = ()
    timeout: float | None = None
    credit: int = 0


@dataclass(frozen=True, slots=True)
class LogData:
    """Bytes of the log, in order (a line may span frames)."""

    id: str
    data: bytes


@dataclass(frozen=True, slots=True)
class LogCredit:
    """The consumer took ``bytes``: the agent may send that much more."""

    id: str
    bytes: int


@dataclass(frozen=True, slots=True)
class LogEnd:
    """The log is over: 200 when the apiserver ended it, otherwise the error and its Status."""

    id: str
    status: int = 200
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class LogCancel:
    """The consumer stopped reading."""

    id: str


Message: TypeAlias = (
    Hello | Ping | Request | Response | WatchStart | WatchEvent | WatchBookmark | WatchEnd | WatchCancel
    | LogStart | LogData | LogCredit | LogEnd | LogCancel
)  # fmt: skip
