"""Gateway scenes: stored in every bulb and in the gateway, recalled with one groupcast,
then verified member by member, repaired, and wrong scene tables rewritten."""

from __future__ import annotations

import asyncio

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.scene import DOMAIN as SCENE_DOMAIN
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_ON
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er

from custom_components.resilient_gateway.const import DOMAIN

from .conftest import advance, apply_state, group_entity, light_entities, setup_virtual, truth


async def test_scene_recall_repairs_members_and_their_tables(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer, lights=4)
    group = group_entity(hass, entry)
    lights = light_entities(hass, entry)
    ieees = list(lights)
    # The scene: first two lights on at different levels, the others off.
    await apply_state(hass, freezer, 8, entity_id=group, state="off", timeout=6)
    await apply_state(
        hass, freezer, 8, entity_id=lights[ieees[0]], state="on", brightness=60, timeout=6
    )
    await apply_state(
        hass, freezer, 8, entity_id=lights[ieees[1]], state="on", brightness=200, timeout=6
    )
    wanted = {ieee: truth(hass, entry)["devices"][ieee]["state"]["on"] for ieee in ieees}
    assert wanted == {ieees[0]: True, ieees[1]: True, ieees[2]: False, ieees[3]: False}

    call = asyncio.ensure_future(
        hass.services.async_call(
            DOMAIN,
            "store_scene",
            {ATTR_ENTITY_ID: group, "name": "Evening"},
            blocking=True,
            return_response=True,
        )
    )
    await advance(hass, freezer, 2)
    response = await call
    assert response == {group: {"group_id": 1, "scene_id": 1, "members": 4, "not_written": []}}
    assert all([1, 1] in truth(hass, entry)["devices"][i]["scenes"] for i in ieees)
    await hass.async_block_till_done()
    scene = er.async_get(hass).async_get_entity_id(
        SCENE_DOMAIN, DOMAIN, f"{entry.entry_id}-scene-1-1"
    )
    assert scene is not None

    # Everything changes; one bulb loses its scene table (a firmware update did it).
    await apply_state(hass, freezer, 8, entity_id=group, state="on", brightness=255, timeout=6)
    entry.runtime_data.air.device_scenes_wiped(ieees[1])
    assert [1, 1] not in truth(hass, entry)["devices"][ieees[1]]["scenes"]

    await hass.services.async_call(
        SCENE_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: scene}, blocking=True
    )
    await advance(hass, freezer, 30, step=0.25)

    devices = truth(hass, entry)["devices"]
    assert {ieee: devices[ieee]["state"]["on"] for ieee in ieees} == wanted
    assert abs(devices[ieees[0]]["state"]["level"] - 60) <= 1
    assert abs(devices[ieees[1]]["state"]["level"] - 200) <= 1
    assert [1, 1] in devices[ieees[1]]["scenes"]  # rewritten by the gateway
    assert hass.states.get(group).attributes["sync"] == "verified"


async def test_store_scene_needs_a_gateway_group(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    single = next(iter(light_entities(hass, entry).values()))
    with pytest.raises(ServiceValidationError) as error:
        await hass.services.async_call(
            DOMAIN, "store_scene", {ATTR_ENTITY_ID: single, "name": "x"}, blocking=True
        )
    assert error.value.translation_key == "not_a_gateway_group"
    assert not any(truth(hass, entry)["devices"][i]["scenes"] for i in light_entities(hass, entry))
