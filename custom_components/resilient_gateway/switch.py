"""Smart plugs of a gateway."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchDeviceClass, SwitchEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import GatewayCoordinator, ResilientGatewayConfigEntry
from .core.model import Attr, DeviceDescription, DeviceKind, FieldKind
from .entity import (
    GatewayEntity,
    GatewayFieldEntity,
    async_add_device_entities,
    async_add_field_entities,
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
        lambda device: [GatewayPlug(coordinator, device)] if device.kind is DeviceKind.PLUG else [],
    )
    async_add_field_entities(coordinator, async_add_entities, FieldKind.SWITCH, GatewayFieldSwitch)


class GatewayPlug(GatewayEntity, SwitchEntity):
    """A plug showing the relay state the plug itself reported."""

    _takes_commands = True
    _attr_name = None
    _attr_device_class = SwitchDeviceClass.OUTLET

    def __init__(self, coordinator: GatewayCoordinator, device: DeviceDescription) -> None:
        super().__init__(coordinator, device, "switch")

    @property
    def is_on(self) -> bool | None:
        return self.values.get(Attr.ON)

    async def async_turn_on(self, **kwargs: Any) -> None:
        await self._async_set({Attr.ON: True})

    async def async_turn_off(self, **kwargs: Any) -> None:
        await self._async_set({Attr.ON: False})


class GatewayFieldSwitch(GatewayFieldEntity, SwitchEntity):
    """An actuator a Wi-Fi node declared (``"kind": "switch"``): a write is verified by
    the node's next report showing it."""

    _takes_commands = True

    async def async_turn_on(self, **kwargs: Any) -> None:
        await self._async_set({self.field.name: True})

    async def async_turn_off(self, **kwargs: Any) -> None:
        await self._async_set({self.field.name: False})
