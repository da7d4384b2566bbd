"""What puts the send scheduler's queue (``backlog.py``) on air: token buckets per
airtime, the operations in flight, what becomes of each attempt and the one timer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Hashable
from typing import Any, cast

from ..model import Attr, DeviceId
from ..radio import DeliveryError, NoResponseError, Radio, RadioBudget
from ..token_bucket import TokenBucket
from ..wake_up import WakeUp, due_at
from .backlog import Backlog
from .entries import (
    Airtime,
    CommandValues,
    Entry,
    EntryState,
    OnAttempt,
    Priority,
    SchedulerStats,
    SchedulerStopped,
    Ticket,
    attempt_under_way,
)
from .limits import ClassLimits

_LOGGER = logging.getLogger(__name__)


class AirPump:
    """One radio's pump: the backlog's entries wait for a free device, a slot in flight and
    a token of their airtime; an attempt's outcome settles their tickets or puts them back
    in the backlog."""

    def __init__(
        self, radio: Radio, backlog: Backlog, limits: ClassLimits, *, burst: float
    ) -> None:
        self._radio = radio
        self._backlog = backlog
        self._limits = limits
        self._burst = burst
        self._loop = asyncio.get_running_loop()
        self._budget: RadioBudget | None = None
        self._buckets: dict[Airtime, TokenBucket] = {}
        self._busy_devices: set[DeviceId] = set()
        self._reads_on_air: dict[DeviceId, Entry] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake_up = WakeUp(self._loop, lambda when: self.pump(fired_for=when))
        self._stopped = False
        self._pump_pending = False
        self._unicasts_sent = 0
        self._groupcasts_sent = 0
        self._delivery_failures = 0

    # ---- what callers' requests need -------------------------------------------------

    def read_on_air(self, device_id: DeviceId, attributes: Collection[Attr]) -> Entry | None:
        entry = self._reads_on_air.get(device_id)
        if entry is None or entry.state is not EntryState.ON_AIR:
            return None
        return entry if entry.attributes.issuperset(attributes) else None

    def read_entry(self, device_id: DeviceId, attributes: Collection[Attr]) -> Entry | None:
        """A read of the device that is queued or on air and asks for ``attributes``."""
        entry = self._backlog.queued_read(device_id, attributes)
        if entry is not None:
            return entry
        return self.read_on_air(device_id, attributes)

    def new_entry(
        self,
        airtime: Airtime,
        priority: Priority,
        device_id: DeviceId | None,
        key: Hashable | None,
        run: Callable[[Entry], Awaitable[Any]],
        *,
        values: CommandValues | None = None,
        attributes: Collection[Attr] = (),
        frames: int = 1,
        limit: str | None = None,
    ) -> Entry:
        if self._stopped:
            raise SchedulerStopped
        if frames < 1:
            raise ValueError(f"an operation sends at least one frame, not {frames}")
        self._limits.admit(limit)
        return self._backlog.add(
            airtime,
            priority,
            device_id,
            key,
            run,
            values=values,
            attributes=attributes,
            frames=frames,
            limit=limit,
        )

    def issue[T](
        self, entry: Entry, on_attempt: OnAttempt | None, *, retry_delivery: bool = True
    ) -> Ticket[T]:
        future: asyncio.Future[T] = self._loop.create_future()
        ticket = Ticket(future, entry, on_attempt, retry_delivery)
        assert entry.tickets is not None
        entry.tickets.append(ticket)
        future.add_done_callback(lambda _: self._ticket_done(ticket))
        self._pump_soon()
        return ticket

    def share[T](
        self, entry: Entry, on_attempt: OnAttempt | None, *, retry_delivery: bool
    ) -> Ticket[T]:
        """A ticket on ``entry``, which is on air already: told of this attempt soon."""
        ticket: Ticket[T] = self.issue(entry, on_attempt, retry_delivery=retry_delivery)
        if on_attempt is not None:  # (this attempt started before the ticket existed)
            self._loop.call_soon(attempt_under_way, ticket)
        return ticket

    def retry_now(self) -> None:
        """Retry operations backing off after delivery failures at once (the radio is back)."""
        self._backlog.retry_now(self._loop.time())
        self.pump()

    @property
    def stats(self) -> SchedulerStats:
        return SchedulerStats(
            queued=self._backlog.queued,
            in_flight=len(self._tasks),
            unicasts_sent=self._unicasts_sent,
            groupcasts_sent=self._groupcasts_sent,
            delivery_failures=self._delivery_failures,
            coalesced=self._backlog.coalesced,
        )

    async def stop(self) -> None:
        """Cancel the timer, everything on air and every queued request."""
        self._stopped = True
        self._wake_up.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for entry in self._backlog.drain():
            for ticket in entry.live_tickets():
                ticket.cancel()
            entry.state = EntryState.DONE
        self._limits.clear()

    # ---- on air ---------------------------------------------------------------------

    def _ticket_done(self, ticket: Ticket[Any]) -> None:
        entry = ticket._entry  # (a requeued operation may have moved it to a newer entry)
        if not ticket.cancelled() or entry.state not in (EntryState.READY, EntryState.DELAYED):
            return
        if not entry.live_tickets():
            self._backlog.withdraw(entry)
            self.pump()

    def _pump_soon(self) -> None:
        """Pump on the next loop pass: a request never goes on air inside the call that made
        it, so callers hold their ticket before its callbacks run."""
        if not self._pump_pending and not self._stopped:
            self._pump_pending = True
            self._loop.call_soon(self.pump)

    def _budget_now(self, now: float) -> RadioBudget:
        budget = self._radio.budget
        if budget != self._budget:
            self._budget = budget
            self._buckets = {
                Airtime.UNICAST: TokenBucket(budget.unicasts_per_s, self._burst, now),
                Airtime.GROUPCAST: TokenBucket(budget.groupcasts_per_s, self._burst, now),
            }
        return budget

    def pump(self, fired_for: float | None = None) -> None:
        """Start whatever may go on air now, and set a timer for when more may.

        ``fired_for``: the time of the timer that fired. What it waited for is due, even
        where a test harness fires timers before ``loop.time()`` gets there; new timers are
        still set from ``loop.time()``, so they never run ahead of the harness.
        """
        self._pump_pending = False
        if self._stopped:
            return
        now = self._loop.time()
        due = due_at(now, fired_for)
        self._backlog.promote(due)
        budget = self._budget_now(now)
        if fired_for is not None:
            for bucket in self._buckets.values():
                if bucket.next_token_at(now) <= due:
                    bucket.grant()
        wake_at: float | None = None
        while len(self._tasks) < budget.max_in_flight:
            best: Entry | None = None
            for airtime in Airtime:
                candidate = self._backlog.first(airtime, self._busy_devices)
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
            try:
                frames = self._frames(best)
            except Exception as err:  # (values the radio cannot encode: a caller's bug)
                # That operation alone fails; the queue goes on for everyone else.
                _LOGGER.warning("An operation the radio cannot send was dropped: %r", err)
                self._backlog.withdraw(best)
                self._finish(best, error=err)
                continue
            wake_at = None
            self._buckets[best.airtime].take(now, frames)
            self._launch(best)
        if len(self._tasks) >= budget.max_in_flight:
            wake_at = None  # a finishing operation pumps again
        if (retry_at := self._backlog.next_retry_at()) is not None:
            wake_at = retry_at if wake_at is None else min(wake_at, retry_at)
        self._wake_up.set(wake_at)

    def _frames(self, entry: Entry) -> int:
        """What ``entry`` puts on air now (a queued send or read may have grown)."""
        if entry.is_read:
            return max(1, self._radio.frames_to_read(entry.attributes))
        if entry.values:
            return max(1, self._radio.frames_to_send(entry.values))
        return entry.frames

    def _launch(self, entry: Entry) -> None:
        entry.state = EntryState.ON_AIR
        entry.attempts += 1
        self._backlog.take(entry)
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

    async def _run(self, entry: Entry) -> None:
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
            self.pump()

    def _failed(self, entry: Entry, err: DeliveryError | NoResponseError) -> None:
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
        self._backlog.requeue(entry, self._loop.time())

    def _finish(
        self, entry: Entry, *, result: Any = None, error: BaseException | None = None
    ) -> None:
        self._limits.retire(entry)
        for ticket in entry.live_tickets():
            future = ticket._future
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)
