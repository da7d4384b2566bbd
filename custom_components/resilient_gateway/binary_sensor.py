"""Contact sensors of a gateway."""

from __future__ import annotations

from homeassistant.components.binary_sensor import BinarySensorDeviceClass, BinarySensorEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import GatewayCoordinator, ResilientGatewayConfigEntry
from .core.model import Attr, DeviceDescription, FieldDescription, FieldKind
from .entity import (
    GatewayEntity,
    GatewayFieldEntity,
    async_add_device_entities,
    async_add_field_entities,
    known_device_class,
)

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
    async_add_field_entities(
        coordinator, async_add_entities, FieldKind.BINARY, GatewayFieldBinarySensor
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


class GatewayFieldBinarySensor(GatewayFieldEntity, BinarySensorEntity):
    """A boolean a Wi-Fi node reports (its ``_meta`` may give a device class)."""

    def __init__(
        self, coordinator: GatewayCoordinator, device: DeviceDescription, field: FieldDescription
    ) -> None:
        super().__init__(coordinator, device, field)
        self._attr_device_class = known_device_class(BinarySensorDeviceClass, field.device_class)
