"""A Home Assistant config entry for a Z-Stack coordinator on the network (socket://),
driven by zigpy-znp 1.1.1 against the emulated stick."""

from __future__ import annotations

from pathlib import Path

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
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

from .conftest import LIGHT_IEEE, LIGHT_NWK, WAIT, Bench, GatewayEvents
from .znp_stick import ZStackStick

ON = OnOff.ServerCommandDefs.on.id


async def test_a_znp_entry_on_a_socket_path_sets_up_switches_and_unloads(
    hass: HomeAssistant, enable_custom_integrations: None, bench: Bench, tmp_path: Path
) -> None:
    hass.config.config_dir = str(tmp_path)
    stick = ZStackStick.formed(bench.air)
    tcp = await bench.plug(stick)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"Zigbee {tcp.path}",
        unique_id=f"zigbee:{tcp.path}",
        data={
            CONF_RADIO_TYPE: RADIO_ZIGBEE,
            CONF_RADIO_LIBRARY: "znp",
            CONF_DEVICE_PATH: tcp.path,
            CONF_BAUDRATE: 115200,
        },
    )
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
