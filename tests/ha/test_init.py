"""Setting a virtual gateway up and down, and what it shows in Home Assistant."""

from __future__ import annotations

import json
from pathlib import Path

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

from custom_components.resilient_gateway import backup
from custom_components.resilient_gateway.const import DOMAIN

from .conftest import setup_virtual


async def test_setup_and_unload(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    entry = await setup_virtual(hass, freezer)
    assert entry.state is ConfigEntryState.LOADED

    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    gateway = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert gateway is not None
    # the gateway plus every simulated device, each attached through the gateway
    assert len(devices) == 1 + 4 + 3 + 1
    assert all(d.via_device_id == gateway.id for d in devices if d.id != gateway.id)

    entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    domains = sorted({e.domain for e in entities})
    assert {"light", "sensor"} <= set(domains)
    group = er.async_get(hass).async_get_entity_id("light", DOMAIN, f"{entry.entry_id}-group-1")
    assert group is not None
    assert hass.states.get(group).attributes["members"] == 4

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED


async def test_pre_backup_writes_the_gateway_files(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Every Home Assistant backup holds current files: pending changes and the house."""
    entry = await setup_virtual(hass, freezer)
    folder = Path(hass.config.path("resilient_gateway"))
    changes = folder / entry.entry_id / "changes.json"
    house = folder / "virtual" / "test.json"
    changes.unlink(missing_ok=True)
    house.unlink()

    await backup.async_pre_backup(hass)
    await backup.async_post_backup(hass)
    await backup.async_post_backup(hass)  # idempotent

    assert set(json.loads(changes.read_text())) >= {"changes", "devices"}
    assert json.loads(house.read_text())["network"] == "test"
    assert oct(house.stat().st_mode & 0o777) == "0o600"
