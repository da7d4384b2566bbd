"""The send scheduler's face: what callers ask for, turned into queued operations."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Collection, Hashable, Mapping
from typing import Any

from ..model import Attr, DeviceId
from ..policy import Backoff
from ..radio import NoResponseError, Radio, RadioBudget
from .backlog import Backlog
from .entries import (
    Airtime,
    CommandValues,
    Entry,
    OnAttempt,
    Priority,
    SchedulerStats,
    Ticket,
    values_dict,
)
from .limits import ClassLimits
from .pump import AirPump


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
        class_limits = ClassLimits(limits or {})
        self._backlog = Backlog(
            class_limits,
            rng=rng or random.Random(),
            delivery_backoff=delivery_backoff
            or Backoff(initial=0.5, factor=2.0, maximum=30.0, jitter=0.25),
        )
        self._pump = AirPump(radio, self._backlog, class_limits, burst=burst)

    @property
    def budget(self) -> RadioBudget:
        """The radio's budget the queue keeps to."""
        return self._radio.budget

    def frames_to_read(self, attributes: Collection[Attr]) -> int:
        """Request frames (each with its own answer) a read of ``attributes`` takes."""
        return max(1, self._radio.frames_to_read(attributes))

    @property
    def delivery_backoff(self) -> Backoff:
        """How long an operation backs off after a delivery failure before it is sent again."""
        return self._backlog.delivery_backoff

    @delivery_backoff.setter
    def delivery_backoff(self, backoff: Backoff) -> None:
        self._backlog.delivery_backoff = backoff

    # ---- requests -------------------------------------------------------------------

    def _values_entry(
        self,
        airtime: Airtime,
        device_id: DeviceId | None,
        key: Hashable,
        run: Callable[[Entry], Awaitable[Any]],
        *,
        values: CommandValues,
        transition: float | None,
        priority: Priority,
    ) -> Entry:
        """The queued command with ``key`` absorbing ``values``, or a new one."""
        entry = self._backlog.coalescing(key, priority)
        if entry is not None:
            entry.values.update(values_dict(values))
        else:
            entry = self._pump.new_entry(airtime, priority, device_id, key, run, values=values)
        entry.transition = transition
        return entry

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

        async def run(entry: Entry) -> None:
            await self._radio.send(device_id, dict(entry.values), transition=entry.transition)

        entry = self._values_entry(
            Airtime.UNICAST,
            device_id,
            ("send", device_id),
            run,
            values=values,
            transition=transition,
            priority=priority,
        )
        return self._pump.issue(entry, on_attempt)

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

        async def run(entry: Entry) -> dict[Attr, Any]:
            try:
                async with asyncio.timeout(timeout):
                    return await self._radio.read(device_id, sorted(entry.attributes))
            except TimeoutError as err:
                raise NoResponseError(f"{device_id} did not answer a read") from err

        entry = self._backlog.coalescing(("read", device_id), priority)
        if entry is not None:
            entry.attributes.update(attributes)
        elif (on_air := self._pump.read_on_air(device_id, attributes)) is not None:
            return self._pump.share(on_air, on_attempt, retry_delivery=retry_delivery)
        else:
            entry = self._pump.new_entry(
                Airtime.UNICAST,
                priority,
                device_id,
                ("read", device_id),
                run,
                attributes=attributes,
                limit=limit,
            )
            entry.is_read = True
        return self._pump.issue(entry, on_attempt, retry_delivery=retry_delivery)

    def read_under_way(
        self, device_id: DeviceId, attributes: Collection[Attr]
    ) -> Ticket[dict[Attr, Any]] | None:
        """A ticket for the answer of a read of ``attributes`` already queued or on air for
        the device, or None when there is none; that read's priority stays as it is."""
        entry = self._pump.read_entry(device_id, attributes)
        if entry is None:
            return None
        return self._pump.issue(entry, None)

    def is_reading(self, device_id: DeviceId, attributes: Collection[Attr]) -> bool:
        """Whether a read of ``attributes`` is queued or on air for the device."""
        return self._pump.read_entry(device_id, attributes) is not None

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

        async def run(entry: Entry) -> None:
            await self._radio.send_group(group_id, dict(entry.values), transition=entry.transition)

        entry = self._values_entry(
            Airtime.GROUPCAST,
            None,
            ("group", group_id),
            run,
            values=values,
            transition=transition,
            priority=priority,
        )
        return self._pump.issue(entry, on_attempt)

    def recall_scene(
        self,
        group_id: int,
        scene_id: int,
        *,
        priority: Priority = Priority.USER,
        on_attempt: OnAttempt | None = None,
    ) -> Ticket[None]:
        """One scene-recall groupcast (never coalesced: each recall is its own request)."""

        async def run(_: Entry) -> None:
            await self._radio.recall_scene(group_id, scene_id)

        entry = self._pump.new_entry(Airtime.GROUPCAST, priority, None, None, run)
        return self._pump.issue(entry, on_attempt)

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

        async def run(_: Entry) -> None:
            await self._radio.store_scene(device_id, group_id, scene_id, stored)

        entry = self._pump.new_entry(Airtime.UNICAST, priority, device_id, None, run)
        return self._pump.issue(entry, None)

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

        async def run(_: Entry) -> T:
            return await operation()

        entry = self._pump.new_entry(
            airtime, priority, device_id, None, run, frames=frames, limit=limit
        )
        return self._pump.issue(entry, None, retry_delivery=retry_delivery)

    def retry_now(self) -> None:
        """Retry operations backing off after delivery failures at once (the radio is back)."""
        self._pump.retry_now()

    @property
    def stats(self) -> SchedulerStats:
        return self._pump.stats

    async def stop(self) -> None:
        """Cancel the timer, everything on air and every queued request."""
        await self._pump.stop()
