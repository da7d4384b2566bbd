"""The availability tracker's ping queue: devices waiting for their ping, one ping at a
time, spaced so pinging never crowds out commands.

The order is the tracker's key: re-confirmations first, then the earliest due (among online
devices the one silent the longest). A device's place is its ``queue_key``; a device that
leaves the queue (heard, forgotten, re-described) only has its key cleared, and its item is
skipped when it comes up. The queue's timer is set from ``loop.time()`` and, like every
timer of the tracker, delivers what it waited for even when a test harness fires it early.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Callable
from typing import Protocol

from .wake_up import WakeUp, due_at

type QueueKey = tuple[int, float, float, int]
"""(0 for a re-confirmation else 1, when it became due, when it was last heard, sequence)."""


class Queued(Protocol):
    """What the queue needs of a device: its place, while it waits."""

    queue_key: QueueKey | None
    reconfirm: bool  # its availability is re-confirmed at the faster rate
    silent_since: float


class PingQueue[D: Queued]:
    """Devices waiting for a ping; ``pump`` starts the next one (``start_ping``) once its
    spacing from the last ping has passed, and sets the timer for the one after."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        spacing: float,
        reconfirm_spacing: float,
        listening: Callable[[], bool],
        is_current: Callable[[D], bool],
        start_ping: Callable[[D, float], None],
    ) -> None:
        """``spacing``: least seconds between two pings; ``reconfirm_spacing``: the same
        before a re-confirmation's ping; ``listening``: pings may go out (started, not
        paused); ``is_current``: the device is still tracked; ``start_ping(device, now)``:
        the device left the queue, ping it now."""
        self._loop = loop
        self._listening = listening
        self._ping_spacing = spacing
        self._reconfirm_spacing = reconfirm_spacing
        self._is_current = is_current
        self._start_ping = start_ping
        self._queue: list[tuple[QueueKey, D]] = []
        self._sequence = itertools.count()
        self._wake_up = WakeUp(loop, lambda when: self.pump(fired_for=when))
        self._last_ping_at = -math.inf

    def push(self, device: D, *, due_at: float, tracked: int) -> None:
        """Queue ``device``, due at ``due_at`` (``tracked``: how many devices the tracker
        has, to know when stale items are worth dropping)."""
        # Re-confirmations first; then the earliest due, which among online devices is the
        # one silent the longest, while an offline one takes its turn when its back-off ends.
        key = (0 if device.reconfirm else 1, due_at, device.silent_since, next(self._sequence))
        device.queue_key = key
        heapq.heappush(self._queue, (key, device))
        if len(self._queue) > 2 * tracked + 16:
            # Frames took many waiting devices out of the queue: drop their stale items.
            self._queue = [item for item in self._queue if self._waits(*item)]
            heapq.heapify(self._queue)

    def pump(self, fired_for: float | None = None) -> None:
        """Start the next ping if its spacing has passed, and set a timer for the one after.

        ``fired_for``: the time of the queue timer that fired; what it waited for is due.
        """
        if not self._listening() or (head := self._head()) is None:
            self.stop()
            return
        now = self._loop.time()
        due = due_at(now, fired_for)
        if self._last_ping_at + self._spacing(head) <= due:
            heapq.heappop(self._queue)
            head.queue_key = None
            self._last_ping_at = now
            self._start_ping(head, now)
            if (head := self._head()) is None:
                self.stop()
                return
        self._wake_up.set(self._last_ping_at + self._spacing(head))

    def stop(self) -> None:
        """No timer until the next ``pump`` (the queued devices stay queued)."""
        self._wake_up.set(None)

    def _waits(self, key: QueueKey, device: D) -> bool:
        return device.queue_key == key and self._is_current(device)

    def _head(self) -> D | None:
        while self._queue:
            key, device = self._queue[0]
            if self._waits(key, device):
                return device
            heapq.heappop(self._queue)
        return None

    def _spacing(self, device: D) -> float:
        return self._reconfirm_spacing if device.reconfirm else self._ping_spacing
