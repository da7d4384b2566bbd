"""Radio faults on a virtual gateway: a blank radio is formed into a new network only for
a new gateway (one that had devices asks for a restore, even with no snapshot and no zigpy
database left); a stalled radio still delivers what the devices then confirm."""

from __future__ import annotations

import shutil
from pathlib import Path

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.light import DOMAIN as LIGHT_DOMAIN
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_OFF, SERVICE_TURN_ON
from homeassistant.core import HomeAssistant

from custom_components.resilient_gateway.const import DOMAIN
from custom_components.resilient_gateway.coordinator import spec_from_entry_data
from custom_components.resilient_gateway.radios.virtual import VirtualAir

from .conftest import advance, light_entities, setup_virtual, truth, virtual_entry


def _forget_everything_but_the_registry(folder: Path) -> None:
    """Home Assistant stopped before the first snapshot landed and zigpy's database is
    gone (or the entry's folder was cleaned up by hand)."""
    shutil.rmtree(folder / "snapshots", ignore_errors=True)
    for database in folder.glob("zigbee.db*"):
        database.unlink()


async def test_a_gateway_that_had_devices_asks_for_a_restore_instead_of_forming(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)
    air = entry.runtime_data.air
    assert air is not None
    air.radio_replaced()  # a blank stick (kept in the house's state file)
    await advance(hass, freezer, 10)
    assert await hass.config_entries.async_unload(entry.entry_id)
    folder = Path(hass.config.path("resilient_gateway", entry.entry_id))
    await hass.async_add_executor_job(_forget_everything_but_the_registry, folder)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await advance(hass, freezer, 2)
    assert entry.runtime_data.gateway.needs_restore
    assert truth(hass, entry)["radio"]["formed"] is False  # not formed behind our back


async def test_a_new_gateway_forms_its_network_on_a_blank_radio(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = virtual_entry()
    spec = spec_from_entry_data(entry.data)
    house = Path(hass.config.path("resilient_gateway", "virtual", f"{spec.network}.json"))
    air = await VirtualAir.load_or_create(spec, house, register=False)
    air.radio_replaced()
    await air.stop()  # saved with a blank stick in place
    entry.add_to_hass(hass)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await advance(hass, freezer, 2)
    assert truth(hass, entry)["radio"]["formed"] is True
    assert entry.runtime_data.gateway.runs_its_network


async def test_a_stalled_radio_still_delivers_and_the_devices_reports_verify(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_virtual(hass, freezer)

    async def fault(name: str) -> None:
        await hass.services.async_call(
            DOMAIN, "simulate_fault", {"config_entry_id": entry.entry_id, "fault": name}
        )
        await hass.async_block_till_done()

    await fault("radio_stalled")
    assert truth(hass, entry)["radio"]["state"] == "stalled"
    ieee, light = next(iter(light_entities(hass, entry).items()))
    wanted = not truth(hass, entry)["devices"][ieee]["state"]["on"]
    await hass.services.async_call(
        LIGHT_DOMAIN,
        SERVICE_TURN_ON if wanted else SERVICE_TURN_OFF,
        {ATTR_ENTITY_ID: light},
        blocking=True,
    )
    await advance(hass, freezer, 5)
    # The radio never confirmed the frame; the light's own report proves it arrived.
    assert truth(hass, entry)["devices"][ieee]["state"]["on"] is wanted
    state = hass.states.get(light)
    assert state is not None
    assert state.state == ("on" if wanted else "off")
    assert state.attributes["sync"] == "verified"
    await fault("radio_recovered")
    assert truth(hass, entry)["radio"]["state"] == "up"
