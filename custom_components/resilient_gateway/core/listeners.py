"""What the gateway tells its users (entities, services, the benchmark): the
``GatewayListener`` they implement, and ``Listeners``, the fan-out to every one of them."""

from __future__ import annotations

from .change_results import ChangeCounts, ChangeResult
from .health import HealthEvent
from .model import DeviceId
from .radio import DeviceEvent, LinkState
from .snapshot import SnapshotInfo
from .storage import SetAside


class GatewayListener:
    """What the gateway tells its users (entities, services, the benchmark); override
    what you need."""

    def device_updated(self, device_id: DeviceId) -> None:
        """The device's values, sync state or availability moved."""

    def inventory_changed(self) -> None:
        """Devices, groups or scenes were added or removed."""

    def radio_state_changed(self, state: LinkState) -> None:
        """The radio link went up or down."""

    def health_changed(self, event: HealthEvent) -> None:
        """The radio's status moved (ok, degraded, recovering, failed over, failed)."""

    def run_status_changed(self) -> None:
        """Pause or resume was asked for, or took effect."""

    def change_finished(self, result: ChangeResult) -> None:
        """A change verified, failed or was superseded."""

    def counts_changed(self, counts: ChangeCounts) -> None:
        """The number of pending or failed changes moved."""

    def snapshot_taken(self, info: SnapshotInfo) -> None:
        """A snapshot was written."""

    def device_configured(self, device_id: DeviceId) -> None:
        """The device holds its groups, scene entries, bindings and reporting (written
        by a restore, or when a sleeper woke)."""

    def file_set_aside(self, event: SetAside) -> None:
        """A damaged start-up file was renamed out of the way (kept, never overwritten);
        the gateway started with what could be recovered from it."""

    def device_event(self, event: DeviceEvent) -> None:
        """A momentary event from a device (a button press), told once as it happened."""


class Listeners(GatewayListener):
    """Tells every registered listener (the gateway's one fan-out)."""

    def __init__(self) -> None:
        self.registered: list[GatewayListener] = []

    def _all(self) -> tuple[GatewayListener, ...]:
        return tuple(self.registered)  # (a listener may leave while being told)

    def device_updated(self, device_id: DeviceId) -> None:
        for listener in self._all():
            listener.device_updated(device_id)

    def inventory_changed(self) -> None:
        for listener in self._all():
            listener.inventory_changed()

    def radio_state_changed(self, state: LinkState) -> None:
        for listener in self._all():
            listener.radio_state_changed(state)

    def health_changed(self, event: HealthEvent) -> None:
        for listener in self._all():
            listener.health_changed(event)

    def run_status_changed(self) -> None:
        for listener in self._all():
            listener.run_status_changed()

    def change_finished(self, result: ChangeResult) -> None:
        for listener in self._all():
            listener.change_finished(result)

    def counts_changed(self, counts: ChangeCounts) -> None:
        for listener in self._all():
            listener.counts_changed(counts)

    def snapshot_taken(self, info: SnapshotInfo) -> None:
        for listener in self._all():
            listener.snapshot_taken(info)

    def device_configured(self, device_id: DeviceId) -> None:
        for listener in self._all():
            listener.device_configured(device_id)

    def file_set_aside(self, event: SetAside) -> None:
        for listener in self._all():
            listener.file_set_aside(event)

    def device_event(self, event: DeviceEvent) -> None:
        for listener in self._all():
            listener.device_event(event)
