"""Thermostats in Home Assistant: setpoint and mode reach the radiator valve at its next
poll (it is a light sleeper), the entity shows what the valve reported, and values the
valve cannot take are refused with a translated error, changing nothing."""

from __future__ import annotations

from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.climate import (
    ATTR_HVAC_MODE,
    SERVICE_SET_HVAC_MODE,
    SERVICE_SET_TEMPERATURE,
    HVACMode,
)
from homeassistant.components.climate import DOMAIN as CLIMATE_DOMAIN
from homeassistant.components.light import DOMAIN as LIGHT_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    ATTR_TEMPERATURE,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_ON,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er

from custom_components.resilient_gateway.const import DOMAIN

from .conftest import advance, setup_virtual

# The simulated valve polls its parent every 5 s: a command waits for the next poll.
POLL_INTERVAL = 5.0


def valve_state(entry: Any, ieee: str) -> dict[str, Any]:
    """What the simulated thermostat really holds (setpoint, mode, room temperature)."""
    state: dict[str, Any] = entry.runtime_data.air.ground_truth()["devices"][ieee]["state"]
    return state


def the_thermostat(hass: HomeAssistant, entry: Any) -> tuple[str, str]:
    """(ieee, climate entity) of the house's one thermostat."""
    devices = entry.runtime_data.air.ground_truth()["devices"]
    (ieee,) = [ieee for ieee, device in devices.items() if device["kind"] == "thermostat"]
    entity_id = er.async_get(hass).async_get_entity_id(CLIMATE_DOMAIN, DOMAIN, f"{ieee}-climate")
    assert entity_id is not None
    return ieee, entity_id


async def climate(hass: HomeAssistant, service: str, entity_id: str, **data: Any) -> None:
    await hass.services.async_call(
        CLIMATE_DOMAIN, service, {ATTR_ENTITY_ID: entity_id, **data}, blocking=True
    )


async def test_a_new_setpoint_reaches_the_valve_at_its_next_poll(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    ieee, thermostat = the_thermostat(hass, entry)
    attributes = hass.states.get(thermostat).attributes
    assert attributes["hvac_modes"] == [HVACMode.OFF, HVACMode.HEAT, HVACMode.AUTO]
    assert (attributes["min_temp"], attributes["max_temp"]) == (5, 30)
    assert attributes["target_temp_step"] == 0.5
    assert valve_state(entry, ieee)["heating_setpoint"] == 20.0  # (every new valve)

    await climate(hass, SERVICE_SET_TEMPERATURE, thermostat, **{ATTR_TEMPERATURE: 22.5})
    state = hass.states.get(thermostat)
    assert state.attributes["temperature"] != 22.5  # not shown before the valve says so
    assert state.attributes["sync"] == "pending"
    await advance(hass, freezer, POLL_INTERVAL + 1)

    assert valve_state(entry, ieee)["heating_setpoint"] == 22.5
    state = hass.states.get(thermostat)
    assert state.attributes["temperature"] == 22.5
    assert state.attributes["sync"] == "verified"


async def test_mode_changes_reach_the_valve(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    ieee, thermostat = the_thermostat(hass, entry)
    assert valve_state(entry, ieee)["system_mode"] == "heat"

    await climate(hass, SERVICE_SET_HVAC_MODE, thermostat, **{ATTR_HVAC_MODE: HVACMode.AUTO})
    assert hass.states.get(thermostat).state != HVACMode.AUTO
    await advance(hass, freezer, POLL_INTERVAL + 1)
    assert valve_state(entry, ieee)["system_mode"] == "auto"
    assert hass.states.get(thermostat).state == HVACMode.AUTO

    await climate(hass, SERVICE_TURN_OFF, thermostat)
    await advance(hass, freezer, POLL_INTERVAL + 1)
    assert valve_state(entry, ieee)["system_mode"] == "off"
    assert hass.states.get(thermostat).state == HVACMode.OFF

    # Turning on heats (the thermostat's only heating mode besides auto).
    await climate(hass, SERVICE_TURN_ON, thermostat)
    await advance(hass, freezer, POLL_INTERVAL + 1)
    assert valve_state(entry, ieee)["system_mode"] == "heat"
    state = hass.states.get(thermostat)
    assert state.state == HVACMode.HEAT
    assert state.attributes["sync"] == "verified"

    # Setpoint and mode in one call.
    await climate(
        hass,
        SERVICE_SET_TEMPERATURE,
        thermostat,
        **{ATTR_TEMPERATURE: 18, ATTR_HVAC_MODE: HVACMode.AUTO},
    )
    await advance(hass, freezer, POLL_INTERVAL + 1)
    assert valve_state(entry, ieee)["heating_setpoint"] == 18.0
    assert valve_state(entry, ieee)["system_mode"] == "auto"
    state = hass.states.get(thermostat)
    assert (state.state, state.attributes["temperature"]) == (HVACMode.AUTO, 18.0)


REFUSALS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        SERVICE_SET_TEMPERATURE,
        {ATTR_TEMPERATURE: 35},
        "temp_out_of_range",
        "Provided temperature 35.0 is not valid. Accepted range is 5 to 30",
    ),
    (
        SERVICE_SET_TEMPERATURE,
        {ATTR_TEMPERATURE: 4.5},
        "temp_out_of_range",
        "Provided temperature 4.5 is not valid. Accepted range is 5 to 30",
    ),
    (
        SERVICE_SET_HVAC_MODE,
        {ATTR_HVAC_MODE: HVACMode.COOL},
        "not_valid_hvac_mode",
        "HVAC mode cool is not valid. Valid HVAC modes are: off, heat, auto",
    ),
]


async def test_values_the_valve_cannot_take_are_refused(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    ieee, thermostat = the_thermostat(hass, entry)
    before = valve_state(entry, ieee)

    for service, data, translation_key, message in REFUSALS:
        with pytest.raises(ServiceValidationError) as error:
            await climate(hass, service, thermostat, **data)
        assert error.value.translation_key == translation_key
        assert str(error.value) == message

    # Nothing queued: never commanded, the thermostat has nothing to be in sync with.
    assert "sync" not in hass.states.get(thermostat).attributes
    await advance(hass, freezer, POLL_INTERVAL + 1)
    after = valve_state(entry, ieee)
    assert (after["heating_setpoint"], after["system_mode"]) == (
        before["heating_setpoint"],
        before["system_mode"],
    )


async def test_a_mode_the_valve_lacks_is_refused_with_a_setpoint_too(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    ieee, thermostat = the_thermostat(hass, entry)
    before = valve_state(entry, ieee)

    with pytest.raises(ServiceValidationError) as error:
        await climate(
            hass,
            SERVICE_SET_TEMPERATURE,
            thermostat,
            **{ATTR_TEMPERATURE: 21, ATTR_HVAC_MODE: HVACMode.COOL},
        )
    assert error.value.translation_key == "not_valid_hvac_mode"

    await advance(hass, freezer, POLL_INTERVAL + 1)
    assert valve_state(entry, ieee)["heating_setpoint"] == before["heating_setpoint"]
    # The radio's queue still serves the other devices.
    light = next(
        e.entity_id
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if e.domain == LIGHT_DOMAIN and e.unique_id.endswith("-light")
    )
    await hass.services.async_call(
        LIGHT_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: light}, blocking=True
    )
    await advance(hass, freezer, 6)
    assert hass.states.get(light).state == STATE_ON
