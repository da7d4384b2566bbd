"""Momentary things devices tell (a button pressed), as event entities: one per event a
device's description names, with the event types it can say."""

from __future__ import annotations

from homeassistant.components.event import EventDeviceClass, EventEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import GatewayCoordinator, ResilientGatewayConfigEntry
from .core.model import DeviceDescription, EventDescription
from .core.radio import DeviceEvent
from .entity import GatewayEntity, async_add_device_entities

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ResilientGatewayConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    coordinator = entry.runtime_data
    async_add_device_entities(
        coordinator,
        async_add_entities,
        lambda device: [
            GatewayDeviceEvent(coordinator, device, description) for description in device.events
        ],
    )


class GatewayDeviceEvent(GatewayEntity, EventEntity):
    """A device's button: an event each time the device tells of it (never a state the
    gateway keeps or verifies)."""

    _attr_device_class = EventDeviceClass.BUTTON

    def __init__(
        self,
        coordinator: GatewayCoordinator,
        device: DeviceDescription,
        description: EventDescription,
    ) -> None:
        super().__init__(coordinator, device, f"event-{description.name}")
        self.description = description
        self._attr_translation_key = description.name
        self._attr_event_types = list(description.types)

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                self.coordinator.event_signal(self.device.device_id),
                self._async_device_event,
            )
        )

    @callback
    def _async_device_event(self, event: DeviceEvent) -> None:
        if event.subtype != self.description.name or event.value not in self.event_types:
            return
        self._trigger_event(event.value)
        self.async_write_ha_state()
