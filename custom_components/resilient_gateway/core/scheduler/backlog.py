"""What waits to go on air, for one radio: the ready operations per airtime, in order of
priority, then first come, first served; the ones backing off after a delivery failure;
the one queued operation per coalescing key, which newer requests merge into."""

from __future__ import annotations

import heapq
import random
from collections.abc import Awaitable, Callable, Collection, Container, Hashable
from typing import Any

from ..model import Attr, DeviceId
from ..policy import Backoff
from .entries import Airtime, CommandValues, Entry, EntryState, Priority, values_dict
from .limits import ClassLimits


class Backlog:
    """The queued operations (entries). A changed priority or a withdrawn entry leaves a
    stale heap item behind, skipped when it comes up."""

    def __init__(
        self, limits: ClassLimits, *, rng: random.Random, delivery_backoff: Backoff
    ) -> None:
        self._limits = limits
        self._rng = rng
        self.delivery_backoff = delivery_backoff
        self._ready: dict[Airtime, list[tuple[int, int, Entry]]] = {a: [] for a in Airtime}
        self._delayed: list[tuple[float, int, Entry]] = []
        self._by_key: dict[Hashable, Entry] = {}
        self._seq = 0
        self.queued = 0
        self.coalesced = 0

    def add(
        self,
        airtime: Airtime,
        priority: Priority,
        device_id: DeviceId | None,
        key: Hashable | None,
        run: Callable[[Entry], Awaitable[Any]],
        *,
        values: CommandValues | None,
        attributes: Collection[Attr],
        frames: int,
        limit: str | None,
    ) -> Entry:
        """A new entry, ready, behind those of its priority."""
        self._seq += 1
        entry = Entry(
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
        self.queued += 1
        heapq.heappush(self._ready[airtime], (priority, entry.seq, entry))
        return entry

    def coalescing(self, key: Hashable, priority: Priority) -> Entry | None:
        """The queued entry with ``key``, to take a new request in (at ``priority`` if
        that goes sooner), or None."""
        entry = self._by_key.get(key)
        if entry is None or entry.state not in (EntryState.READY, EntryState.DELAYED):
            return None
        self.coalesced += 1
        self._hasten(entry, priority)
        return entry

    def _hasten(self, entry: Entry, priority: Priority) -> None:
        """``entry`` at ``priority`` if that goes sooner."""
        if priority < entry.priority:
            entry.priority = priority
            if entry.state is EntryState.READY:
                # The older heap item goes stale: its priority no longer matches.
                heapq.heappush(self._ready[entry.airtime], (entry.priority, entry.seq, entry))

    def queued_read(self, device_id: DeviceId, attributes: Collection[Attr]) -> Entry | None:
        """A queued read of the device that asks for ``attributes``."""
        entry = self._by_key.get(("read", device_id))
        if (
            entry is not None
            and entry.state in (EntryState.READY, EntryState.DELAYED)
            and entry.attributes.issuperset(attributes)
        ):
            return entry
        return None

    def withdraw(self, entry: Entry) -> None:
        """Nobody wants a queued entry any more; its heap items go stale."""
        self._limits.retire(entry)
        self.queued -= 1
        if entry.key is not None and self._by_key.get(entry.key) is entry:
            del self._by_key[entry.key]

    def first(self, airtime: Airtime, busy: Container[DeviceId]) -> Entry | None:
        """The first entry of ``airtime`` that may go now (not stale, its device not
        ``busy``)."""
        heap = self._ready[airtime]
        skipped: list[tuple[int, int, Entry]] = []
        found: Entry | None = None
        while heap:
            priority, _, entry = heap[0]
            if entry.state is not EntryState.READY or entry.priority != priority:
                heapq.heappop(heap)
                continue
            if not entry.live_tickets():  # (cancelled before the ticket's callback ran)
                heapq.heappop(heap)
                self.withdraw(entry)
                continue
            if entry.device_id is not None and entry.device_id in busy:
                skipped.append(heapq.heappop(heap))
                continue
            found = entry
            break
        for item in skipped:
            heapq.heappush(heap, item)
        return found

    def take(self, entry: Entry) -> None:
        """The entry goes on air: it leaves the queue."""
        self.queued -= 1
        if entry.key is not None and self._by_key.get(entry.key) is entry:
            del self._by_key[entry.key]  # later requests queue behind, not into, this one

    def promote(self, due: float) -> None:
        """Entries whose back-off ends by ``due`` are ready again."""
        while self._delayed and self._delayed[0][0] <= due:
            _, _, entry = heapq.heappop(self._delayed)
            if entry.state is EntryState.DELAYED:
                entry.state = EntryState.READY
                heapq.heappush(self._ready[entry.airtime], (entry.priority, entry.seq, entry))

    def next_retry_at(self) -> float | None:
        """When the first back-off ends (None: nothing backs off)."""
        return self._delayed[0][0] if self._delayed else None

    def retry_now(self, now: float) -> None:
        """Every back-off ends ``now``."""
        for _, _, entry in self._delayed:
            entry.ready_at = min(entry.ready_at, now)
        self._delayed = [(entry.ready_at, seq, entry) for _, seq, entry in self._delayed]
        heapq.heapify(self._delayed)

    def requeue(self, entry: Entry, now: float) -> None:
        """Back off and try again; a newer queued request to the same key absorbs this one."""
        if not entry.live_tickets():
            self._limits.retire(entry)
            return
        newer = self._by_key.get(entry.key) if entry.key is not None else None
        if newer is not None and newer.state in (EntryState.READY, EntryState.DELAYED):
            merged = dict(entry.values)
            merged.update(newer.values)  # the newer request's values win
            newer.values = merged
            newer.attributes |= entry.attributes
            newer.attempts += entry.attempts
            assert newer.tickets is not None
            newer.tickets.extend(entry.live_tickets())
            self._hasten(newer, entry.priority)
            self._limits.retire(entry)
            for ticket in entry.live_tickets():
                ticket._entry = newer
            return
        entry.failures += 1
        entry.state = EntryState.DELAYED
        delay = self.delivery_backoff.delay(entry.failures - 1, self._rng)
        entry.ready_at = now + delay
        self.queued += 1
        if entry.key is not None:
            self._by_key[entry.key] = entry
        heapq.heappush(self._delayed, (entry.ready_at, entry.seq, entry))

    def drain(self) -> list[Entry]:
        """Empty the queue (the scheduler stops); the entries that were in it."""
        entries = [e for heap in self._ready.values() for _, _, e in heap]
        entries += [e for _, _, e in self._delayed]
        self._ready = {a: [] for a in Airtime}
        self._delayed.clear()
        self._by_key.clear()
        self.queued = 0
        return entries
