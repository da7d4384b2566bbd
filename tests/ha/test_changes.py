"""Verified state changes seen from Home Assistant: groups on lossy air, the apply_state
answer, failure events and repair issues, pending changes across a restart."""

from __future__ import annotations

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.light import DOMAIN as LIGHT_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir

from custom_components.resilient_gateway.const import DOMAIN, EVENT_CHANGE_FAILED

from .conftest import (
    advance,
    apply_state,
    group_entity,
    light_entities,
    lights_on,
    recorded_events,
    setup_virtual,
    truth,
)


async def test_all_lights_of_a_lossy_gateway_come_on(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A group command on lossy air (20 % frames lost, 20 % of members miss groupcasts;
    the engine chooses per command between a groupcast and unicasts, from what the first
    command taught it): every simulated light ends up on, and the group says so only
    then."""
    entry = await setup_virtual(hass, freezer, lights=12, loss=0.2, group_miss=0.2, seed=3)
    group = group_entity(hass, entry)
    await apply_state(hass, freezer, 60, entity_id=group, state="off")
    assert not any(lights_on(hass, entry).values())

    await hass.services.async_call(
        LIGHT_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: group}, blocking=True
    )
    await hass.async_block_till_done()  # (the group writes its state once per loop turn)
    assert hass.states.get(group).attributes["sync"] == "pending"
    await advance(hass, freezer, 60, step=0.25)

    assert all(lights_on(hass, entry).values())
    state = hass.states.get(group)
    assert state.state == STATE_ON
    assert state.attributes["sync"] == "verified"


async def test_apply_state_answers_with_the_truth(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    lights = light_entities(hass, entry)
    (dead_ieee, dead), (live_ieee, live) = list(lights.items())[:2]
    entry.runtime_data.air.device_power_off(dead_ieee)
    failures = recorded_events(hass, EVENT_CHANGE_FAILED)

    response = await apply_state(
        hass, freezer, 12, entity_id=[live, dead], state="on", brightness=200, timeout=10
    )
    assert response[live]["result"] == "verified"
    assert response[live]["attempts"] >= 1
    assert response[dead]["result"] == "pending"
    assert hass.states.get(dead).attributes["sync"] == "pending"
    assert truth(hass, entry)["devices"][live_ieee]["state"]["level"] in (199, 200, 201)

    # The dead light keeps being tried until its deadline, then fails loudly.
    await advance(hass, freezer, 200, step=1)
    assert hass.states.get(dead).attributes["sync"] == "failed"
    attributes = {event.data["attribute"] for event in failures}
    assert attributes == {"on", "brightness"}
    assert {event.data["entity_id"] for event in failures} == {dead}
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"unresponsive_{dead_ieee}")
    assert issue is not None
    assert issue.translation_key == "device_unresponsive"

    # Power back: the next command verifies, and the repair issue goes away.
    entry.runtime_data.air.device_power_on(dead_ieee)
    response = await apply_state(hass, freezer, 15, entity_id=dead, state="on", timeout=12)
    assert response[dead]["result"] == "verified"
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"unresponsive_{dead_ieee}") is None


async def test_apply_state_refuses_what_is_not_a_gateway_light(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    before = lights_on(hass, entry)
    sensor = next(
        e.entity_id
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if e.domain == "sensor"
    )
    live = next(iter(light_entities(hass, entry).values()))
    with pytest.raises(ServiceValidationError) as error:
        await hass.services.async_call(
            DOMAIN,
            "apply_state",
            {"entity_id": [live, sensor], "state": "on"},
            blocking=True,
            return_response=True,
        )
    assert error.value.translation_key == "not_a_gateway_light"
    await advance(hass, freezer, 2)
    assert lights_on(hass, entry) == before


@pytest.mark.usefixtures("entity_registry_enabled_by_default")  # (disabled by default)
async def test_pending_count_sensor_follows_the_engine(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    pending = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{entry.entry_id}-pending_changes"
    )
    assert pending is not None
    assert hass.states.get(pending).state == "0"
    dead_ieee, dead = next(iter(light_entities(hass, entry).items()))
    entry.runtime_data.air.device_power_off(dead_ieee)
    await hass.services.async_call(
        LIGHT_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: dead}, blocking=True
    )
    await advance(hass, freezer, 1)
    assert hass.states.get(pending).state == "1"


async def test_a_pending_change_survives_a_restart(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Turned off while unreachable, across a restart: when the bulb gets power back it
    comes on (as bulbs do after a power cut), and the pending change turns it off."""
    entry = await setup_virtual(hass, freezer)
    ieee, light = next(iter(light_entities(hass, entry).items()))
    await apply_state(hass, freezer, 8, entity_id=light, state="on", timeout=6)
    entry.runtime_data.air.device_power_off(ieee)
    await hass.services.async_call(
        LIGHT_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: light}, blocking=True
    )
    await advance(hass, freezer, 3)

    assert await hass.config_entries.async_reload(entry.entry_id)
    await advance(hass, freezer, 3)
    assert hass.states.get(light).attributes["sync"] == "pending"
    entry.runtime_data.air.device_power_on(ieee)
    await advance(hass, freezer, 30, step=0.5)
    assert truth(hass, entry)["devices"][ieee]["state"]["on"] is False
    assert hass.states.get(light).state == STATE_OFF
    assert hass.states.get(light).attributes["sync"] == "verified"


async def test_the_deadline_option_decides_when_a_change_fails(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    hass.config_entries.async_update_entry(entry, options={"deadline_always_on": 20.0})
    await hass.config_entries.async_reload(entry.entry_id)
    await advance(hass, freezer, 2)
    ieee, light = next(iter(light_entities(hass, entry).items()))
    entry.runtime_data.air.device_power_off(ieee)
    response = await apply_state(hass, freezer, 25, entity_id=light, state="on", timeout=24)
    assert response[light]["result"] == "failed"
