"""What a person reads (issue #11): the action forms, apply_state's answer and the log line
of a failed change."""

from __future__ import annotations

import logging

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.light import DOMAIN as LIGHT_DOMAIN
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
from homeassistant.helpers.service import async_get_all_descriptions
from homeassistant.helpers.translation import async_get_translations

from custom_components.resilient_gateway.const import DOMAIN

from .conftest import (
    advance,
    apply_state,
    fault,
    group_entity,
    light_entities,
    setup_virtual,
    state_of,
    truth,
)

COORDINATOR_LOGGER = "custom_components.resilient_gateway"


async def test_action_forms_speak_plainly(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Every gateway field is a gateway picker named "Gateway" (no "config entry"); the
    on/off choice is translated; colour fields have proper selectors and examples."""
    await setup_virtual(hass, freezer)
    services = (await async_get_all_descriptions(hass))[DOMAIN]
    names = await async_get_translations(hass, "en", "services", {DOMAIN})
    selectors = await async_get_translations(hass, "en", "selector", {DOMAIN})

    def text(service: str, field: str, what: str) -> str:
        return names[f"component.{DOMAIN}.services.{service}.fields.{field}.{what}"]

    gateway_fields = [
        service
        for service, description in services.items()
        if "config_entry_id" in description["fields"]
    ]
    assert len(gateway_fields) == 7
    for service in gateway_fields:
        field = services[service]["fields"]["config_entry_id"]
        assert field["selector"] == {"config_entry": {"integration": DOMAIN}}
        assert text(service, "config_entry_id", "name") == "Gateway"
        assert "config entry" not in text(service, "config_entry_id", "description").lower()

    fields = services["apply_state"]["fields"]
    for name, field in fields.items():
        selector.validate_selector(field["selector"])  # a form Home Assistant can draw
        if name != "timeout":
            assert "example" in field, name
    state = fields["state"]["selector"]["select"]
    options = {
        option: selectors[
            f"component.{DOMAIN}.selector.{state['translation_key']}.options.{option}"
        ]
        for option in state["options"]
    }
    assert options == {"on": "On", "off": "Off"}
    assert fields["color_temp_kelvin"]["selector"]["color_temp"]["unit"] == "kelvin"
    assert "color_rgb" in fields["rgb_color"]["selector"]
    xy = fields["xy_color"]["selector"]["object"]
    assert set(xy["fields"]) == {"x", "y"}
    for part in ("x", "y"):
        assert selectors[f"component.{DOMAIN}.selector.xy_color.fields.{part}.name"] == part
    hs = fields["hs_color"]["selector"]["object"]
    assert set(hs["fields"]) == {"hue", "saturation"}


async def test_colours_come_as_lists_objects_or_rgb(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """xy as in light.turn_on ([x, y]) or as the form's object ({x, y}); hs likewise;
    rgb from the colour picker. Each reaches the bulb."""
    entry = await setup_virtual(hass, freezer)
    colour_light = next(
        entity_id
        for ieee, entity_id in light_entities(hass, entry).items()
        if "xy" in truth(hass, entry)["devices"][ieee]["state"]
    )
    ieee = next(i for i, e in light_entities(hass, entry).items() if e == colour_light)

    for colour, expected in (
        ({"xy_color": [0.3, 0.35]}, (0.3, 0.35)),
        ({"xy_color": {"x": 0.5, "y": 0.4}}, (0.5, 0.4)),
        ({"hs_color": {"hue": 240, "saturation": 100}}, (0.136, 0.04)),
        ({"rgb_color": [255, 0, 0]}, (0.701, 0.299)),
    ):
        # (A colour the bulb does not report is read after the 5 s report window.)
        response = await apply_state(
            hass, freezer, 12, entity_id=colour_light, state="on", timeout=10, **colour
        )
        assert response[colour_light]["result"] == "verified", colour
        x, y = truth(hass, entry)["devices"][ieee]["state"]["xy"]
        assert (x, y) == pytest.approx(expected, abs=0.002), colour


async def test_group_answers_name_the_lights(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A group's repaired, failed and pending members are given by entity id and name,
    with the IEEE address for the record."""
    entry = await setup_virtual(hass, freezer)
    group = group_entity(hass, entry)
    dead_ieee, dead = next(iter(light_entities(hass, entry).items()))
    entry.runtime_data.air.device_power_off(dead_ieee)

    response = await apply_state(hass, freezer, 12, entity_id=group, state="on", timeout=10)
    answer = response[group]
    assert answer["result"] == "pending"
    assert answer["members"] == 4
    assert answer["pending"] == [
        {"entity_id": dead, "name": state_of(hass, dead).name, "ieee": dead_ieee}
    ]
    assert answer["failed"] == []
    assert all(member["entity_id"].startswith("light.") for member in answer["repaired"])


async def test_a_failed_change_is_logged_without_contradiction(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A light that was on, told "on" while the radio is down: the log says it never
    confirmed the command (and why), not that it did not reach "on" while now "on"."""
    entry = await setup_virtual(hass, freezer)
    ieee, light = next(iter(light_entities(hass, entry).items()))
    await apply_state(hass, freezer, 8, entity_id=light, state="on", timeout=6)
    assert truth(hass, entry)["devices"][ieee]["state"]["on"] is True

    await fault(hass, entry, "radio_failure")
    await hass.services.async_call(
        LIGHT_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: light}, blocking=True
    )
    caplog.set_level(logging.WARNING, logger=COORDINATOR_LOGGER)
    await advance(hass, freezer, 200, step=2)  # past the 180 s deadline

    name = entry.runtime_data.gateway.devices[ieee].name
    lines = [
        record.getMessage()
        for record in caplog.records
        if record.getMessage().startswith(f"{name} did not")
    ]
    assert lines == [
        f"{name} did not confirm on within its deadline: it never confirmed it (the radio was down)"
    ]


async def test_a_light_that_stays_silent_is_logged_as_such(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A light without power: the log says what it last showed and that it stayed silent."""
    entry = await setup_virtual(hass, freezer)
    ieee, light = next(iter(light_entities(hass, entry).items()))
    await apply_state(hass, freezer, 8, entity_id=light, state="off", timeout=6)
    before = entry.runtime_data.gateway.values(ieee)["brightness"]
    entry.runtime_data.air.device_power_off(ieee)
    caplog.set_level(logging.WARNING, logger=COORDINATOR_LOGGER)
    await apply_state(hass, freezer, 3, entity_id=light, state="on", brightness=100, timeout=1)
    await advance(hass, freezer, 200, step=2)  # past the 180 s deadline

    name = entry.runtime_data.gateway.devices[ieee].name
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"{name} did")]
    assert lines == [
        f"{name} did not confirm on, brightness 100 within its deadline: it last showed off, "
        f"brightness {before} (nothing was heard from it since the command)"
    ]
