"""``KubeClient``: the ``contracts.KubeApi`` verbs as REST calls over any ``contracts.Transport``.

It knows URLs, query parameters, content types and JSON, nothing about sockets: the direct transport
(``kube.transport``) and the relay's websocket transport both plug in, so control plane and build plane
are driven by the same code. It does not import ``kubernetes_asyncio``.

Invariants:

* Every non-2xx answer becomes a ``contracts`` error in ``kube.errors`` - one mapping, here and for watch
  ``ERROR`` events (410 there is ``Gone``: the caller relists).
* Merge patches are sent as ``application/merge-patch+json`` and applies as ``application/apply-patch+yaml``
  (JSON is YAML) with ``fieldManager`` and ``force``; CRDs reject strategic merge patch and the generated
  client's default for a dict body (json-patch).
* ``list`` follows ``continue`` tokens until the last page and returns the first page's resourceVersion
  (every page of one consistent list carries the same one); ``list_pages`` yields each page as it arrives
  and requests the next one before handing it over - before decoding it, when the token can be read at the
  end of the body (``_continue_hint``) - so the apiserver serves the next page while this one is decoded and
  stored, and the whole list is never held decoded. If a token
  expires mid-way, it lists again in one unpaginated request, as client-go's pager does (that page comes
  with ``first`` set: it supersedes the pages before it). A list is bounded (``ListLimits``: pages, objects,
  response bytes, seconds): a server - or a hostile relay agent - that pages for ever or answers huge
  pages gets ``ListTooLarge`` naming the bound, never the process's memory. The relay's client uses
  tighter bounds than a client of one's own apiserver.
* Items of a LIST lack ``apiVersion``/``kind`` for built-in types; they are filled in so a cached object
  looks like one read with GET.
* ``watch`` yields BOOKMARK events too: an informer needs their resourceVersion to resume cheaply.
* ``log`` streams ``pods/log`` line by line; without ``follow`` it is bounded by ``LOG_TIMEOUT`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast, get_args

from choreo_controller.api.resources import POD
from choreo_controller.contracts import ApiError, ApiRequest, Gone, ObjectList, Transport, WatchEvent
from choreo_controller.contracts.ports import WatchEventType
from choreo_controller.kube.errors import error_for, raise_for_status
from choreo_controller.runtime.tasks import cancel_and_wait

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator

    from choreo_controller.contracts import ApiResource, ApiResponse, JsonObj, LogOptions

T = TypeVar("T", bound=Transport)

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
WATCH_SLACK = 30  # seconds the client waits beyond the server-side watch timeout before giving up
LOG_TIMEOUT = 60.0  # seconds a log read without follow may take
_EVENT_TYPES = frozenset(get_args(WatchEventType))


@dataclass(frozen=True, slots=True)
class ListLimits:
    """How far one ``list`` may go before it gives up (``ListTooLarge``)."""

    pages: int = 10_000
    objects: int = 1_000_000
    bytes: int = 2 * 1024**3
    seconds: float = 600.0


# A build plane reached through the relay is answered by an agent the control plane does not control.
RELAY_LIST_LIMITS = ListLimits(pages=500, objects=20_000, bytes=64 * 1024**2, seconds=120.0)


class ListTooLarge(ApiError):
    """A LIST went past a ``ListLimits`` bound; the message names it. Retryable (the informer backs off)."""

    status = 507


class KubeClient(Generic[T]):
    """Typed verbs on plain JSON objects. Usable as ``async with``; closing it closes the transport."""

    def __init__(self, transport: T, *, page_size: int = 500, list_limits: ListLimits | None = None) -> None:
        self.transport = transport
        self._page_size = page_size
        self._limits = list_limits or ListLimits()

    async def __aenter__(self) -> KubeClient[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the transport."""
        await self.transport.close()

    async def get(self, res: ApiResource, name: str, namespace: str | None = None) -> JsonObj:
        """Read one object."""
        return await self._call(ApiRequest("GET", _object_path(res, name, namespace)))

    async def list(
        self,
        res: ApiResource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ObjectList:
        """List all pages."""
        items: list[JsonObj] = []
        resource_version = ""
        pages = self.list_pages(res, namespace, label_selector=label_selector, field_selector=field_selector)
        async for page in pages:
            if page.first:
                items = []
            items.extend(page.items)
            resource_version = page.resource_version
        return ObjectList(items, resource_version)

    async def list_pages(
        self,
        res: ApiResource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        managed_fields: bool = True,
    ) -> AsyncGenerator[ObjectList, None]:
        """List page by page: each page is yielded as it arrives, and the next one fetched meanwhile.

        ``managed_fields=False``: without ``metadata.managedFields``, which are then not decoded at all when
        the page is encoded as the apiserver encodes a custom resource list (``_decode_without_managed``).
        """
        selectors = _selectors(label_selector, field_selector)
        path = res.path(namespace)
        budget = _ListBudget(self._limits, res.plural)
        fetch = asyncio.ensure_future(self._page(path, selectors, "", budget))
        resource_version, first = "", True
        try:
            while True:
                req, body, restarted = await fetch
                # The apiserver serves the next page while we decode and store this one: its token is read
                # from the end of the body, where a custom resource list keeps its metadata, before decoding.
                hint = _continue_hint(body)
                if hint:
                    fetch = asyncio.ensure_future(self._page(path, selectors, hint, budget))
                    await asyncio.sleep(0)  # the request is sent in the task's first step: before the decode
                page = _decode(req, body) if managed_fields else _decode_without_managed(req, body)
                del body
                if restarted:
                    resource_version, first = "", True
                budget.page(len(page.get("items") or ()))
                meta = page.get("metadata") or {}
                resource_version = resource_version or str(meta.get("resourceVersion") or "")
                items = [_typed(res, item) for item in page.get("items") or ()]
                token = str(meta.get("continue") or "")
                del page  # hold one decoded page (plus the one in flight), not the list
                if token != hint:  # no hint (a built-in kind's list: metadata first), or a wrong one
                    if hint:
                        await cancel_and_wait(fetch)
                    if token:  # the apiserver serves the next page while the caller stores this one
                        fetch = asyncio.ensure_future(self._page(path, selectors, token, budget))
                yield ObjectList(items, resource_version, first=first)
                if not token:
                    return
                first = False
        finally:
            await cancel_and_wait(fetch)

    async def _page(
        self, path: str, selectors: tuple[tuple[str, str], ...], token: str, budget: _ListBudget
    ) -> tuple[ApiRequest, bytes, bool]:
        """One page, undecoded; ``True`` when the continue token had expired and it is the whole list."""
        query = (*selectors, ("limit", str(self._page_size)))
        if not token:
            req = ApiRequest("GET", path, query)
            return req, await self._body(req, budget), False
        try:
            req = ApiRequest("GET", path, (*query, ("continue", token)))
            return req, await self._body(req, budget), False
        except Gone:
            # The continue token expired (etcd compacted past it): start over in one piece.
            req = ApiRequest("GET", path, selectors)
            return req, await self._body(req, budget), True

    async def watch(
        self,
        res: ApiResource,
        namespace: str | None = None,
        *,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[WatchEvent]:
        """Watch from ``resource_version``; ends when the server closes the watch. ``Gone``: relist."""
        query = (
            ("watch", "1"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
            *_selectors(label_selector, field_selector),
        )
        req = ApiRequest("GET", res.path(namespace), query, timeout=timeout_seconds + WATCH_SLACK)
        lines = self.transport.stream(req)
        try:
            async for line in lines:
                event = _parse_event(line) if line.strip() else None
                if event is not None:
                    yield event
        finally:
            # Closing this generator closes the stream, and with it the HTTP response, at once.
            aclose = getattr(lines, "aclose", None)
            if aclose is not None:
                await aclose()

    async def log(self, namespace: str, pod: str, options: LogOptions) -> AsyncIterator[bytes]:
        """The lines of one container's log (``pods/log``), without newlines."""
        timeout = None if options.follow else LOG_TIMEOUT
        req = ApiRequest("GET", POD.path(namespace, pod, "log"), log_query(options), timeout=timeout)
        lines = self.transport.stream(req)
        try:
            async for line in lines:
                yield line
        finally:
            aclose = getattr(lines, "aclose", None)
            if aclose is not None:
                await aclose()

    async def create(self, res: ApiResource, obj: JsonObj) -> JsonObj:
        """POST to the collection of ``obj``'s namespace."""
        path = res.path(_namespace_of(res, obj))
        return await self._call(ApiRequest("POST", path, body=_encode(obj), content_type=JSON))

    async def replace(self, res: ApiResource, obj: JsonObj, *, subresource: str | None = None) -> JsonObj:
        """PUT; the body's ``metadata.resourceVersion`` is the optimistic-concurrency precondition."""
        path = res.path(_namespace_of(res, obj), _name_of(obj), subresource)
        return await self._call(ApiRequest("PUT", path, body=_encode(obj), content_type=JSON))

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
        path = _object_path(res, name, namespace, subresource)
        return await self._call(ApiRequest("PATCH", path, body=_encode(patch), content_type=MERGE_PATCH))

    async def apply(
        self,
        res: ApiResource,
        obj: JsonObj,
        *,
        field_manager: str,
        force: bool = True,
        subresource: str | None = None,
    ) -> JsonObj:
        """Server-side apply of the fields ``field_manager`` owns."""
        path = res.path(_namespace_of(res, obj), _name_of(obj), subresource)
        query = (("fieldManager", field_manager), ("force", "true" if force else "false"))
        return await self._call(ApiRequest("PATCH", path, query, _encode(obj), APPLY_PATCH))

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
        """DELETE with optional uid/resourceVersion preconditions (``Conflict`` when they fail)."""
        options: JsonObj = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
        preconditions = {
            k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v is not None
        }
        if preconditions:
            options["preconditions"] = preconditions
        path = _object_path(res, name, namespace)
        await self._call(ApiRequest("DELETE", path, body=_encode(options), content_type=JSON))

    async def _call(self, req: ApiRequest) -> JsonObj:
        return _decode(req, await self._body(req))

    async def _body(self, req: ApiRequest, budget: _ListBudget | None = None) -> bytes:
        resp: ApiResponse = await self.transport.request(req)
        raise_for_status(resp)
        if budget is not None:
            budget.spend(len(resp.body))
        return resp.body


def _decode(req: ApiRequest, body: bytes) -> JsonObj:
    decoded = json.loads(body) if body else {}
    if not isinstance(decoded, dict):
        raise TypeError(f"{req.method} {req.path}: expected a JSON object")
    return decoded


#: Where a custom resource's ``managedFields`` start and end, as the apiserver encodes it (sorted keys, no
#: spaces): an entry's first key is ``apiVersion``, and ``name`` is the metadata key after the list. An entry
#: holds no array (``fieldsV1`` is a tree of objects) and ``,"name":"`` cannot sit inside a string (its quote
#: is not escaped), so the first ``],"name":"`` after a start ends that list.
_MANAGED_START = b'"managedFields":[{"apiVersion":'
_MANAGED_END = b'],"name":"'
_MANAGED_CUT = b'"managedFields":0,'  # the mark left in the list's place: a real managedFields is a list


def _decode_without_managed(req: ApiRequest, body: bytes) -> JsonObj:
    """A LIST page decoded without its items' ``metadata.managedFields``, most of them never decoded.

    Each managedFields list is cut out of the bytes before decoding and replaced by a mark; the page counts
    only if it decodes, every item's ``metadata.managedFields`` is a mark and there are as many items as
    cuts - then no cut was anywhere else (say in a field of a run's own parameters that looks like one).
    Otherwise, or for a list encoded another way (a built-in kind's), the page is decoded whole and the
    fields dropped.
    """
    parts: list[bytes] = []
    at = cuts = 0
    while (start := body.find(_MANAGED_START, at)) >= 0 and (end := body.find(_MANAGED_END, start)) >= 0:
        parts += (body[at:start], _MANAGED_CUT)
        at = end + 2  # the "name" key stays
        cuts += 1
    if cuts:
        parts.append(body[at:])
        try:  # a look-alike's cut may end in another item's list and leave no JSON: decode as sent then
            page = _decode(req, b"".join(parts))
        except ValueError:
            page = {}
        del parts
        items = page.get("items")
        if isinstance(items, list) and len(items) == cuts and all(map(_cut_mark, items)):
            return page
    page = _decode(req, body)
    for item in page.get("items") or ():
        meta = item.get("metadata") if isinstance(item, dict) else None
        if isinstance(meta, dict):
            meta.pop("managedFields", None)
    return page


def _cut_mark(item: object) -> bool:
    """Whether ``item``'s ``metadata.managedFields`` is the mark of a cut (it is removed either way)."""
    meta = item.get("metadata") if isinstance(item, dict) else None
    return isinstance(meta, dict) and type(meta.pop("managedFields", None)) is int


_HINT_WINDOW = 4096  # bytes at a list's end searched for its metadata (a continue token is ~100-300)
_METADATA = b'"metadata"'
_HINT_DECODER = json.JSONDecoder()


def _continue_hint(body: bytes) -> str:
    """The continue token of a LIST page as it appears in its last ``"metadata"`` object, without decoding it.

    A custom resource's list is encoded with sorted keys - ``apiVersion``, ``items``, ``kind``, ``metadata``
    - so the list's own metadata comes last; a built-in kind's list puts it first, and then the last
    ``"metadata"`` is an item's, which has no token: ``""``. Only a hint: ``list_pages`` checks it against
    the decoded page (an escaped quote cannot end a key, so a string value cannot match ``"metadata"``).
    """
    at = body.rfind(_METADATA, max(0, len(body) - _HINT_WINDOW))
    if at < 0:
        return ""
    rest = body[at + len(_METADATA) :].lstrip()
    if not rest.startswith(b":"):
        return ""
    try:
        meta, _ = _HINT_DECODER.raw_decode(rest[1:].lstrip().decode(errors="replace"))
    except ValueError:
        return ""
    token = meta.get("continue") if isinstance(meta, dict) else None
    return token if isinstance(token, str) else ""


class _ListBudget:
    """What one ``list`` has used so far; raises ``ListTooLarge`` past a bound (bytes before decoding)."""

    def __init__(self, limits: ListLimits, what: str) -> None:
        self._limits, self._what = limits, what
        self._started = time.monotonic()
        self._pages = self._objects = self._bytes = 0

    def spend(self, size: int) -> None:
        self._bytes += size
        self._check("bytes", self._bytes, self._limits.bytes)
        self._check("seconds", time.monotonic() - self._started, self._limits.seconds)

    def page(self, objects: int) -> None:
        self._pages += 1
        self._objects += objects
        self._check("pages", self._pages, self._limits.pages)
        self._check("objects", self._objects, self._limits.objects)

    def _check(self, bound: str, used: float, limit: float) -> None:
        if used > limit:
            raise ListTooLarge(
                f"LIST {self._what} gave up after {self._pages} page(s), {self._objects} object(s), "
                f"{self._bytes} bytes: more than {limit:.0f} {bound}"
            )


def _object_path(res: ApiResource, name: str, namespace: str | None, subresource: str | None = None) -> str:
    if res.namespaced and not namespace:
        raise ValueError(f"{res.kind} {name!r} is namespaced; a namespace is required")
    return res.path(namespace, name, subresource)


def _namespace_of(res: ApiResource, obj: JsonObj) -> str | None:
    namespace = (obj.get("metadata") or {}).get("namespace")
    if res.namespaced and not namespace:
        raise ValueError(f"{res.kind} object has no metadata.namespace")
    return str(namespace) if res.namespaced else None


def _name_of(obj: JsonObj) -> str:
    name = (obj.get("metadata") or {}).get("name")
    if not name:
        raise ValueError("object has no metadata.name")
    return str(name)


def _selectors(label_selector: str | None, field_selector: str | None) -> tuple[tuple[str, str], ...]:
    query: tuple[tuple[str, str], ...] = ()
    if label_selector:
        query += (("labelSelector", label_selector),)
    if field_selector:
        query += (("fieldSelector", field_selector),)
    return query


def log_query(options: LogOptions) -> tuple[tuple[str, str], ...]:
    """``PodLogOptions`` as query parameters (only those set)."""
    query = [("container", options.container)]
    flags = (("follow", options.follow), ("timestamps", options.timestamps))
    query += [(key, "true") for key, on in flags if on]
    numbers = (
        ("sinceSeconds", options.since_seconds),
        ("tailLines", options.tail_lines),
        ("limitBytes", options.limit_bytes),
    )
    query += [(key, str(value)) for key, value in numbers if value is not None]
    if options.since_time:
        query.append(("sinceTime", options.since_time))
    return tuple(query)


def _typed(res: ApiResource, item: JsonObj) -> JsonObj:
    item.setdefault("apiVersion", res.api_version)
    item.setdefault("kind", res.kind)
    return item


def _encode(obj: JsonObj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _parse_event(line: bytes) -> WatchEvent | None:
    """One watch line as an event; ``ERROR`` raises the mapped error; unknown types are skipped."""
    decoded: Any = json.loads(line)
    if not isinstance(decoded, dict) or not isinstance(decoded.get("object"), dict):
        raise TypeError("watch line is not a JSON event object")
    kind = decoded.get("type")
    obj: JsonObj = decoded["object"]
    if kind == "ERROR":
        code = obj.get("code")
        raise error_for(code if isinstance(code, int) else 500, obj)
    if kind not in _EVENT_TYPES:
        return None
    return WatchEvent(cast("WatchEventType", kind), obj)
