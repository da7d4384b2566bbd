"""Numbers a gateway's devices can be told: a Wi-Fi node's declared ``number`` fields."""

from __future__ import annotations

from typing import Any

from homeassistant.components.number import NumberEntity, NumberMode
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import ResilientGatewayConfigEntry
from .core.model import FieldKind
from .entity import GatewayFieldEntity, async_add_field_entities

PARALLEL_UPDATES = 0

# A node tells no range: the box takes what a micro-controller's number can hold.
FIELD_LIMIT = 1_000_000_000


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ResilientGatewayConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    coordinator = entry.runtime_data
    async_add_field_entities(coordinator, async_add_entities, FieldKind.NUMBER, GatewayFieldNumber)


class GatewayFieldNumber(GatewayFieldEntity, NumberEntity):
    """A number a Wi-Fi node declared it takes (``"kind": "number"``): a write is
    verified by the node's next report showing it."""

    _takes_commands = True
    _attr_mode = NumberMode.BOX
    _attr_native_min_value = -FIELD_LIMIT
    _attr_native_max_value = FIELD_LIMIT
    _attr_native_step = 0.001

    @property
    def native_unit_of_measurement(self) -> str | None:
        return self.field.unit

    @property
    def native_value(self) -> Any:
        return self.field_value

    async def async_set_native_value(self, value: float) -> None:
        # A whole number goes as one (a micro-controller's code may compare ints).
        await self._async_set({self.field.name: int(value) if value.is_integer() else value})
