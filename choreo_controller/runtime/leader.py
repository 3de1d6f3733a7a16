"""Leader election on a ``coordination.k8s.io/v1`` Lease: client-go's ``LeaderElector``, plus a lease watch.

What it owns: one candidate's view of one Lease, the loop that acquires it and the loop that renews it.

Protocol (client-go ``tryAcquireOrRenew``): read the Lease (create it if missing); if another identity
holds it and the record has changed within its ``leaseDurationSeconds`` *as observed on our own clock*
(never by comparing the other side's timestamps - clocks skew), stand by; otherwise write ourselves in
with a PUT carrying the resourceVersion we read, so of two candidates exactly one wins (the other gets
``Conflict``). A leader renews every ``retry_period`` with the same PUT (first optimistically with the
version it last wrote; on ``Conflict`` it re-reads). Takeover increments ``leaseTransitions`` and sets
``acquireTime``; renewals keep both.

Leadership is lost - ``run`` raises ``LeadershipLost`` and the caller must stop writing at once - when

* no renewal succeeded for ``renew_deadline`` (each attempt is cut off at that deadline, so a hung request
  cannot stretch it), or
* an authoritative read shows another identity in the Lease. client-go keeps retrying until the
  deadline; we give up at once, since someone else may already be acting as leader.

Beyond client-go, the candidate also *watches* its Lease (an ``Informer`` with a name field selector).
A change of holder wakes the loops at once: a leader whose Lease was taken over re-reads and quits within
a round trip instead of up to ``retry_period`` later; a standby sees a release immediately, and it notes
every renewal the moment it happens, so it can try again exactly when the lease expires. Watch events only
*prompt* a check; decisions are taken on a fresh GET, so a stale or reordered event cannot depose a leader.
The watch is best-effort: without it (RBAC, outage) the ``retry_period`` polling still meets the protocol.

``release`` (graceful stop, client-go's ``ReleaseOnCancel``) writes an empty holder with a 1 s duration,
so a standby takes over without waiting out the lease. Lease calls must use a ``KubeApi`` that is not
behind the shared client rate limiter, or renewals queue behind reconciles. Time comes from the ``Clock``.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar

import structlog

from choreo_controller.api.resources import LEASE
from choreo_controller.contracts import ApiError, Conflict, NotFound
from choreo_controller.runtime.backoff import Backoff
from choreo_controller.runtime.handlers import EventHandler
from choreo_controller.runtime.informer import Informer
from choreo_controller.runtime.lease import LeaseRecord, lease_object, record_of
from choreo_controller.runtime.tasks import cancel_and_wait

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from choreo_controller.contracts import Clock, JsonObj, KubeApi

log = structlog.get_logger("choreo_controller.leader")
T = TypeVar("T")
State = Literal["starting", "standby", "leading", "released", "lost"]


class LeadershipLost(Exception):
    """This process no longer holds the Lease; it must stop writing and exit."""


@dataclass(frozen=True, slots=True)
class LeaderConfig:
    """Which Lease, who we are, and client-go's timings (15 s / 10 s / 2 s)."""

    lease_name: str
    namespace: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("leader election needs a non-empty identity")
        if not self.lease_duration > self.renew_deadline > 1.2 * self.retry_period > 0:
            raise ValueError("want lease_duration > renew_deadline > 1.2 * retry_period > 0 (client-go)")


class LeaderElector:
    """One candidate for one Lease. ``run`` until it raises ``LeadershipLost`` or is cancelled."""

    def __init__(self, api: KubeApi, config: LeaderConfig, clock: Clock) -> None:
        self._api = api
        self.config = config
        self._clock = clock
        self._rng = random.Random()  # jitter, not cryptography  # noqa: S311
        self._lease: JsonObj | None = None  # last version read or written: carries the resourceVersion
        self._observed: LeaseRecord | None = None
        self._observed_at = 0.0
        self._state: State = "starting"
        self._wakers: set[asyncio.Future[None]] = set()
        self._watch = Informer(
            api,
            LEASE,
            clock=clock,
            namespace=config.namespace,
            field_selector=f"metadata.name={config.lease_name}",
            backoff=Backoff(initial=0.2, cap=config.retry_period),
        )
        self._watch.add_handler(EventHandler(self._on_lease, lambda _old, new: self._on_lease(new), None))

    @property
    def state(self) -> State:
        """``starting``, ``standby`` once the Lease was read, ``leading``; then ``released`` or ``lost``."""
        return self._state

    @property
    def is_leader(self) -> bool:
        """We hold the Lease and have not lost or released it."""
        return self._state == "leading"

    @property
    def holder(self) -> str | None:
        """The holder identity last observed (``""``: nobody), ``None`` before the first read."""
        return None if self._observed is None else self._observed.holder

    async def run(self, on_leading: Callable[[], None]) -> NoReturn:
        """Acquire (waiting as long as it takes), call ``on_leading``, renew until lost: then raise."""
        watcher = asyncio.create_task(self._watch.run(), name=f"lease-watch-{self.config.lease_name}")
        try:
            await self._acquire()
            self._state = "leading"
            log.info("became leader", lease=self.config.lease_name, identity=self.config.identity)
            on_leading()
            await self._hold()
        except LeadershipLost as lost:
            self._state = "lost"
            log.error(  # noqa: TRY400 - an expected outcome, not a crash: no traceback
                "leadership lost", lease=self.config.lease_name, reason=str(lost)
            )
            raise
        finally:
            await cancel_and_wait(watcher)

    async def release(self) -> bool:
        """Give the Lease up (empty holder, 1 s) if we hold it; best effort, never raises."""
        if self._state != "leading" or self._lease is None or self._observed is None:
            return False
        self._state = "released"
        cfg = self.config
        record = LeaseRecord.at("", 1, self._clock.now(), self._observed.transitions)
        lease: JsonObj | None = self._lease
        for _ in range(2):  # a renewal cut off mid-flight may have moved the resourceVersion: re-read once
            try:
                released = await self._bounded(self._api.replace(LEASE, lease_object(lease, record)))
            except Conflict:
                lease = await self._read_quietly()
                if lease is not None and record_of(lease).holder == cfg.identity:
                    continue
                return False
            except ApiError as exc:
                log.warning("could not release the lease", error=type(exc).__name__)
                return False
            if released is not None:
                log.info("released the lease", lease=cfg.lease_name)
            return released is not None
        return False

    async def _read_quietly(self) -> JsonObj | None:
        try:
            return await self._bounded(self._api.get(LEASE, self.config.lease_name, self.config.namespace))
        except ApiError:
            return None

    # ---- the two loops ---------------------------------------------------------------------------
    async def _acquire(self) -> None:
        cfg = self.config
        while True:
            if await self._attempt(cfg.renew_deadline):
                return
            if self._state == "starting" and self._observed is not None:
                self._state = "standby"
                log.info("standing by", lease=cfg.lease_name, leader=self._observed.holder)
            now = self._clock.monotonic()
            wake = now + cfg.retry_period * (1 + 0.2 * self._rng.random())
            if self._observed is not None and self._observed.holder and self._expires_at() > now:
                wake = min(wake, self._expires_at())  # try again the moment the lease runs out
            await self._nap_until(wake)

    async def _hold(self) -> NoReturn:
        cfg = self.config
        last_renew = self._clock.monotonic()
        next_attempt = last_renew + cfg.retry_period
        while True:
            await self._nap_until(next_attempt)
            now = self._clock.monotonic()
            if now < next_attempt and self.holder == cfg.identity:
                continue  # woken by our own renewal
            deadline = last_renew + cfg.renew_deadline
            renewed = now < deadline and await self._attempt(deadline - now)  # raises if taken over
            if renewed:
                last_renew = now  # when the attempt started: the write landed no earlier
            now = self._clock.monotonic()
            if not renewed and now >= deadline:
                raise LeadershipLost(f"could not renew the lease within {cfg.renew_deadline:g}s")
            next_attempt = now + cfg.retry_period

    # ---- one try (client-go tryAcquireOrRenew) -------------------------------------------------------
    async def _attempt(self, within: float) -> bool:
        try:
            return bool(await self._bounded(self._try_acquire_or_renew(), within))
        except ApiError as exc:
            log.warning("lease attempt failed", lease=self.config.lease_name, error=type(exc).__name__)
            return False

    async def _try_acquire_or_renew(self) -> bool:
        cfg = self.config
        mine = LeaseRecord.at(cfg.identity, round(cfg.lease_duration), self._clock.now())
        observed = self._observed
        fast = observed is not None and observed.holder == cfg.identity and self._lease is not None
        if fast and observed is not None and self._lease_valid(self._clock.monotonic()):
            # Fast path: assume our last write is still the current version.
            try:
                self._remember(
                    await self._api.replace(LEASE, lease_object(self._lease, mine.renewing(observed)))
                )
            except Conflict:
                pass  # someone wrote meanwhile: read it
            else:
                return True
        try:
            lease = await self._api.get(LEASE, cfg.lease_name, cfg.namespace)
        except NotFound:
            new = lease_object(None, mine, name=cfg.lease_name, namespace=cfg.namespace)
            self._remember(await self._api.create(LEASE, new))
            return True
        self._observe(lease)
        current = record_of(lease)
        if current.holder and current.holder != cfg.identity and self._lease_valid(self._clock.monotonic()):
            if self._state == "leading":  # an authoritative read: someone else may be acting already
                raise LeadershipLost(f"the lease is now held by {current.holder!r}")
            return False
        desired = mine.renewing(current) if current.holder == cfg.identity else mine.taking_over(current)
        try:
            self._remember(await self._api.replace(LEASE, lease_object(lease, desired)))
        except Conflict:
            return False
        return True

    # ---- observations ----------------------------------------------------------------------------
    def _observe(self, lease: JsonObj) -> bool:
        """Note ``lease``; the observed time moves only when the record changed. True if it changed."""
        self._lease = lease
        record = record_of(lease)
        if record == self._observed:
            return False
        self._observed = record
        self._observed_at = self._clock.monotonic()
        return True

    def _remember(self, written: JsonObj) -> None:
        self._observe(written)

    def _on_lease(self, lease: JsonObj) -> None:
        before = self.holder
        # Wake the loops when the holder changes or the lease is released, not on every renewal.
        if self._observe(lease) and (self.holder != before or not self.holder):
            for waker in list(self._wakers):
                _settle(waker)

    def _lease_valid(self, now: float) -> bool:
        return now < self._expires_at()

    def _expires_at(self) -> float:
        if self._observed is None:
            return self._observed_at
        return self._observed_at + (self._observed.duration or self.config.lease_duration)

    async def _nap_until(self, when: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self._clock.call_at(when, lambda: _settle(woken))
        self._wakers.add(woken)
        try:
            await woken
        finally:
            timer.cancel()
            self._wakers.discard(woken)

    async def _bounded(self, call: Coroutine[Any, Any, T], within: float | None = None) -> T | None:
        """Await ``call``, cut off after ``within`` seconds of the clock (``None``: timed out)."""
        task = asyncio.ensure_future(call)
        limit = self.config.renew_deadline if within is None else within
        timer = self._clock.call_at(self._clock.monotonic() + limit, lambda: _cancel(task))
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            return None
        finally:
            timer.cancel()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _cancel(task: asyncio.Future[Any]) -> None:
    task.cancel()
