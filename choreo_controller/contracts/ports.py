"""The Protocols every layer talks through.

* ``Transport`` - one HTTP exchange (or one streamed watch) with an apiserver. Implemented by ``kube``
  (directly, with kubeconfig credentials) and by ``relay`` (through the agent's websocket). Small enough to
  fake in a unit test of a seam.
* ``KubeApi`` - typed verbs over ``ApiResource`` on plain JSON dicts, plus ``log`` (a pod container's log,
  ``LogOptions``). Reconcilers receive one for the control plane and one (direct or relayed) per build
  plane; they never see HTTP.
* ``Clock`` - time, injected, so queues and TTLs are tested by stepping a fake clock.
* ``EventRecorder`` - Kubernetes Events, best effort.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
    from datetime import datetime

    from choreo_controller.contracts.resources import ApiResource

JsonObj: TypeAlias = dict[str, Any]
WatchEventType: TypeAlias = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """An apiserver call, transport-neutral. ``query`` keeps order and repeats."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    content_type: str | None = None
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """Status and raw body. Non-2xx responses are returned, not raised: the client maps them once."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class Transport(Protocol):
    """Moves requests to one apiserver."""

    async def request(self, req: ApiRequest) -> ApiResponse:
        """Perform one exchange. Raises ``Unavailable`` when the server cannot be reached."""
        ...

    def stream(self, req: ApiRequest) -> AsyncIterator[bytes]:
        """A streamed GET (watch, pod log) line by line, without newlines; ``ApiError`` if not 2xx.

        A watch has one JSON event per line; a log's empty lines are kept.
        """
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One watch event; ``object`` is the raw object (for BOOKMARK only metadata.resourceVersion)."""

    type: WatchEventType
    object: JsonObj


@dataclass(frozen=True, slots=True)
class LogOptions:
    """What to read of one container's log: the apiserver's ``PodLogOptions`` that we use."""

    container: str
    follow: bool = False  # keep reading until the container ends (or the server closes the stream)
    timestamps: bool = False  # each line starts with its RFC 3339 (nanosecond) time and a space
    since_seconds: int | None = None
    since_time: str | None = None  # RFC 3339; the apiserver reads it to the second
    tail_lines: int | None = None
    limit_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class ObjectList:
    """A LIST result (or one page of it): items plus the collection resourceVersion to watch from.

    ``first``: this page starts a list. A later page with ``first`` means the list started over (its
    continue token expired) and supersedes every page before it.
    """

    items: list[JsonObj]
    resource_version: str
    first: bool = True


class KubeApi(Protocol):
    """Typed verbs on JSON objects. Every failure is an ``ApiError`` subclass."""

    async def get(self, res: ApiResource, name: str, namespace: str | None = None) -> JsonObj:
        """Read one object."""
        ...

    async def list(
        self,
        res: ApiResource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ObjectList:
        """List (all pages)."""
        ...

    def list_pages(
        self,
        res: ApiResource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        managed_fields: bool = True,
    ) -> AsyncGenerator[ObjectList, None]:
        """List page by page, each yielded as it arrives (see ``ObjectList.first``).

        ``managed_fields=False``: the items come without ``metadata.managedFields`` (a cache drops them).
        """
        ...

    def watch(
        self,
        res: ApiResource,
        namespace: str | None = None,
        *,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[WatchEvent]:
        """Watch from ``resource_version`` with bookmarks. Raises ``Gone`` when it is too old."""
        ...

    async def create(self, res: ApiResource, obj: JsonObj) -> JsonObj:
        """Create; ``AlreadyExists`` if the name is taken."""
        ...

    async def replace(self, res: ApiResource, obj: JsonObj, *, subresource: str | None = None) -> JsonObj:
        """PUT; ``Conflict`` if metadata.resourceVersion is stale."""
        ...

    async def merge_patch(
        self,
        res: ApiResource,
        name: str,
        patch: JsonObj,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> JsonObj:
        """JSON merge patch (RFC 7386)."""
        ...

    async def apply(
        self,
        res: ApiResource,
        obj: JsonObj,
        *,
        field_manager: str,
        force: bool = True,
        subresource: str | None = None,
    ) -> JsonObj:
        """Server-side apply."""
        ...

    async def delete(
        self,
        res: ApiResource,
        name: str,
        *,
        namespace: str | None = None,
        uid: str | None = None,
        resource_version: str | None = None,
        propagation: Literal["Background", "Foreground", "Orphan"] = "Background",
    ) -> None:
        """Delete with optional preconditions. ``NotFound`` if already gone."""
        ...

    def log(self, namespace: str, pod: str, options: LogOptions) -> AsyncIterator[bytes]:
        """The lines of one container's log (``pods/log``), without newlines. ``NotFound``: no such pod."""
        ...


class TimerHandle(Protocol):
    """A scheduled callback that can be cancelled."""

    def cancel(self) -> None:
        """Do not run the callback."""
        ...


class Clock(Protocol):
    """Injected time: monotonic seconds for scheduling, aware UTC datetimes for status fields."""

    def monotonic(self) -> float:
        """Seconds on a monotonic scale; only differences mean anything."""
        ...

    def now(self) -> datetime:
        """Wall-clock time, timezone-aware UTC."""
        ...

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` at monotonic time ``when`` (on the event loop)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class EventRecorder(Protocol):
    """Records Kubernetes Events about an object. Best effort: never raises."""

    async def record(
        self, obj: JsonObj, event_type: Literal["Normal", "Warning"], reason: str, message: str
    ) -> None:
        """Emit (or count up) one Event."""
        ...
