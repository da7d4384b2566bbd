"""A Home Assistant config entry on an EZSP stick reached over TCP (socket://), as a
network-attached SLZB-07 is added: the gateway starts bellows, a light joins, the light
entity switches it."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.resilient_gateway.const import DOMAIN

from .emulator import EzspStick, formed_nvram
from .harness import MakeStick, eventually, is_on, join_light


@pytest.fixture
async def entries(
    hass: HomeAssistant, enable_custom_integrations: None, tmp_path: Path, make_stick: MakeStick
) -> AsyncIterator[MakeStick]:
    """Plugs in sticks for entries whose files go to the test's folder; every entry is
    unloaded after the test, its radio closed before the sticks go."""
    hass.config.config_dir = str(tmp_path)
    yield make_stick
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


def ezsp_entry(stick: EzspStick) -> MockConfigEntry:
    """The entry the config flow makes for an EZSP coordinator at a socket:// path."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="SLZB-07",
        data={"radio_type": "zigbee", "radio_library": "ezsp", "path": stick.path},
        unique_id=f"zigbee:{stick.path}",
    )


async def test_entry_on_a_network_attached_ezsp_stick(
    hass: HomeAssistant, entries: MakeStick, rng: random.Random
) -> None:
    stick = await entries(formed_nvram(rng))
    entry = ezsp_entry(stick)
    entry.add_to_hass(hass)

    assert await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    gateway = entry.runtime_data.gateway
    assert gateway.runs_its_network
    assert gateway.radio.network_id() == str(stick.nvram.extended_pan_id)

    light = await join_light(stick, gateway, rng)
    await eventually(lambda: bool(hass.states.async_entity_ids("light")), "a light entity")
    (entity_id,) = hass.states.async_entity_ids("light")
    # What the light itself said once the gateway read it.
    await eventually(lambda: hass.states.get(entity_id).state == "off", "the entity shows off")

    await hass.services.async_call("light", "turn_on", {"entity_id": entity_id}, blocking=True)
    await eventually(lambda: hass.states.get(entity_id).state == "on", "the entity shows on")
    assert is_on(light)

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    await eventually(lambda: not stick.server.connected, "the connection was closed")
