"""Smart plugs in Home Assistant: the switch shows the relay state the plug reported, the
power sensor follows it, and a plug that does not answer is reported by the switch."""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.sensor import DOMAIN as SENSOR_DOMAIN
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from custom_components.resilient_gateway.const import DOMAIN, EVENT_CHANGE_FAILED

from .conftest import advance, recorded_events, setup_virtual


def plug_state(entry: Any, ieee: str) -> dict[str, Any]:
    """What the simulated plug really does (relay, power in W)."""
    state: dict[str, Any] = entry.runtime_data.air.ground_truth()["devices"][ieee]["state"]
    return state


def the_plug(hass: HomeAssistant, entry: Any) -> tuple[str, str, str]:
    """(ieee, switch entity, power sensor entity) of the house's one smart plug."""
    devices = entry.runtime_data.air.ground_truth()["devices"]
    (ieee,) = [ieee for ieee, device in devices.items() if device["kind"] == "smart_plug"]
    registry = er.async_get(hass)
    switch = registry.async_get_entity_id(SWITCH_DOMAIN, DOMAIN, f"{ieee}-switch")
    power = registry.async_get_entity_id(SENSOR_DOMAIN, DOMAIN, f"{ieee}-power")
    assert switch is not None and power is not None
    return ieee, switch, power


async def switch(hass: HomeAssistant, service: str, entity_id: str) -> None:
    await hass.services.async_call(
        SWITCH_DOMAIN, service, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


async def test_a_plug_switched_off_and_on_shows_its_relay_and_power(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    ieee, plug, power = the_plug(hass, entry)
    assert hass.states.get(plug).attributes["device_class"] == "outlet"
    assert hass.states.get(power).attributes["unit_of_measurement"] == "W"

    assert plug_state(entry, ieee)["on"] is True  # (the house of seed 7)

    await switch(hass, SERVICE_TURN_OFF, plug)
    assert hass.states.get(plug).state != STATE_OFF
    assert hass.states.get(plug).attributes["sync"] == "pending"
    await advance(hass, freezer, 6)
    assert plug_state(entry, ieee) == {"on": False, "power": 0.0}
    state = hass.states.get(plug)
    assert state.state == STATE_OFF
    assert state.attributes["sync"] == "verified"
    assert float(hass.states.get(power).state) == 0.0

    await switch(hass, SERVICE_TURN_ON, plug)
    # The UI never shows a command as if it had happened: the plug has not answered yet.
    assert hass.states.get(plug).state == STATE_OFF
    assert hass.states.get(plug).attributes["sync"] == "pending"
    await advance(hass, freezer, 6)
    truth = plug_state(entry, ieee)
    assert truth["on"] is True and truth["power"] > 0
    state = hass.states.get(plug)
    assert state.state == STATE_ON
    assert state.attributes["sync"] == "verified"
    assert float(hass.states.get(power).state) > 0


async def test_the_power_sensor_shows_the_watts_the_plug_draws(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    ieee, plug, power = the_plug(hass, entry)
    for service in (SERVICE_TURN_OFF, SERVICE_TURN_ON):  # the relay moves: power reports
        await switch(hass, service, plug)
        await advance(hass, freezer, 6)
    assert hass.states.get(plug).state == STATE_ON
    assert float(hass.states.get(power).state) == plug_state(entry, ieee)["power"]


async def test_a_plug_without_power_is_reported_by_its_switch(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A plug pulled from the wall keeps its command pending until the deadline, then the
    failure event names the switch (the entity that took the command)."""
    entry = await setup_virtual(hass, freezer)
    hass.config_entries.async_update_entry(entry, options={"deadline_always_on": 20.0})
    await hass.config_entries.async_reload(entry.entry_id)
    await advance(hass, freezer, 2)
    ieee, plug, _ = the_plug(hass, entry)
    failures = recorded_events(hass, EVENT_CHANGE_FAILED)
    entry.runtime_data.air.device_power_off(ieee)

    await switch(hass, SERVICE_TURN_OFF, plug)
    await advance(hass, freezer, 10, step=0.5)
    assert hass.states.get(plug).attributes["sync"] == "pending"
    assert not failures
    await advance(hass, freezer, 15, step=0.5)

    assert hass.states.get(plug).attributes["sync"] == "failed"
    assert [(e.data["entity_id"], e.data["ieee"], e.data["attribute"]) for e in failures] == [
        (plug, ieee, "on")
    ]
    assert failures[0].data["desired"] is False


async def test_a_plug_that_just_joined_shows_its_relay_and_power(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    ieee, plug, power = the_plug(hass, entry)
    await advance(hass, freezer, 10)
    truth = plug_state(entry, ieee)
    assert hass.states.get(plug).state == (STATE_ON if truth["on"] else STATE_OFF)
    assert hass.states.get(power).state != "unknown"
