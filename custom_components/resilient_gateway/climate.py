"""Thermostats of a gateway."""

from __future__ import annotations

from typing import Any

from homeassistant.components.climate import (
    ATTR_HVAC_MODE,
    ClimateEntity,
    ClimateEntityFeature,
    HVACMode,
)
from homeassistant.components.climate import (
    DOMAIN as CLIMATE_DOMAIN,
)
from homeassistant.const import ATTR_TEMPERATURE, UnitOfTemperature
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import GatewayCoordinator, ResilientGatewayConfigEntry
from .core.model import Attr, DeviceDescription, DeviceKind
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
            [GatewayThermostat(coordinator, device)] if device.kind is DeviceKind.THERMOSTAT else []
        ),
    )


class GatewayThermostat(GatewayEntity, ClimateEntity):
    """A radiator thermostat, showing the setpoint and mode it reported.

    Home Assistant 2026.11 reads the ``native_*`` temperature members and deprecates the
    others (they stop working in 2027.11); 2026.10 knows only the others. This class
    defines both: each version finds what it reads, and 2026.11, seeing the native ones
    in the same class, serves them without a deprecation warning.
    """

    _takes_commands = True
    _attr_name = None
    _attr_native_temperature_unit = UnitOfTemperature.CELSIUS
    _attr_temperature_unit = UnitOfTemperature.CELSIUS  # Home Assistant 2026.10
    _attr_hvac_modes = [HVACMode.OFF, HVACMode.HEAT, HVACMode.AUTO]
    _attr_supported_features = (
        ClimateEntityFeature.TARGET_TEMPERATURE
        | ClimateEntityFeature.TURN_ON
        | ClimateEntityFeature.TURN_OFF
    )
    _attr_min_temp = 5
    _attr_max_temp = 30
    _attr_target_temperature_step = 0.5

    def __init__(self, coordinator: GatewayCoordinator, device: DeviceDescription) -> None:
        super().__init__(coordinator, device, "climate")

    @property
    def native_current_temperature(self) -> float | None:
        return self.values.get(Attr.LOCAL_TEMPERATURE)

    @property
    def native_target_temperature(self) -> float | None:
        return self.values.get(Attr.HEATING_SETPOINT)

    @property
    def current_temperature(self) -> float | None:  # Home Assistant 2026.10
        return self.native_current_temperature

    @property
    def target_temperature(self) -> float | None:  # Home Assistant 2026.10
        return self.native_target_temperature

    @property
    def hvac_mode(self) -> HVACMode | None:
        mode = self.values.get(Attr.HVAC_MODE)
        return None if mode is None else HVACMode(mode)

    async def async_set_temperature(self, **kwargs: Any) -> None:
        values: dict[str, Any] = {}
        if (temperature := kwargs.get(ATTR_TEMPERATURE)) is not None:
            values[Attr.HEATING_SETPOINT] = float(temperature)
        if (mode := kwargs.get(ATTR_HVAC_MODE)) is not None:
            # Home Assistant checks the mode only in set_hvac_mode, not here.
            if mode not in self.hvac_modes:
                raise ServiceValidationError(
                    translation_domain=CLIMATE_DOMAIN,
                    translation_key="not_valid_hvac_mode",
                    translation_placeholders={"mode": mode, "modes": ", ".join(self.hvac_modes)},
                )
            values[Attr.HVAC_MODE] = str(mode)
        await self._async_set(values)

    async def async_set_hvac_mode(self, hvac_mode: HVACMode) -> None:
        await self._async_set({Attr.HVAC_MODE: str(hvac_mode)})
