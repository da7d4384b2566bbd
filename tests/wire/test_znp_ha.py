"""A Home Assistant config entry for a Z-Stack coordinator on the network (socket://),
driven by zigpy-znp 1.1.1 against the emulated stick."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
from zigpy.ota.providers import BaseOtaImageMetadata, Sonoff
from zigpy.zcl.clusters.general import OnOff

from custom_components.resilient_gateway.const import (
    CONF_BAUDRATE,
    CONF_DEVICE_PATH,
    CONF_RADIO_LIBRARY,
    CONF_RADIO_TYPE,
    DOMAIN,
    RADIO_ZIGBEE,
)
from custom_components.resilient_gateway.core.model import Attr
from custom_components.resilient_gateway.radios.virtual import SimKind
from custom_components.resilient_gateway.radios.virtual.firmware_files import ota_file
from custom_components.resilient_gateway.radios.zigbee.ota import parse_ota_file

from .conftest import LIGHT_IEEE, LIGHT_NWK, WAIT, Bench, GatewayEvents
from .znp_stick import ZStackStick

ON = OnOff.ServerCommandDefs.on.id


def znp_entry(path: str, options: dict[str, Any] | None = None) -> MockConfigEntry:
    """A Zigbee entry for a Z-Stack coordinator at ``path`` (socket://)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Zigbee {path}",
        unique_id=f"zigbee:{path}",
        data={
            CONF_RADIO_TYPE: RADIO_ZIGBEE,
            CONF_RADIO_LIBRARY: "znp",
            CONF_DEVICE_PATH: path,
            CONF_BAUDRATE: 115200,
        },
        options=options or {},
    )


async def test_a_znp_entry_on_a_socket_path_sets_up_switches_and_unloads(
    hass: HomeAssistant, enable_custom_integrations: None, bench: Bench, tmp_path: Path
) -> None:
    hass.config.config_dir = str(tmp_path)
    stick = ZStackStick.formed(bench.air)
    tcp = await bench.plug(stick)
    entry = znp_entry(tcp.path)
    entry.add_to_hass(hass)

    assert await hass.config_entries.async_setup(entry.entry_id)

    assert entry.state is ConfigEntryState.LOADED
    assert tcp.connected and stick.started
    coordinator = entry.runtime_data
    events = GatewayEvents()
    coordinator.gateway.add_listener(events)
    light = bench.air.add_device(SimKind.ON_OFF_LIGHT, ieee=LIGHT_IEEE, nwk=LIGHT_NWK, name="Light")
    stick.join(light)
    device_id = str(light.ieee)
    await events.changed.wait_until(lambda: Attr.ON in coordinator.gateway.values(device_id), WAIT)
    await hass.async_block_till_done()
    entity_id = coordinator.command_entity_id(device_id)
    assert entity_id is not None

    await hass.services.async_call("light", "turn_on", {"entity_id": entity_id}, blocking=True)

    await stick.changed.wait_until(lambda: bool(stick.commands_to(light, 6, ON)), WAIT)
    await events.changed.wait_until(
        lambda: coordinator.gateway.values(device_id).get(Attr.ON) is True, WAIT
    )
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).state == "on"

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    await tcp.wait_until(lambda: not tcp.connected)  # the port is free for others


async def test_a_zigpy_providers_image_is_offered_to_a_device_on_a_real_stick(
    hass: HomeAssistant, enable_custom_integrations: None, bench: Bench, tmp_path: Path
) -> None:
    """Issue 15's image sources end to end: the options choose zigpy's Sonoff provider, its
    index (served from memory: no network) lists an image for the light that joined
    through zigpy-znp, and the light's update entity offers it, with its notes, beside the
    version the device reported."""
    hass.config.config_dir = str(tmp_path)
    light = bench.air.add_device(SimKind.ON_OFF_LIGHT, ieee=LIGHT_IEEE, nwk=LIGHT_NWK, name="Light")
    offered = parse_ota_file(ota_file(SimKind.ON_OFF_LIGHT, 0x7F000000, size=1024))

    class Listed(BaseOtaImageMetadata):
        async def _fetch(self) -> bytes:
            return ota_file(SimKind.ON_OFF_LIGHT, 0x7F000000, size=1024)

    async def load_index(_provider: Sonoff) -> list[BaseOtaImageMetadata]:
        return [
            Listed(
                file_version=offered.version,
                manufacturer_id=offered.manufacturer_code,
                image_type=offered.image_type,
                file_size=1024,
                changelog="Smoother dimming",
            )
        ]

    stick = ZStackStick.formed(bench.air)
    tcp = await bench.plug(stick)
    entry = znp_entry(tcp.path, {"firmware_providers": ["sonoff"]})
    entry.add_to_hass(hass)
    with patch.object(Sonoff, "load_index", load_index):
        assert await hass.config_entries.async_setup(entry.entry_id)
        coordinator = entry.runtime_data
        events = GatewayEvents()
        coordinator.gateway.add_listener(events)
        stick.join(light)
        device_id = str(light.ieee)
        await events.changed.wait_until(
            lambda: Attr.ON in coordinator.gateway.values(device_id), WAIT
        )

        def update_entity() -> str | None:
            return er.async_get(hass).async_get_entity_id("update", DOMAIN, f"{device_id}-firmware")

        async def offered_now() -> bool:
            await hass.async_block_till_done()
            entity_id = update_entity()
            state = hass.states.get(entity_id) if entity_id else None
            return state is not None and state.attributes["latest_version"] == "0x7f000000"

        deadline = asyncio.get_running_loop().time() + WAIT
        while not await offered_now():
            assert asyncio.get_running_loop().time() < deadline, "the image was never offered"
            await asyncio.sleep(0.1)
        state = hass.states.get(update_entity() or "")
        assert state is not None and state.state == "on"  # an update is available
        assert state.attributes["installed_version"] == f"0x{light.ota.version:08x}"
        entity = hass.data["entity_components"]["update"].get_entity(update_entity())
        assert await entity.async_release_notes() == "Smoother dimming"

        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
