"""Lights and light groups of a gateway."""

from __future__ import annotations

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
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import color as color_util

from .const import ATTR_SYNC, DOMAIN, LIGHT_MAX_KELVIN, LIGHT_MIN_KELVIN
from .coordinator import GatewayCoordinator, ResilientGatewayConfigEntry
from .core.change_results import ChangeHandle, GroupHandle, combined_sync
from .core.model import (
    Attr,
    AttributeValues,
    DeviceDescription,
    DeviceId,
    DeviceKind,
    GroupDescription,
)
from .core.scenes import GatewayScene
from .entity import (
    GatewayEntity,
    GatewayGroupEntity,
    async_add_device_entities,
    async_add_new_entities,
    command_errors,
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


_FIELD_NAMES: dict[str, str] = {
    Attr.BRIGHTNESS: "brightness",
    Attr.COLOR_TEMP: "colour temperature",
    Attr.XY: "colour",
}
# The colour temperatures a light entity declares, in mireds (the coolest is the fewest).
LIGHT_MIREDS = (1_000_000 // LIGHT_MAX_KELVIN, 1_000_000 // LIGHT_MIN_KELVIN)


def clamp_color_temp(values: AttributeValues) -> AttributeValues:
    """A colour temperature outside the lights' range, clamped into it (a bulb could show
    no other)."""
    if (mireds := values.get(Attr.COLOR_TEMP)) is None:
        return values
    low, high = LIGHT_MIREDS
    return {**values, Attr.COLOR_TEMP: min(max(int(mireds), low), high)}


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
        await self.async_command(light_values(kwargs), kwargs.get(ATTR_TRANSITION))

    async def async_turn_off(self, **kwargs: Any) -> None:
        await self.async_command({Attr.ON: False}, kwargs.get(ATTR_TRANSITION))

    def fit(self, values: AttributeValues) -> AttributeValues:
        """``values`` as the light can show them: a colour temperature outside the range
        the entities declare is clamped into it; a value the bulb has nothing for
        (brightness for an on/off bulb, a colour for a white one) is refused."""
        if missing := [attr for attr in values if attr not in self.device.attributes]:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="light_cannot_show",
                translation_placeholders={
                    "entity_id": self.entity_id,
                    "what": ", ".join(_FIELD_NAMES.get(attr, str(attr)) for attr in missing),
                },
            )
        return clamp_color_temp(values)

    async def async_command(
        self, values: AttributeValues, transition: float | None
    ) -> ChangeHandle:
        """Make ``values`` the bulb's desired state; the handle tells how it ended."""
        gateway = self.coordinator.gateway
        device_id = self.device.device_id
        return await self._async_command(
            lambda: gateway.set_state(device_id, values, transition=transition)
        )


class GatewayGroupLight(GatewayGroupEntity, LightEntity):
    """A radio group of lights: one groupcast, state computed from its members' reports."""

    _attr_supported_features = LightEntityFeature.TRANSITION
    _attr_color_mode = ColorMode.BRIGHTNESS
    _attr_supported_color_modes = {ColorMode.BRIGHTNESS}

    def __init__(self, coordinator: GatewayCoordinator, group: GroupDescription) -> None:
        super().__init__(coordinator, group.group_id, f"group-{group.group_id}")
        self._attr_name = group.name

    def _member_values(self) -> list[dict[str, Any]]:
        gateway = self.coordinator.gateway
        return [gateway.values(member) for member in self.members]

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
        """The members' count and, once a member was commanded, the worst of their syncs."""
        gateway = self.coordinator.gateway
        syncs = [
            sync for member in self.members if (sync := gateway.sync_state(member)) is not None
        ]
        attributes: dict[str, Any] = {"members": len(self.members)}
        if syncs:
            attributes[ATTR_SYNC] = combined_sync(syncs)
        return attributes

    async def async_turn_on(self, **kwargs: Any) -> None:
        values: dict[str, Any] = {
            key: value
            for key, value in light_values(kwargs).items()
            if key in (Attr.ON, Attr.BRIGHTNESS)
        }
        await self.async_command(values, kwargs.get(ATTR_TRANSITION))

    async def async_turn_off(self, **kwargs: Any) -> None:
        await self.async_command({Attr.ON: False}, kwargs.get(ATTR_TRANSITION))

    def fit(self, values: AttributeValues) -> AttributeValues:
        """``values`` as the group can take them (each member is sent what it can show)."""
        return clamp_color_temp(values)

    async def async_command(self, values: AttributeValues, transition: float | None) -> GroupHandle:
        """One groupcast, then every member verified and repaired."""
        gateway = self.coordinator.gateway
        group_id = self.group_id
        return await self._async_command(
            lambda: gateway.set_group_state(group_id, values, transition=transition)
        )

    async def async_store_scene(self, name: str) -> tuple[GatewayScene, list[DeviceId]]:
        """Make what the members show now a scene of the group."""
        with command_errors(self._command_target()):
            return await self.coordinator.gateway.store_scene(self.group_id, name)
