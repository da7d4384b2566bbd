"""Resilient Gateway: radios whose commands are verified and whose gateways are replaceable."""

from __future__ import annotations

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .const import CONF_RADIO_LIBRARY, CONF_RADIO_TYPE, DOMAIN, RADIO_ZIGBEE
from .coordinator import GatewayCoordinator, ResilientGatewayConfigEntry
from .firmware import async_start_firmware
from .radios.zigbee.libraries import RADIO_LIBRARIES
from .services import async_setup_services

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.CLIMATE,
    Platform.EVENT,
    Platform.LIGHT,
    Platform.NUMBER,
    Platform.SCENE,
    Platform.SENSOR,
    Platform.SWITCH,
    Platform.UPDATE,
]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's services (they work on any of its entries)."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: ResilientGatewayConfigEntry) -> bool:
    """Start the entry's radio and its gateway."""
    if entry.data[CONF_RADIO_TYPE] == RADIO_ZIGBEE:
        # The radio library's first import reads its modules from disk: not on the loop.
        library = RADIO_LIBRARIES[entry.data[CONF_RADIO_LIBRARY]]
        await hass.async_add_import_executor_job(library.controller_class)
    coordinator = GatewayCoordinator(hass, entry)
    await coordinator.async_start()
    entry.runtime_data = coordinator
    entry.async_on_unload(coordinator.async_stop)
    # Home Assistant does not unload entries when it stops: close the radio and flush
    # zigpy's database ourselves.
    entry.async_on_unload(
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, coordinator.async_on_hass_stop)
    )
    # The update entities and the gateway's Firmware updates sensor share it (it stops
    # with the coordinator).
    coordinator.firmware = await async_start_firmware(hass, coordinator)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: ResilientGatewayConfigEntry, device: dr.DeviceEntry
) -> bool:
    """A device may be deleted by hand once it is no longer in the radio's network (it
    left while Home Assistant was not running); the gateway itself and devices still in
    the network may not (they would come back at the next start)."""
    return not any(
        domain == DOMAIN and entry.runtime_data.knows_device(identifier)
        for domain, identifier in device.identifiers
    )


async def async_unload_entry(hass: HomeAssistant, entry: ResilientGatewayConfigEntry) -> bool:
    """Unload the platforms; the radio stops through the unload callback."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
