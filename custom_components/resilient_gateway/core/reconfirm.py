"""State reads that prove what devices show: after a start or an outage, after a join,
when a device returns from silence, and a sleeper's first wake."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Coroutine
from typing import Any

from .availability import is_pinged
from .changes import ChangeEngine
from .inventory import Inventory
from .model import Attr, DeviceId, SleepMode
from .policy import REFRESH_READ_TIMEOUT, SLEEPER
from .radio import RadioError, RadioLink
from .scheduler import ClassLimitReached, Priority, SendScheduler, Ticket
from .values import DeviceValues

_LOGGER = logging.getLogger(__name__)


class Reconfirmation:
    """Reads each device's state when what it showed is unknown or no longer trusted,
    one read per need (a read under way is joined, not repeated)."""

    def __init__(
        self,
        scheduler: SendScheduler,
        engine: Callable[[], ChangeEngine | None],
        inventory: Inventory,
        values: DeviceValues,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        *,
        radio: RadioLink,
        active: Callable[[], bool],
    ) -> None:
        """``engine``: the started gateway's (None before); ``active``: whether reads
        make sense now (the gateway runs and its radio is up)."""
        self._scheduler = scheduler
        self._engine = engine
        self._inventory = inventory
        self._values = values
        self._spawn = spawn
        self._radio = radio
        self._active = active
        # Sleepers read (or being read) since their values were last cleared: a sleeper is
        # read once when first heard, as it is never pinged or refreshed (see introduce).
        self._introduced: set[DeviceId] = set()

    def knows_state(self, device_id: DeviceId) -> bool:
        """Whether the device has shown its whole state since it (or the radio) was last
        away: values are cleared then, so these came since."""
        device = self._inventory.description(device_id)
        return device is not None and not self._values.missing(device_id, device.attributes)

    async def radio_started(self, *, pings_reconfirm: bool = False) -> None:
        """The radio runs (again): take its inventory in, re-confirm every device (see
        ``every_device``) and send at once what waited for the radio."""
        self._inventory.take()
        self.every_device(pings_reconfirm=pings_reconfirm)
        self._scheduler.retry_now()

    def radio_back(self, pings_reconfirm: bool) -> None:
        """The radio is back from an outage: ``radio_started`` in the background."""
        self._spawn(self.radio_started(pings_reconfirm=pings_reconfirm))

    def every_device(self, *, pings_reconfirm: bool = False) -> None:
        """The radio runs (again): read every device (unless the availability tracker's
        pings read it anyway)."""
        for device in self._inventory.devices.values():
            if not (pings_reconfirm and is_pinged(device)):
                self.refresh(device.device_id)

    def joined(self, device_ids: Collection[DeviceId]) -> None:
        """Devices that just joined have shown little (reports come on change, battery
        hourly): read their whole state once. (Sleepers: when they are next heard.)"""
        if self._engine() is None or not self._active():
            return
        for device_id in device_ids:
            self.refresh(device_id)

    def refresh(self, device_id: DeviceId) -> None:
        """Ask an awake device for its state, in the background (sleepers report by
        themselves when they wake)."""
        device = self._inventory.description(device_id)
        if device is None or device.sleep_mode is SleepMode.SLEEPY or not device.attributes:
            return
        scheduler = self._scheduler
        if scheduler.is_reading(device_id, device.attributes):
            return  # one is under way
        ticket = scheduler.read(
            device.device_id,
            device.attributes,
            priority=Priority.BACKGROUND,
            timeout=REFRESH_READ_TIMEOUT,
        )
        ticket.add_done_callback(_log_failed_refresh)

    def returned(self, device_id: DeviceId) -> None:
        """Back after silence or a power loss: read its state and, once known, re-apply
        the desired state where the device drifted (lights come back on after power)."""
        device = self._inventory.description(device_id)
        if device is None or self._engine() is None or not device.attributes:
            return
        if device.sleep_mode is SleepMode.SLEEPY:
            # Asleep again before a read could reach it; it reports what it shows, and the
            # engine sends it what it must change when it next wakes.
            return

        def reassert(done: Ticket[Any]) -> None:
            if done.cancelled() or done.exception() is not None:
                return
            if (engine := self._engine()) is not None:
                engine.reassert(device_id, self._values.get(device_id))

        scheduler = self._scheduler
        # A read under way (a ping, a re-confirmation) is waited for, not repeated: its
        # answer arrives cluster by cluster, and the first cluster is what brought it back.
        if (under_way := scheduler.read_under_way(device_id, device.attributes)) is not None:
            under_way.add_done_callback(reassert)
            return
        if self.knows_state(device_id):
            if (engine := self._engine()) is not None:
                engine.reassert(device_id, self._values.get(device_id))
            return
        ticket = scheduler.read(
            device_id, device.attributes, priority=Priority.REPAIR, timeout=REFRESH_READ_TIMEOUT
        )
        ticket.add_done_callback(reassert)

    async def ping(self, device_id: DeviceId) -> None:
        """Availability's question: a state read where there is state (so a returning
        device's state is re-confirmed with the same frame), else the radio's ping."""
        # Tried once: an unpowered device (which acknowledges nothing) must fail its ping.
        device = self._inventory.description(device_id)
        if device is not None and device.attributes:
            # (The answer reaches the gateway as attribute events, as every read does.)
            await self._scheduler.read(
                device_id, device.attributes, timeout=REFRESH_READ_TIMEOUT, retry_delivery=False
            )
        else:
            await self._scheduler.call(
                lambda: self._radio.ping(device_id), device_id=device_id, retry_delivery=False
            )

    def introduce(self, device_id: DeviceId) -> None:
        """A sleeper heard for the first time since the start, its join or the last radio
        outage: read what it has not shown yet while it is awake. Sleepers report their
        readings only when they change and their battery only hourly, so without this
        they would show nothing for up to hours (and they are never pinged or read at a
        start). One read per sleeper and occasion; one that dozed off is tried again at
        its next wake."""
        device = self._inventory.description(device_id)
        if (
            device is None
            or device.sleep_mode is not SleepMode.SLEEPY
            or device_id in self._introduced
            or self._engine() is None
            or not self._active()
        ):
            return
        missing = self._values.missing(device_id, device.attributes)
        if missing and self._scheduler.is_reading(device_id, missing):
            return  # (its answer brings them)
        self._introduced.add(device_id)
        if missing:
            self._spawn(self._read_awake_sleeper(device_id, sorted(missing)))

    async def _read_awake_sleeper(self, device_id: DeviceId, attributes: list[Attr]) -> None:
        # Like a sleeper's configuration: urgent while it is awake, tried once per wake,
        # by a few sleepers at a time (one that dozed off holds a frame slot meanwhile).
        try:
            await self._scheduler.read(
                device_id,
                attributes,
                priority=Priority.USER,
                timeout=REFRESH_READ_TIMEOUT,
                retry_delivery=False,
                limit=SLEEPER,
            )
        except ClassLimitReached:
            self._introduced.discard(device_id)  # its next wake, then
        except RadioError as exc:
            _LOGGER.debug("Reading %s while awake failed: %s", device_id, exc)
            self._introduced.discard(device_id)

    def forget(self, device_id: DeviceId | None = None) -> None:
        """What the device (or every device) showed was dropped: a sleeper is introduced
        (read when awake) again."""
        if device_id is None:
            self._introduced.clear()
        else:
            self._introduced.discard(device_id)


def _log_failed_refresh(ticket: Ticket[dict[Attr, Any]]) -> None:
    if not ticket.cancelled() and (error := ticket.exception()) is not None:
        _LOGGER.debug("Background state read failed: %s", error)
