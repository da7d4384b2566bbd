"""Diagnostics: what the gateway knows, with every secret redacted."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .coordinator import ResilientGatewayConfigEntry

# Network keys and link keys would let anyone join or sniff the Zigbee network.
TO_REDACT = {
    "key",
    "network_key",
    "tc_link_key",
    "link_key",
    "key_table",
    "hashed_tclk",
    "stack_specific",
    "password",
    "snapshot_password",
    "secret",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: ResilientGatewayConfigEntry
) -> dict[str, Any]:
    coordinator = entry.runtime_data
    gateway = coordinator.gateway
    data: dict[str, Any] = {
        "entry": {"title": entry.title, "data": dict(entry.data), "options": dict(entry.options)},
        "radio": gateway.radio.diagnostics(),
        "changes": gateway.engine.export_pending(),
        "devices": {
            device_id: {
                "name": device.name,
                "kind": device.kind,
                "sleep_mode": device.sleep_mode,
                "power_source": device.power_source,
                "attributes": sorted(device.attributes),
                "availability": gateway.device_availability(device_id),
                "values": {str(attr): value for attr, value in gateway.values(device_id).items()},
            }
            for device_id, device in gateway.devices.items()
        },
        "groups": {
            str(group.group_id): {"name": group.name, "members": list(group.members)}
            for group in gateway.groups.values()
        },
        "health": {
            "radio_status": gateway.radio_status,
            "needs_restore": gateway.needs_restore,
            "current_status": gateway.current_status,
            "target_status": gateway.target_status,
        },
        "last_snapshot": (
            None
            if (info := coordinator.last_snapshot) is None
            else {**info.as_dict(), "summary": dict(info.summary)}  # (nothing secret)
        ),
    }
    if coordinator.air is not None:
        data["virtual_network"] = coordinator.air.ground_truth()
    return async_redact_data(data, TO_REDACT)
