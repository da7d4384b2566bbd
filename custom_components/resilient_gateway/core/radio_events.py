"""What the radio hears, taken in: each report, frame, announce and link change goes to
the values devices show, the change engine's verification, each device's availability,
re-confirmation and the configurer (a sleeper is awake), and ends in one
``device_updated`` to the gateway's listeners per event; a new inventory goes to the
availability tracker, re-confirmation (devices that joined), snapshots and the listeners."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

from .availability import Availability, AvailabilityTracker
from .changes import ChangeEngine
from .configuration import DeviceConfigurer
from .health import Supervision
from .inventory import Inventory
from .listeners import GatewayListener
from .model import AttributeValues, DeviceId
from .radio import LinkState
from .reconfirm import Reconfirmation
from .values import DeviceValues

_LOGGER = logging.getLogger(__name__)


class DeviceUpdates:
    """``device_updated`` to the listeners, once per radio event for the device it is
    about: whatever a report moves (its values, the change it verified, the sync state,
    the availability), the device's entities write their state once."""

    def __init__(self, listeners: GatewayListener) -> None:
        self._listeners = listeners
        self._handling: DeviceId | None = None
        self._moved = False

    def moved(self, device_id: DeviceId) -> None:
        if device_id == self._handling:
            self._moved = True  # told once, when the event is handled
        else:
            self._listeners.device_updated(device_id)

    @contextlib.contextmanager
    def once(self, device_id: DeviceId) -> Iterator[None]:
        """While the radio's event for ``device_id`` is handled."""
        self._handling, self._moved = device_id, False
        try:
            yield
        finally:
            self._handling = None
        if self._moved:
            self._listeners.device_updated(device_id)


class RadioEvents:
    """Routes what the radio tells the gateway (its ``RadioListener`` calls) to the pieces
    that act on it, and forgets what devices showed when that can no longer be trusted."""

    def __init__(
        self,
        values: DeviceValues,
        availability: AvailabilityTracker,
        reconfirmation: Reconfirmation,
        *,
        inventory: Inventory,
        configurer: DeviceConfigurer,
        supervision: Supervision,
        engine: Callable[[], ChangeEngine | None],
        listeners: GatewayListener,
        updates: DeviceUpdates,
        supervised: Callable[[], bool],
        snapshot_soon: Callable[[], None],
    ) -> None:
        """``engine``: the started gateway's (None before); ``supervised``: the gateway
        wants its radio running (not paused), so a lost link is the supervisor's to mend;
        ``snapshot_soon``: a meaningful change happened."""
        self._values = values
        self._inventory = inventory
        self._availability = availability
        self._reconfirmation = reconfirmation
        self._configurer = configurer
        self._supervision = supervision
        self._engine = engine
        self._listeners = listeners
        self._updates = updates
        self._supervised = supervised
        self._snapshot_soon = snapshot_soon

    def attributes_reported(self, device_id: DeviceId, values: AttributeValues) -> None:
        with self._updates.once(device_id):
            self._heard(device_id)
            if not values:
                return
            self._values.update(device_id, values)
            self._updates.moved(device_id)
            if (engine := self._engine()) is not None:
                engine.attributes_reported(device_id, values)
        self._reconfirmation.introduce(device_id)

    def device_seen(self, device_id: DeviceId) -> None:
        with self._updates.once(device_id):
            self._heard(device_id)
            if (engine := self._engine()) is None:
                return
            engine.device_seen(device_id)
        self._configurer.device_awake(device_id)
        self._reconfirmation.introduce(device_id)

    def device_announced(self, device_id: DeviceId) -> None:
        _LOGGER.debug("Device %s announced itself", device_id)
        with self._updates.once(device_id):
            self._heard(device_id, announced=True)
            if (engine := self._engine()) is not None:
                engine.device_announced(device_id)

    def radio_state_changed(self, state: LinkState) -> None:
        if state is LinkState.DOWN:
            # Nothing the devices showed before the outage can be trusted any more.
            self._forget()
            if self._supervised():
                self._supervision.link_lost()
        self._listeners.radio_state_changed(state)
        self._every_device_updated()

    def inventory_taken(self, new_devices: set[DeviceId], changed: bool) -> None:
        """The inventory's news (``changed``: devices or groups differ)."""
        self._availability.track(self._inventory.devices.values())
        if changed:  # a join, a leave, a new group member: worth a snapshot
            self._snapshot_soon()
        self._listeners.inventory_changed()
        self._reconfirmation.joined(new_devices)

    def availability_changed(self, device_id: DeviceId, availability: Availability) -> None:
        """The availability tracker's news."""
        if availability is not Availability.ONLINE:
            self._forget(device_id)
        self._updates.moved(device_id)

    def radio_released(self) -> None:
        """The radio was closed on purpose (a pause): what devices showed is unknown."""
        self._forget()
        self._every_device_updated()

    def _heard(self, device_id: DeviceId, *, announced: bool = False) -> None:
        self._values.heard(device_id)
        # (An announce is a return by itself: availability.heard would report it twice.)
        if announced:
            self._availability.announced(device_id)
        else:
            self._availability.heard(device_id)

    def _forget(self, device_id: DeviceId | None = None) -> None:
        """What one device (or every device) showed can no longer be trusted: it must
        show it again, and a sleeper is introduced (read when awake) again."""
        self._values.forget(device_id)
        self._reconfirmation.forget(device_id)

    def _every_device_updated(self) -> None:
        for device_id in self._inventory.devices:
            self._listeners.device_updated(device_id)
