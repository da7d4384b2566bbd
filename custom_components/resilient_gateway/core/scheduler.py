"""What goes on air next, for one radio: paced, prioritised, coalesced, never dropped.

Every frame the gateway puts on air goes through one ``SendScheduler``:
- it never exceeds the radio's budget: a token bucket each for unicasts and groupcasts
  (on loop time) and at most ``max_in_flight`` operations awaiting the radio at once;
- it never drops: the queue is unbounded, callers await their ticket (that wait is the
  back-pressure), and a ``DeliveryError`` puts the operation back with back-off (so does a
  cancellation that does not come from stopping the scheduler: a radio library cancels
  the confirmations it waits for when its link drops), except for callers that asked for
  one try (``retry_delivery=False``: a ping, which an unpowered device must fail);
- a newer set for a device that is still queued is merged into the queued one, and a read
  joins a read of the device that is queued, or on air and asks for what it wants;
- user commands go before repairs, repairs before background reads; ties go first come,
  first served; at most one operation per device is on air at a time, so a read never
  overtakes the command it is meant to check;
- a class of operations may be limited (``limits``: the sleepers' operations, each of
  which may hold a frame slot for a parent's 7.68 s): beyond the limit, queued or on air,
  a new one is refused at once (``ClassLimitReached``: its caller tries again later).

Waiting is always a timer set from ``loop.time()``, and a timer that fires delivers what it
waited for (a token, the end of a back-off) even where a test harness fires it before
``loop.time()`` gets there, as Home Assistant's does.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Generator, Hashable, Mapping
from dataclasses import dataclass
from enum import Enum, IntEnum, auto
from typing import Any, cast

from .model import (
    Attr,
    DeliveryError,
    DeviceId,
    NoResponseError,
    Radio,
    RadioBudget,
)
from .policy import Backoff
from .token_bucket import TokenBucket

_LOGGER = logging.getLogger(__name__)

_EPSILON = 1e-6  # seconds: float slack when a timer's time is compared with what it waits for


class Priority(IntEnum):
    """Lower goes first."""

    USER = 0
    REPAIR = 1
    BACKGROUND = 2


class Airtime(Enum):
    """Which budget an operation spends."""

    UNICAST = auto()
    GROUPCAST = auto()


class _EntryState(Enum):
    READY = auto()  # waiting for a slot and a token
    DELAYED = auto()  # backing off after a delivery failure
    ON_AIR = auto()
    DONE = auto()


type OnAttempt = Callable[[], None]

type CommandValues = Mapping[Attr, Any] | Mapping[str, Any]
"""Values keyed by ``Attr`` or, for other writable attributes, by their names."""


def values_dict(values: CommandValues) -> dict[str, Any]:
    """A plain copy, keyed by ``Attr`` where the name is one ("on" and Attr.ON are one key)."""
    copy: dict[str, Any] = {}
    for name, value in values.items():
        copy[Attr(name) if name in Attr else name] = value
    return copy


class Ticket[T]:
    """A caller's claim on one queued operation: await it for the outcome.

    Tickets of coalesced operations share one operation. Cancelling a ticket withdraws it;
    the operation is withdrawn once no ticket wants it and it is not on air yet. A ticket
    without ``retry_delivery`` fails with the operation's first delivery failure; the
    operation goes on for the tickets that want it retried.
    """

    __slots__ = ("_entry", "_future", "_on_attempt", "_retry_delivery")

    def __init__(
        self,
        future: asyncio.Future[T],
        entry: _Entry,
        on_attempt: OnAttempt | None,
        retry_delivery: bool,
    ):
        self._future = future
        self._entry = entry
        self._on_attempt = on_attempt
        self._retry_delivery = retry_delivery

    @property
    def attempts(self) -> int:
        """How often the operation went on air so far (delivery failures included)."""
        return self._entry.attempts

    @property
    def on_air(self) -> bool:
        return self._entry.state is _EntryState.ON_AIR

    def done(self) -> bool:
        return self._future.done()

    def cancelled(self) -> bool:
        return self._future.cancelled()

    def cancel(self) -> None:
        self._future.cancel()

    def result(self) -> T:
        return self._future.result()

    def exception(self) -> BaseException | None:
        return self._future.exception()

    def add_done_callback(self, callback: Callable[[Ticket[T]], None]) -> None:
        self._future.add_done_callback(lambda _: callback(self))

    def __await__(self) -> Generator[Any, None, T]:
        return self._future.__await__()


@dataclass(eq=False, slots=True)
class _Entry:
    """One operation in the queue (possibly several coalesced requests)."""

    seq: int
    airtime: Airtime
    priority: Priority
    device_id: DeviceId | None  # at most one operation per device on air
    key: Hashable | None  # requests with the same key coalesce while queued
    run: Callable[[_Entry], Awaitable[Any]]
    frames: int  # the frames it puts on air (its cost in tokens)
    values: dict[str, Any]  # a send's merged values, newer winning
    attributes: set[Attr]  # a read's merged attributes
    transition: float | None = None
    is_read: bool = False
    tickets: list[Ticket[Any]] | None = None
    limit: str | None = None  # the limited class it counts in, until it is done
    state: _EntryState = _EntryState.READY
    ready_at: float = 0.0
    attempts: int = 0
    failures: int = 0

    def live_tickets(self) -> list[Ticket[Any]]:
        return [t for t in self.tickets or () if not t.done()]


@dataclass(frozen=True, slots=True)
class SchedulerStats:
    queued: int
    in_flight: int
    unicasts_sent: int
    groupcasts_sent: int
    delivery_failures: int
    coalesced: int


class SchedulerStopped(RuntimeError):
    """The scheduler was stopped; nothing more goes on air."""


class ClassLimitReached(RuntimeError):
    """As many operations of the class are queued or on air as its limit allows."""


class SendScheduler:
    """The per-radio send queue. Create it inside the running event loop."""

    def __init__(
        self,
        radio: Radio,
        *,
        rng: random.Random | None = None,
        delivery_backoff: Backoff | None = None,
        burst: float = 1.0,
        limits: Mapping[str, int] | None = None,
    ) -> None:
        """``limits``: per class of operations, how many may be queued or on air at once."""
        self._radio = radio
        self._rng = rng or random.Random()
        self.delivery_backoff = delivery_backoff or Backoff(
            initial=0.5, factor=2.0, maximum=30.0, jitter=0.25
        )
        self._burst = burst
        self._limits = dict(limits or {})
        self._in_class = dict.fromkeys(self._limits, 0)
        self._loop = asyncio.get_running_loop()
        self._budget: RadioBudget | None = None
        self._buckets: dict[Airtime, TokenBucket] = {}
        self._ready: dict[Airtime, list[tuple[int, int, _Entry]]] = {a: [] for a in Airtime}
        self._delayed: list[tuple[float, int, _Entry]] = []
        self._by_key: dict[Hashable, _Entry] = {}
        self._busy_devices: set[DeviceId] = set()
        self._reads_on_air: dict[DeviceId, _Entry] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._seq = 0
        self._queued = 0
        self._stopped = False
        self._pump_pending = False
        self._unicasts_sent = 0
        self._groupcasts_sent = 0
        self._delivery_failures = 0
        self._coalesced = 0

    # ---- requests -------------------------------------------------------------------

    def send(
        self,
        device_id: DeviceId,
        values: CommandValues,
        *,
        transition: float | None = None,
        priority: Priority = Priority.USER,
        on_attempt: OnAttempt | None = None,
    ) -> Ticket[None]:
        """Set ``values`` on one device; a still-queued send to it absorbs them instead."""

        async def run(entry: _Entry) -> None:
            await self._radio.send(device_id, dict(entry.values), transition=entry.transition)

        entry = self._coalescing_entry(("send", device_id), priority)
        if entry is not None:
            entry.values.update(values_dict(values))
            entry.transition = transition
        else:
            entry = self._new_entry(
                Airtime.UNICAST, priority, device_id, ("send", device_id), run, values=values
            )
            entry.transition = transition
        return self._issue(entry, on_attempt)

    def read(
        self,
        device_id: DeviceId,
        attributes: Collection[Attr],
        *,
        priority: Priority = Priority.BACKGROUND,
        timeout: float | None = None,
        on_attempt: OnAttempt | None = None,
        retry_delivery: bool = True,
        limit: str | None = None,
    ) -> Ticket[dict[Attr, Any]]:
        """Read attributes; fails with NoResponseError when the device does not answer.

        A read of the device still queued takes these attributes in; one on air that asks
        for all of them answers this one too (no second frame for the same answer).
        ``timeout`` bounds the wait, so a radio that never answers cannot hold a slot.
        ``retry_delivery=False``: fail at the first delivery failure instead of sending
        again (a ping: a device that acknowledges nothing must fail it). ``limit``: the
        limited class a new read counts in (ClassLimitReached when it is full).
        """

        async def run(entry: _Entry) -> dict[Attr, Any]:
            try:
                async with asyncio.timeout(timeout):
                    return await self._radio.read(device_id, sorted(entry.attributes))
            except TimeoutError as err:
                raise NoResponseError(f"{device_id} did not answer a read") from err

        entry = self._coalescing_entry(("read", device_id), priority)
        if entry is not None:
            entry.attributes.update(attributes)
        elif (on_air := self._read_on_air(device_id, attributes)) is not None:
            ticket: Ticket[dict[Attr, Any]] = self._issue(
                on_air, on_attempt, retry_delivery=retry_delivery
            )
            if on_attempt is not None:  # (this attempt started before the ticket existed)
                self._loop.call_soon(_attempt_under_way, ticket)
            return ticket
        else:
            entry = self._new_entry(
                Airtime.UNICAST,
                priority,
                device_id,
                ("read", device_id),
                run,
                attributes=attributes,
                limit=limit,
            )
            entry.is_read = True
        return self._issue(entry, on_attempt, retry_delivery=retry_delivery)

    def read_under_way(
        self, device_id: DeviceId, attributes: Collection[Attr]
    ) -> Ticket[dict[Attr, Any]] | None:
        """A ticket for the answer of a read of ``attributes`` already queued or on air for
        the device, or None when there is none; that read's priority stays as it is."""
        entry = self._read_entry(device_id, attributes)
        if entry is None:
            return None
        return self._issue(entry, None)

    def is_reading(self, device_id: DeviceId, attributes: Collection[Attr]) -> bool:
        """Whether a read of ``attributes`` is queued or on air for the device."""
        return self._read_entry(device_id, attributes) is not None

    def send_group(
        self,
        group_id: int,
        values: CommandValues,
        *,
        transition: float | None = None,
        priority: Priority = Priority.USER,
        on_attempt: OnAttempt | None = None,
    ) -> Ticket[None]:
        """One groupcast; a still-queued groupcast to the same group absorbs the values."""

        async def run(entry: _Entry) -> None:
            await self._radio.send_group(group_id, dict(entry.values), transition=entry.transition)

        entry = self._coalescing_entry(("group", group_id), priority)
        if entry is not None:
            entry.values.update(values_dict(values))
            entry.transition = transition
        else:
            entry = self._new_entry(
                Airtime.GROUPCAST, priority, None, ("group", group_id), run, values=values
            )
            entry.transition = transition
        return self._issue(entry, on_attempt)

    def recall_scene(
        self,
        group_id: int,
        scene_id: int,
        *,
        priority: Priority = Priority.USER,
        on_attempt: OnAttempt | None = None,
    ) -> Ticket[None]:
        """One scene-recall groupcast (never coalesced: each recall is its own request)."""

        async def run(_: _Entry) -> None:
            await self._radio.recall_scene(group_id, scene_id)

        entry = self._new_entry(Airtime.GROUPCAST, priority, None, None, run)
        return self._issue(entry, on_attempt)

    def store_scene(
        self,
        device_id: DeviceId,
        group_id: int,
        scene_id: int,
        values: CommandValues,
        *,
        priority: Priority = Priority.REPAIR,
    ) -> Ticket[None]:
        """Write one scene-table entry on one device."""
        stored = values_dict(values)

        async def run(_: _Entry) -> None:
            await self._radio.store_scene(device_id, group_id, scene_id, stored)

        entry = self._new_entry(Airtime.UNICAST, priority, device_id, None, run)
        return self._issue(entry, None)

    def call[T](
        self,
        operation: Callable[[], Awaitable[T]],
        *,
        device_id: DeviceId | None = None,
        airtime: Airtime = Airtime.UNICAST,
        priority: Priority = Priority.BACKGROUND,
        retry_delivery: bool = True,
        frames: int = 1,
        limit: str | None = None,
    ) -> Ticket[T]:
        """Any other radio operation (configure reporting, a ping), paced like the rest;
        one that sends several ``frames`` spends a token for each. ``limit``: the limited
        class it counts in (ClassLimitReached when it is full)."""

        async def run(_: _Entry) -> T:
            return await operation()

        entry = self._new_entry(airtime, priority, device_id, None, run, frames=frames, limit=limit)
        return self._issue(entry, None, retry_delivery=retry_delivery)

    def retry_now(self) -> None:
        """Retry operations backing off after delivery failures at once (the radio is back)."""
        now = self._loop.time()
        for _, _, entry in self._delayed:
            entry.ready_at = min(entry.ready_at, now)
        self._delayed = [(entry.ready_at, seq, entry) for _, seq, entry in self._delayed]
        heapq.heapify(self._delayed)
        self._pump()

    @property
    def stats(self) -> SchedulerStats:
        return SchedulerStats(
            queued=self._queued,
            in_flight=len(self._tasks),
            unicasts_sent=self._unicasts_sent,
            groupcasts_sent=self._groupcasts_sent,
            delivery_failures=self._delivery_failures,
            coalesced=self._coalesced,
        )

    async def stop(self) -> None:
        """Cancel the timer, everything on air and every queued request."""
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        entries = [e for heap in self._ready.values() for _, _, e in heap]
        entries += [e for _, _, e in self._delayed]
        for entry in entries:
            for ticket in entry.live_tickets():
                ticket.cancel()
            entry.state = _EntryState.DONE
        self._in_class = dict.fromkeys(self._limits, 0)
        self._ready = {a: [] for a in Airtime}
        self._delayed.clear()
        self._by_key.clear()
        self._queued = 0

    # ---- queue ----------------------------------------------------------------------

    def _read_on_air(self, device_id: DeviceId, attributes: Collection[Attr]) -> _Entry | None:
        entry = self._reads_on_air.get(device_id)
        if entry is None or entry.state is not _EntryState.ON_AIR:
            return None
        return entry if entry.attributes.issuperset(attributes) else None

    def _read_entry(self, device_id: DeviceId, attributes: Collection[Attr]) -> _Entry | None:
        """A read of the device that is queued or on air and asks for ``attributes``."""
        entry = self._by_key.get(("read", device_id))
        if (
            entry is not None
            and entry.state in (_EntryState.READY, _EntryState.DELAYED)
            and entry.attributes.issuperset(attributes)
        ):
            return entry
        return self._read_on_air(device_id, attributes)

    def _coalescing_entry(self, key: Hashable, priority: Priority) -> _Entry | None:
        entry = self._by_key.get(key)
        if entry is None or entry.state not in (_EntryState.READY, _EntryState.DELAYED):
            return None
        self._coalesced += 1
        if priority < entry.priority:
            entry.priority = priority
            if entry.state is _EntryState.READY:
                # The older heap item goes stale: its priority no longer matches.
                heapq.heappush(self._ready[entry.airtime], (entry.priority, entry.seq, entry))
        return entry

    def _new_entry(
        self,
        airtime: Airtime,
        priority: Priority,
        device_id: DeviceId | None,
        key: Hashable | None,
        run: Callable[[_Entry], Awaitable[Any]],
        *,
        values: CommandValues | None = None,
        attributes: Collection[Attr] = (),
        frames: int = 1,
        limit: str | None = None,
    ) -> _Entry:
        if self._stopped:
            raise SchedulerStopped
        if frames < 1:
            raise ValueError(f"an operation sends at least one frame, not {frames}")
        if limit is not None:
            if limit not in self._limits:
                raise ValueError(f"no limit is set for {limit!r} operations")
            if self._in_class[limit] >= self._limits[limit]:
                raise ClassLimitReached(f"{self._limits[limit]} {limit} operations under way")
            self._in_class[limit] += 1
        self._seq += 1
        entry = _Entry(
            seq=self._seq,
            airtime=airtime,
            priority=priority,
            device_id=device_id,
            key=key,
            run=run,
            frames=frames,
            values=values_dict(values or {}),
            attributes=set(attributes),
            tickets=[],
            limit=limit,
        )
        if key is not None:
            self._by_key[key] = entry
        self._queued += 1
        heapq.heappush(self._ready[airtime], (priority, entry.seq, entry))
        return entry

    def _issue[T](
        self, entry: _Entry, on_attempt: OnAttempt | None, *, retry_delivery: bool = True
    ) -> Ticket[T]:
        future: asyncio.Future[T] = self._loop.create_future()
        ticket = Ticket(future, entry, on_attempt, retry_delivery)
        assert entry.tickets is not None
        entry.tickets.append(ticket)
        future.add_done_callback(lambda _: self._ticket_done(ticket))
        self._pump_soon()
        return ticket

    def _ticket_done(self, ticket: Ticket[Any]) -> None:
        entry = ticket._entry  # (a requeued operation may have moved it to a newer entry)
        if not ticket.cancelled() or entry.state not in (_EntryState.READY, _EntryState.DELAYED):
            return
        if not entry.live_tickets():
            self._withdraw(entry)
            self._pump()

    def _retire(self, entry: _Entry) -> None:
        """The entry is done (or merged into another): it leaves its limited class."""
        entry.state = _EntryState.DONE
        if entry.limit is not None:
            self._in_class[entry.limit] -= 1
            entry.limit = None

    def _withdraw(self, entry: _Entry) -> None:
        """Nobody wants a queued entry any more; its heap items go stale."""
        self._retire(entry)
        self._queued -= 1
        if entry.key is not None and self._by_key.get(entry.key) is entry:
            del self._by_key[entry.key]

    def _peek(self, airtime: Airtime) -> _Entry | None:
        """The first entry of ``airtime`` that may go now (not stale, its device free)."""
        heap = self._ready[airtime]
        skipped: list[tuple[int, int, _Entry]] = []
        found: _Entry | None = None
        while heap:
            priority, _, entry = heap[0]
            if entry.state is not _EntryState.READY or entry.priority != priority:
                heapq.heappop(heap)
                continue
            if not entry.live_tickets():  # (cancelled before _ticket_done could run)
                heapq.heappop(heap)
                self._withdraw(entry)
                continue
            if entry.device_id is not None and entry.device_id in self._busy_devices:
                skipped.append(heapq.heappop(heap))
                continue
            found = entry
            break
        for item in skipped:
            heapq.heappush(heap, item)
        return found

    def _pump_soon(self) -> None:
        """Pump on the next loop pass: a request never goes on air inside the call that made
        it, so callers hold their ticket before its callbacks run."""
        if not self._pump_pending and not self._stopped:
            self._pump_pending = True
            self._loop.call_soon(self._pump)

    def _budget_now(self, now: float) -> RadioBudget:
        budget = self._radio.budget
        if budget != self._budget:
            self._budget = budget
            self._buckets = {
                Airtime.UNICAST: TokenBucket(budget.unicasts_per_s, self._burst, now),
                Airtime.GROUPCAST: TokenBucket(budget.groupcasts_per_s, self._burst, now),
            }
        return budget

    def _pump(self, fired_for: float | None = None) -> None:
        """Start whatever may go on air now, and set a timer for when more may.

        ``fired_for``: the time of the timer that fired. What it waited for is due, even
        where a test harness fires timers before ``loop.time()`` gets there; new timers are
        still set from ``loop.time()``, so they never run ahead of the harness.
        """
        self._pump_pending = False
        if self._stopped:
            return
        now = self._loop.time()
        due = now if fired_for is None else max(now, fired_for) + _EPSILON
        while self._delayed and self._delayed[0][0] <= due:
            _, _, entry = heapq.heappop(self._delayed)
            if entry.state is _EntryState.DELAYED:
                entry.state = _EntryState.READY
                heapq.heappush(self._ready[entry.airtime], (entry.priority, entry.seq, entry))
        budget = self._budget_now(now)
        if fired_for is not None:
            for bucket in self._buckets.values():
                if bucket.next_token_at(now) <= due:
                    bucket.grant()
        wake_at: float | None = None
        while len(self._tasks) < budget.max_in_flight:
            best: _Entry | None = None
            for airtime in Airtime:
                candidate = self._peek(airtime)
                if candidate is None:
                    continue
                bucket = self._buckets[airtime]
                if not bucket.has_token(now):
                    token_at = bucket.next_token_at(now)
                    wake_at = token_at if wake_at is None else min(wake_at, token_at)
                    continue
                if best is None or (candidate.priority, candidate.seq) < (
                    best.priority,
                    best.seq,
                ):
                    best = candidate
            if best is None:
                break
            wake_at = None
            self._buckets[best.airtime].take(now, self._frames(best))
            self._launch(best)
        if len(self._tasks) >= budget.max_in_flight:
            wake_at = None  # a finishing operation pumps again
        if self._delayed:
            first = self._delayed[0][0]
            wake_at = first if wake_at is None else min(wake_at, first)
        self._set_timer(wake_at)

    def _frames(self, entry: _Entry) -> int:
        """What ``entry`` puts on air now (a queued send or read may have grown)."""
        if entry.is_read:
            return max(1, self._radio.frames_to_read(entry.attributes))
        if entry.values:
            return max(1, self._radio.frames_to_send(entry.values))
        return entry.frames

    def _set_timer(self, when: float | None) -> None:
        if self._timer is not None:
            if when is not None and self._timer_at == when:
                return
            self._timer.cancel()
            self._timer = None
        if when is None:
            return
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._on_timer, when)

    def _on_timer(self, when: float) -> None:
        self._timer = None
        self._pump(fired_for=when)

    def _launch(self, entry: _Entry) -> None:
        entry.state = _EntryState.ON_AIR
        entry.attempts += 1
        self._queued -= 1
        if entry.key is not None and self._by_key.get(entry.key) is entry:
            del self._by_key[entry.key]  # later requests queue behind, not into, this one
        if entry.device_id is not None:
            self._busy_devices.add(entry.device_id)
            if entry.is_read:
                self._reads_on_air[entry.device_id] = entry
        if entry.airtime is Airtime.UNICAST:
            self._unicasts_sent += 1
        else:
            self._groupcasts_sent += 1
        for ticket in entry.live_tickets():
            if ticket._on_attempt is not None:
                ticket._on_attempt()
        task = self._loop.create_task(self._run(entry))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, entry: _Entry) -> None:
        try:
            result = await entry.run(entry)
        except asyncio.CancelledError as cancelled:
            task = asyncio.current_task()
            if self._stopped or (task is not None and task.cancelling()):
                for ticket in entry.live_tickets():
                    ticket.cancel()  # stopped: nobody waits forever
                raise
            # Not ours: the radio library cancelled its own wait (its link dropped while
            # the frame was on air), so whether the frame went out is unknown.
            self._failed(entry, DeliveryError(f"the radio gave up the operation: {cancelled!r}"))
        except (DeliveryError, NoResponseError) as err:
            self._failed(entry, err)
        except Exception as err:  # a radio bug must reach the caller, not kill the queue
            _LOGGER.debug("radio operation failed: %r", err)
            self._finish(entry, error=err)
        else:
            self._finish(entry, result=result)
        finally:
            if entry.device_id is not None:
                self._busy_devices.discard(entry.device_id)
                if self._reads_on_air.get(entry.device_id) is entry:
                    del self._reads_on_air[entry.device_id]
            self._tasks.discard(cast(asyncio.Task[None], asyncio.current_task()))
            self._pump()

    def _failed(self, entry: _Entry, err: DeliveryError | NoResponseError) -> None:
        if isinstance(err, DeliveryError):
            self._delivery_failures += 1
        # A read's NoResponseError is the answer (the device is silent), not a failure.
        if entry.is_read and isinstance(err, NoResponseError):
            self._finish(entry, error=err)
            return
        tickets = entry.live_tickets()
        if not any(ticket._retry_delivery for ticket in tickets):
            self._finish(entry, error=err)
            return
        for ticket in tickets:
            if not ticket._retry_delivery:
                ticket._future.set_exception(err)  # one try was all it asked for
        self._requeue(entry)

    def _finish(
        self, entry: _Entry, *, result: Any = None, error: BaseException | None = None
    ) -> None:
        self._retire(entry)
        for ticket in entry.live_tickets():
            future = ticket._future
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    def _requeue(self, entry: _Entry) -> None:
        """Back off and try again; a newer queued request to the same key absorbs this one."""
        if not entry.live_tickets():
            self._retire(entry)
            return
        newer = self._by_key.get(entry.key) if entry.key is not None else None
        if newer is not None and newer.state in (_EntryState.READY, _EntryState.DELAYED):
            merged = dict(entry.values)
            merged.update(newer.values)  # the newer request's values win
            newer.values = merged
            newer.attributes |= entry.attributes
            newer.attempts += entry.attempts
            assert newer.tickets is not None
            newer.tickets.extend(entry.live_tickets())
            if entry.priority < newer.priority:
                newer.priority = entry.priority
                if newer.state is _EntryState.READY:
                    heapq.heappush(self._ready[newer.airtime], (newer.priority, newer.seq, newer))
            self._retire(entry)
            for ticket in entry.live_tickets():
                ticket._entry = newer
            return
        entry.failures += 1
        entry.state = _EntryState.DELAYED
        delay = self.delivery_backoff.delay(entry.failures - 1, self._rng)
        entry.ready_at = self._loop.time() + delay
        self._queued += 1
        if entry.key is not None:
            self._by_key[entry.key] = entry
        heapq.heappush(self._delayed, (entry.ready_at, entry.seq, entry))


def _attempt_under_way(ticket: Ticket[Any]) -> None:
    """Tell a ticket that joined an operation on air of that attempt."""
    if not ticket.done() and ticket.on_air and ticket._on_attempt is not None:
        ticket._on_attempt()
