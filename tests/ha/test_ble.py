"""Bluetooth LE devices as config entries: discovered through Home Assistant's Bluetooth
stack, connected through bleak-retry-connector (on the simulated bleak backend), their
light verified, their buttons events, their measurements sensors; availability from
advertisements; pause, resume and unload release the connection."""

from __future__ import annotations

from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_BLUETOOTH, SOURCE_USER
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er

from custom_components.resilient_gateway.const import DOMAIN
from custom_components.resilient_gateway.radios.ble import BleLink
from custom_components.resilient_gateway.radios.ble.profiles import nordic_lbs
from custom_components.resilient_gateway.radios.ble.simulated import SimulatedPeripheral

from .ble_helpers import (
    BLINKY,
    advertise,
    ble_entry,
    blinky,
    bluetooth_stack,  # noqa: F401 (a fixture)
)
from .conftest import advance, advance_until, state_of, switch

pytestmark = pytest.mark.usefixtures("bluetooth_stack")


def entity_of(hass: HomeAssistant, domain: str, unique_id: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(domain, DOMAIN, unique_id)
    assert entity_id is not None, unique_id
    return entity_id


def link_of(entry: Any) -> BleLink:
    link = entry.runtime_data.gateway.radio
    assert isinstance(link, BleLink)
    return link


async def set_up(hass: HomeAssistant, device: SimulatedPeripheral) -> Any:
    advertise(hass, device)
    await hass.async_block_till_done()
    entry = ble_entry(device)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def test_a_discovered_blinky_becomes_a_light_and_a_button(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    device = blinky()
    advertise(hass, device)
    await hass.async_block_till_done(wait_background_tasks=True)  # (discovery flows)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_BLUETOOTH]
    assert flows[0]["step_id"] == "bluetooth_confirm"
    result = await hass.config_entries.flow.async_configure(flows[0]["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == BLINKY
    assert result["data"] == {"radio_type": "bluetooth", "address": BLINKY}
    await advance(hass, freezer, 1)

    light = entity_of(hass, "light", f"{BLINKY}-light")
    assert state_of(hass, light).state == STATE_OFF  # read from the device at connect
    button = entity_of(hass, "event", f"{BLINKY}-event-button")
    assert state_of(hass, button).attributes["event_types"] == ["release", "press"]
    assert device.connected

    await switch(hass, light, True)
    await advance_until(hass, freezer, lambda: state_of(hass, light).state == STATE_ON, 5)
    assert device.flag(nordic_lbs.LED)
    assert state_of(hass, light).attributes["sync"] == "verified"

    device.press()
    await hass.async_block_till_done()
    assert state_of(hass, button).attributes["event_type"] == "press"


async def test_the_user_picks_a_device_that_is_heard(hass: HomeAssistant) -> None:
    device = blinky()
    advertise(hass, device)
    await hass.async_block_till_done()
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "bluetooth_device"}
    )
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"address": BLINKY})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert state_of(hass, entity_of(hass, "light", f"{BLINKY}-light")).state == STATE_OFF
    # Configured now: the next user flow has nothing to offer.
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "bluetooth_device"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_devices_found"


async def test_unload_releases_the_connection(hass: HomeAssistant) -> None:
    device = blinky()
    entry = await set_up(hass, device)
    assert device.connected
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert not device.connected
    assert state_of(hass, entity_of(hass, "light", f"{BLINKY}-light")).state == STATE_UNAVAILABLE
