"""Contact sensors of a gateway."""

from __future__ import annotations

from homeassistant.components.binary_sensor import BinarySensorDeviceClass, BinarySensorEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import GatewayCoordinator, ResilientGatewayConfigEntry
from .core.model import Attr, DeviceDescription
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
        lambda device: (
            [GatewayContact(coordinator, device)] if Attr.OPEN in device.attributes else []
        ),
    )


class GatewayContact(GatewayEntity, BinarySensorEntity):
    """A door or window contact, as the sensor last reported it."""

    _attr_name = None
    _attr_device_class = BinarySensorDeviceClass.OPENING

    def __init__(self, coordinator: GatewayCoordinator, device: DeviceDescription) -> None:
        super().__init__(coordinator, device, "contact")

    @property
    def is_on(self) -> bool | None:
        return self.values.get(Attr.OPEN)
