"""Services of the integration (registered once, they act on any of its config entries)."""

from __future__ import annotations

from typing import Any

import probatio as vol
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr

from .const import DOMAIN
from .coordinator import GatewayCoordinator

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_FAULT = "fault"
ATTR_DEVICE_ID = "device_id"
ATTR_IEEE = "ieee"

RADIO_FAULTS = ("radio_failure", "radio_recovered", "radio_replaced")
DEVICE_FAULTS = (
    "device_power_off",
    "device_power_on",
    "device_scenes_wiped",
    "device_groups_wiped",
)

SIMULATE_FAULT_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Required(ATTR_FAULT): vol.In(RADIO_FAULTS + DEVICE_FAULTS),
        vol.Exclusive(ATTR_DEVICE_ID, "device"): cv.string,
        vol.Exclusive(ATTR_IEEE, "device"): cv.string,
    }
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    hass.services.async_register(
        DOMAIN,
        "simulate_fault",
        _async_simulate_fault,
        schema=SIMULATE_FAULT_SCHEMA,
    )


def _coordinator(hass: HomeAssistant, entry_id: str) -> GatewayCoordinator:
    """The running gateway of a config entry, or a translated error for the user."""
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_config_entry",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="config_entry_not_loaded",
            translation_placeholders={"title": entry.title},
        )
    coordinator: GatewayCoordinator = entry.runtime_data
    return coordinator


def _target_ieee(hass: HomeAssistant, call: ServiceCall) -> str:
    if (ieee := call.data.get(ATTR_IEEE)) is not None:
        return str(ieee).lower()
    if (device_id := call.data.get(ATTR_DEVICE_ID)) is not None:
        device = dr.async_get(hass).async_get(device_id)
        for domain, identifier in device.identifiers if device else ():
            if domain == DOMAIN and ":" in identifier:
                return identifier
    raise ServiceValidationError(translation_domain=DOMAIN, translation_key="device_required")


async def _async_simulate_fault(call: ServiceCall) -> None:
    """Inject a fault into a virtual gateway's simulated network."""
    hass = call.hass
    coordinator = _coordinator(hass, call.data[ATTR_CONFIG_ENTRY_ID])
    air = coordinator.air
    if air is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_virtual",
            translation_placeholders={"title": coordinator.entry.title},
        )
    fault: str = call.data[ATTR_FAULT]
    if fault in RADIO_FAULTS:
        getattr(air, fault)()
        return
    ieee = _target_ieee(hass, call)
    if ieee not in air.ground_truth()["devices"]:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_device",
            translation_placeholders={"device": ieee},
        )
    action: Any = getattr(air, fault)
    action(ieee)
