"""Lights and light groups of a gateway."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.components.light import (
    ATTR_BRIGHTNESS,
    ATTR_COLOR_TEMP_KELVIN,
    ATTR_TRANSITION,
    ATTR_XY_COLOR,
    ColorMode,
    LightEntity,
    LightEntityFeature,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import color as color_util

from .const import ATTR_SYNC, LIGHT_MAX_KELVIN, LIGHT_MIN_KELVIN
from .coordinator import GatewayCoordinator, ResilientGatewayConfigEntry
from .core.availability import Availability
from .core.change_results import combined_sync
from .core.model import Attr, DeviceDescription, DeviceKind, GroupDescription
from .entity import (
    GatewayEntity,
    async_add_device_entities,
    async_add_new_entities,
    renamed_in_place,
)

PARALLEL_UPDATES = 0
ZIGBEE_MAX_LEVEL = 254


def to_ha_brightness(level: int) -> int:
    return round(level * 255 / ZIGBEE_MAX_LEVEL)


def to_zigbee_level(brightness: int) -> int:
    return max(1, round(brightness * ZIGBEE_MAX_LEVEL / 255))


def light_values(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The neutral values a light.turn_on call asks for."""
    values: dict[str, Any] = {Attr.ON: True}
    if (brightness := kwargs.get(ATTR_BRIGHTNESS)) is not None:
        values[Attr.BRIGHTNESS] = to_zigbee_level(brightness)
    if (kelvin := kwargs.get(ATTR_COLOR_TEMP_KELVIN)) is not None:
        values[Attr.COLOR_TEMP] = color_util.color_temperature_kelvin_to_mired(kelvin)
    if (xy := kwargs.get(ATTR_XY_COLOR)) is not None:
        values[Attr.XY] = (round(xy[0], 4), round(xy[1], 4))
    return values


def color_modes(attributes: frozenset[Attr]) -> set[ColorMode]:
    modes: set[ColorMode] = set()
    if Attr.XY in attributes:
        modes.add(ColorMode.XY)
    if Attr.COLOR_TEMP in attributes:
        modes.add(ColorMode.COLOR_TEMP)
    if not modes:
        modes.add(ColorMode.BRIGHTNESS if Attr.BRIGHTNESS in attributes else ColorMode.ONOFF)
    return modes


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
            [GatewayLight(coordinator, device)] if device.kind is DeviceKind.LIGHT else []
        ),
    )
    async_add_new_entities(
        coordinator,
        async_add_entities,
        lambda: coordinator.gateway.groups.values(),  # noqa: PLW0108 (a new dict each refresh)
        lambda group: group.group_id,
        lambda group: [GatewayGroupLight(coordinator, group)],
    )


class GatewayLight(GatewayEntity, LightEntity):
    """A light showing the state the bulb itself reported."""

    _takes_commands = True
    _attr_name = None
    _attr_supported_features = LightEntityFeature.TRANSITION

    def __init__(self, coordinator: GatewayCoordinator, device: DeviceDescription) -> None:
        super().__init__(coordinator, device, "light")
        self._attr_supported_color_modes = color_modes(device.attributes)
        self._attr_min_color_temp_kelvin = LIGHT_MIN_KELVIN
        self._attr_max_color_temp_kelvin = LIGHT_MAX_KELVIN

    @property
    def is_on(self) -> bool | None:
        return self.values.get(Attr.ON)

    @property
    def brightness(self) -> int | None:
        level = self.values.get(Attr.BRIGHTNESS)
        return None if level is None else to_ha_brightness(level)

    @property
    def color_temp_kelvin(self) -> int | None:
        mireds = self.values.get(Attr.COLOR_TEMP)
        return None if not mireds else color_util.color_temperature_mired_to_kelvin(mireds)

    @property
    def xy_color(self) -> tuple[float, float] | None:
        xy = self.values.get(Attr.XY)
        return None if xy is None else (float(xy[0]), float(xy[1]))

    @property
    def color_mode(self) -> ColorMode:
        modes = self._attr_supported_color_modes or {ColorMode.ONOFF}
        if ColorMode.XY in modes and (
            ColorMode.COLOR_TEMP not in modes or Attr.COLOR_TEMP not in self.values
        ):
            return ColorMode.XY
        return next(iter(sorted(modes)))

    async def async_turn_on(self, **kwargs: Any) -> None:
        await self._async_set(light_values(kwargs), kwargs.get(ATTR_TRANSITION))

    async def async_turn_off(self, **kwargs: Any) -> None:
        await self._async_set({Attr.ON: False}, kwargs.get(ATTR_TRANSITION))


class GatewayGroupLight(LightEntity):
    """A radio group of lights: one groupcast, state computed from its members' reports."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _attr_supported_features = LightEntityFeature.TRANSITION
    _attr_color_mode = ColorMode.BRIGHTNESS
    _attr_supported_color_modes = {ColorMode.BRIGHTNESS}

    def __init__(self, coordinator: GatewayCoordinator, group: GroupDescription) -> None:
        self.coordinator = coordinator
        self.group_id = group.group_id
        self._attr_name = group.name
        self._attr_unique_id = coordinator.group_unique_id(group.group_id)
        self._unsubscribe_members: list[Callable[[], None]] = []
        self._attr_device_info = coordinator.gateway_device_info

    @property
    def radio_group(self) -> GroupDescription:
        """The group as the radio knows it now (members come and go)."""
        return self.coordinator.gateway.groups.get(
            self.group_id, GroupDescription(self.group_id, str(self.name))
        )

    @property
    def available(self) -> bool:
        """As its members: available unless every member is known to be unreachable.
        While the radio is down it stays available, so its commands queue (Home Assistant
        drops service calls to unavailable entities)."""
        gateway = self.coordinator.gateway
        members = self.radio_group.members
        return not members or any(
            gateway.device_availability(member) is not Availability.OFFLINE for member in members
        )

    def _member_values(self) -> list[dict[str, Any]]:
        gateway = self.coordinator.gateway
        return [gateway.values(member) for member in self.radio_group.members]

    @property
    def is_on(self) -> bool | None:
        states = [values.get(Attr.ON) for values in self._member_values()]
        if not any(state is not None for state in states):
            return None
        return any(states)

    @property
    def brightness(self) -> int | None:
        levels = [
            values[Attr.BRIGHTNESS]
            for values in self._member_values()
            if values.get(Attr.ON) and values.get(Attr.BRIGHTNESS) is not None
        ]
        return to_ha_brightness(round(sum(levels) / len(levels))) if levels else None

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        gateway = self.coordinator.gateway
        sync = combined_sync(gateway.sync_state(member) for member in self.radio_group.members)
        return {"members": len(self.radio_group.members), ATTR_SYNC: sync}

    @callback
    def async_entity_id_changed(self, old_entity_id: str) -> None:
        renamed_in_place(super(), old_entity_id)

    async def async_added_to_hass(self) -> None:
        self._follow_members()
        self.async_on_remove(self.coordinator.async_subscribe_inventory(self._members_changed))
        self.async_on_remove(self._unfollow_members)

    def _follow_members(self) -> None:
        """Listen to the members only: a report elsewhere cannot change the group."""
        self._unsubscribe_members = [
            self.coordinator.async_subscribe_device(member, self._handle_update)
            for member in self.radio_group.members
        ]

    def _unfollow_members(self) -> None:
        for unsubscribe in self._unsubscribe_members:
            unsubscribe()
        self._unsubscribe_members = []

    @callback
    def _members_changed(self) -> None:
        self._unfollow_members()
        self._follow_members()
        self.async_write_ha_state()

    @callback
    def _handle_update(self) -> None:
        self.async_write_ha_state()

    async def async_turn_on(self, **kwargs: Any) -> None:
        values: dict[str, Any] = {
            key: value
            for key, value in light_values(kwargs).items()
            if key in (Attr.ON, Attr.BRIGHTNESS)
        }
        await self._async_set_group(values, kwargs.get(ATTR_TRANSITION))

    async def async_turn_off(self, **kwargs: Any) -> None:
        await self._async_set_group({Attr.ON: False}, kwargs.get(ATTR_TRANSITION))

    async def _async_set_group(self, values: dict[str, Any], transition: float | None) -> None:
        self.coordinator.gateway.set_group_state(self.group_id, values, transition=transition)
