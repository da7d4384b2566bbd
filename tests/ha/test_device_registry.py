"""Devices in Home Assistant's registry follow what the gateway learns of them later."""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from custom_components.resilient_gateway.const import DOMAIN

from .conftest import advance, setup_virtual


async def test_a_placeholder_name_gives_way_to_the_interviewed_model(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A device registered before zigpy read its model ("Zigbee device 1a2b3", no model)
    takes its real name and model once the gateway knows them; a name the user gave it
    stays."""
    entry = await setup_virtual(hass, freezer)
    gateway = entry.runtime_data.gateway
    registry = dr.async_get(hass)
    first, second = list(gateway.devices.values())[:2]
    placeholder = registry.async_get_device_by_identifier((DOMAIN, first.device_id), entry.entry_id)
    renamed = registry.async_get_device_by_identifier((DOMAIN, second.device_id), entry.entry_id)
    assert placeholder is not None and renamed is not None
    registry.async_update_device(placeholder.id, name="Zigbee device 1a2b3", model=None)
    registry.async_update_device(renamed.id, name="Zigbee device 4c5d6", name_by_user="Desk")

    gateway.devices_changed()  # the inventory is taken again (a join, a finished interview)
    await advance(hass, freezer, 5)

    placeholder = registry.async_get(placeholder.id)
    renamed = registry.async_get(renamed.id)
    assert placeholder is not None and renamed is not None
    assert (placeholder.name, placeholder.model) == (first.name, first.model)
    assert first.model and not first.name.startswith("Zigbee device")
    assert (renamed.name, renamed.name_by_user) == (second.name, "Desk")
