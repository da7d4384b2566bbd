"""Device availability that is never stale: a device is online only while frames prove it.

After a start or a radio outage nothing is online until a frame or a ping answer says so
(balena's edge-node-manager kept devices "online" after a gateway restart). The timing
follows Zigbee2MQTT's availability: a device that listens at any time and stays silent for
10 minutes is pinged, pings go out one at a time a few seconds apart, and a device whose
ping failed is pinged again ever more rarely; a sleeping battery device is never pinged and
is offline after 25 hours of silence. A device that comes back (a frame after being offline
or lost in an outage, or a Device_annce after a power cut) is reported once, so the gateway
can re-read its state and re-apply what it should show.

Waiting is always a timer set from ``loop.time()``: one per device for its silence deadline
(re-armed lazily, not per frame) and one for the ping queue (``ping_queue.py``: pings one at
a time, spaced). A timer that fires delivers what it waited for even where a test harness
fires it before ``loop.time()`` gets there, as Home Assistant's does.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from .model import DeviceDescription, DeviceId, PowerSource, SleepMode
from .ping_queue import PingQueue, QueueKey
from .policy import Backoff
from .wake_up import EPSILON

_LOGGER = logging.getLogger(__name__)

_NOTHING_HEARD: Mapping[DeviceId, float] = MappingProxyType({})


class Availability(StrEnum):
    UNKNOWN = "unknown"  # not proven either way since the start or the last radio outage
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class AvailabilityPolicy:
    """How long devices may stay silent, and how much airtime pinging them may take."""

    mains_interval: float = 600.0  # a device that listens at any time, silent longer, is pinged
    battery_interval: float = 90_000.0  # a sleeper silent longer (25 h) is offline
    # Least time between two pings, so they never crowd out commands (the gateway also sends
    # them at background priority).
    ping_spacing: float = 2.0
    # Pings per second while re-confirming every device after a start or a radio outage:
    # faster than ``ping_spacing`` so availability is known within minutes, still bounded.
    reconfirm_rate: float = 4.0
    # Next ping of a device whose ping failed: offline devices keep being pinged, ever more
    # rarely, so one that comes back without announcing itself is noticed.
    ping_backoff: Backoff = field(
        default_factory=lambda: Backoff(initial=600.0, factor=2.0, maximum=3600.0, jitter=0.1)
    )

    def __post_init__(self) -> None:
        if min(self.mains_interval, self.battery_interval, self.ping_spacing) <= 0:
            raise ValueError("availability intervals and the ping spacing must be positive")
        if self.reconfirm_rate <= 0:
            raise ValueError("the re-confirmation rate must be positive")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> AvailabilityPolicy:
        """A policy from config-entry options; unknown keys are ignored, missing ones default.

        Keys (seconds): ``mains_interval``, ``battery_interval``. The mains interval is also
        the first back-off after a failed ping, so an offline device is never pinged more
        often than an online one.
        """
        policy = cls()
        mains = policy.mains_interval
        if (value := options.get("mains_interval")) is not None:
            mains = float(value)
        battery = policy.battery_interval
        if (value := options.get("battery_interval")) is not None:
            battery = float(value)
        backoff = replace(
            policy.ping_backoff, initial=mains, maximum=max(policy.ping_backoff.maximum, mains)
        )
        return replace(policy, mains_interval=mains, battery_interval=battery, ping_backoff=backoff)


def is_pinged(device: DeviceDescription) -> bool:
    """Whether silence of the device is checked by pinging it: it listens at any time.

    Mains devices are, even the rare light sleeper among them; a battery device only when
    its receiver is always on (a ping costs it nothing then). Sleepers would not hear a ping.
    """
    return device.power_source is PowerSource.MAINS or device.sleep_mode is SleepMode.ALWAYS_ON


@dataclass(slots=True, eq=False)
class _Device:
    description: DeviceDescription
    pinged: bool
    silent_since: float  # loop time from which its silence counts: its last frame, mostly
    state: Availability = Availability.UNKNOWN
    returning: bool = False  # its next frame is a return: it was offline, or lost in an outage
    reconfirm: bool = False  # its availability is re-confirmed by a ping at the faster rate
    failures: int = 0  # pings failed in a row
    retry_at: float = 0.0  # after a failed ping: when to ping again
    queue_key: QueueKey | None = None  # its place in the ping queue, while it waits there
    ping: asyncio.Task[None] | None = None  # the ping in flight
    timer: asyncio.TimerHandle | None = None  # its silence deadline (may fire early, lazily)
    timer_at: float = 0.0


class AvailabilityTracker:
    """Keeps every tracked device's availability true: frames and ping answers make it
    online, silence past its interval or an unanswered ping make it offline.

    ``ping`` asks the device for any answer and raises (any exception) when none comes;
    its timeout is the caller's. ``on_change`` hears every new availability; ``on_returned``
    hears a device that came back (power restored, rejoined, or heard again after being
    offline or lost in a radio outage), once per return.
    """

    def __init__(
        self,
        ping: Callable[[DeviceId], Awaitable[None]],
        policy: AvailabilityPolicy,
        *,
        on_change: Callable[[DeviceId, Availability], None],
        on_returned: Callable[[DeviceId], None],
        rng: random.Random | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._ping = ping
        self.policy = policy
        self._on_change = on_change
        self._on_returned = on_returned
        self._rng = rng or random.Random()
        self._devices: dict[DeviceId, _Device] = {}
        self._counts: dict[Availability, int] = dict.fromkeys(Availability, 0)
        self._started = False
        self._paused = False
        self._paused_at = 0.0
        # Bumped by every re-confirmation: a ping sent before it may have failed because of
        # the outage, not the device, so its failure does not count.
        self._epoch = 0
        self._queue = PingQueue[_Device](
            self._loop,
            spacing=policy.ping_spacing,
            reconfirm_spacing=1.0 / policy.reconfirm_rate,
            listening=self._listening,
            is_current=self._is_current,
            start_ping=self._start_ping,
        )
        self._pings: set[asyncio.Task[None]] = set()

    # -- what callers read ---------------------------------------------------------------

    def availability(self, device_id: DeviceId) -> Availability:
        device = self._devices.get(device_id)
        return Availability.UNKNOWN if device is None else device.state

    def counts(self) -> dict[Availability, int]:
        """How many tracked devices are in each availability."""
        return dict(self._counts)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the silence deadlines and the ping queue (``track`` may come before)."""
        if self._started:
            return
        self._started = True
        self._schedule_all()

    async def stop(self) -> None:
        """Cancel every timer and ping; nothing of the tracker runs afterwards."""
        self._started = False
        self._cancel_timers()
        pings = list(self._pings)
        for task in pings:
            task.cancel()
        await asyncio.gather(*pings, return_exceptions=True)

    def pause(self) -> None:
        """The radio is down or busy: no pings and no deadlines until ``resume``."""
        if self._paused:
            return
        self._paused = True
        self._paused_at = self._loop.time()
        self._cancel_timers()
        # A ping in flight would only fail for the radio's sake; resume re-confirms anyway.
        for task in list(self._pings):
            task.cancel()

    def resume(self) -> None:
        """The radio is back: everything may have changed meanwhile, so re-confirm it all."""
        if not self._paused:
            return
        self._paused = False
        now = self._loop.time()
        for device in self._devices.values():
            if not device.pinged:
                # Silence while the radio could not hear does not count against a sleeper.
                device.silent_since += now - max(device.silent_since, self._paused_at)
        self.reconfirm_all()

    # -- what the radio tells us -----------------------------------------------------------

    def track(
        self,
        devices: Iterable[DeviceDescription],
        last_heard: Mapping[DeviceId, float] = _NOTHING_HEARD,
    ) -> None:
        """Make ``devices`` the inventory: new ones are added, missing ones forgotten.

        ``last_heard``: loop time of the last frame known from before (a persisted last-seen
        time), for new devices only. A sleeper heard within its interval starts online with
        its deadline counted from that frame; one heard earlier or never starts unknown with
        its deadline counted from now (the gateway may not have been listening meanwhile).
        A pinged device always starts unknown and is re-confirmed by a ping, the one silent
        the longest first. A forgotten device is dropped without an ``on_change``.
        """
        now = self._loop.time()
        wanted = {device.device_id: device for device in devices}
        for device_id in [device_id for device_id in self._devices if device_id not in wanted]:
            self._forget(self._devices.pop(device_id))
        for device_id, description in wanted.items():
            device = self._devices.get(device_id)
            if device is None:
                self._add(description, last_heard.get(device_id), now)
            elif device.description != description:
                self._redescribe(device, description)
        self._queue.pump()

    def heard(self, device_id: DeviceId) -> None:
        """Any frame from the device: it is online."""
        if (device := self._devices.get(device_id)) is not None:
            self._heard(device, announced=False)
            self._queue.pump()

    def announced(self, device_id: DeviceId) -> None:
        """A Device_annce: it powered up or rejoined, so it lost its state even if online."""
        if (device := self._devices.get(device_id)) is not None:
            self._heard(device, announced=True)
            self._queue.pump()

    def reconfirm_all(self) -> None:
        """After a radio outage, frames may have been missed: prove every device again.

        Pinged devices become unknown and are pinged at ``reconfirm_rate``. Sleepers become
        unknown until heard or until their deadline, which still counts from their last
        frame; a sleeper already offline stays offline (it was silent past its interval while
        the radio could hear it). Whoever is heard next counts as returned.
        """
        self._epoch += 1
        for device in list(self._devices.values()):
            if not self._is_current(device):
                continue  # an on_change listener changed the inventory meanwhile
            if device.pinged:
                device.reconfirm = True
                device.failures = 0
                device.queue_key = None
            elif device.state is Availability.OFFLINE:
                continue
            device.returning = True
            self._set_state(device, Availability.UNKNOWN)
            self._schedule(device)
        self._queue.pump()

    # -- inventory ------------------------------------------------------------------------

    def _add(self, description: DeviceDescription, heard_at: float | None, now: float) -> None:
        pinged = is_pinged(description)
        heard = None if heard_at is None else min(heard_at, now)
        device = _Device(description, pinged, silent_since=now)
        self._devices[description.device_id] = device
        self._counts[device.state] += 1
        if pinged:
            # The frame is from before this start: it only orders the re-confirmation.
            if heard is not None:
                device.silent_since = heard
            device.reconfirm = True
        elif heard is not None and now - heard < self.policy.battery_interval:
            device.silent_since = heard
            self._set_state(device, Availability.ONLINE)
        self._schedule(device)

    def _redescribe(self, device: _Device, description: DeviceDescription) -> None:
        device.description = description
        pinged = is_pinged(description)
        if pinged == device.pinged:
            return
        device.pinged = pinged
        device.failures = 0
        device.queue_key = None
        # Now listening at any time: prove it by a ping unless it is known online. Now
        # sleeping: judged by the battery interval from its last frame.
        device.reconfirm = pinged and device.state is not Availability.ONLINE
        self._schedule(device)

    def _forget(self, device: _Device) -> None:
        if device.timer is not None:
            device.timer.cancel()
            device.timer = None
        if device.ping is not None:
            device.ping.cancel()
        device.queue_key = None  # its queue item is skipped when it comes up
        self._counts[device.state] -= 1

    def _is_current(self, device: _Device) -> bool:
        return self._devices.get(device.description.device_id) is device

    # -- availability -----------------------------------------------------------------------

    def _heard(self, device: _Device, *, announced: bool) -> None:
        device.silent_since = self._loop.time()
        device.failures = 0
        device.reconfirm = False
        device.queue_key = None
        returned = announced or device.returning
        device.returning = False
        self._set_state(device, Availability.ONLINE)
        if returned:
            try:
                self._on_returned(device.description.device_id)
            except Exception:
                _LOGGER.exception("Return listener failed for %s", device.description.device_id)
        self._schedule(device)

    def _set_state(self, device: _Device, state: Availability) -> None:
        if device.state is state:
            return
        self._counts[device.state] -= 1
        self._counts[state] += 1
        device.state = state
        if state is Availability.OFFLINE:
            _LOGGER.debug("Device %s is offline", device.description.device_id)
        # A listener's bug must not leave the tracker half-way through an update.
        try:
            self._on_change(device.description.device_id, state)
        except Exception:
            _LOGGER.exception("Availability listener failed for %s", device.description.device_id)

    def _ping_failed(self, device: _Device) -> None:
        device.failures += 1
        device.reconfirm = False
        delay = self.policy.ping_backoff.delay(device.failures - 1, self._rng)
        device.retry_at = self._loop.time() + delay
        device.returning = True
        self._set_state(device, Availability.OFFLINE)
        self._schedule(device)

    # -- deadlines ------------------------------------------------------------------------

    def _listening(self) -> bool:
        return self._started and not self._paused

    def _schedule_all(self) -> None:
        for device in self._devices.values():
            self._schedule(device)
        self._queue.pump()

    def _schedule(self, device: _Device) -> None:
        """Queue the device's next ping or arm its deadline, whichever applies now."""
        if device.ping is not None or device.queue_key is not None:
            return  # the answer (or the ping) schedules what follows
        if device.pinged and device.reconfirm:
            self._queue.push(device, due_at=self._loop.time(), tracked=len(self._devices))
        else:
            self._arm(device)

    def _deadline_at(self, device: _Device) -> float | None:
        if device.pinged:
            if device.ping is not None or device.queue_key is not None:
                return None
            if device.failures:
                return device.retry_at
            return device.silent_since + self.policy.mains_interval
        if device.state is Availability.OFFLINE:
            return None  # only a frame changes that
        return device.silent_since + self.policy.battery_interval

    def _arm(self, device: _Device) -> None:
        if not self._listening() or (when := self._deadline_at(device)) is None:
            return
        if device.timer is not None:
            if device.timer_at <= when + EPSILON:
                # Lazily: it fires first, finds the deadline moved and re-arms for it, so a
                # chatty device costs one timer per interval rather than one per frame.
                return
            device.timer.cancel()
        device.timer_at = when
        device.timer = self._loop.call_at(when, self._deadline_passed, device, when)

    def _deadline_passed(self, device: _Device, fired_for: float) -> None:
        device.timer = None
        if not self._is_current(device) or not self._listening():
            return
        when = self._deadline_at(device)
        if when is None:
            return
        if when > max(self._loop.time(), fired_for) + EPSILON:
            self._arm(device)
        elif device.pinged:
            self._queue.push(device, due_at=when, tracked=len(self._devices))
            self._queue.pump()
        else:
            device.returning = True
            self._set_state(device, Availability.OFFLINE)

    def _cancel_timers(self) -> None:
        self._queue.stop()
        for device in self._devices.values():
            if device.timer is not None:
                device.timer.cancel()
                device.timer = None

    # -- pings ------------------------------------------------------------------------------

    def _start_ping(self, device: _Device, now: float) -> None:
        task = self._loop.create_task(
            self._run_ping(device, self._epoch, now),
            name=f"availability ping {device.description.device_id}",
        )
        device.ping = task
        self._pings.add(task)
        task.add_done_callback(functools.partial(self._ping_ended, device))

    def _ping_ended(self, device: _Device, task: asyncio.Task[None]) -> None:
        """A ping cancelled (stopped, paused or forgotten), even one cancelled before it
        ran (its own clean-up never runs then): whatever applies now schedules it anew."""
        self._pings.discard(task)
        if device.ping is task and task.cancelled():
            device.ping = None
            if self._is_current(device):
                self._schedule(device)
                self._queue.pump()  # (a resume may have pumped before this ping ended)

    async def _run_ping(self, device: _Device, epoch: int, started: float) -> None:
        device_id = device.description.device_id
        try:
            await self._ping(device_id)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise  # (stopped, paused or forgotten: see _ping_ended)
            answered = False  # cancelled beneath us (its send was given up): no answer
        except Exception as err:
            _LOGGER.debug("Ping of %s failed: %r", device_id, err)
            answered = False
        else:
            answered = True
        device.ping = None
        if not self._is_current(device):
            return
        if answered:
            self._heard(device, announced=False)
        elif epoch != self._epoch or device.silent_since > started:
            # Sent before the last outage (which may be why it failed), or the device was
            # heard meanwhile: the failure says nothing about the device now.
            self._schedule(device)
        else:
            self._ping_failed(device)
        self._queue.pump()
