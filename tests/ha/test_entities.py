"""What every entity shares (one base in entity.py): translated command errors, the sync
attribute only where something was commanded, a group light written once per loop turn,
scenes available as their lights are; the light services' targets; stale devices."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.light import DOMAIN as LIGHT_DOMAIN
from homeassistant.components.scene import DOMAIN as SCENE_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
    SERVICE_TURN_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import area_registry as ar
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import label_registry as lr
from homeassistant.helpers.entity_component import DATA_INSTANCES
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import WebSocketGenerator
from zigpy.types import EUI64

from custom_components.resilient_gateway.const import DOMAIN
from custom_components.resilient_gateway.core.changes import EngineStopped
from custom_components.resilient_gateway.core.inventory import NotInNetwork
from custom_components.resilient_gateway.core.model import Attr
from custom_components.resilient_gateway.core.radio import DeliveryError, UnsupportedValue

from .conftest import (
    advance,
    apply_state,
    call_while_time_passes,
    fault,
    group_entity,
    light_entities,
    setup_virtual,
    state_of,
    truth,
)


async def _stored_scene(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: Any, group: str
) -> str:
    """The entity of a scene "Evening" stored for the group now."""
    await call_while_time_passes(
        hass, freezer, "store_scene", {ATTR_ENTITY_ID: group, "name": "Evening"}
    )
    await hass.async_block_till_done()
    scene = er.async_get(hass).async_get_entity_id(
        SCENE_DOMAIN, DOMAIN, f"{entry.entry_id}-scene-1-1"
    )
    assert scene is not None
    return scene


# -- commands that cannot be handed over ------------------------------------------------


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (EngineStopped("the change engine is stopped"), "the gateway is not running"),
        (NotInNetwork("no group 0x0001"), "the gateway's network no longer has it"),
        (
            UnsupportedValue(Attr.HVAC_MODE, "cool", "not a mode this device has"),
            "hvac_mode cannot be set to 'cool': not a mode this device has",
        ),
        (DeliveryError("no route"), "the radio reported an error: no route"),
    ],
)
async def test_a_command_the_gateway_cannot_take_is_a_translated_error(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    words: str,
) -> None:
    """A stopped engine, a device the network no longer has, a value the radio cannot
    send or a radio error reach the UI as the translated ``command_failed``, never raw."""
    entry = await setup_virtual(hass, freezer)
    light = next(iter(light_entities(hass, entry).values()))
    group = group_entity(hass, entry)
    gateway = entry.runtime_data.gateway

    def refuse(*_: Any, **__: Any) -> Any:
        raise error

    monkeypatch.setattr(gateway, "set_state", refuse)
    monkeypatch.setattr(gateway, "set_group_state", refuse)
    for entity_id in (light, group):
        with pytest.raises(HomeAssistantError) as raised:
            await hass.services.async_call(
                LIGHT_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: entity_id}, blocking=True
            )
        assert type(raised.value) is HomeAssistantError
        assert (raised.value.translation_domain, raised.value.translation_key) == (
            DOMAIN,
            "command_failed",
        )
        assert raised.value.translation_placeholders == {"device": entity_id, "error": words}
        assert str(raised.value) == f"The command for {entity_id} could not be sent: {words}"


async def test_a_defect_behind_a_command_stays_visible(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only what the core says about the command is worded for users: a programming error
    (here a bare KeyError) is not dressed up as a failed command."""
    entry = await setup_virtual(hass, freezer)
    light = next(iter(light_entities(hass, entry).values()))

    def broken(*_: Any, **__: Any) -> Any:
        raise KeyError("brightness")

    monkeypatch.setattr(entry.runtime_data.gateway, "set_state", broken)
    with pytest.raises(KeyError):
        await hass.services.async_call(
            LIGHT_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: light}, blocking=True
        )


async def test_recalling_a_scene_whose_group_is_gone_is_a_translated_error(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    group = group_entity(hass, entry)
    scene = await _stored_scene(hass, freezer, entry, group)
    entry.runtime_data.gateway.scenes.load([])  # (gone from under the entity)
    with pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(
            SCENE_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: scene}, blocking=True
        )
    assert raised.value.translation_key == "command_failed"


# -- sync: only what was commanded ---------------------------------------------------------


async def test_only_commanded_devices_show_a_sync_state(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A sensor takes no commands and a light nobody switched has nothing to be in sync
    with: neither claims ``sync: verified``. A command gives the light (and its group) one."""
    entry = await setup_virtual(hass, freezer)
    lights = light_entities(hass, entry)
    group = group_entity(hass, entry)
    ours = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    for entity in ours:
        if (state := hass.states.get(entity.entity_id)) is not None:
            assert "sync" not in state.attributes, entity.entity_id

    light = next(iter(lights.values()))
    await apply_state(hass, freezer, 8, entity_id=light, state="on", timeout=6)
    assert state_of(hass, light).attributes["sync"] == "verified"
    assert state_of(hass, group).attributes["sync"] == "verified"  # its one commanded member
    others = [other for other in lights.values() if other != light]
    assert all("sync" not in state_of(hass, other).attributes for other in others)


# -- the group light: one write per loop turn ----------------------------------------------


async def test_ten_member_reports_in_one_loop_turn_write_the_group_once(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer, lights=10)
    group = group_entity(hass, entry)
    gateway = entry.runtime_data.gateway
    members = gateway.groups[1].members
    assert len(members) == 10
    group_light = hass.data[DATA_INSTANCES][LIGHT_DOMAIN].get_entity(group)
    await hass.async_block_till_done()  # (nothing of the set-up left to write)
    writes: list[Event] = []

    @callback
    def ours(data: Mapping[str, Any]) -> bool:
        return bool(data["entity_id"] == group)

    @callback
    def record(event: Event) -> None:  # (a plain function would run in a thread, later)
        writes.append(event)

    stops = [
        hass.bus.async_listen(event_type, record, event_filter=ours)
        for event_type in (EVENT_STATE_CHANGED, EVENT_STATE_REPORTED)
    ]
    for member in members:  # ten reports, one loop turn (as a groupcast's echo brings them)
        gateway.attributes_reported(member, {Attr.ON: True, Attr.BRIGHTNESS: 254})
    assert group_light._write_soon is not None  # one write, waiting for the loop turn's end
    await group_light._write_soon
    for stop in stops:  # (the simulated house keeps reporting on a busy machine)
        stop()

    assert len(writes) == 1
    # That one write shows all ten reports (what the group shows later may move on with
    # the simulated house's own reads still under way).
    written = writes[0].data["new_state"]
    assert (written.state, written.attributes["brightness"]) == ("on", 255)


# -- scenes are available as their lights are --------------------------------------------


async def test_scenes_stay_available_during_a_radio_outage_as_lights_do(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Home Assistant drops commands to unavailable entities; a scene recalled while the
    radio is down queues as the lights' commands do, so it stays available as they do."""
    entry = await setup_virtual(hass, freezer)
    group = group_entity(hass, entry)
    scene = await _stored_scene(hass, freezer, entry, group)

    await fault(hass, entry, "radio_failure")
    await advance(hass, freezer, 1)
    assert state_of(hass, group).state != STATE_UNAVAILABLE
    assert state_of(hass, scene).state != STATE_UNAVAILABLE
    await hass.services.async_call(
        SCENE_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: scene}, blocking=True
    )
    assert entry.runtime_data.gateway.engine.counts.pending_changes > 0  # queued


# -- the light services' targets -------------------------------------------------------------


async def test_apply_state_targets_an_area(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """``target: {area_id: kitchen}`` reaches the lights of the devices in the kitchen, and
    the answer is keyed by their entity ids."""
    entry = await setup_virtual(hass, freezer)
    lights = light_entities(hass, entry)
    kitchen = ar.async_get(hass).async_create("Kitchen")
    devices = dr.async_get(hass)
    in_kitchen = dict(list(lights.items())[:2])
    for ieee in in_kitchen:
        device = devices.async_get_device_by_identifier((DOMAIN, ieee), entry.entry_id)
        assert device is not None
        devices.async_update_device(device.id, area_id=kitchen.id)

    response = await apply_state(hass, freezer, 10, area_id=kitchen.id, state="on", timeout=8)

    assert set(response) == set(in_kitchen.values())
    assert all(answer["result"] == "verified" for answer in response.values())
    devices = truth(hass, entry)["devices"]
    assert all(devices[ieee]["state"]["on"] for ieee in in_kitchen)


async def test_store_scene_targets_a_label_and_leaves_single_lights_out(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    group = group_entity(hass, entry)
    single = next(iter(light_entities(hass, entry).values()))
    label = lr.async_get(hass).async_create("Evening lights")
    entities = er.async_get(hass)
    for entity_id in (group, single):
        entities.async_update_entity(entity_id, labels={label.label_id})

    response = await call_while_time_passes(
        hass, freezer, "store_scene", {"label_id": label.label_id, "name": "Evening"}
    )

    assert list(response) == [group]
    assert response[group]["members"] == 4


# -- devices that left ------------------------------------------------------------------------


async def test_a_device_that_left_the_network_leaves_the_device_registry(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    ieee, light = next(iter(light_entities(hass, entry).items()))
    devices = dr.async_get(hass)
    assert devices.async_get_device_by_identifier((DOMAIN, ieee), entry.entry_id) is not None

    # zigpy's own removal: it tells of it at once, and drops the device only after its
    # leave request (up to 30 s later, without another event): gone from the start.
    gateway = entry.runtime_data.gateway
    await gateway.radio.app.remove(EUI64.convert(ieee))
    await advance(hass, freezer, 0.1)

    assert devices.async_get_device_by_identifier((DOMAIN, ieee), entry.entry_id) is None
    assert er.async_get(hass).async_get(light) is None
    assert hass.states.get(light) is None


async def test_only_devices_gone_from_the_network_can_be_deleted(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, hass_ws_client: WebSocketGenerator
) -> None:
    """A device that left while Home Assistant was not running stays in the registry until
    the user deletes it; devices still in the network (and the gateway) cannot be."""
    assert await async_setup_component(hass, "config", {})
    entry = await setup_virtual(hass, freezer)
    devices = dr.async_get(hass)
    gone = devices.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, "00:11:22:33:44:55:66:77")}
    )
    ieee = next(iter(light_entities(hass, entry)))
    present = devices.async_get_device_by_identifier((DOMAIN, ieee), entry.entry_id)
    gateway = devices.async_get_device_by_identifier((DOMAIN, entry.entry_id), entry.entry_id)
    assert present is not None and gateway is not None
    client = await hass_ws_client(hass)

    async def remove(device: dr.DeviceEntry) -> dict[str, Any]:
        await client.send_json_auto_id(
            {
                "type": "config/device_registry/remove_config_entry",
                "config_entry_id": entry.entry_id,
                "device_id": device.id,
            }
        )
        answer: dict[str, Any] = await client.receive_json()
        return answer

    assert (await remove(present))["success"] is False
    assert (await remove(gateway))["success"] is False
    assert (await remove(gone))["success"] is True
    assert devices.async_get(gone.id) is None
    assert devices.async_get(present.id) is not None


# -- the failed-changes sensor -----------------------------------------------------------------


@pytest.mark.usefixtures("entity_registry_enabled_by_default")  # (disabled by default)
async def test_the_failed_changes_sensor_counts_devices_as_its_name_says(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Two attributes failing on one bulb is one device with failed changes."""
    entry = await setup_virtual(hass, freezer)
    hass.config_entries.async_update_entry(entry, options={"deadline_always_on": 20.0})
    await hass.config_entries.async_reload(entry.entry_id)
    await advance(hass, freezer, 2)
    sensor = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{entry.entry_id}-failed_changes"
    )
    assert sensor is not None
    assert state_of(hass, sensor).name == "Virtual gateway test Devices with failed changes"
    assert state_of(hass, sensor).state == "0"
    ieee, light = next(iter(light_entities(hass, entry).items()))
    entry.runtime_data.air.device_power_off(ieee)

    response = await apply_state(
        hass, freezer, 25, entity_id=light, state="on", brightness=100, timeout=24
    )

    assert response[light]["result"] == "failed"
    assert state_of(hass, sensor).state == "1"
