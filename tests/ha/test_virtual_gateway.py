"""A virtual gateway in Home Assistant: its devices, faults, diagnostics and persistence."""

from __future__ import annotations

import json
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.light import DOMAIN as LIGHT_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.resilient_gateway.const import DOMAIN

from .conftest import advance, light_entities, setup_virtual, truth


async def test_entities_show_what_the_devices_report(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    devices = truth(hass, entry)["devices"]
    lights = light_entities(hass, entry)
    assert len(lights) == 4
    for ieee, entity_id in lights.items():
        expected = STATE_ON if devices[ieee]["state"]["on"] else STATE_OFF
        assert hass.states.get(entity_id).state == expected

    registry = er.async_get(hass)
    kinds = {
        e.original_device_class for e in er.async_entries_for_config_entry(registry, entry.entry_id)
    }
    assert {"temperature", "humidity", "power", "battery", "opening"} <= kinds


async def test_turning_a_light_on_changes_the_device(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    ieee, entity_id = next(iter(light_entities(hass, entry).items()))
    await hass.services.async_call(
        LIGHT_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: entity_id, "brightness": 128}, blocking=True
    )
    state = hass.states.get(entity_id)
    assert state.state == STATE_OFF  # the UI never shows a command as if it had happened
    assert state.attributes["sync"] == "pending"
    # An attribute that was already right sends no report: the engine reads it after
    # its report window (5 s).
    await advance(hass, freezer, 6)
    device = truth(hass, entry)["devices"][ieee]
    assert device["state"]["on"] is True
    assert device["state"].get("level", 127) in (127, 128)
    state = hass.states.get(entity_id)
    assert state.state == STATE_ON
    assert state.attributes["sync"] == "verified"


async def test_diagnostics_hold_the_ground_truth_and_no_key(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, hass_client: ClientSessionGenerator
) -> None:
    entry = await setup_virtual(hass, freezer)
    network_key = str(entry.runtime_data.gateway.radio.app.state.network_info.network_key.key)
    await hass.services.async_call(
        DOMAIN, "backup", {"config_entry_id": entry.entry_id}, blocking=True
    )
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    virtual = diagnostics["virtual_network"]
    assert set(virtual["stats"]) >= {
        "unicasts",
        "groupcasts",
        "broadcasts",
        "frames_lost",
        "reads",
        "reports",
        "delivery_failures",
    }
    assert virtual["radio"]["state"] == "up"
    light = next(d for d in virtual["devices"].values() if d["kind"].endswith("light"))
    assert {"name", "kind", "powered", "state", "groups", "scenes", "firmware_version"} <= set(
        light
    )
    assert 1 in light["groups"]
    assert diagnostics["radio"]["network"]["channel"] in range(11, 27)
    assert diagnostics["health"] == {
        "radio_status": "ok",
        "needs_restore": False,
        "current_status": "running",
        "target_status": "running",
    }
    assert {d["availability"] for d in diagnostics["devices"].values()} <= {"online", "unknown"}
    snapshot = diagnostics["last_snapshot"]
    assert snapshot["device_count"] == len(virtual["devices"]) and not snapshot["encrypted"]

    dumped = json.dumps(diagnostics).lower()
    assert network_key.replace(":", "").lower() not in dumped.replace(":", "")


async def test_simulated_device_faults(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    entry = await setup_virtual(hass, freezer)
    ieee = next(iter(light_entities(hass, entry)))
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, ieee), entry.entry_id)
    assert device is not None

    await hass.services.async_call(
        DOMAIN,
        "simulate_fault",
        {"config_entry_id": entry.entry_id, "fault": "device_power_off", "device_id": device.id},
        blocking=True,
    )
    assert truth(hass, entry)["devices"][ieee]["powered"] is False

    await hass.services.async_call(
        DOMAIN,
        "simulate_fault",
        {"config_entry_id": entry.entry_id, "fault": "device_groups_wiped", "ieee": ieee},
        blocking=True,
    )
    assert truth(hass, entry)["devices"][ieee]["groups"] == []

    await hass.services.async_call(
        DOMAIN,
        "simulate_fault",
        {"config_entry_id": entry.entry_id, "fault": "radio_failure"},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert truth(hass, entry)["radio"]["state"] == "failed"
    # Nothing the light showed before the outage is trusted; it still takes commands.
    assert hass.states.get(light_entities(hass, entry)[ieee]).state == "unknown"


@pytest.mark.parametrize(
    ("data", "translation_key"),
    [
        ({"fault": "device_power_off"}, "device_required"),
        ({"fault": "device_power_off", "ieee": "00:11:22:33:44:55:66:77"}, "unknown_device"),
        # (Home Assistant's own error for an entry id that is not one: service helpers.)
        ({"fault": "radio_failure", "config_entry_id": "nope"}, "service_config_entry_not_found"),
    ],
)
async def test_bad_fault_requests_are_refused(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, data: dict[str, Any], translation_key: str
) -> None:
    entry = await setup_virtual(hass, freezer)
    before = truth(hass, entry)["devices"]
    with pytest.raises(ServiceValidationError) as error:
        await hass.services.async_call(
            DOMAIN,
            "simulate_fault",
            {"config_entry_id": entry.entry_id, **data},
            blocking=True,
        )
    assert error.value.translation_key == translation_key
    assert truth(hass, entry)["devices"] == before


async def test_the_house_survives_a_restart(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    lights = light_entities(hass, entry)
    ieee, entity_id = next(iter(lights.items()))
    await hass.services.async_call(
        LIGHT_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )
    await advance(hass, freezer, 1)
    devices_before = set(truth(hass, entry)["devices"])
    shown: list[str | None] = []

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        new_state = event.data["new_state"]
        shown.append(None if new_state is None else new_state.state)

    stop_recording = async_track_state_change_event(hass, entity_id, record)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()

    after = truth(hass, entry)
    assert set(after["devices"]) == devices_before
    assert after["devices"][ieee]["state"]["on"] is True
    # zigpy's database knew every device: nothing was interviewed again, entities kept ids
    assert light_entities(hass, entry) == lights
    # After a restart nothing is shown until the device itself confirms it (no stale
    # state), and every device is re-confirmed promptly.
    await advance(hass, freezer, 3)
    stop_recording()
    assert hass.states.get(entity_id).state == STATE_ON
    back = shown[shown.index(STATE_UNAVAILABLE) + 1 :]  # from the entity's return on
    assert back[0] == STATE_UNKNOWN
    assert back[-1] == STATE_ON
    for other in lights.values():
        assert hass.states.get(other).state in (STATE_ON, STATE_OFF)
